/**
 * The dashboard against hostile requests (issue 10, hole 11), in-process on the memory transport:
 * DNS rebinding (a foreign `Host` without auth gets 421), the token redirect stays on this
 * origin, malformed input answers 400 naming the fix (never 500), the live event streams are
 * capped, `$` patterns in the title are not expanded, and a store failure never shows its raw
 * message in a response.
 */
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { EventType, StoreError, UnrecoverableError, type EventSystem, type Logger } from '@procur/event-bus';
import { startDashboard, type RunningDashboard } from '@procur/event-bus/http';
import { createTestSystem } from '@procur/event-bus/testing';
import { until } from './fixtures/dashboard-helpers.js';

let bus: EventSystem | undefined;
let dash: RunningDashboard | undefined;
afterEach(async () => {
  await dash?.close();
  dash = undefined;
  await bus?.close();
  bus = undefined;
});

const ACTION = { 'x-procur-dashboard': '1' };

/** A raw HTTP request: any `Host`, and the path exactly as given (fetch would normalise it). */
function raw(
  base: string,
  path: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function seedDeadLetter(system: EventSystem): Promise<void> {
  const c = system.consumer('audit');
  c.registerHandler(EventType.SYSTEM_WARNING, () => {
    throw new UnrecoverableError('no');
  });
  await c.start();
  await system.publisher.publish({ type: EventType.SYSTEM_WARNING, data: { message: 'x' } });
  await until(async () => (await system.dlq.size()) === 1);
}

describe('DNS rebinding: Host checked when auth is off', () => {
  it('answers 421 to a foreign Host (page, API, actions) and serves loopback names and the bound address', async () => {
    bus = await createTestSystem();
    await seedDeadLetter(bus);
    dash = await startDashboard(bus, { port: 0 });
    const port = dash.port;
    const evil = `evil.example:${port}`;
    for (const path of ['/', '/api/snapshot', '/api/events', '/metrics', '/health/events']) {
      const r = await raw(dash.url, path, { headers: { host: evil } });
      expect(r.status, path).toBe(421);
      expect(JSON.parse(r.body).error).toMatch(/Host 'evil\.example' is not this dashboard/);
    }
    // The rebinding attack proper: Origin and Host are both the attacker's name.
    const replay = await raw(dash.url, '/api/dlq/replay-all', { method: 'POST', headers: { host: evil, origin: `http://${evil}`, ...ACTION } });
    expect(replay.status).toBe(421);
    expect(await bus.dlq.size()).toBe(1);
    for (const host of [`localhost:${port}`, `LOCALHOST:${port}`, `127.0.0.1:${port}`, `127.1.2.3:${port}`, `[::1]:${port}`, '127.0.0.1']) {
      expect((await raw(dash.url, '/api/workers', { headers: { host } })).status, host).toBe(200);
    }
    // Names that only look like loopback are refused.
    for (const host of [`localhost.evil.example:${port}`, `127.0.0.1.evil.example:${port}`, 'not a host']) {
      expect((await raw(dash.url, '/api/workers', { headers: { host } })).status, host).toBe(421);
    }
  });

  it('accepts the names in allowedHosts (or any with true), and any Host when auth is on (the credentials protect it)', async () => {
    bus = await createTestSystem();
    dash = await startDashboard(bus, { port: 0, allowedHosts: ['bus.internal'] });
    expect((await raw(dash.url, '/api/workers', { headers: { host: `bus.internal:${dash.port}` } })).status).toBe(200);
    expect((await raw(dash.url, '/api/workers', { headers: { host: `other.internal:${dash.port}` } })).status).toBe(421);
    await dash.close();
    dash = await startDashboard(bus, { port: 0, allowedHosts: true });
    expect((await raw(dash.url, '/api/workers', { headers: { host: 'app.example.com' } })).status).toBe(200);
    await dash.close();
    const token = 'tok-0123456789abcdef';
    dash = await startDashboard(bus, { port: 0, auth: { token } });
    expect((await raw(dash.url, '/api/workers', { headers: { host: 'bus.example.com', authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await raw(dash.url, '/api/workers', { headers: { host: 'bus.example.com' } })).status).toBe(401);
  });
});

describe('token redirect', () => {
  it('redirects only to a path of this origin, never to //other-host', async () => {
    bus = await createTestSystem();
    const token = 'tok-0123456789abcdef';
    dash = await startDashboard(bus, { port: 0, auth: { token } });
    for (const path of [`/.//evil.example/?token=${token}`, `//evil.example/?token=${token}`, `/%2F/evil.example/?token=${token}`, `/.%2F%2Fevil.example?token=${token}`]) {
      const r = await raw(dash.url, path);
      expect(r.status, path).toBe(303);
      const location = String(r.headers.location);
      expect(location, path).toMatch(/^\/(?![/\\])/);
      expect(new URL(location, dash.url).origin, path).toBe(new URL(dash.url).origin);
    }
    const plain = await raw(dash.url, `/?token=${token}&x=1`);
    expect(plain.headers.location).toBe('/?x=1');
  });
});

describe('malformed input answers 400 naming the fix', () => {
  it('malformed percent-encoding in the path', async () => {
    bus = await createTestSystem();
    dash = await startDashboard(bus, { port: 0 });
    for (const path of ['/api/tasks/%E0%A4%A', '/api/events/%ZZ', '/api/dlq/%']) {
      const r = await raw(dash.url, path);
      expect(r.status, path).toBe(400);
      expect(JSON.parse(r.body).error, path).toMatch(/percent-encoding/);
    }
  });

  it('?hours= that is not a finite positive number', async () => {
    bus = await createTestSystem();
    dash = await startDashboard(bus, { port: 0 });
    for (const hours of ['Infinity', '-Infinity', '1e400', 'NaN', '0', '-1', 'abc']) {
      const r = await raw(dash.url, `/api/stats?hours=${hours}`);
      expect(r.status, hours).toBe(400);
      expect(JSON.parse(r.body).error, hours).toMatch(/'hours' must be a number of hours/);
    }
    expect((await raw(dash.url, '/api/stats?hours=0.5')).status).toBe(200);
  });
});

describe('live event streams', () => {
  it('are capped: beyond maxEventStreams the answer is 503, and a closed stream frees its place', async () => {
    bus = await createTestSystem();
    dash = await startDashboard(bus, { port: 0, maxEventStreams: 2 });
    const streams = [new AbortController(), new AbortController()];
    for (const ac of streams) {
      const r = await fetch(`${dash.url}api/stream`, { signal: ac.signal });
      expect(r.status).toBe(200);
    }
    const third = await fetch(`${dash.url}api/stream`);
    expect(third.status).toBe(503);
    expect(third.headers.get('retry-after')).toBeTruthy();
    expect(((await third.json()) as { error: string }).error).toMatch(/maxEventStreams/);
    streams[0]!.abort();
    const d = dash;
    await until(async () => {
      const ac = new AbortController();
      const r = await fetch(`${d.url}api/stream`, { signal: ac.signal });
      if (r.status !== 200) return false;
      streams.push(ac);
      return true;
    }, 5000, 'a place freed by the closed stream');
    for (const ac of streams) ac.abort();
  });
});

describe('the page', () => {
  it('shows a title with $ patterns as written', async () => {
    bus = await createTestSystem();
    const title = "Ops $` $& $' $$ <b>";
    dash = await startDashboard(bus, { port: 0, title });
    const html = await (await fetch(dash.url)).text();
    expect(html).toContain('<title>Ops $` $&#38; $&#39; $$ &#60;b&#62;</title>');
    expect(html.match(/<title>/g)).toHaveLength(1);
  });
});

describe('failures', () => {
  it('a store error answers 500 with a generic message; the detail goes to the log only', async () => {
    bus = await createTestSystem();
    const logged: { message: string; fields?: Record<string, unknown> }[] = [];
    const logger: Logger = { debug() {}, info() {}, warn() {}, error: (message, fields) => void logged.push({ message, ...(fields ? { fields } : {}) }) };
    bus.store.getEvent = () => Promise.reject(new StoreError('invalid byte sequence for encoding "UTF8": 0x00 (relation procur_events, host db-7.internal)'));
    dash = await startDashboard(bus, { port: 0, logger });
    const r = await fetch(`${dash.url}api/events/%00`);
    expect(r.status).toBe(500);
    const body = (await r.json()) as { error: string; code?: string };
    expect(body.error).not.toMatch(/UTF8|0x00|procur_events|db-7/);
    expect(body.error).toMatch(/log/);
    expect(body.code).toBe('ERR_STORE');
    expect(JSON.stringify(logged)).toContain('db-7.internal');
  });
});
