/**
 * Names that are also members of `Object.prototype` (`toString`, `constructor`, `valueOf`,
 * `__proto__`) used as event types, queue names and record keys: they are counted and listed like
 * any other name, or refused with an error naming them, never read from or written into a plain
 * object's prototype.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EventValidationError, defineEvent, memoryStore, type EventStore, type EventSystem } from '../../src/index.js';
import { createTestSystem, waitUntil } from '../../src/testing/index.js';

let bus: EventSystem | undefined;
afterEach(async () => {
  await bus?.close();
  bus = undefined;
});

const ToString = defineEvent('toString', z.object({ n: z.number() }));
const Constructor = defineEvent('constructor', z.object({ n: z.number() }));

describe('names shared with Object.prototype', () => {
  it('monitor.getEventTypeStats counts events of types named toString and constructor', async () => {
    bus = await createTestSystem({ events: [ToString, Constructor] });
    for (let n = 0; n < 2; n++) {
      await bus.publisher.publish({ type: ToString, data: { n } });
      await bus.publisher.publish({ type: Constructor, data: { n } });
    }
    const types = await bus.monitor.getEventTypeStats({ hours: 1 });
    expect(JSON.parse(JSON.stringify(types))).toEqual({ toString: 2, constructor: 2 });
    // A type with no events reads as absent (so `types[name] ?? 0` is right), not as a member of Object.prototype.
    expect(types.valueOf).toBeUndefined();
    expect(types.hasOwnProperty).toBeUndefined();
    const report = await bus.monitor.getComprehensiveReport();
    expect(report.eventTypes.toString).toBe(2);
  });

  it('the monitor hands out a null-prototype byType even when a store builds a plain object', async () => {
    const inner = memoryStore();
    const store: EventStore = Object.assign(Object.create(inner) as EventStore, {
      stats: async (o: Parameters<EventStore['stats']>[0]) => ({ ...(await inner.stats(o)), byType: { 'a.b': 1 } }),
    });
    bus = await createTestSystem({ store });
    const types = await bus.monitor.getEventTypeStats();
    expect(types['a.b']).toBe(1);
    expect(types.toString).toBeUndefined();
  });

  it('a worker runs a queue named toString and lists it; a queue named __proto__ is refused by name', async () => {
    bus = await createTestSystem({ taskEvents: false });
    const t = bus.tasks.define('proto.t', { queue: 'toString' }, (args: { n: number }) => args.n * 2);
    const worker = bus.worker({ queues: { toString: 1 } });
    await worker.start();
    const r = await t.delay({ n: 21 });
    expect(await r.get({ timeoutMs: 10_000 })).toBe(42);
    await waitUntil(async () => (await bus!.inspect.workers()).some((w) => Object.entries(w.queues).some(([q, c]) => q === 'toString' && c === 1)), 10_000, 'the heartbeat lists the toString queue');
    const queues = await bus.inspect.queues();
    expect(Object.keys(queues)).toContain('toString');
    expect(queues.toString).toMatchObject({ length: expect.any(Number) });
    expect(Object.keys(await bus.monitor.getQueues())).toContain('toString');
    expect((await bus.monitor.getQueues()).valueOf).toBeUndefined();

    // JSON (a config file, an environment variable) can carry an own '__proto__' key.
    const fromJson = JSON.parse('{"__proto__": 2, "fine": 1}') as Record<string, number>;
    let err: unknown;
    try {
      bus.worker({ queues: fromJson });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EventValidationError);
    expect((err as EventValidationError).issues.map((i) => i.path)).toContain('queues.__proto__');
    expect(() => bus!.worker({ queues: { 'has space': 1 } })).toThrow(/queues\.has space: the queue name must be/);
  });
});
