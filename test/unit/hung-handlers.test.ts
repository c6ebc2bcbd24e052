/**
 * Handlers that hang (issue 10, the chaos suite's hung-handler scenarios), fast, on the memory
 * transport: an event handler `timeoutMs`, a task attempt that ends at its `timeoutMs` even when
 * the handler ignores its signal, and read-ahead that is not held behind hung slots.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  EventType,
  EventValidationError,
  TaskFailedError,
  TimeoutError,
  memoryTransport,
  type EventSystem,
  type Logger,
} from '../../src/index.js';
import { createTestSystem, waitForEvent, waitUntil } from '../../src/testing/index.js';

const systems: EventSystem[] = [];
afterEach(async () => {
  for (const bus of systems.splice(0)) await bus.close({ timeoutMs: 200 }).catch(() => {});
});

type Logged = Array<{ message: string; fields?: Record<string, unknown> }>;

/** A logger that keeps its warnings and infos. */
function warnings(): Logger & { warned: Logged; infos: Logged } {
  const warned: Logged = [];
  const infos: Logged = [];
  return {
    warned,
    infos,
    debug() {},
    error() {},
    info: (message, fields) => void infos.push({ message, ...(fields ? { fields } : {}) }),
    warn: (message, fields) => void warned.push({ message, ...(fields ? { fields } : {}) }),
  };
}

const never = () => new Promise<never>(() => {});

describe('event handler timeoutMs', () => {
  it('aborts ctx.signal and fails the attempt; after the retries the event is dead-lettered with a timeout naming consumer, type and limit; the slot is freed', async () => {
    const logger = warnings();
    const bus = await createTestSystem({ logger, config: { dlqMaxRetries: 1 } });
    systems.push(bus);
    const attempts: number[] = [];
    const aborted: unknown[] = [];
    const handled: string[] = [];
    const c = bus.consumer('billing', { timeoutMs: 150 });
    c.registerHandler(EventType.SYSTEM_WARNING, (e, ctx) => {
      if (e.data.message !== 'hang') {
        handled.push(e.data.message);
        return undefined;
      }
      attempts.push(ctx.attempt);
      ctx.signal.addEventListener('abort', () => aborted.push(ctx.signal.reason));
      return never(); // ignores its signal
    });
    await c.start({ concurrency: 1, batchSize: 1, prefetch: 0 });
    const dead = waitForEvent(bus, EventType.SYSTEM_WARNING, { hook: 'dead-lettered', timeoutMs: 10_000 });
    await bus.publisher.publish({ type: EventType.SYSTEM_WARNING, data: { message: 'hang' } });
    await bus.publisher.publish({ type: EventType.SYSTEM_WARNING, data: { message: 'after' } });
    await dead;
    // The one slot was freed: the next event was handled.
    await waitUntil(() => handled.includes('after'), 5000);
    expect(attempts).toEqual([1, 2]);
    expect(aborted).toHaveLength(2);
    expect(aborted[0]).toBeInstanceOf(TimeoutError);
    const [entry] = await bus.dlq.list();
    expect(entry?.attempts).toBe(2);
    expect(entry?.error).toMatch(/consumer 'billing'/);
    expect(entry?.error).toMatch(/'system\.warning'/);
    expect(entry?.error).toMatch(/timeoutMs of 150 ms/);
    await waitUntil(() => logger.warned.some((w) => /ignored its abort signal/.test(w.message)), 5000);
  });

  it('a handler within its timeout succeeds; a bad timeoutMs is refused', async () => {
    const bus = await createTestSystem();
    systems.push(bus);
    expect(() => bus.consumer('x', { timeoutMs: 0 })).toThrow(EventValidationError);
    expect(() => bus.consumer('x', { timeoutMs: Number.NaN })).toThrow(/timeoutMs/);
    const c = bus.consumer('quick', { timeoutMs: 2000 }).registerHandler(EventType.SYSTEM_WARNING, async () => {
      await new Promise((r) => setTimeout(r, 20));
    });
    await c.start();
    const ok = waitForEvent(bus, EventType.SYSTEM_WARNING);
    await bus.publisher.publish({ type: EventType.SYSTEM_WARNING, data: { message: 'fine' } });
    await ok;
    expect(await bus.dlq.size()).toBe(0);
  });
});

