/**
 * Operating a system on the PostgreSQL transport (issue 14): the dashboard handler
 * (`createDashboardHandler` of `@procur/event-bus/http`), the monitor and `/metrics` of an
 * operator's system that shares only the database with the app (its own pools, no task of its
 * own) show the app's queue depths, its worker online, a failed task in the DLQ, and the
 * `/health/events` probe answers 200; on a private PostgreSQL server (initdb into a temporary
 * directory, a loopback port of its own, stopped by its pid with `pg_ctl`) the probe answers 503
 * once the database is unreachable, and 200 again when it is back, without a restart.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { postgresStore, postgresTransport } from '@procur/event-bus/postgres';
import { createDashboardHandler, type DashboardHandler } from '@procur/event-bus/http';
import { UnrecoverableError, createEventSystem, silentLogger, type EventSystem, type HealthStatus } from '@procur/event-bus';
import { waitUntil } from '@procur/event-bus/testing';
import { POSTGRES_REQUIRED, TEST_POSTGRES_URL, dropSchema, probePostgres, uniqueSchema, warnSkipped } from './fixtures/postgres-helpers.js';
import { privatePostgres, privatePostgresUnavailable, type PrivatePostgres } from './fixtures/private-postgres.js';

const unreachable = await probePostgres();
if (unreachable && !POSTGRES_REQUIRED) warnSkipped('the PostgreSQL transport operations tests', unreachable);
const noPrivate = privatePostgresUnavailable();
if (noPrivate && !POSTGRES_REQUIRED) console.warn(`\n!! SKIPPING the PostgreSQL transport outage probe test: ${noPrivate}\n`);

/** A system on the PostgreSQL transport and store of `url` / `schema`. */
function pgSystem(url: string, schema: string, extra: Parameters<typeof createEventSystem>[0] = {}): Promise<EventSystem> {
  return createEventSystem({
    transport: postgresTransport({ connectionString: url, schema, poolSize: 3, operationTimeoutMs: 2000, pollIntervalMs: 500 }),
    store: postgresStore({ connectionString: url, schema, poolSize: 2, timeoutMs: 2000 }),
    logger: silentLogger,
    env: {},
    outbox: false,
    builtins: false,
    ...extra,
    config: { workerHeartbeatMs: 200, eventBlockTime: 200, ...extra.config },
  });
}

/** Serves `handler` on a loopback port; returns its base URL. */
async function serve(handler: DashboardHandler): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server };
}

