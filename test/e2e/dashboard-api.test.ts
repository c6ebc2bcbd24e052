/**
 * The HTTP side of the dashboard, in-process on the memory transport: /metrics parses as
 * Prometheus text with the right figures, /health/events turns 503 naming the rule, the JSON API
 * (tasks with filters and details, revoke, DLQ), auth (Basic and token), cross-site protection,
 * mounting under a path, and the live event stream.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, EventType, UnrecoverableError, type EventSystem } from '@procur/event-bus';
import { createDashboardHandler, createMetrics, startDashboard, type RunningDashboard } from '@procur/event-bus/http';
import { createTestSystem } from '@procur/event-bus/testing';
import { taskKeys } from '../../src/tasks/message.js';
import { taskChannels } from '../../src/http/feed.js';
import { parsePrometheus, promtool, sampleValue, until } from './fixtures/dashboard-helpers.js';

let bus: EventSystem | undefined;
let dash: RunningDashboard | undefined;
const servers: Server[] = [];
afterEach(async () => {
  await dash?.close();
  dash = undefined;
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  await bus?.close();
  bus = undefined;
});

const ACTION = { 'x-procur-dashboard': '1' };
async function getJson<T = Record<string, unknown>>(url: string, init?: RequestInit): Promise<{ status: number; body: T }> {
  const r = await fetch(url, init);
  return { status: r.status, body: (await r.json()) as T };
}

describe('metrics', () => {
  it('/metrics parses as Prometheus text and counts what happened', async () => {
    bus = await createTestSystem({ config: { workerHeartbeatMs: 100 } });
    // The task runs until the scrape below has seen it running (bounded, so close never waits long).
    let release = () => {};
    const scraped = new Promise<void>((r) => (release = r));
    bus.tasks.define('slow', { queue: 'work' }, async () => {
      await Promise.race([scraped, new Promise((r) => setTimeout(r, 20_000))]);
      return 'done';
    });
    const worker = bus.worker({ queues: { work: 4 } });
    await worker.start();
    dash = await startDashboard(bus, { port: 0 });
    const c = bus.consumer('audit');
    c.registerHandler(EventType.SYSTEM_WARNING, (e) => {
      if ((e.data as { message: string }).message === 'bad') throw new UnrecoverableError('no');
    });
    await c.start();
    for (const m of ['a', 'b', 'c', 'bad']) await bus.publisher.publish({ type: EventType.SYSTEM_WARNING, data: { message: m } });
    await until(async () => (await bus!.dlq.size()) === 1);
    await bus.tasks.send('slow', null);
    await bus.tasks.send('slow', null, { countdownMs: 60_000, priority: 'high' });
    await until(async () => (await bus!.inspect.workers())[0]?.active === 1, 5000, 'a running task in the heartbeat');

    const res = await fetch(`${dash.url}metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
    const text = await res.text();
    const families = parsePrometheus(text);
    const verdict = promtool(text);
    if (verdict) expect(verdict, verdict.output).toMatchObject({ ok: true });

    const group = bus.config.eventConsumerGroup;
    expect(families.get('procur_events_published_total')?.type).toBe('counter');
    expect(sampleValue(families, 'procur_events_published_total', { type: EventType.SYSTEM_WARNING })).toBe(4);
    expect(sampleValue(families, 'procur_events_handled_total', { group, type: EventType.SYSTEM_WARNING })).toBe(3);
    expect(sampleValue(families, 'procur_events_failed_total', { group, type: EventType.SYSTEM_WARNING })).toBe(1);
    expect(sampleValue(families, 'procur_events_dead_lettered_total', { group })).toBe(1);
    expect(families.get('procur_event_processing_seconds')?.type).toBe('histogram');
    expect(sampleValue(families, 'procur_event_processing_seconds_count', { group, type: EventType.SYSTEM_WARNING })).toBe(3);
    expect(sampleValue(families, 'procur_event_processing_seconds_bucket', { group, type: EventType.SYSTEM_WARNING, le: '+Inf' })).toBe(3);
    expect(sampleValue(families, 'procur_event_success_rate_percent')).toBe(75);
    expect(sampleValue(families, 'procur_dlq_size')).toBe(1);
    expect(sampleValue(families, 'procur_healthy')).toBe(0);
    expect(sampleValue(families, 'procur_health_issues', { rule: 'success-rate' })).toBe(1);
    expect(sampleValue(families, 'procur_queue_delayed', { queue: 'work' })).toBe(1);
    expect(sampleValue(families, 'procur_queue_running', { queue: 'work' })).toBe(1);
    // One task running, one delayed: none waiting for a worker.
    expect(sampleValue(families, 'procur_queue_depth', { queue: 'work', priority: 'normal' })).toBe(0);
    expect(sampleValue(families, 'procur_consumer_lag', { stream: bus.config.eventStreamName, group })).toBe(0);
    expect(sampleValue(families, 'procur_consumer_pending', { stream: 'procur:tasks:work', group: 'workers' })).toBe(1);
    expect(sampleValue(families, 'procur_workers', { state: 'online' })).toBe(1);
    expect(sampleValue(families, 'procur_worker_utilisation', { worker: worker.id })).toBe(0.25);
    expect(sampleValue(families, 'procur_worker_active_tasks', { worker: worker.id })).toBe(1);
    release();
    await worker.stop({ timeoutMs: 1000 });
  });

  it('createMetrics registers into a given registry and close() removes its metrics', async () => {
    bus = await createTestSystem();
    const m = createMetrics(bus, { prefix: 'app_bus_', labels: { service: 'api' } });
    await bus.publisher.publish({ type: EventType.SYSTEM_WARNING, data: { message: 'x' } });
    const families = parsePrometheus(await m.text());
    expect(sampleValue(families, 'app_bus_events_published_total', { type: EventType.SYSTEM_WARNING, service: 'api' })).toBe(1);
    m.close();
    m.close();
    expect(await m.registry.metrics()).not.toContain('app_bus_');
  });
});

describe('/health/events', () => {
  it('answers 200 when healthy and 503 naming the rule when a threshold is crossed', async () => {
    bus = await createTestSystem({ health: { maxDlqSize: 0 } });
    dash = await startDashboard(bus, { port: 0 });
    const ok = await getJson<{ healthy: boolean }>(`${dash.url}health/events`);
    expect(ok).toMatchObject({ status: 200, body: { healthy: true } });
    await bus.transport.deadLetter('s', 'g', { deliveryId: 'x', body: '{}', priority: 1 }, { dlq: bus.config.dlqStreamName, error: 'boom', attempts: 1 });
    const bad = await getJson<{ healthy: boolean; checks: { rule: string }[]; issues: string[] }>(`${dash.url}health/events`);
    expect(bad.status).toBe(503);
    expect(bad.body.checks.map((c) => c.rule)).toEqual(['dlq-size']);
    expect(bad.body.issues[0]).toContain('dead letter queue');
  });
});

describe('JSON API', () => {
  it('lists tasks with filters and search in args, and details one with args, result, error, retries and timeline', async () => {
    bus = await createTestSystem({ config: { retryBackoffMs: 10 } });
    let calls = 0;
    bus.tasks.define('flaky', { queue: 'contracts', maxRetries: 2, backoff: { type: 'fixed', delayMs: 10 } }, async (a: { vendor: string }) => {
      if (++calls === 1) throw new Error('vendor API timeout');
      return { contract: `ctr-${a.vendor}` };
    });
    bus.tasks.define('doomed', { queue: 'contracts', maxRetries: 0 }, () => {
      throw new TypeError('cannot parse the offer');
    });
    const worker = bus.worker({ queues: { contracts: 2 } });
    await worker.start();
    dash = await startDashboard(bus, { port: 0 });
    await fetch(`${dash.url}api/snapshot`);
    const flaky = await bus.tasks.send('flaky', { vendor: 'salesforce' }, { correlationId: 'corr-1' });
    const doomed = await bus.tasks.send('doomed', { vendor: 'acme-widgets' });
    await flaky.get();
    await expect(doomed.get()).rejects.toThrow('cannot parse the offer');

    const url = dash.url;
    type List = { tasks: { id: string; state: string; name: string; retries: number }[]; total: number };
    await until(async () => (await getJson<List>(`${url}api/tasks`)).body.tasks.every((t) => t.state === 'SUCCESS' || t.state === 'FAILURE'), 5000);
    const all = (await getJson<List>(`${url}api/tasks`)).body;
    expect(all.total).toBe(2);
    expect((await getJson<List>(`${url}api/tasks?state=failure`)).body.tasks.map((t) => t.id)).toEqual([doomed.id]);
    expect((await getJson<List>(`${url}api/tasks?name=flaky`)).body.tasks.map((t) => t.id)).toEqual([flaky.id]);
    expect((await getJson<List>(`${url}api/tasks?queue=contracts`)).body.total).toBe(2);
    expect((await getJson<List>(`${url}api/tasks?correlationId=corr-1`)).body.tasks.map((t) => t.id)).toEqual([flaky.id]);
    expect((await getJson<List>(`${url}api/tasks?search=ACME`)).body.tasks.map((t) => t.id)).toEqual([doomed.id]);
    expect((await getJson(`${url}api/tasks?state=bogus`)).status).toBe(400);

    type Detail = { task: Record<string, unknown>; timeline: { state: string; attempt?: number; error?: string }[] };
    // Lifecycle events are written in batches: the timeline fills in as they arrive.
    let d1 = (await getJson<Detail>(`${url}api/tasks/${flaky.id}`)).body;
    await until(async () => (d1 = (await getJson<Detail>(`${url}api/tasks/${flaky.id}`)).body).timeline.length >= 6, 5000, 'the full timeline');
    expect(d1.task).toMatchObject({ id: flaky.id, name: 'flaky', queue: 'contracts', state: 'SUCCESS', attempt: 2, retries: 1, args: { vendor: 'salesforce' }, result: { contract: 'ctr-salesforce' }, correlationId: 'corr-1' });
    expect(d1.timeline.map((s) => s.state)).toEqual(['PENDING', 'RECEIVED', 'STARTED', 'RETRY', 'STARTED', 'SUCCESS']);
    expect(d1.timeline[3]).toMatchObject({ attempt: 1, error: 'vendor API timeout' });
    const d2 = (await getJson<Detail>(`${url}api/tasks/${doomed.id}`)).body;
    expect(d2.task).toMatchObject({ state: 'FAILURE', error: { name: 'TypeError', message: 'cannot parse the offer' } });
    expect((d2.task.error as { stack: string }).stack).toContain('TypeError: cannot parse the offer');
    await worker.stop();
  });

  it('revokes a pending task (sent with a countdown): the worker never runs it', async () => {
    bus = await createTestSystem();
    let ran = 0;
    bus.tasks.define('later', { queue: 'q' }, () => {
      ran++;
    });
    const worker = bus.worker({ queues: { q: 1 } });
    await worker.start();
    dash = await startDashboard(bus, { port: 0 });
    const r = await bus.tasks.send('later', null, { countdownMs: 400 });
    const res = await getJson(`${dash.url}api/tasks/${r.id}/revoke`, { method: 'POST', headers: ACTION });
    expect(res).toMatchObject({ status: 200, body: { id: r.id, revoked: true } });
    expect(await r.status()).toBe('REVOKED');
    await until(async () => (await bus!.tasks.queueInfo('q')).delayed === 0 && (await bus!.tasks.queueInfo('q')).groups[0]?.pending === 0, 5000);
    await new Promise((x) => setTimeout(x, 100));
    expect(ran).toBe(0);
    const again = await getJson(`${dash.url}api/tasks/${r.id}/revoke`, { method: 'POST', headers: ACTION });
    expect(again.body).toMatchObject({ revoked: false });
    await worker.stop();
  });

  it('inspects, replays and deletes dead letters', async () => {
    bus = await createTestSystem();
    let fixed = false;
    const handled: string[] = [];
    const c = bus.consumer('audit');
    c.registerHandler(EventType.SYSTEM_WARNING, (e) => {
      if (!fixed) throw new UnrecoverableError('not yet');
      handled.push((e.data as { message: string }).message);
    });
    await c.start();
    for (const m of ['one', 'two', 'three']) await bus.publisher.publish({ type: EventType.SYSTEM_WARNING, data: { message: m } });
    await until(async () => (await bus!.dlq.size()) === 3);
    dash = await startDashboard(bus, { port: 0 });
    type Dlq = { size: number; entries: { id: string; type: string; error: string; preview: string }[] };
    const list = (await getJson<Dlq>(`${dash.url}api/dlq`)).body;
    expect(list.size).toBe(3);
    expect(list.entries.map((e) => e.type)).toEqual([EventType.SYSTEM_WARNING, EventType.SYSTEM_WARNING, EventType.SYSTEM_WARNING]);
    const [first, second] = list.entries;
    const one = (await getJson<{ body: string; stack: string; error: string }>(`${dash.url}api/dlq/${first!.id}`)).body;
    expect(one.error).toBe('not yet');
    expect(one.stack).toContain('UnrecoverableError');
    fixed = true;
    expect((await getJson(`${dash.url}api/dlq/${first!.id}/replay`, { method: 'POST', headers: ACTION })).status).toBe(200);
    await until(() => handled.length === 1);
    expect(await getJson(`${dash.url}api/dlq/${second!.id}/delete`, { method: 'POST', headers: ACTION })).toMatchObject({ status: 200, body: { deleted: true } });
    expect((await getJson(`${dash.url}api/dlq/${second!.id}/delete`, { method: 'POST', headers: ACTION })).status).toBe(404);
    expect((await getJson(`${dash.url}api/dlq/nope/replay`, { method: 'POST', headers: ACTION })).status).toBe(404);
    expect(await getJson(`${dash.url}api/dlq/replay-all`, { method: 'POST', headers: ACTION })).toMatchObject({ body: { replayed: 1 } });
    await until(() => handled.length === 2);
    expect(handled.sort()).toEqual(['one', 'three']);
  });

  it('streams task changes live over server-sent events', async () => {
    bus = await createTestSystem();
    bus.tasks.define('quick', { queue: 'q' }, () => 'ok');
    const worker = bus.worker({ queues: { q: 1 } });
    await worker.start();
    dash = await startDashboard(bus, { port: 0 });
    const ac = new AbortController();
    const res = await fetch(`${dash.url}api/stream`, { signal: ac.signal });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const r = await bus.tasks.send('quick', null);
    let text = '';
    const deadline = Date.now() + 5000;
    const seen = () => new RegExp(`event: tasks\\ndata: .*"id":"${r.id}"[^\\n]*"state":"SUCCESS"`).test(text) && /event: workers\ndata: \[.*"online":true/.test(text);
    while (!seen()) {
      if (Date.now() > deadline) throw new Error(`no SUCCESS for the task in the stream:\n${text}`);
      const { value } = await reader.read();
      text += new TextDecoder().decode(value);
    }
    expect(text).toContain('event: hello');
    expect(text).toMatch(/event: workers\ndata: \[.*"online":true/);
    ac.abort();
    await worker.stop();
  });

  it('mirrors the task system key names', () => {
    const keys = taskKeys('ns');
    expect(taskChannels('ns')).toEqual({ eventsStream: keys.eventsStream, doneChannel: keys.doneChannel });
  });
});

describe('auth and cross-site protection', () => {
  it('Basic auth: every route needs the credentials (except public paths)', async () => {
    bus = await createTestSystem();
    dash = await startDashboard(bus, { port: 0, auth: 'admin:s3cret pass', publicPaths: ['/health/events'] });
    const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
    for (const path of ['', 'api/snapshot', 'api/tasks', 'metrics', 'api/stream']) {
      const r = await fetch(`${dash.url}${path}`);
      expect(r.status, path).toBe(401);
      expect(r.headers.get('www-authenticate')).toMatch(/^Basic /);
      expect((await fetch(`${dash.url}${path}`, { headers: basic('admin', 'wrong') })).status).toBe(401);
    }
    expect((await fetch(`${dash.url}health/events`)).status).toBe(200);
    expect((await fetch(`${dash.url}api/snapshot`, { headers: basic('admin', 's3cret pass') })).status).toBe(200);
    const page = await fetch(dash.url, { headers: basic('admin', 's3cret pass') });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(await page.text()).not.toContain('s3cret');
    // Credentials alone do not make an action: it also needs the header (no cross-site form posts).
    expect((await fetch(`${dash.url}api/dlq/replay-all`, { method: 'POST', headers: basic('admin', 's3cret pass') })).status).toBe(403);
    expect((await fetch(`${dash.url}api/dlq/replay-all`, { method: 'POST', headers: { ...ACTION } })).status).toBe(401);
  });

  it('token auth: bearer header, or ?token= once then an HttpOnly session cookie', async () => {
    bus = await createTestSystem();
    const token = 'tok-0123456789abcdef';
    dash = await startDashboard(bus, { port: 0, auth: { token } });
    expect((await fetch(`${dash.url}api/snapshot`)).status).toBe(401);
    expect((await fetch(`${dash.url}api/snapshot`, { headers: { authorization: 'Bearer nope-nope-nope' } })).status).toBe(401);
    expect((await fetch(`${dash.url}api/snapshot`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    const login = await fetch(`${dash.url}?token=${token}`, { redirect: 'manual' });
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe('/');
    const cookie = login.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toContain(token);
    const session = cookie.split(';')[0]!;
    expect((await fetch(`${dash.url}api/snapshot`, { headers: { cookie: session } })).status).toBe(200);
    expect((await fetch(`${dash.url}?token=wrong-token-value`, { redirect: 'manual' })).status).toBe(401);
  });

  it('refuses actions from other sites and actions sent as GET', async () => {
    bus = await createTestSystem();
    dash = await startDashboard(bus, { port: 0 });
    const post = (headers: Record<string, string>) => fetch(`${dash!.url}api/dlq/replay-all`, { method: 'POST', headers });
    expect((await post({})).status).toBe(403);
    expect((await post({ ...ACTION, origin: 'https://evil.example' })).status).toBe(403);
    expect((await post({ ...ACTION, 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await post({ ...ACTION, origin: new URL(dash.url).origin, 'sec-fetch-site': 'same-origin' })).status).toBe(200);
    expect((await fetch(`${dash.url}api/dlq/replay-all`)).status).toBe(405);
    expect((await fetch(`${dash.url}api/tasks/x/revoke`)).status).toBe(405);
    expect((await fetch(`${dash.url}api/snapshot`, { method: 'DELETE' })).status).toBe(405);
  });

  it('refuses to listen beyond loopback without credentials, and binds 127.0.0.1 by default', async () => {
    bus = await createTestSystem();
    const err = await startDashboard(bus, { port: 0, host: '0.0.0.0' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/without credentials/);
    await expect(startDashboard(bus, { port: 0, auth: 'nocolon' })).rejects.toBeInstanceOf(ConfigError);
    dash = await startDashboard(bus, { port: 0 });
    expect(dash.host).toBe('127.0.0.1');
    const exposed = await startDashboard(bus, { port: 0, host: '0.0.0.0', auth: { token: 'long-enough-token' } });
    expect(exposed.host).toBe('0.0.0.0');
    await exposed.close();
  });
});

describe('mounting', () => {
  it('serves under a base path, and passes unknown routes to next()', async () => {
    bus = await createTestSystem();
    const handler = createDashboardHandler(bus, { basePath: '/ops/bus' });
    const server = createServer((req, res) => {
      void handler(req, res, () => {
        res.writeHead(418);
        res.end('app');
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const page = await fetch(`${base}/ops/bus/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('data-base="/ops/bus/"');
    expect((await fetch(`${base}/ops/bus/api/workers`)).status).toBe(200);
    expect((await fetch(`${base}/ops/bus/api/nothing-here`)).status).toBe(418);
    expect((await fetch(`${base}/elsewhere`)).status).toBe(418);
    await handler.close();
  });
});
