/**
 * OpenTelemetry spans on the memory transport, with the SDK's in-memory exporter: publish ->
 * process -> task send -> run in one trace, named and attributed per the messaging conventions;
 * retries and dead letters as settle spans; a batch linked to its events; trace context from a
 * foreign producer; `tracing: false`.
 */
import { context, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { UnrecoverableError, defineEvent, encodeEnvelope, memoryTransport, type EventEnvelope, type EventSystem } from '../../src/index.js';
import { createTestSystem, waitUntil } from '../../src/testing/index.js';
import { loadTracing } from '../../src/tracing.js';

const Ping = defineEvent('trace.ping', z.object({ n: z.number() }));
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(contextManager.enable());
});
afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
});

const systems: EventSystem[] = [];
async function bus(options: Parameters<typeof createTestSystem>[0] = {}): Promise<EventSystem> {
  const b = await createTestSystem({ events: [Ping], taskEvents: false, builtins: false, ...options });
  systems.push(b);
  return b;
}
afterEach(async () => {
  for (const b of systems.splice(0)) await b.close();
  exporter.reset();
});

function spans(): ReadableSpan[] {
  return exporter.getFinishedSpans();
}
function named(name: string): ReadableSpan[] {
  return spans().filter((s) => s.name === name);
}

describe('tracing with a registered provider', () => {
  it('one trace: publish -> process -> task send -> run, with messaging attributes and parents', async () => {
    const b = await bus();
    const stream = b.config.eventStreamName;
    let seen: EventEnvelope | undefined;
    const notify = b.tasks.define('notify', { queue: 'mail' }, async (args: { n: number }) => args.n * 2);
    const c = b.consumer('svc', { group: 'billing' });
    c.registerHandler(Ping, async (e) => {
      seen = e;
      await notify.delay({ n: e.data.n });
    });
    await c.start();
    const w = b.worker({ queues: { mail: 1 } });
    await w.start();
    const id = await b.publisher.publish({ type: Ping, data: { n: 21 }, correlationId: 'corr-1' });
    await waitUntil(() => named('run mail').length === 1, 20_000, 'the task run span');

    const [publish] = named(`publish ${stream}`);
    const [process] = named(`process ${stream}`);
    const [send] = named('send mail');
    const [run] = named('run mail');
    expect(publish && process && send && run).toBeTruthy();
    const traceId = publish!.spanContext().traceId;
    for (const s of [process, send, run]) expect(s!.spanContext().traceId).toBe(traceId);
    expect(process!.parentSpanContext?.spanId).toBe(publish!.spanContext().spanId);
    expect(send!.parentSpanContext?.spanId).toBe(process!.spanContext().spanId);
    expect(run!.parentSpanContext?.spanId).toBe(send!.spanContext().spanId);

    expect(publish!.kind).toBe(SpanKind.PRODUCER);
    expect(process!.kind).toBe(SpanKind.CONSUMER);
    expect(send!.kind).toBe(SpanKind.PRODUCER);
    expect(run!.kind).toBe(SpanKind.CONSUMER);
    expect(publish!.attributes).toMatchObject({
      'messaging.system': 'procur',
      'messaging.destination.name': stream,
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'publish',
      'messaging.message.id': id,
      'messaging.message.conversation_id': 'corr-1',
      'procur.event.type': 'trace.ping',
    });
    expect(process!.attributes).toMatchObject({
      'messaging.operation.type': 'process',
      'messaging.consumer.group.name': 'billing',
      'messaging.message.id': id,
      'messaging.client.id': c.memberName,
      'procur.attempt': 1,
    });
    expect(run!.attributes).toMatchObject({ 'messaging.destination.name': 'mail', 'messaging.operation.type': 'process', 'procur.task.name': 'notify' });
    // The envelope carries the publish span's context (W3C traceparent).
    expect(seen?.traceparent).toBe(`00-${traceId}-${publish!.spanContext().spanId}-01`);
    expect(process!.status.code).not.toBe(SpanStatusCode.ERROR);
  });

  it('a failed attempt is a retry settle span under an ERROR process span; the last one a dead_letter span', async () => {
    const b = await bus({ config: { dlqMaxRetries: 1, retryBackoffMs: 10 } });
    const stream = b.config.eventStreamName;
    const c = b.consumer('svc');
    c.registerHandler(Ping, () => {
      throw new Error('boom');
    });
    await c.start();
    await b.publisher.publish({ type: Ping, data: { n: 1 } });
    await waitUntil(() => named(`dead_letter ${stream}`).length === 1, 20_000, 'the dead_letter span');
    await waitUntil(() => named(`process ${stream}`).length === 2, 20_000, 'both process spans ended');
    const [retry] = named(`retry ${stream}`);
    const [dead] = named(`dead_letter ${stream}`);
    const processes = named(`process ${stream}`);
    expect(retry!.kind).toBe(SpanKind.CLIENT);
    expect(retry!.attributes).toMatchObject({ 'messaging.operation.type': 'settle', 'messaging.operation.name': 'retry', 'procur.attempt': 1, 'error.type': 'Error' });
    expect(typeof retry!.attributes['procur.retry.delay_ms']).toBe('number');
    expect(dead!.attributes).toMatchObject({ 'messaging.operation.type': 'settle', 'procur.attempt': 2 });
    expect(processes.map((p) => p.status.code)).toEqual([SpanStatusCode.ERROR, SpanStatusCode.ERROR]);
    const ids = new Set(processes.map((p) => p.spanContext().spanId));
    expect(ids.has(retry!.parentSpanContext!.spanId)).toBe(true);
    expect(ids.has(dead!.parentSpanContext!.spanId)).toBe(true);
    // Both attempts belong to the publish's trace.
    expect(new Set(spans().map((s) => s.spanContext().traceId)).size).toBe(1);
  });

  it('a task retry is a retry span under its run span', async () => {
    const b = await bus();
    let n = 0;
    const flaky = b.tasks.define('flaky', { queue: 'q', maxRetries: 2, backoff: { type: 'fixed', delayMs: 10 } }, async () => {
      if (++n === 1) throw new Error('first try fails');
      return 'ok';
    });
    const w = b.worker({ queues: { q: 1 } });
    await w.start();
    const r = await flaky.delay(null);
    expect(await r.get({ timeoutMs: 20_000 })).toBe('ok');
    await waitUntil(() => named('run q').length === 2, 20_000, 'two run spans');
    const [retry] = named('retry q');
    expect(retry!.attributes).toMatchObject({ 'messaging.operation.type': 'settle', 'messaging.destination.name': 'q', 'procur.attempt': 1 });
    const runs = named('run q');
    expect(runs.find((s) => s.spanContext().spanId === retry!.parentSpanContext?.spanId)?.status.code).toBe(SpanStatusCode.ERROR);
    const [send] = named('send q');
    for (const run of runs) expect(run.parentSpanContext?.spanId).toBe(send!.spanContext().spanId);
  });

  it('a batch is one process span linked to the context of each of its events', async () => {
    const b = await bus();
    const stream = b.config.eventStreamName;
    const c = b.consumer('svc');
    let batches = 0;
    c.registerBatchHandler(Ping, (events, ctx) => {
      batches++;
      ctx.fail(events[0]!, new UnrecoverableError('bad'));
    }, { maxSize: 3, maxWaitMs: 50 });
    await b.publisher.publishMany([1, 2, 3].map((n) => ({ type: Ping, data: { n } })));
    await c.start();
    await waitUntil(() => named(`process ${stream}`).length >= 1 && batches >= 1, 20_000, 'the batch span');
    const batch = named(`process ${stream}`).find((s) => s.attributes['messaging.batch.message_count'] === 3);
    expect(batch).toBeDefined();
    const publishes = named(`publish ${stream}`).map((s) => s.spanContext().spanId).sort();
    expect(batch!.links.map((l) => l.context.spanId).sort()).toEqual(publishes);
    expect(batch!.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('takes the parent from a foreign producer`s traceparent, ignores a malformed one, and decodes old messages without it', async () => {
    const b = await bus();
    const stream = b.config.eventStreamName;
    const got: EventEnvelope[] = [];
    const c = b.consumer('svc');
    c.registerHandler(Ping, (e) => void got.push(e));
    await c.start();
    const base = { type: 'trace.ping', priority: 'normal', occurredAt: new Date().toISOString(), version: 1 } as const;
    const foreign = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await b.transport.publish(stream, [
      { body: encodeEnvelope({ ...base, id: 'foreign-1', correlationId: 'c', data: { n: 1 }, traceparent: foreign, tracestate: 'vendor=x' }), priority: 1 },
      { body: encodeEnvelope({ ...base, id: 'foreign-2', correlationId: 'c', data: { n: 2 }, traceparent: 'not-a-traceparent' }), priority: 1 },
      { body: JSON.stringify({ ...base, id: 'old-3', data: { n: 3 } }), priority: 1 },
      { body: JSON.stringify({ ...base, id: 'odd-4', data: { n: 4 }, traceparent: 42 }), priority: 1 },
    ]);
    await waitUntil(() => got.length === 4 && named(`process ${stream}`).length === 4, 20_000, 'four events handled');
    expect(await b.dlq.size()).toBe(0);
    const byId = new Map(named(`process ${stream}`).map((s) => [s.attributes['messaging.message.id'], s]));
    expect(byId.get('foreign-1')!.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(byId.get('foreign-1')!.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(byId.get('foreign-1')!.spanContext().traceState?.get('vendor')).toBe('x');
    expect(byId.get('foreign-2')!.parentSpanContext).toBeUndefined();
    expect(byId.get('old-3')!.parentSpanContext).toBeUndefined();
    expect(got.find((e) => e.id === 'odd-4')?.traceparent).toBeUndefined();
  });

  it('the loaded tracing sees the registered provider', async () => {
    expect((await loadTracing(undefined))?.live()).toBe(true);
  });

  it('tracing: false loads nothing: no spans, no traceparent', async () => {
    const b = await bus({ tracing: false });
    let seen: EventEnvelope | undefined;
    const c = b.consumer('svc');
    c.registerHandler(Ping, (e) => {
      seen = e;
    });
    await c.start();
    await b.publisher.publish({ type: Ping, data: { n: 1 } });
    await waitUntil(() => seen !== undefined, 20_000, 'the event handled');
    expect(seen!.traceparent).toBeUndefined();
    expect(spans()).toHaveLength(0);
  });

  it('the memory transport keeps the trace context of a delayed task', async () => {
    const b = await bus({ transport: memoryTransport() });
    const t = b.tasks.define('later', { queue: 'lq' }, async () => 1);
    const w = b.worker({ queues: { lq: 1 } });
    await w.start();
    const r = await t.applyAsync(null, { countdownMs: 30 });
    await r.get({ timeoutMs: 20_000 });
    await waitUntil(() => named('run lq').length === 1, 20_000, 'the run span');
    expect(named('run lq')[0]!.parentSpanContext?.spanId).toBe(named('send lq')[0]!.spanContext().spanId);
  });
});
