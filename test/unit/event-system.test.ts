import { waitUntil as until } from '../../src/testing/index.js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  EventPriority,
  EventType,
  EventValidationError,
  RetryLaterError,
  UnrecoverableError,
  createEventSystem,
  silentLogger,
  type EventEnvelope,
  type EventSystem,
  type HandlerContext,
} from '../../src/index.js';
import { collect, createTestSystem, drain, waitForEvent } from '../../src/testing/index.js';

let bus: EventSystem | undefined;
afterEach(async () => {
  await bus?.close();
  bus = undefined;
});

const requestCreated = (n: number) => ({
  type: EventType.REQUEST_CREATED,
  data: { requestId: `req-${n}`, description: 'Need CRM', budgetMax: 1000 + n },
});

describe('publish and consume', () => {
  it('publishes through a helper, stores the event and hands it to the consumer', async () => {
    bus = await createTestSystem();
    const got: EventEnvelope[] = [];
    const c = bus.consumer('audit');
    c.registerHandler(EventType.NEGOTIATION_STARTED, (e) => {
      got.push(e);
    });
    await c.start();
    const handled = waitForEvent(bus, EventType.NEGOTIATION_STARTED);
    const id = await bus.publisher.publishNegotiationStarted({
      negotiationId: 'neg-1',
      requestId: 'req-1',
      vendorId: 'salesforce',
      userId: 1,
      correlationId: 'corr-1',
    });
    await handled;
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({
      id,
      type: 'negotiation.started',
      data: { negotiationId: 'neg-1', requestId: 'req-1', vendorId: 'salesforce' },
      userId: '1',
      correlationId: 'corr-1',
      priority: 'normal',
      version: 1,
    });
    const stored = await bus.store.getEvent(id);
    expect(stored?.publishedAt).not.toBeNull();
    await until(async () => (await bus!.store.processingOf(id)).some((r) => r.outcome === 'processed'));
  });

  it('refuses an invalid payload, naming the field, and stores and publishes nothing', async () => {
    bus = await createTestSystem();
    const published = collect(bus, 'published');
    const err = await bus.publisher
      // @ts-expect-error: an invalid payload on purpose (the run-time check is under test)
      .publish({ type: EventType.REQUEST_CREATED, data: { requestId: 'r', description: 'd', budgetMax: 'lots' } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EventValidationError);
    expect((err as EventValidationError).issues.map((i) => i.path)).toEqual(['data.budgetMax']);
    expect(published.items).toHaveLength(0);
    expect((await bus.store.getEventsByType(EventType.REQUEST_CREATED)).length).toBe(0);
    expect((await bus.transport.info(bus.config.eventStreamName)).length).toBe(0);
  });

  it('publishMany validates all first: one bad event stops the whole batch', async () => {
    bus = await createTestSystem();
    const err = await bus.publisher
      // @ts-expect-error: an invalid payload on purpose (the run-time check is under test)
      .publishMany([requestCreated(1), { type: EventType.CONTRACT_SIGNED, data: { contractId: 'c' } }])
      .catch((e: unknown) => e);
    expect((err as EventValidationError).issues[0]?.path).toBe('[1].data.signedBy');
    expect((await bus.store.query({})).events).toHaveLength(0);
    const ids = await bus.publisher.publishMany([requestCreated(1), requestCreated(2), requestCreated(3)]);
    expect(ids).toHaveLength(3);
    expect((await bus.store.getEventsByType(EventType.REQUEST_CREATED)).map((e) => e.id)).toEqual(ids);
  });

  it('refuses an oversized event', async () => {
    bus = await createTestSystem({ config: { maxEventBytes: 1024 } });
    await expect(
      bus.publisher.publish({ type: EventType.SYSTEM_WARNING, data: { message: 'x'.repeat(2000) } }),
    ).rejects.toThrow(/the limit is 1024/);
  });

  it('delivers a backlog highest priority first', async () => {
    bus = await createTestSystem();
    const order: string[] = [];
    const c = bus.consumer('prio').registerHandler(EventType.SYSTEM_WARNING, (e) => {
      order.push(e.priority);
    });
    // Create the group first so the backlog is the group's, then publish before consuming.
    await bus.transport.ensureGroup(bus.config.eventStreamName, bus.config.eventConsumerGroup);
    const prios = [EventPriority.LOW, EventPriority.NORMAL, EventPriority.CRITICAL, EventPriority.LOW, EventPriority.HIGH, EventPriority.CRITICAL];
    for (const priority of prios) await bus.publisher.publish({ type: EventType.SYSTEM_WARNING, data: { message: priority }, priority });
    await c.start({ batchSize: 1, concurrency: 1 });
    await until(() => order.length === prios.length);
    expect(order).toEqual(['critical', 'critical', 'high', 'normal', 'low', 'low']);
  });

  it('load balances within a group and fans out across groups', async () => {
    bus = await createTestSystem();
    const seen = { a1: 0, a2: 0, b: 0 };
    const mk = (name: keyof typeof seen, group: string) =>
      bus!.consumer(name, { group }).registerHandler(EventType.SYSTEM_WARNING, async () => {
        seen[name]++;
        await new Promise((r) => setTimeout(r, 1));
      });
    const consumers = [mk('a1', 'A'), mk('a2', 'A'), mk('b', 'B')];
    for (const c of consumers) await c.start({ batchSize: 5 });
    await bus.publisher.publishMany(Array.from({ length: 100 }, (_, i) => ({ type: EventType.SYSTEM_WARNING, data: { message: `m${i}` } })));
    await until(() => seen.a1 + seen.a2 === 100 && seen.b === 100);
    await drain(bus);
    expect(seen.a1 + seen.a2).toBe(100);
    expect(seen.b).toBe(100);
    expect(seen.a1).toBeGreaterThan(0);
    expect(seen.a2).toBeGreaterThan(0);
  });

  it('never runs more handlers at once than the concurrency', async () => {
    bus = await createTestSystem();
    let running = 0;
    let peak = 0;
    let done = 0;
    const c = bus.consumer('limited').registerHandler(EventType.SYSTEM_WARNING, async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      done++;
    });
    await c.start({ batchSize: 10, concurrency: 3 });
    await bus.publisher.publishMany(Array.from({ length: 30 }, (_, i) => ({ type: EventType.SYSTEM_WARNING, data: { message: `m${i}` } })));
    await until(() => done === 30);
    expect(peak).toBe(3);
  });
});

