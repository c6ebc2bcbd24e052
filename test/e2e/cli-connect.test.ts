/**
 * The CLI connects by URL, without an app module (issue 16, item 3), against the real Redis and
 * PostgreSQL: `inspect stats` and `dlq list` with `--redis-url` see a worker and a dead letter of
 * another process, `dashboard --redis-url --postgres-url` serves that process's events, the
 * `PROCUR_EVENT_*` variables work like the options, a memory transport makes inspecting commands
 * warn, `worker` still needs the app (its tasks), and passwords in the URLs are never printed.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventType, UnrecoverableError, createEventSystem, silentLogger, type EventSystem } from '@procur/event-bus';
import { postgresStore } from '@procur/event-bus/postgres';
import { redisTransport } from '@procur/event-bus/redis';
import { cliAsync } from './fixtures/cli.js';
import { until } from './fixtures/dashboard-helpers.js';
import { dropSchema, POSTGRES_REQUIRED, probePostgres, TEST_POSTGRES_URL, uniqueSchema } from './fixtures/postgres-helpers.js';
import { REDIS_REQUIRED, TEST_REDIS_URL, adminClient, deleteKeys, probeRedis, uniquePrefix } from './fixtures/redis-helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const redisUp = await probeRedis(TEST_REDIS_URL);
const pgDown = await probePostgres(TEST_POSTGRES_URL);
const enabled = (redisUp && !pgDown) || REDIS_REQUIRED || POSTGRES_REQUIRED;
if (!enabled) console.warn(`\n!!! [cli-connect.test] Redis ${redisUp ? 'ok' : 'down'}, Postgres ${pgDown ?? 'ok'}: SKIPPED.\n`);

/** The URL with a password in it (the test servers ignore one they do not need). */
function withPassword(url: string, password: string): { url: string; password: string } {
  const u = new URL(url);
  if (u.password) return { url, password: decodeURIComponent(u.password) };
  if (!u.username) u.username = u.protocol.startsWith('redis') ? '' : 'postgres';
  u.password = password;
  return { url: u.toString(), password };
}
const REDIS = withPassword(TEST_REDIS_URL, 'redis-pw-7f3a9c');
const PG = withPassword(TEST_POSTGRES_URL, 'pg-pw-2b8e4d');

const cli = cliAsync;

