/**
 * The source of time for the core and adapters. Injectable so tests can control it.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The real clock (`Date.now`). */
export const systemClock: Clock = { now: () => Date.now() };

let lastMs = Number.NaN;
let lastIso = '';

/**
 * Formats a clock reading as ISO 8601 UTC. The last result is reused while the reading stays in
 * the same millisecond (a task records several timestamps in one go; `toISOString` is a
 * measurable share of that hot path).
 */
export function isoNow(clock: Clock = systemClock): string {
  const ms = clock.now();
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastIso;
}