describe('handlers', () => {
  it('runs synchronous and asynchronous handlers of a type in order, each with the delivery context, and retries from the first', async () => {
    bus = await createTestSystem({ config: { dlqMaxRetries: 2 } });
    const order: string[] = [];
    const contexts: HandlerContext[] = [];
    let failNext = true;
    const c = bus.consumer('mixed');
    c.registerHandler(EventType.SYSTEM_WARNING, (_e, ctx) => {
      contexts.push(ctx);
      order.push(`sync-1@${ctx.attempt}`);
    });
    c.registerHandler(EventType.SYSTEM_WARNING, async (_e, ctx) => {
      await new Promise((r) => setTimeout(r, 2));
      order.push(`async@${ctx.attempt}`);
    });
    c.registerHandler(EventType.SYSTEM_WARNING, (_e, ctx) => {
      order.push(`sync-2@${ctx.attempt}`);
      // A synchronous throw after an asynchronous handler still fails the attempt.
      if (failNext) {
        failNext = false;
        throw new Error('first attempt fails');
      }
    });
    c.registerHandler('*', (_e, ctx) => {
      order.push(`any@${ctx.attempt}`);
    });
    await c.start();
    const id = await bus.publisher.publishSystemWarning({ message: 'mixed' });
    await until(async () => (await bus!.store.processingOf(id)).some((r) => r.outcome === 'processed'));
    expect(order).toEqual(['sync-1@1', 'async@1', 'sync-2@1', 'sync-1@2', 'async@2', 'sync-2@2', 'any@2']);
    const ctx = contexts[1]!;
    expect(ctx).toMatchObject({ attempt: 2, maxAttempts: 3, group: c.group, consumer: c.memberName });
    expect(ctx.signal).toBeInstanceOf(AbortSignal);
    expect(ctx.signal.aborted).toBe(false);
    expect(ctx.transaction).toBeUndefined();
    // Nothing internal leaks into a logged or spread context.
    expect(Object.keys(JSON.parse(JSON.stringify(ctx))).sort()).toEqual(['attempt', 'consumer', 'group', 'maxAttempts']);
    expect(Object.keys({ ...ctx }).sort()).toEqual(['attempt', 'consumer', 'group', 'maxAttempts', 'transaction']);
  });
});