describe.skipIf(!enabled)('procur-bus connected by URL', () => {
  const prefix = uniquePrefix();
  const schema = uniqueSchema('cli');
  let bus: EventSystem;
  let workerId: string;
  let eventId: string;

  beforeAll(async () => {
    // "Another process": a worker online, a dead letter, a stored event, on the shared services.
    bus = await createEventSystem({
      logger: silentLogger,
      env: {},
      outbox: false,
      transport: redisTransport({ url: TEST_REDIS_URL, keyPrefix: prefix }),
      store: postgresStore({ connectionString: TEST_POSTGRES_URL, schema }),
      config: { workerHeartbeatMs: 200, eventBlockTime: 100 },
    });
    bus.tasks.define('generate_contract', { queue: 'contracts' }, () => 'ok');
    const worker = bus.worker({ name: 'remote', queues: { contracts: 2 } });
    await worker.start();
    workerId = worker.id;
    const c = bus.consumer('audit');
    c.registerHandler(EventType.SYSTEM_WARNING, () => {
      throw new UnrecoverableError('audit store read-only');
    });
    await c.start();
    eventId = await bus.publisher.publishSystemWarning({ message: 'disk 91% full', component: 'cli-connect' });
    await until(async () => (await bus.dlq.size()) === 1, 10_000, 'the dead letter');
  }, 60_000);

  afterAll(async () => {
    await bus?.close();
    const admin = adminClient();
    try {
      await deleteKeys(admin, prefix);
    } finally {
      admin.disconnect();
    }
    await dropSchema(schema);
  });

  const noSecrets = (text: string) => {
    expect(text).not.toContain(REDIS.password);
    expect(text).not.toContain(PG.password);
  };

  it('inspect stats --redis-url sees the other process\'s worker, without a warning', async () => {
    const r = await cli(['inspect', 'stats', '--redis-url', REDIS.url, '--redis-key-prefix', prefix]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`online\\s+${workerId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+queues contracts:2`));
    expect(r.stderr).not.toContain('sees only this process');
    noSecrets(r.stdout + r.stderr);
  });

  it('the PROCUR_EVENT_* variables work like the options: dlq list --json from PROCUR_EVENT_REDIS_URL', async () => {
    const r = await cli(['dlq', 'list', '--json'], { PROCUR_EVENT_REDIS_URL: REDIS.url, PROCUR_EVENT_REDIS_KEY_PREFIX: prefix });
    expect(r.code, r.stderr).toBe(0);
    const entries = JSON.parse(r.stdout) as { error: string; event: { id: string } }[];
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ error: 'audit store read-only', event: { id: eventId } });
    noSecrets(r.stdout + r.stderr);
  });

  it('dashboard --redis-url --postgres-url serves the other process\'s workers and stored events, and never prints the passwords', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/index.ts', 'dashboard', '--port', '0', '--json', '--redis-url', REDIS.url, '--redis-key-prefix', prefix, '--postgres-url', PG.url, '--postgres-schema', schema],
      { cwd: root, env: { ...process.env, PROCUR_BUS_APP: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await until(() => out.includes('}') || child.exitCode !== null, 30_000, `the dashboard to start: ${err}`);
      const info = JSON.parse(out) as { url: string; transport: string; store: string };
      expect(info.transport).toMatch(/^redis /);
      expect(info.store).toMatch(/^postgres .*\*\*\*/);
      const workers = (await (await fetch(`${info.url}api/workers`)).json()) as { workers: { id: string; online: boolean }[] };
      expect(workers.workers.find((w) => w.id === workerId)).toMatchObject({ online: true });
      const events = (await (await fetch(`${info.url}api/events?type=${EventType.SYSTEM_WARNING}`)).json()) as { events: { id: string }[] };
      expect(events.events.map((e) => e.id)).toContain(eventId);
      const dlq = (await (await fetch(`${info.url}api/dlq`)).json()) as { size: number };
      expect(dlq.size).toBe(1);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    noSecrets(out + err);
  });

  it('an inspecting command on the memory transport warns that it sees only its own process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'procur-cli-'));
    const r = await cli(['inspect', 'stats', '--sqlite', join(dir, 'events.db')]);
    rmSync(dir, { recursive: true, force: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/warning: inspect stats runs on the in-process 'memory' transport: it sees only this process/);
    expect(r.stderr).toContain('--redis-url');
    const app = await cli(['--app', 'test/e2e/fixtures/dashboard-app.ts', 'health']);
    expect(app.stderr).toMatch(/warning: health runs on the in-process 'memory' transport/);
  });

  it('worker and beat still need the app module (its tasks); --app with a URL option is refused', async () => {
    const worker = await cli(['worker', '--redis-url', REDIS.url]);
    expect(worker.code).toBe(2);
    expect(worker.stderr).toMatch(/worker runs the tasks your app module defines: pass --app <module>/);
    const both = await cli(['--app', 'test/e2e/fixtures/dashboard-app.ts', 'health', '--redis-url', REDIS.url]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/pass either --app or connection options \(--redis-url\), not both/);
    noSecrets(worker.stdout + worker.stderr + both.stdout + both.stderr);
  });

  it('--help lists the connection options and the PROCUR_EVENT_* variables', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const s of ['--redis-url', '--postgres-url', '--sqlite <file>', 'PROCUR_EVENT_REDIS_URL', 'PROCUR_EVENT_POSTGRES_URL', 'PROCUR_EVENT_SQLITE_FILE', 'PROCUR_EVENT_NAMESPACE', 'PROCUR_EVENT_DLQ_STREAM_NAME']) {
      expect(r.stdout, s).toContain(s);
    }
  });
});
