/**
 * The source of time for the core and adapters. Injectable so tests can control it.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The real clock (`Date.now`). */
export const systemClock: Clock = { now: () => Date.now() };

/** Formats a clock reading as ISO 8601 UTC. */
export function isoNow(clock: Clock = systemClock): string {
  return new Date(clock.now()).toISOString();
}