describe('retries and the dead letter queue', () => {
  it('tries a failing handler 1 + dlqMaxRetries times with growing delays, then dead-letters it; replay after a fix handles it', async () => {
    bus = await createTestSystem({ config: { dlqMaxRetries: 3, retryBackoffMs: 40, retryBackoffMaxMs: 1000 } });
    const attempts: { attempt: number; at: number }[] = [];
    let fixed = false;
    const handledIds: string[] = [];
    const c = bus.consumer('flaky').registerHandler(EventType.CONTRACT_SIGNED, (e, ctx) => {
      attempts.push({ attempt: ctx.attempt, at: Date.now() });
      if (!fixed) throw new Error('signature service down');
      handledIds.push(e.id);
    });
    await c.start();
    const dead = waitForEvent(bus, EventType.CONTRACT_SIGNED, { hook: 'dead-lettered', timeoutMs: 10_000 });
    const id = await bus.publisher.publishContractSigned({ contractId: 'c-1', signedBy: 'ceo' });
    await dead;
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3, 4]);
    const gaps = attempts.slice(1).map((a, i) => a.at - attempts[i]!.at);
    // 40, 80, 160 ms by design: each gap at least its delay, and growing.
    expect(gaps[0]).toBeGreaterThanOrEqual(38);
    expect(gaps[1]).toBeGreaterThanOrEqual(78);
    expect(gaps[2]).toBeGreaterThanOrEqual(158);
    expect(await bus.dlq.size()).toBe(1);
    const [entry] = await bus.dlq.list();
    expect(entry).toMatchObject({ error: 'signature service down', attempts: 4, group: bus.config.eventConsumerGroup });
    expect(entry?.event?.id).toBe(id);
    expect(entry?.stack).toContain('signature service down');
    await until(async () => (await bus!.store.processingOf(id))[0]?.outcome === 'dead-lettered');

    fixed = true;
    const handled = waitForEvent(bus, EventType.CONTRACT_SIGNED);
    await bus.dlq.replay(entry!.id);
    await handled;
    expect(handledIds).toEqual([id]);
    expect(await bus.dlq.size()).toBe(0);
    await until(async () => (await bus!.store.processingOf(id))[0]?.outcome === 'processed');
  });

  it('sends UnrecoverableError straight to the DLQ and honours RetryLaterError without counting an attempt', async () => {
    bus = await createTestSystem({ config: { dlqMaxRetries: 5 } });
    const seen: number[] = [];
    let later = 0;
    const c = bus.consumer('signals');
    c.registerHandler(EventType.VENDOR_CREATED, () => {
      throw new UnrecoverableError('vendor blocked');
    });
    c.registerHandler(EventType.VENDOR_UPDATED, (_e, ctx) => {
      seen.push(ctx.attempt);
      if (later++ < 2) throw new RetryLaterError(20);
    });
    await c.start();
    const dead = waitForEvent(bus, EventType.VENDOR_CREATED, { hook: 'dead-lettered' });
    await bus.publisher.publishVendorCreated({ vendorId: 'v', name: 'V' });
    await dead;
    const [entry] = await bus.dlq.list();
    expect(entry?.attempts).toBe(1);
    const ok = waitForEvent(bus, EventType.VENDOR_UPDATED);
    await bus.publisher.publishVendorUpdated({ vendorId: 'v' });
    await ok;
    expect(seen).toEqual([1, 1, 1]);
  });

  it('dead-letters a message it cannot decode and keeps consuming', async () => {
    bus = await createTestSystem();
    const c = bus.consumer('robust').registerHandler(EventType.SYSTEM_WARNING, () => {});
    await c.start();
    await bus.transport.publish(bus.config.eventStreamName, [{ body: 'not json at all' }, { body: JSON.stringify({ version: 99 }) }]);
    const ok = waitForEvent(bus, EventType.SYSTEM_WARNING);
    await bus.publisher.publishSystemWarning({ message: 'still alive' });
    await ok;
    await until(async () => (await bus!.dlq.size()) === 2);
    const entries = await bus.dlq.list();
    expect(entries.map((e) => e.event)).toEqual([undefined, undefined]);
    expect(entries[0]?.error).toMatch(/not JSON/);
    expect(entries[1]?.error).toMatch(/unknown envelope version 99/);
    expect(entries[0]?.body).toBe('not json at all');
  });

  it('deletes and purges DLQ entries', async () => {
    bus = await createTestSystem({ config: { dlqMaxRetries: 0 } });
    const c = bus.consumer('bad').registerHandler(EventType.SYSTEM_ERROR, () => {
      throw new Error('boom');
    });
    await c.start();
    await bus.publisher.publishMany([1, 2, 3].map((n) => ({ type: EventType.SYSTEM_ERROR, data: { message: `e${n}` } })));
    await until(async () => (await bus!.dlq.size()) === 3);
    const [first] = await bus.dlq.list({ limit: 1 });
    expect(await bus.dlq.delete(first!.id)).toBe(true);
    expect(await bus.dlq.delete(first!.id)).toBe(false);
    expect(await bus.dlq.purge()).toBe(2);
    expect(await bus.dlq.size()).toBe(0);
    await expect(bus.dlq.replay(first!.id)).rejects.toThrow(/No dead letter/);
  });
});

