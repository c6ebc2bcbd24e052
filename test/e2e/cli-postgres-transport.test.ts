/**
 * The CLI connects to the PostgreSQL transport without an app module (issue 14): `--transport
 * postgres --postgres-url ... --postgres-schema ...` (or `PROCUR_EVENT_TRANSPORT`) sees what an
 * app in another process did on that transport: `pause` / `resume` reach that process's worker,
 * `inspect queues` the tasks waiting meanwhile, `purge` deletes them, `dlq list` its dead task,
 * `health` and `inspect workers` its worker online, `dashboard` its connection as `postgres
 * <url without the password>`; a missing URL or an unknown transport is a configuration error
 * (exit 2) that says what to fix. One schema per run, dropped afterwards.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnrecoverableError, createEventSystem, silentLogger, type EventSystem } from '@procur/event-bus';
import { postgresStore, postgresTransport } from '@procur/event-bus/postgres';
import { cliAsync, type CliRun } from './fixtures/cli.js';
import { until } from './fixtures/dashboard-helpers.js';
import { POSTGRES_REQUIRED, TEST_POSTGRES_URL, dropSchema, probePostgres, uniqueSchema, warnSkipped } from './fixtures/postgres-helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const unreachable = await probePostgres();
if (unreachable && !POSTGRES_REQUIRED) warnSkipped('the CLI tests on the PostgreSQL transport', unreachable);

/** The test URL with a password in it (trust auth ignores it): it must never be printed. */
const PASSWORD = 'pg-pw-91c4e7';
const PG_URL = (() => {
  const u = new URL(TEST_POSTGRES_URL);
  if (!u.username) u.username = 'postgres';
  if (!u.password) u.password = PASSWORD;
  return u.toString();
})();
const password = decodeURIComponent(new URL(PG_URL).password);

const cli = cliAsync;

