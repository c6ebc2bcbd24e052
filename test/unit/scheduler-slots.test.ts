/**
 * Which runs a scheduler leader sends (dueSlots): each due run once across a failover or a late
 * tick, a bounded catch-up, no burst after downtime, nothing before a cron entry first started.
 * Pure: no transport, no timers.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CATCH_UP_MS, MAX_CATCH_UP_RUNS, dueSlots, type CatchUp } from '../../src/scheduler.js';

const every = (ms: number) => ({ everyMs: ms });
const T = 1_800_000_000_000; // a round number of seconds since the epoch
/** A scheduler running for an hour, or one started at `startedAt`. */
const running: CatchUp = { startedAt: T - 3_600_000, handOverMs: 2500, catchUpMs: DEFAULT_CATCH_UP_MS };
const fresh = (startedAt: number): CatchUp => ({ startedAt, handOverMs: 2500, catchUpMs: DEFAULT_CATCH_UP_MS });

describe('dueSlots', () => {
  it('sends the current slot once: nothing again until the next slot', () => {
    expect(dueSlots(every(1000), T + 10, T - 1000, running)).toEqual([T]);
    expect(dueSlots(every(1000), T + 900, T, running)).toEqual([]);
  });

  it('after a failover sends every slot that fell due while the dead leader held the lock, oldest first', () => {
    // The last run was at T; the follower (running for an hour) takes over 2.3 s later.
    expect(dueSlots(every(1000), T + 2300, T, running)).toEqual([T + 1000, T + 2000]);
    // Even when its own tick came late (a busy event loop): 7 s of runs, each once.
    expect(dueSlots(every(1000), T + 7100, T, running)).toEqual([1, 2, 3, 4, 5, 6, 7].map((k) => T + k * 1000));
    // A slot skipped between two ticks (everyMs shorter than the tick) is sent too.
    expect(dueSlots(every(200), T + 450, T, running)).toEqual([T + 200, T + 400]);
  });

  it('never catches up runs due before the scheduler started, beyond the hand-over time', () => {
    // Started 5 s ago, last run an hour ago: the runs since it started.
    expect(dueSlots(every(1000), T + 100, T - 3_600_000, fresh(T - 5000))).toEqual([T - 5000, T - 4000, T - 3000, T - 2000, T - 1000, T]);
  });

  it('after a long downtime a scheduler that just started sends only the runs of the hand-over time', () => {
    expect(dueSlots(every(1000), T + 500, T - 3_600_000, fresh(T + 400))).toEqual([T - 2000, T - 1000, T]);
    // A daily entry down for a week: only the latest due run.
    const day = 86_400_000;
    expect(dueSlots(every(day), 20 * day + 5000, 13 * day, fresh(20 * day + 4000))).toEqual([20 * day]);
  });

  it('bounds the catch-up: at most catchUpMs back, at most MAX_CATCH_UP_RUNS per tick', () => {
    expect(dueSlots(every(1000), T, T - 3_600_000, running)).toHaveLength(DEFAULT_CATCH_UP_MS / 1000 + 1);
    expect(dueSlots(every(1000), T, T - 3_600_000, running)[0]).toBe(T - DEFAULT_CATCH_UP_MS);
    expect(dueSlots(every(100), T, T - 60_000, running)).toHaveLength(MAX_CATCH_UP_RUNS);
  });

  it('an entry that never ran sends only its latest slot; a cron entry nothing due before it started', () => {
    expect(dueSlots(every(1000), T + 2300, undefined, running)).toEqual([T + 2000]);
    const cron = { cron: '0 2 * * *' };
    const twoAm = Date.UTC(2027, 0, 10, 2, 0, 0);
    expect(dueSlots(cron, twoAm + 60_000, undefined, fresh(twoAm + 30_000))).toEqual([]);
    expect(dueSlots(cron, twoAm + 60_000, undefined, fresh(twoAm - 1000))).toEqual([twoAm]);
    // Cron entries catch up the same way: the runs missed by a failover at 02:00:00.
    expect(dueSlots({ cron: '* * * * * *' }, twoAm + 1500, twoAm - 1000, fresh(twoAm - 600_000))).toEqual([twoAm, twoAm + 1000]);
  });
});