describe('store queries and replay', () => {
  it('answers the audit-trail queries and replays a correlation id', async () => {
    bus = await createTestSystem();
    await bus.publisher.publishRequestCreated({ requestId: 'r1', description: 'CRM', budgetMax: 50_000, userId: 7, organizationId: 'acme', correlationId: 'flow-1' });
    await bus.publisher.publishNegotiationStarted({ negotiationId: 'n1', requestId: 'r1', vendorId: 'v1', userId: 7, correlationId: 'flow-1' });
    await bus.publisher.publishSystemWarning({ message: 'other flow', organizationId: 'globex' });
    expect((await bus.store.getEventsByCorrelationId('flow-1')).map((e) => e.type)).toEqual(['request.created', 'negotiation.started']);
    expect(await bus.store.getEventsByUser(7)).toHaveLength(2);
    expect(await bus.store.getEventsByOrganization('globex')).toHaveLength(1);
    expect(await bus.store.getUnprocessedEvents()).toHaveLength(3);

    const replayed: EventEnvelope[] = [];
    const c = bus.consumer('replayer', { group: 'replay-group', startAt: 'end' }).registerHandler('*', (e) => {
      replayed.push(e);
    });
    await c.start();
    const progress: number[] = [];
    const n = await bus.replay({ correlationId: 'flow-1', batchSize: 1, onProgress: (p) => progress.push(p.replayed) });
    expect(n).toBe(2);
    expect(progress).toEqual([1, 2]);
    await until(() => replayed.length === 2);
    expect(replayed.every((e) => e.metadata?.replayed === true)).toBe(true);
  });

  it('cleans up events older than the retention', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    bus = await createTestSystem({ clock: { now: () => now } });
    await bus.publisher.publishSystemWarning({ message: 'old' });
    now += 100 * 86_400_000;
    await bus.publisher.publishSystemWarning({ message: 'new' });
    expect(await bus.store.cleanupOldEvents(90)).toBe(1);
    expect((await bus.store.getEventsByType(EventType.SYSTEM_WARNING)).map((e) => (e.data as { message: string }).message)).toEqual(['new']);
  });
});

