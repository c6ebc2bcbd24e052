/**
 * The core's delivery policies, fast, on the memory transport with a fake clock (no waiting):
 * priority order of a backlog, claim only after min-idle (and never twice), a task id as an
 * idempotency key (set-if-absent, kept as long as the task's state).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, memoryTransport, priorityRank, silentLogger, type Clock, type EventPriority, type Transport } from '../../src/index.js';
import type { SystemContext } from '../../src/context.js';
import { taskKeys } from '../../src/tasks/names.js';
import { TaskStates } from '../../src/tasks/state.js';
import type { TaskInfo } from '../../src/tasks/message.js';

let now = 1_800_000_000_000;
const clock: Clock = { now: () => now };
const transports: Transport[] = [];
function transport(): Transport {
  const t = memoryTransport({ clock });
  transports.push(t);
  return t;
}
afterEach(async () => {
  for (const t of transports.splice(0)) await t.close();
});

describe('priority order', () => {
  it('serves a backlog highest priority first, FIFO within a priority', async () => {
    const t = transport();
    await t.ensureGroup('s', 'g', { startAt: 'beginning' });
    const sent: [string, EventPriority][] = [['l1', 'low'], ['n1', 'normal'], ['c1', 'critical'], ['h1', 'high'], ['n2', 'normal'], ['c2', 'critical'], ['l2', 'low']];
    await t.publish('s', sent.map(([body, p]) => ({ body, priority: priorityRank(p) })));
    const got = await t.receive('s', { group: 'g', consumer: 'a', max: 10 });
    expect(got.map((d) => d.body)).toEqual(['c1', 'c2', 'h1', 'n1', 'n2', 'l1', 'l2']);
  });

  it('ranks critical > high > normal > low', () => {
    const ranks = (['low', 'normal', 'high', 'critical'] as const).map(priorityRank);
    expect([...ranks].sort((a, b) => a - b)).toEqual(ranks);
    expect(new Set(ranks).size).toBe(4);
  });
});

describe('claim after idle', () => {
  it('claims nothing before minIdleMs, then once, with the attempt counted; touch resets the idle time', async () => {
    const t = transport();
    await t.ensureGroup('s', 'g', { startAt: 'beginning' });
    await t.publish('s', [{ body: 'x', priority: priorityRank('normal') }, { body: 'y', priority: priorityRank('normal') }]);
    const [x, y] = await t.receive('s', { group: 'g', consumer: 'dead', max: 2 });
    now += 999;
    expect(await t.claimStale('s', { group: 'g', consumer: 'b', minIdleMs: 1000 })).toEqual([]);
    await t.touch('s', 'g', 'dead', [y!.deliveryId]);
    now += 1;
    const claimed = await t.claimStale('s', { group: 'g', consumer: 'b', minIdleMs: 1000 });
    expect(claimed.map((d) => [d.body, d.attempt])).toEqual([[x!.body, 2]]);
    // Just claimed: idle again from zero, so a second claimer gets nothing.
    expect(await t.claimStale('s', { group: 'g', consumer: 'c', minIdleMs: 1000 })).toEqual([]);
    now += 1000;
    expect((await t.claimStale('s', { group: 'g', consumer: 'c', minIdleMs: 1000 })).map((d) => d.body).sort()).toEqual(['x', 'y']);
  });

  it('never hands one delivery to two concurrent claimers', async () => {
    const t = transport();
    await t.ensureGroup('s', 'g', { startAt: 'beginning' });
    await t.publish('s', Array.from({ length: 50 }, (_, i) => ({ body: `m${i}`, priority: 1 })));
    await t.receive('s', { group: 'g', consumer: 'dead', max: 50 });
    now += 5000;
    const results = await Promise.all(['a', 'b', 'c', 'd'].map((consumer) => t.claimStale('s', { group: 'g', consumer, minIdleMs: 1000, max: 20 })));
    const ids = results.flat().map((d) => d.body);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(50);
  });
});

describe('task id dedupe', () => {
  function states(t: Transport, ttlMs = 60_000) {
    const ctx = { transport: t, config: { ...DEFAULT_CONFIG, taskResultTtlMs: ttlMs }, logger: silentLogger, clock } as unknown as SystemContext;
    return new TaskStates(ctx, taskKeys('unit'), false);
  }
  const pending = (id: string, name = 'job'): TaskInfo => ({ id, name, queue: 'q', state: 'PENDING', attempt: 0, updatedAt: new Date(now).toISOString() });

  it('the first claim of an id wins, in any process; the others see the existing task', async () => {
    const t = transport();
    const [a, b] = [states(t), states(t)];
    const results = await Promise.all([a.claim(pending('order-1', 'first')), b.claim(pending('order-1', 'second')), a.claim(pending('order-1', 'third'))]);
    expect(results.filter((r) => r !== undefined)).toHaveLength(1);
    expect((await b.read('order-1'))?.name).toBe('first');
  });

  it('remembers the id as long as the task state is kept, then forgets it', async () => {
    const t = transport();
    const s = states(t, 10_000);
    expect(await s.claim(pending('order-2'))).toBeDefined();
    await s.write({ ...pending('order-2'), state: 'SUCCESS', attempt: 1, result: 7 });
    now += 9_999;
    expect(await s.claim(pending('order-2'))).toBeUndefined();
    now += 2;
    expect(await s.read('order-2')).toBeUndefined();
    expect(await s.claim(pending('order-2'))).toBeDefined();
  });

  it('unclaim frees an id only while the record is unchanged (a failed send)', async () => {
    const t = transport();
    const s = states(t);
    const text = (await s.claim(pending('order-3'))) as string;
    await s.write({ ...pending('order-3'), state: 'STARTED', attempt: 1 });
    expect(await s.unclaim('order-3', text)).toBe(false);
    const text4 = (await s.claim(pending('order-4'))) as string;
    expect(await s.unclaim('order-4', text4)).toBe(true);
    expect(await s.claim(pending('order-4'))).toBeDefined();
  });
});