async function closeServer(server: Server | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** The value of one sample of the Prometheus text, e.g. `procur_queue_waiting{queue="contracts"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe.skipIf(unreachable !== undefined && !POSTGRES_REQUIRED)('the dashboard, monitor and metrics on the PostgreSQL transport', () => {
  const schema = uniqueSchema('pgt_ops');
  const admin = new pg.Pool({ connectionString: TEST_POSTGRES_URL, max: 1 });
  let app: EventSystem;
  let ops: EventSystem;
  let handler: DashboardHandler;
  let server: Server | undefined;
  let base = '';
  let workerId = '';
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const started: string[] = [];
  const getJson = async <T>(path: string): Promise<T> => (await (await fetch(`${base}${path}`)).json()) as T;

  beforeAll(async () => {
    // The app: tasks and a worker of one concurrency per queue.
    app = await pgSystem(TEST_POSTGRES_URL, schema);
    app.tasks.define('generate_contract', { queue: 'contracts' }, async (id: string) => {
      started.push(id);
      await gate;
      return `ctr-${id}`;
    });
    app.tasks.define('sign_contract', { queue: 'signing', maxRetries: 0 }, async (id: string) => {
      throw new UnrecoverableError(`signature of ${id} rejected`);
    });
    // No read-ahead: the worker holds only the task it runs, so the depths are exact.
    const worker = app.worker({ name: 'pg-app', queues: { contracts: 1, signing: 1 }, prefetch: 0 });
    await worker.start();
    workerId = worker.id;
    // The operator's system: the same database, its own connections, no task definitions.
    ops = await pgSystem(TEST_POSTGRES_URL, schema, { taskEvents: false, health: { minSuccessRate: 0 } });
    handler = createDashboardHandler(ops, { pollMs: 200, logger: silentLogger });
    ({ url: base, server } = await serve(handler));
  }, 60_000);

  afterAll(async () => {
    release?.();
    await closeServer(server);
    await handler?.close();
    await ops?.close();
    await app?.close();
    await dropSchema(schema, admin);
    await admin.end();
  });

  it("shows the app's worker online, its queue depths and its dead task, in the API, the monitor and /metrics", async () => {
    // One task runs (held at the gate), three wait behind it.
    const running = await app.tasks.send('generate_contract', 'c-0');
    await waitUntil(() => started.length === 1, 20_000, 'the first task started');
    const waiting = await Promise.all([1, 2, 3].map((i) => app.tasks.send('generate_contract', `c-${i}`)));
    const dead = await app.tasks.send('sign_contract', 'c-9');
    await expect(dead.get({ timeoutMs: 20_000 })).rejects.toThrow(/signature of c-9 rejected/);

    await waitUntil(async () => {
      const { workers } = await getJson<{ workers: { id: string; online: boolean }[] }>('api/workers');
      return workers.some((w) => w.id === workerId && w.online);
    }, 20_000, 'the worker online on the dashboard');

    const { queues } = await getJson<{ queues: Record<string, { lag: number; pending: number; lagByPriority: number[] }> }>('api/queues');
    expect(Object.keys(queues).sort()).toEqual(['contracts', 'signing']);
    expect(queues.contracts).toMatchObject({ lag: 3, pending: 1 });
    expect(queues.signing).toMatchObject({ lag: 0, pending: 0 });

    const report = await ops.monitor.getComprehensiveReport();
    expect(report.queues.contracts).toMatchObject({ lag: 3, pending: 1 });
    expect(report.workers.find((w) => w.id === workerId)).toMatchObject({ online: true });
    expect(report.dlqSize).toBe(1);
    expect(report.health.transport).toMatchObject({ name: 'postgres', ok: true });
    expect(report.health.store).toMatchObject({ name: 'postgres', ok: true });

    const dlq = await getJson<{ size: number; entries: { kind: string; type: string; queue?: string; error: string }[] }>('api/dlq');
    expect(dlq.size).toBe(1);
    expect(dlq.entries[0]).toMatchObject({ kind: 'task', type: 'sign_contract', queue: 'signing', error: expect.stringContaining('signature of c-9 rejected') });

    const metrics = await fetch(`${base}metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(sample(text, 'procur_queue_waiting{queue="contracts"}')).toBe(3);
    expect(sample(text, 'procur_queue_running{queue="contracts"}')).toBe(1);
    expect(sample(text, 'procur_queue_depth{queue="contracts",priority="normal"}')).toBe(3);
    expect(sample(text, 'procur_dlq_size')).toBe(1);
    expect(sample(text, 'procur_workers{state="online"}')).toBeGreaterThanOrEqual(1);

    const probe = await fetch(`${base}health/events`);
    expect(probe.status).toBe(200);
    const health = (await probe.json()) as HealthStatus;
    expect(health).toMatchObject({ healthy: true, dlqSize: 1, transport: { name: 'postgres', ok: true } });

    // Released: the queue drains, and the dashboard sees it empty.
    release();
    expect(await Promise.all([running, ...waiting].map((r) => r.get({ timeoutMs: 20_000 })))).toEqual(['ctr-c-0', 'ctr-c-1', 'ctr-c-2', 'ctr-c-3']);
    await waitUntil(async () => {
      const q = (await getJson<{ queues: Record<string, { lag: number; pending: number }> }>('api/queues')).queues.contracts;
      return q?.lag === 0 && q.pending === 0;
    }, 20_000, 'the contracts queue empty on the dashboard');
    // A scrape reuses the shared state it read within the last second: a later one sees it empty.
    await waitUntil(async () => sample(await (await fetch(`${base}metrics`)).text(), 'procur_queue_waiting{queue="contracts"}') === 0, 20_000, 'the metrics to show the queue empty');
  }, 60_000);
});

describe.skipIf((unreachable !== undefined || noPrivate !== undefined) && !POSTGRES_REQUIRED)('the health probe when the PostgreSQL server goes away', () => {
  let server: PrivatePostgres | undefined;
  let bus: EventSystem | undefined;
  let handler: DashboardHandler | undefined;
  let http: Server | undefined;
  afterEach(async () => {
    await closeServer(http);
    await handler?.close();
    await bus?.close().catch(() => undefined);
    await server?.destroy();
  });

  it('/health/events answers 503 while the database is unreachable and 200 again once it is back', async () => {
    server = await privatePostgres();
    bus = await pgSystem(server.url, 'procur_ops', { taskEvents: false, health: { minSuccessRate: 0 } });
    await (bus.transport as { migrate?: () => Promise<void> }).migrate?.();
    await bus.store.adapter.migrate();
    handler = createDashboardHandler(bus, { pollMs: 200, logger: silentLogger });
    const served = await serve(handler);
    http = served.server;
    const probe = async () => {
      const res = await fetch(`${served.url}health/events`);
      return { status: res.status, body: (await res.json()) as HealthStatus };
    };
    expect((await probe()).status).toBe(200);

    await server.stopImmediate();
    let down = await probe();
    // Both live on that server: the probe names both.
    await waitUntil(async () => {
      down = await probe();
      return down.status === 503 && !down.body.transport.ok && !down.body.store.ok;
    }, 30_000, 'the probe to answer 503 with the transport and the store down');
    expect(down.body.healthy).toBe(false);
    expect(down.body.checks.map((c) => c.rule)).toEqual(expect.arrayContaining(['transport', 'store']));

    await server.start();
    let up = await probe();
    await waitUntil(async () => (up = await probe()).status === 200, 30_000, 'the probe to answer 200 again');
    expect(up.body).toMatchObject({ healthy: true, transport: { name: 'postgres', ok: true }, store: { ok: true } });
  }, 60_000);
});
