/**
 * Tracing when nothing is set up: with `@opentelemetry/api` installed but no tracer provider
 * registered, no span is recorded and messages carry no trace context; when the API cannot be
 * imported, the loader returns nothing (nothing is loaded). The W3C header parser.
 */
import { trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineEvent, type EventEnvelope, type EventSystem } from '../../src/index.js';
import { createTestSystem, waitUntil } from '../../src/testing/index.js';
import { formatTraceparent, loadTracing, parseTraceparent } from '../../src/tracing.js';

const Ping = defineEvent('trace.ping', z.object({ n: z.number() }));
const systems: EventSystem[] = [];
afterEach(async () => {
  for (const b of systems.splice(0)) await b.close();
});

describe('without a registered tracer provider', () => {
  it('creates no span and writes no traceparent to events or tasks', async () => {
    const b = await createTestSystem({ events: [Ping], taskEvents: false, builtins: false });
    systems.push(b);
    let seen: EventEnvelope | undefined;
    let active: unknown = 'unset';
    let taskActive: unknown = 'unset';
    let taskBody: string | undefined;
    const t = b.tasks.define('t', { queue: 'q' }, async () => {
      taskActive = trace.getActiveSpan();
      return 1;
    });
    const c = b.consumer('svc');
    c.registerHandler(Ping, (e) => {
      seen = e;
      active = trace.getActiveSpan();
    });
    await c.start();
    await b.publisher.publish({ type: Ping, data: { n: 1 } });
    await waitUntil(() => seen !== undefined, 20_000, 'the event handled');
    expect(seen!.traceparent).toBeUndefined();
    expect(seen!.tracestate).toBeUndefined();
    expect(active).toBeUndefined();
    const original = b.transport.publish.bind(b.transport);
    b.transport.publish = (stream, messages, o) => {
      taskBody = messages[0]?.body;
      return original(stream, messages, o);
    };
    const w = b.worker({ queues: { q: 1 } });
    await w.start();
    await (await t.delay(null)).get({ timeoutMs: 20_000 });
    expect(taskBody).toBeDefined();
    expect(JSON.parse(taskBody!)).not.toHaveProperty('traceparent');
    expect(taskActive).toBeUndefined();
  });
});

describe('the guarded loader', () => {
  it('returns nothing when @opentelemetry/api cannot be imported, or with tracing: false', async () => {
    const asked: string[] = [];
    const missing = async (s: string) => {
      asked.push(s);
      throw Object.assign(new Error(`Cannot find package '${s}'`), { code: 'ERR_MODULE_NOT_FOUND' });
    };
    expect(await loadTracing(undefined, missing)).toBeUndefined();
    expect(asked).toEqual(['@opentelemetry/api']);
    expect(await loadTracing(false, missing)).toBeUndefined();
    expect(asked).toHaveLength(1);
    // Something that is not the API (a stub package) is not used either.
    expect(await loadTracing(true, async () => ({ trace: {} }))).toBeUndefined();
    const real = await loadTracing(true);
    expect(real).toBeDefined();
    // Installed but no provider registered: the hooks skip all tracing work.
    expect(real!.live()).toBe(false);
  });
});

describe('W3C traceparent', () => {
  it('parses valid headers and refuses malformed ones', () => {
    expect(parseTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'a=b')).toEqual({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
      tracestate: 'a=b',
    });
    // A future version may append fields; version 00 may not.
    expect(parseTraceparent('01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00-extra')?.traceFlags).toBe(0);
    for (const bad of [
      undefined,
      42,
      '',
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra',
      'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      '00-00000000000000000000000000000000-b7ad6b7169203331-01',
      '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01',
      '00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01',
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01',
    ]) {
      expect(parseTraceparent(bad)).toBeUndefined();
    }
    expect(formatTraceparent('0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331', 1)).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  });
});