describe.skipIf(unreachable !== undefined && !POSTGRES_REQUIRED)('procur-bus --transport postgres', () => {
  const schema = uniqueSchema('pgt_cli');
  const admin = new pg.Pool({ connectionString: TEST_POSTGRES_URL, max: 1 });
  let bus: EventSystem;
  let workerId: string;
  const ran: string[] = [];
  const pg_ = (...args: string[]) => cli([...args, '--transport', 'postgres', '--postgres-url', PG_URL, '--postgres-schema', schema]);
  const noSecret = (r: CliRun) => expect(r.stdout + r.stderr).not.toContain(password);

  beforeAll(async () => {
    // "Another process": an app on the PostgreSQL transport and store, with a worker online.
    bus = await createEventSystem({
      transport: postgresTransport({ connectionString: TEST_POSTGRES_URL, schema, poolSize: 4 }),
      store: postgresStore({ connectionString: TEST_POSTGRES_URL, schema, poolSize: 2 }),
      logger: silentLogger,
      env: {},
      outbox: false,
      builtins: false,
      config: { workerHeartbeatMs: 200, eventBlockTime: 200 },
    });
    bus.tasks.define('generate_contract', { queue: 'contracts' }, async (id: string) => {
      ran.push(id);
      return `ctr-${id}`;
    });
    bus.tasks.define('sign_contract', { queue: 'signing', maxRetries: 0 }, async (id: string) => {
      throw new UnrecoverableError(`signature of ${id} rejected`);
    });
    const worker = bus.worker({ name: 'pg-remote', queues: { contracts: 1, signing: 1 } });
    await worker.start();
    workerId = worker.id;
    expect(await (await bus.tasks.send('generate_contract', 'c-0')).get({ timeoutMs: 20_000 })).toBe('ctr-c-0');
  }, 60_000);

  afterAll(async () => {
    await bus?.close();
    await dropSchema(schema, admin);
    await admin.end();
  });

  it("pause, inspect queues --json, purge and resume act on the other process's queue and worker", async () => {
    const paused = await pg_('pause', 'contracts', '--json');
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stderr).not.toContain('sees only this process');
    expect(JSON.parse(paused.stdout)).toEqual({ queue: 'contracts', paused: true, changed: true });
    expect(await bus.tasks.isPaused('contracts')).toBe(true);

    // Sent while paused: they wait, and the CLI sees them waiting.
    for (let i = 0; i < 3; i++) await bus.tasks.send('generate_contract', `c-paused-${i}`);
    const [json, human] = await Promise.all([pg_('inspect', 'queues', '--json'), pg_('inspect', 'queues')]);
    expect(json.code, json.stderr).toBe(0);
    const queues = JSON.parse(json.stdout) as Record<string, { groups: { name: string; lag: number; pending: number }[] }>;
    expect(Object.keys(queues).sort()).toEqual(['contracts', 'signing']);
    expect(queues.contracts!.groups.reduce((n, g) => n + g.lag, 0)).toBe(3);
    expect(human.stdout).toMatch(/contracts\s+PAUSED waiting 3/);

    const purged = await pg_('purge', '--queue', 'contracts', '--json');
    expect(purged.code, purged.stderr).toBe(0);
    expect(JSON.parse(purged.stdout)).toEqual({ contracts: 3 });
    expect((await bus.tasks.queueInfo('contracts')).groups.reduce((n, g) => n + g.lag, 0)).toBe(0);

    const resumed = await pg_('resume', 'contracts');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/resumed queue 'contracts': workers take its tasks again/);
    expect(await bus.tasks.isPaused('contracts')).toBe(false);
    expect(await (await bus.tasks.send('generate_contract', 'c-after')).get({ timeoutMs: 20_000 })).toBe('ctr-c-after');
    // The purged ones never ran.
    expect(ran).toEqual(['c-0', 'c-after']);
    for (const r of [paused, json, human, purged, resumed]) noSecret(r);
  }, 60_000);

  it("dlq list shows the other process's dead task; health and inspect workers see its worker online", async () => {
    const dead = await bus.tasks.send('sign_contract', 'c-7');
    await expect(dead.get({ timeoutMs: 20_000 })).rejects.toThrow(/signature of c-7 rejected/);
    await until(async () => (await bus.dlq.size()) === 1, 20_000, 'the dead task in the DLQ');

    const [list, health, workers] = await Promise.all([pg_('dlq', 'list', '--json'), pg_('health', '--json'), pg_('inspect', 'workers', '--json')]);
    expect(list.code, list.stderr).toBe(0);
    const entries = JSON.parse(list.stdout) as { kind: string; error: string; task?: { task: string; queue: string } }[];
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ kind: 'task', error: expect.stringContaining('signature of c-7 rejected'), task: { task: 'sign_contract', queue: 'signing' } });

    const h = JSON.parse(health.stdout) as { healthy: boolean; dlqSize: number; transport: { name: string }; workers: { id: string; online: boolean }[] };
    expect(health.code, health.stderr).toBe(h.healthy ? 0 : 1);
    expect(h.transport.name).toBe('postgres');
    expect(h.dlqSize).toBe(1);
    expect(h.workers.find((w) => w.id === workerId)).toMatchObject({ online: true });

    expect(workers.code, workers.stderr).toBe(0);
    expect((JSON.parse(workers.stdout) as { id: string; online: boolean; queues: Record<string, number> }[]).find((w) => w.id === workerId)).toMatchObject({
      online: true,
      queues: { contracts: 1, signing: 1 },
    });
    for (const r of [list, health, workers]) noSecret(r);
  }, 60_000);

  it('PROCUR_EVENT_TRANSPORT=postgres works like the option; the dashboard shows the connection as postgres <url without the password>', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'dashboard', '--port', '0', '--json'], {
      cwd: root,
      env: { ...process.env, PROCUR_BUS_APP: '', PROCUR_EVENT_REDIS_URL: '', PROCUR_EVENT_TRANSPORT: 'postgres', PROCUR_EVENT_POSTGRES_URL: PG_URL, PROCUR_EVENT_POSTGRES_SCHEMA: schema },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await until(() => out.includes('}') || child.exitCode !== null, 40_000, `the dashboard to start: ${err}`);
      const info = JSON.parse(out) as { url: string; transport: string; store: string };
      expect(info.transport).toMatch(/^postgres postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:5432\/test \(schema procur_pgt_cli_/);
      expect(info.transport).toContain(`(schema ${schema})`);
      expect(info.store).toMatch(/^postgres postgres:\/\/postgres:\*\*\*@/);
      const workers = (await (await fetch(`${info.url}api/workers`)).json()) as { workers: { id: string; online: boolean }[] };
      expect(workers.workers.find((w) => w.id === workerId)).toMatchObject({ online: true });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(out + err).not.toContain(password);
  }, 60_000);

  it('--transport postgres without a PostgreSQL URL, or an unknown transport, is a configuration error that says what to fix', async () => {
    const [noUrl, fromEnv, unknown, help] = await Promise.all([
      cli(['inspect', 'queues', '--transport', 'postgres']),
      cli(['health'], { PROCUR_EVENT_TRANSPORT: 'postgres' }),
      cli(['inspect', 'queues', '--transport', 'kafka', '--postgres-url', PG_URL]),
      cli(['--help']),
    ]);
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toMatch(/\[event-bus:config\] --transport: the postgres transport needs its database: pass --postgres-url/);
    expect(noUrl.stderr).toContain('PROCUR_EVENT_POSTGRES_URL');
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toMatch(/\[event-bus:config\] PROCUR_EVENT_TRANSPORT: the postgres transport needs its database: pass --postgres-url/);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/--transport: the transport must be one of memory, redis, postgres, got "kafka"/);
    expect(unknown.stderr).not.toContain(password);
    expect(help.code).toBe(0);
    for (const s of ['--transport <kind>', 'memory | redis | postgres', 'PROCUR_EVENT_TRANSPORT', '--transport postgres']) expect(help.stdout, s).toContain(s);
  }, 60_000);
});