describe('task attempt timeoutMs with a handler that ignores its signal', () => {
  it('ends the attempt at timeoutMs, retries, dead-letters; get() rejects naming the timeout; other tasks of the queue still run at concurrency 1', async () => {
    const logger = warnings();
    const bus = await createTestSystem({ logger, config: { retryBackoffMs: 20 } });
    systems.push(bus);
    let hungRuns = 0;
    const deaf = bus.tasks.define('deaf', { queue: 'q', timeoutMs: 200, maxRetries: 1 }, () => {
      hungRuns++;
      return never();
    });
    const echo = bus.tasks.define('echo', { queue: 'q' }, async (n: number) => n);
    await bus.worker({ queues: { q: 1 } }).start();
    const hung = await deaf.delay(null);
    const others = await Promise.all([1, 2, 3].map((n) => echo.delay(n)));
    const err = await hung.get({ timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskFailedError);
    expect((err as Error).message).toMatch(/ran past its timeoutMs of 200 ms/);
    expect(hungRuns).toBe(2);
    expect(await Promise.all(others.map((r) => r.get({ timeoutMs: 10_000 })))).toEqual([1, 2, 3]);
    const dead = await bus.dlq.list();
    expect(dead).toHaveLength(1);
    expect(dead[0]?.attempts).toBe(2);
    await waitUntil(() => logger.warned.some((w) => /ignored its abort signal/.test(w.message) && w.fields?.['task'] === 'deaf'), 5000);
  });
});

describe('read-ahead and hung slots', () => {
  it('events a member read ahead while its every slot hangs are handed back and reach another member', async () => {
    const transport = memoryTransport();
    const config = { claimIdleMs: 1500 };
    const a = await createTestSystem({ transport, config });
    const b = await createTestSystem({ transport, config });
    systems.push(a, b);
    const byB: string[] = [];
    const byA: string[] = [];
    const ca = a.consumer('a', { group: 'g' }).registerHandler(EventType.SYSTEM_WARNING, (e) => {
      byA.push(e.data.message);
      return e.data.message === 'hang' ? never() : undefined;
    });
    await ca.start({ concurrency: 1, batchSize: 5, prefetch: 5 });
    await a.publisher.publish({ type: EventType.SYSTEM_WARNING, data: { message: 'hang' } });
    await waitUntil(() => ca.activeCount === 1, 5000);
    const messages = ['m1', 'm2', 'm3', 'm4', 'm5'];
    await a.publisher.publishMany(messages.map((message) => ({ type: EventType.SYSTEM_WARNING, data: { message } })));
    // a holds all five (its slot hangs): pending 6, nothing left to read.
    await waitUntil(
      async () => {
        const g = (await transport.info(ca.stream)).groups.find((x) => x.name === 'g');
        return g?.pending === 6 && g.lag === 0;
      },
      5000, 'a read the five events ahead',
    );
    const cb = b.consumer('b', { group: 'g' }).registerHandler(EventType.SYSTEM_WARNING, (e) => {
      byB.push(e.data.message);
    });
    await cb.start({ concurrency: 2 });
    // Generous: 10 x claimIdleMs. Before the fix a kept touching them, so b never got them.
    await waitUntil(() => messages.every((m) => byB.includes(m)), 15_000, 'b handled what a read ahead');
    expect(byA).toEqual(['hang']);
    expect([...byB].sort()).toEqual(messages);
    // Nothing counted as an attempt: every one of them was handled on its first.
    expect(ca.activeCount).toBe(1);
  });

  it('a busy member whose slots keep finishing keeps its read-ahead: nothing handed back, no duplicates', async () => {
    const transport = memoryTransport();
    // Read-ahead waits at most prefetch / concurrency x 40 ms = 80 ms for a slot, a fifth of the
    // hand-back cutoff (claimIdleMs / 3 = 400 ms), so a loaded machine's late timers do not make it
    // look held; the drain (120 x 40 ms over 4 slots, about 1.2 s) outlasts the cutoff three times.
    const config = { claimIdleMs: 1200 };
    const logger = warnings();
    const a = await createTestSystem({ transport, config, logger });
    const b = await createTestSystem({ transport, config, logger });
    systems.push(a, b);
    const handled: string[] = [];
    const attempts: number[] = [];
    const slow = (name: string) => async (e: { data: { message: string } }, ctx: { attempt: number }) => {
      await new Promise((r) => setTimeout(r, 40));
      handled.push(`${name}:${e.data.message}`);
      attempts.push(ctx.attempt);
    };
    const ca = a.consumer('a', { group: 'g' }).registerHandler(EventType.SYSTEM_WARNING, slow('a'));
    const cb = b.consumer('b', { group: 'g' }).registerHandler(EventType.SYSTEM_WARNING, slow('b'));
    await ca.start({ concurrency: 2, batchSize: 4, prefetch: 4 });
    await cb.start({ concurrency: 2, batchSize: 4, prefetch: 4 });
    const messages = Array.from({ length: 120 }, (_, i) => `m${i}`);
    await a.publisher.publishMany(messages.map((message) => ({ type: EventType.SYSTEM_WARNING, data: { message } })));
    await waitUntil(() => handled.length >= messages.length, 30_000);
    await new Promise((r) => setTimeout(r, 1500));
    expect(handled).toHaveLength(messages.length);
    expect(new Set(handled.map((h) => h.slice(2))).size).toBe(messages.length);
    expect(attempts.every((n) => n === 1)).toBe(true);
    expect(logger.infos.filter((l) => /handed back|claimed stale/.test(l.message))).toEqual([]);
  });
});
