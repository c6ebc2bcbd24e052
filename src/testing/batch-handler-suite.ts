/**
 * The batch handler conformance suite: `consumer.registerBatchHandler` on a given transport
 * (batches up to `maxSize`, the `maxWaitMs` flush, per-event outcomes through the retry policy
 * and the DLQ, stop with a partial batch). Every transport of the package runs it.
 *
 * @module
 */
import { afterEach, describe, expect, test } from 'vitest';
import { z } from 'zod';
import {
  BatchError,
  EventValidationError,
  TimeoutError,
  UnrecoverableError,
  encodeEnvelope,
  createEventSystem,
  defineEvent,
  memoryStore,
  silentLogger,
  type EventEnvelope,
  type EventSystem,
  type Transport,
} from '@procur/event-bus';
import { waitUntil } from './helpers.js';
import { uniqueName } from './suite-kit.js';

/** Makes a fresh transport for one test of {@link describeBatchHandlers}. */
export type BatchTransportFactory = () => Promise<{ transport: Transport; teardown?: () => Promise<void> }> | { transport: Transport; teardown?: () => Promise<void> };

const Item = defineEvent('batch.item', z.object({ n: z.number() }));

/**
 * Runs the batch handler conformance suite against a transport. Each test gets its own
 * transport (from `factory`), its own event stream, group and dead letter queue.
 *
 * @example
 * ```ts
 * describeBatchHandlers('memory', () => ({ transport: memoryTransport() }));
 * ```
 */
