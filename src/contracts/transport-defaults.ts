/**
 * The defaults of the {@link Transport} contract's optional counts, for adapters: every adapter
 * applies the same ones (the conformance suite checks them).
 *
 * @module
 */

import type { Transport } from './transport.js';

/** Defaults of the optional counts of the {@link Transport} calls. */
export const TRANSPORT_DEFAULTS = Object.freeze({
  /** `receive` without `max`. */
  receiveMax: 10,
  /** `claimStale` without `max`. */
  claimMax: 100,
  /** `listDeadLetters` without `limit`. */
  deadLetterLimit: 100,
});

/**
 * An optional count of a transport call: `fallback` when missing or `NaN`, `0` when not
 * positive, otherwise rounded down.
 */
export function countOption(value: number | undefined, fallback: number): number {
  if (value === undefined || Number.isNaN(value)) return fallback;
  return value > 0 ? Math.floor(value) : 0;
}