describe('lifecycle', () => {
  it('close is memoised, stops consumers and refuses later calls', async () => {
    bus = await createTestSystem();
    const c = bus.consumer('x').registerHandler('*', () => {});
    await c.start();
    const p1 = bus.close();
    const p2 = bus.close();
    expect(p1).toBe(p2);
    await p1;
    expect(c.running).toBe(false);
    await expect(bus.publisher.publishSystemWarning({ message: 'late' })).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    expect(() => bus!.consumer('y')).toThrow(/closed/);
  });

  it('aborts a handler that outlives the grace period and hands its event back', async () => {
    bus = await createTestSystem();
    let aborted = false;
    const c = bus.consumer('slow').registerHandler(EventType.SYSTEM_WARNING, (_e, ctx) =>
      new Promise<void>((resolve) => {
        ctx.signal.addEventListener('abort', () => {
          aborted = true;
          resolve();
        });
      }),
    );
    await c.start();
    await bus.publisher.publishSystemWarning({ message: 'long job' });
    await until(() => c.activeCount === 1);
    await c.stop({ timeoutMs: 50 });
    expect(aborted).toBe(true);
    const info = await bus.transport.info(bus.config.eventStreamName);
    const group = info.groups.find((g) => g.name === bus!.config.eventConsumerGroup);
    expect(group?.pending).toBe(0);
    expect((group?.lag ?? 0) + (group?.retrying ?? 0)).toBe(1);
  });

  it('uses the default memory adapters with no options', async () => {
    bus = await createEventSystem({ logger: silentLogger });
    expect(bus.transport.name).toBe('memory');
    expect(bus.store.adapter.name).toBe('memory');
  });
});

describe('custom and unknown types', () => {
  it('refuses a handler for an unknown type unless unknown types are allowed', async () => {
    bus = await createTestSystem();
    expect(() => bus!.consumer('c').registerHandler('made.up' as string, () => {})).toThrow(/unknown event type 'made.up'/);
    await bus.close();
    bus = await createTestSystem({ allowUnknownTypes: true });
    const got: unknown[] = [];
    const c = bus.consumer('c').registerHandler('made.up' as string, (e) => {
      got.push(e.data);
    });
    await c.start();
    const handled = waitForEvent(bus, 'made.up' as string);
    await bus.publisher.publish({ type: 'made.up' as string, data: { anything: 1 } });
    await handled;
    expect(got).toEqual([{ anything: 1 }]);
  });
});

describe('bad input on the stream', () => {
  it('dead-letters an event whose payload fails its schema at once, without retries', async () => {
    bus = await createTestSystem({ config: { dlqMaxRetries: 5 } });
    let calls = 0;
    const c = bus.consumer('strict').registerHandler(EventType.CONTRACT_SIGNED, () => {
      calls++;
    });
    await c.start();
    const dead = waitForEvent(bus, EventType.CONTRACT_SIGNED, { hook: 'dead-lettered' });
    // Written by another producer, past the publisher's validation.
    const body = JSON.stringify({ version: 1, id: 'foreign-1', type: 'contract.signed', data: { contractId: 'c' }, occurredAt: new Date().toISOString() });
    await bus.transport.publish(bus.config.eventStreamName, [{ body }]);
    await dead;
    expect(calls).toBe(0);
    const [entry] = await bus.dlq.list();
    expect(entry?.attempts).toBe(1);
    expect(entry?.error).toMatch(/data\.signedBy/);
  });
});

describe('testing helpers', () => {
  it('waitUntil resolves once the check holds and names what it waited for on timeout', async () => {
    let n = 0;
    await until(() => ++n >= 3, 1000);
    expect(n).toBe(3);
    await expect(until(() => false, 50, 'the impossible')).rejects.toThrow(/the impossible not met within 50 ms/);
    await expect(until(() => false, 50)).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
  });
});