export function describeBatchHandlers(name: string, factory: BatchTransportFactory): void {
  describe(`batch handler conformance: ${name}`, () => {
    const systems: EventSystem[] = [];
    const teardowns: (() => Promise<void>)[] = [];

    async function system(config: Record<string, unknown> = {}): Promise<EventSystem> {
      const made = await factory();
      if (made.teardown) teardowns.push(made.teardown);
      const bus = await createEventSystem({
        transport: made.transport,
        store: memoryStore(),
        logger: silentLogger,
        env: {},
        outbox: false,
        taskEvents: false,
        builtins: false,
        events: [Item],
        config: {
          eventStreamName: uniqueName('bs'),
          dlqStreamName: uniqueName('bdlq'),
          eventConsumerGroup: uniqueName('bg'),
          retryBackoffMs: 20,
          retryBackoffMaxMs: 100,
          eventBlockTime: 100,
          claimIdleMs: 10_000,
          ...config,
        },
      });
      systems.push(bus);
      return bus;
    }

    async function publish(bus: EventSystem, count: number): Promise<string[]> {
      return bus.publisher.publishMany(Array.from({ length: count }, (_, n) => ({ type: Item, data: { n } })));
    }

    afterEach(async () => {
      for (const bus of systems.splice(0)) await bus.close().catch(() => {});
      for (const t of teardowns.splice(0)) await t().catch(() => {});
    });

    test('hands over batches of at most maxSize and acknowledges every event once', async () => {
      const bus = await system();
      await publish(bus, 10);
      const batches: number[][] = [];
      const c = bus.consumer('b');
      c.registerBatchHandler(Item, (events) => {
        batches.push(events.map((e) => e.data.n));
      }, { maxSize: 4, maxWaitMs: 20 });
      await c.start();
      await waitUntil(() => batches.flat().length >= 10, 20_000, '10 events in batches');
      expect(batches.every((b) => b.length >= 1 && b.length <= 4)).toBe(true);
      expect(batches.some((b) => b.length > 1)).toBe(true);
      expect(batches.flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      await c.stop();
      const info = await bus.transport.info(bus.config.eventStreamName);
      expect(info.groups.find((g) => g.name === c.group)?.pending ?? 0).toBe(0);
      expect(await bus.dlq.size()).toBe(0);
    });

    test('hands over what arrived within maxWaitMs without waiting for maxSize', async () => {
      const bus = await system();
      const batches: number[][] = [];
      const c = bus.consumer('b');
      c.registerBatchHandler(Item, (events) => {
        batches.push(events.map((e) => e.data.n));
      }, { maxSize: 1000, maxWaitMs: 50 });
      await c.start();
      await publish(bus, 3);
      await waitUntil(() => batches.flat().length >= 3, 20_000, '3 events handed over by the maxWaitMs timer');
      expect(batches.flat().sort()).toEqual([0, 1, 2]);
      expect(batches.every((b) => b.length < 1000)).toBe(true);
    });

    test('ctx.fail retries only that event; the others are acknowledged once', async () => {
      const bus = await system();
      const ids = await publish(bus, 5);
      const victim = ids[2] as string;
      const seen: { id: string; attempt: number }[] = [];
      const c = bus.consumer('b');
      c.registerBatchHandler(Item, (events, ctx) => {
        for (const e of events) {
          seen.push({ id: e.id, attempt: ctx.attemptOf(e) });
          if (e.id === victim && ctx.attemptOf(e) === 1) ctx.fail(e, new Error('flaky downstream'));
        }
      }, { maxSize: 5, maxWaitMs: 50 });
      await c.start();
      await waitUntil(() => seen.length >= 6, 20_000, 'the failed event retried');
      await c.stop();
      expect(seen.filter((s) => s.id !== victim).map((s) => s.attempt)).toEqual([1, 1, 1, 1]);
      expect(seen.filter((s) => s.id === victim).map((s) => s.attempt)).toEqual([1, 2]);
      expect(await bus.dlq.size()).toBe(0);
    });

    test('a BatchError dead-letters the one event whose retries are used up; the rest are acknowledged', async () => {
      const bus = await system({ dlqMaxRetries: 1 });
      const ids = await publish(bus, 4);
      const poison = ids[1] as string;
      const calls: string[][] = [];
      const c = bus.consumer('b');
      c.registerBatchHandler(Item, (events) => {
        calls.push(events.map((e) => e.id));
        if (events.some((e) => e.id === poison)) throw new BatchError([[poison, new Error('poison')]]);
      }, { maxSize: 10, maxWaitMs: 50 });
      await c.start();
      await waitUntil(async () => (await bus.dlq.size()) === 1, 20_000, 'the poison event in the DLQ');
      await c.stop();
      const [entry] = await bus.dlq.list();
      expect(entry?.event?.id).toBe(poison);
      expect(entry?.error).toContain('poison');
      expect(entry?.attempts).toBe(2);
      // Every other event was handed over once; the poison event twice (1 + maxRetries).
      const counts = new Map<string, number>();
      for (const id of calls.flat()) counts.set(id, (counts.get(id) ?? 0) + 1);
      expect(ids.map((id) => counts.get(id))).toEqual([1, 2, 1, 1]);
      const info = await bus.transport.info(bus.config.eventStreamName);
      expect(info.groups.find((g) => g.name === c.group)?.pending ?? 0).toBe(0);
    });

    test('UnrecoverableError through ctx.fail dead-letters that event at once', async () => {
      const bus = await system({ dlqMaxRetries: 5 });
      const ids = await publish(bus, 3);
      const c = bus.consumer('b');
      let calls = 0;
      c.registerBatchHandler(Item, (events, ctx) => {
        calls++;
        const bad = events.find((e) => e.id === ids[0]);
        if (bad) ctx.fail(bad.id, new UnrecoverableError('cannot be handled'));
      }, { maxSize: 10, maxWaitMs: 50 });
      await c.start();
      await waitUntil(async () => (await bus.dlq.size()) === 1, 20_000, 'the unrecoverable event in the DLQ');
      await c.stop();
      const [entry] = await bus.dlq.list();
      expect(entry?.event?.id).toBe(ids[0]);
      expect(entry?.attempts).toBe(1);
      expect(calls).toBeGreaterThanOrEqual(1);
    });

    test('a plain throw fails the whole batch: every event is retried on its own attempt count', async () => {
      const bus = await system();
      await publish(bus, 3);
      const attempts: number[] = [];
      let failed = false;
      const c = bus.consumer('b');
      c.registerBatchHandler(Item, (events, ctx) => {
        for (const e of events) attempts.push(ctx.attemptOf(e));
        if (!failed) {
          failed = true;
          throw new Error('database down');
        }
      }, { maxSize: 3, maxWaitMs: 200 });
      await c.start();
      await waitUntil(() => attempts.filter((a) => a === 2).length >= attempts.filter((a) => a === 1).length && attempts.length >= 2, 20_000, 'the failed batch retried');
      await waitUntil(async () => {
        const info = await bus.transport.info(bus.config.eventStreamName);
        const g = info.groups.find((x) => x.name === c.group);
        return (g?.pending ?? 0) === 0 && (g?.retrying ?? 0) === 0;
      }, 20_000, 'every event settled');
      await c.stop();
      const first = attempts.filter((a) => a === 1).length;
      expect(first).toBeGreaterThanOrEqual(1);
      expect(attempts.filter((a) => a === 2)).toHaveLength(first);
      expect(await bus.dlq.size()).toBe(0);
    });

    test('stop() hands a partial batch over at once and acknowledges it: nothing is lost', async () => {
      const bus = await system();
      const got: EventEnvelope[] = [];
      const c = bus.consumer('b');
      c.registerBatchHandler(Item, async (events) => {
        got.push(...events);
      }, { maxSize: 100, maxWaitMs: 600_000 });
      await c.start();
      await publish(bus, 3);
      await waitUntil(() => c.activeCount === 3, 20_000, 'three events waiting for their batch');
      expect(got).toHaveLength(0);
      await c.stop({ timeoutMs: 20_000 });
      expect(got.map((e) => (e.data as { n: number }).n).sort()).toEqual([0, 1, 2]);
      const info = await bus.transport.info(bus.config.eventStreamName);
      const g = info.groups.find((x) => x.name === c.group);
      expect(g?.pending ?? 0).toBe(0);
      expect(g?.lag ?? 0).toBe(0);
    });

    test('a batch still running when the stop grace ends is handed back for another member, not lost', async () => {
      const bus = await system();
      const c1 = bus.consumer('b1');
      let seenSignal: AbortSignal | undefined;
      c1.registerBatchHandler(Item, (events, ctx) => {
        seenSignal = ctx.signal;
        return new Promise(() => {}); // hangs, ignoring its signal
      }, { maxSize: 2, maxWaitMs: 20 });
      await c1.start();
      await publish(bus, 2);
      await waitUntil(() => seenSignal !== undefined, 20_000, 'the batch started');
      await c1.stop({ timeoutMs: 50 });
      expect(seenSignal?.aborted).toBe(true);
      const got: number[] = [];
      const c2 = bus.consumer('b2');
      c2.registerBatchHandler(Item, (events) => {
        got.push(...events.map((e) => e.data.n));
      }, { maxSize: 2, maxWaitMs: 20 });
      await c2.start();
      await waitUntil(() => got.length >= 2, 20_000, 'the handed-back events redelivered');
      expect(got.sort()).toEqual([0, 1]);
    });

    test('a payload that fails its schema is dead-lettered alone and never reaches the handler', async () => {
      const bus = await system();
      const stream = bus.config.eventStreamName;
      const base = { type: Item.type, priority: 'normal', correlationId: 'c', occurredAt: new Date().toISOString(), version: 1 } as const;
      await bus.transport.publish(stream, [
        { body: encodeEnvelope({ ...base, id: 'good-1', data: { n: 1 } }), priority: 1 },
        { body: encodeEnvelope({ ...base, id: 'bad-2', data: { n: 'two' } }), priority: 1 },
        { body: encodeEnvelope({ ...base, id: 'good-3', data: { n: 3 } }), priority: 1 },
      ]);
      const got: string[] = [];
      const c = bus.consumer('b');
      c.registerBatchHandler(Item, (events) => void got.push(...events.map((e) => e.id)), { maxSize: 10, maxWaitMs: 50 });
      await c.start();
      await waitUntil(async () => got.length === 2 && (await bus.dlq.size()) === 1, 20_000, 'two handled, one dead-lettered');
      expect(got.sort()).toEqual(['good-1', 'good-3']);
      expect((await bus.dlq.list())[0]?.event?.id).toBe('bad-2');
    });

    test('the consumer timeoutMs applies to the batch call: a batch past it fails and is retried', async () => {
      const bus = await system();
      await publish(bus, 2);
      let calls = 0;
      let aborted: unknown;
      const c = bus.consumer('b', { timeoutMs: 100 });
      c.registerBatchHandler(Item, (_events, ctx) => {
        if (++calls > 1) return;
        return new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => {
          aborted = ctx.signal.reason;
          resolve();
        }));
      }, { maxSize: 2, maxWaitMs: 50 });
      const failed: string[] = [];
      bus.on('failed', (p) => void failed.push(p.error.name));
      await c.start();
      await waitUntil(() => calls >= 2 && failed.length >= 2, 20_000, 'the timed-out batch retried');
      expect(aborted).toBeInstanceOf(TimeoutError);
      expect(failed.slice(0, 2)).toEqual(['TimeoutError', 'TimeoutError']);
    });

    test('bad options and conflicting registrations are refused with EventValidationError', async () => {
      const bus = await system({ eventSourcingEnabled: true });
      const c = bus.consumer('b');
      const h = () => {};
      expect(() => c.registerBatchHandler(Item, h, { maxSize: 0 })).toThrow(/maxSize: must be a whole number from 1 to 10000 \(got 0\)/);
      expect(() => c.registerBatchHandler(Item, h, { maxSize: 2.5 })).toThrow(EventValidationError);
      expect(() => c.registerBatchHandler(Item, h, { maxWaitMs: -1 })).toThrow(/maxWaitMs: must be a number of ms >= 0/);
      expect(() => c.registerBatchHandler(Item, 'nope' as never)).toThrow(/handler: must be a function/);
      expect(() => c.registerBatchHandler('*' as string, h)).toThrow(/not "\*"/);
      expect(() => c.registerBatchHandler('batch.unknown' as string, h)).toThrow(/unknown event type 'batch.unknown'/);
      c.registerBatchHandler(Item, h);
      expect(() => c.registerBatchHandler(Item, h)).toThrow(/'batch.item' already has a handler/);
      expect(() => c.registerHandler(Item, h)).toThrow(/'batch.item' has a batch handler/);
      const other = bus.consumer('other');
      other.registerHandler(Item, h);
      expect(() => other.registerBatchHandler(Item, h)).toThrow(/already has a handler/);
      const once = bus.consumer('once', { idempotent: true });
      expect(() => once.registerBatchHandler(Item, h)).toThrow(/idempotent/);
    });

    test('ctx.fail of an event that is not in the batch throws EventValidationError', async () => {
      const bus = await system();
      await publish(bus, 1);
      let thrown: unknown;
      const c = bus.consumer('b');
      c.registerBatchHandler(Item, (_events, ctx) => {
        try {
          ctx.fail('not-an-id', new Error('x'));
        } catch (err) {
          thrown = err;
        }
      }, { maxSize: 1, maxWaitMs: 0 });
      await c.start();
      await waitUntil(() => thrown !== undefined, 20_000, 'the handler ran');
      expect(thrown).toBeInstanceOf(EventValidationError);
      expect((thrown as Error).message).toMatch(/"not-an-id" is not in this batch/);
    });
  });
}
