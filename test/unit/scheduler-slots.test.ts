/**
 * Which runs a scheduler leader sends (dueSlots): each due run once across a failover, a bounded
 * catch-up after downtime, nothing before a cron entry first started. Pure: no transport.
 */
import { describe, expect, it } from 'vitest';
import { MAX_CATCH_UP_RUNS, dueSlots } from '../../src/scheduler.js';

const every = (ms: number) => ({ everyMs: ms });
const T = 1_800_000_000_000; // a round number of seconds since the epoch

describe('dueSlots', () => {
  it('sends the current slot once: nothing again until the next slot', () => {
    expect(dueSlots(every(1000), T + 10, T - 1000, 2500, 0)).toEqual([T]);
    expect(dueSlots(every(1000), T + 900, T, 2500, 0)).toEqual([]);
  });

  it('after a failover sends every slot that fell due while the dead leader held the lock, oldest first', () => {
    // The last run was at T; the new leader takes over 2.3 s later.
    expect(dueSlots(every(1000), T + 2300, T, 2500, 0)).toEqual([T + 1000, T + 2000]);
    // A slot skipped between two ticks (everyMs shorter than the tick) is sent too.
    expect(dueSlots(every(200), T + 450, T, 2500, 0)).toEqual([T + 200, T + 400]);
  });

  it('after a long downtime sends only the slots of the catch-up window, not every missed one', () => {
    expect(dueSlots(every(1000), T + 500, T - 3_600_000, 2500, 0)).toEqual([T - 2000, T - 1000, T]);
    // A daily entry down for a week: only the latest due run.
    const day = 86_400_000;
    expect(dueSlots(every(day), 20 * day + 5000, 13 * day, 2500, 0)).toEqual([20 * day]);
  });

  it('bounds the catch-up of a very frequent schedule', () => {
    expect(dueSlots(every(100), T, T - 60_000, 60_000, 0)).toHaveLength(MAX_CATCH_UP_RUNS);
  });

  it('an entry that never ran sends only its latest slot; a cron entry nothing due before it started', () => {
    expect(dueSlots(every(1000), T + 2300, undefined, 2500, 0)).toEqual([T + 2000]);
    const cron = { cron: '0 2 * * *' };
    const twoAm = Date.UTC(2027, 0, 10, 2, 0, 0);
    expect(dueSlots(cron, twoAm + 60_000, undefined, 2500, twoAm + 30_000)).toEqual([]);
    expect(dueSlots(cron, twoAm + 60_000, undefined, 2500, twoAm - 1000)).toEqual([twoAm]);
    // Cron catch-up uses the same window: the 02:00 run missed by a failover at 02:00:01.
    expect(dueSlots({ cron: '* * * * * *' }, twoAm + 1500, twoAm - 1000, 2500, 0)).toEqual([twoAm, twoAm + 1000]);
  });
});
