/**
 * One trace across three processes over the real Redis: a publish in this process (the SDK's
 * in-memory exporter), its handler in a consumer process, which sends a task, and the task's run
 * in a worker process. The child processes print their finished spans on stdout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { context, trace, SpanKind } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { defineEvent, type EventSystem } from '../../src/index.js';
import { waitUntil } from '../../src/testing/index.js';
import { TEST_REDIS_URL, adminClient, deleteKeys, redisBus, uniquePrefix, whenRedis } from './fixtures/redis-helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/otel-process.ts', import.meta.url));
const Ping = defineEvent('otel.ping', z.object({ n: z.number() }));

interface ChildSpan {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: Record<string, unknown>;
  pid: number;
}

function start(prefix: string, role: 'consumer' | 'worker', sink: ChildSpan[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: { ...process.env, REDIS_URL: TEST_REDIS_URL, KEY_PREFIX: prefix, ROLE: role },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let rest = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${role} process did not start`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      const lines = (rest + d.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('SPAN ')) sink.push(JSON.parse(line.slice(5)) as ChildSpan);
        else if (line === 'ready') {
          clearTimeout(timer);
          resolve(child);
        }
      }
    });
    child.on('exit', (code) => reject(new Error(`${role} exited early with ${code}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

await whenRedis('otel-redis', () => {
  describe('OpenTelemetry across processes on Redis', () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    let admin: Redis;
    let prefix: string;
    let bus: EventSystem | undefined;
    const children: ChildProcess[] = [];

    beforeAll(async () => {
      trace.setGlobalTracerProvider(provider);
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
      admin = adminClient();
      await admin.connect();
    });
    afterAll(async () => {
      await admin.quit();
      await provider.shutdown();
      trace.disable();
      context.disable();
    });
    afterEach(async () => {
      await Promise.all(children.splice(0).map(stop));
      await bus?.close();
      await deleteKeys(admin, prefix);
    });

    it('a publish here, its handler in one process and the task it sends in another are one trace', async () => {
      prefix = uniquePrefix();
      const remote: ChildSpan[] = [];
      children.push(...(await Promise.all([start(prefix, 'consumer', remote), start(prefix, 'worker', remote)])));
      bus = await redisBus(prefix, { events: [Ping], taskEvents: false, builtins: false, config: { eventSourcingEnabled: false } });
      const stream = bus.config.eventStreamName;
      const id = await bus.publisher.publish({ type: Ping, data: { n: 1 } });
      // The worker's run span can be printed before the consumer's process span ends (the process
      // span closes after the handler's send returned and the event was acked): wait for all three.
      const names = [`process ${stream}`, 'send mail', 'run mail'];
      await waitUntil(() => names.every((n) => remote.some((s) => s.name === n)), 60_000, 'the process, send and run spans of the two processes');

      const publish = exporter.getFinishedSpans().find((s) => s.name === `publish ${stream}`);
      expect(publish?.kind).toBe(SpanKind.PRODUCER);
      const traceId = publish!.spanContext().traceId;
      const process_ = remote.find((s) => s.name === `process ${stream}`);
      const send = remote.find((s) => s.name === 'send mail');
      const run = remote.find((s) => s.name === 'run mail');
      expect(process_ && send && run).toBeTruthy();
      for (const s of [process_!, send!, run!]) expect(s.traceId).toBe(traceId);
      expect(process_!.parentSpanId).toBe(publish!.spanContext().spanId);
      expect(send!.parentSpanId).toBe(process_!.spanId);
      expect(run!.parentSpanId).toBe(send!.spanId);
      // Three processes: this one, the consumer's and the worker's.
      expect(process_!.pid).not.toBe(run!.pid);
      expect(process_!.kind).toBe(SpanKind.CONSUMER);
      expect(run!.kind).toBe(SpanKind.CONSUMER);
      expect(process_!.attributes).toMatchObject({ 'messaging.system': 'procur', 'messaging.message.id': id, 'messaging.consumer.group.name': 'otel', 'messaging.operation.type': 'process' });
      expect(run!.attributes).toMatchObject({ 'messaging.destination.name': 'mail', 'procur.task.name': 'notify' });
    });
  });
});
