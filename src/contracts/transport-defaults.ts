/**
 * The defaults of the transport contracts' optional counts and the role flags, for adapters:
 * every adapter applies the same ones (the conformance suites check them).
 *
 * @module
 */

import type { DeadLetters } from './transport-dead-letters.js';
import type { MessageStreams } from './transport-streams.js';
import type { TransportFeatures, TransportRole } from './transport.js';

/** Defaults of the optional counts of the transport calls. */
export const TRANSPORT_DEFAULTS = Object.freeze({
  /** `receive` without `max` ({@link MessageStreams.receive}). */
  receiveMax: 10,
  /** `claimStale` without `max` ({@link MessageStreams.claimStale}). */
  claimMax: 100,
  /** `listDeadLetters` without `limit` ({@link DeadLetters.listDeadLetters}). */
  deadLetterLimit: 100,
});

/** Every role of the transport, in the order the suites run. */
export const TRANSPORT_ROLES: readonly TransportRole[] = Object.freeze(['streams', 'deadLetters', 'keyValue', 'signals', 'admin'] as const);

/** Whether `features` declares `role` (a missing flag means `true`). */
export function hasRole(features: TransportFeatures, role: TransportRole): boolean {
  return features[role] !== false;
}

/**
 * An optional count of a transport call: `fallback` when missing or `NaN`, `0` when not
 * positive, otherwise rounded down.
 */
export function countOption(value: number | undefined, fallback: number): number {
  if (value === undefined || Number.isNaN(value)) return fallback;
  return value > 0 ? Math.floor(value) : 0;
}
