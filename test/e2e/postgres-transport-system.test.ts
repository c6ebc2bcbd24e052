/**
 * One database for everything: `createEventSystem({ transport: postgresTransport(), store:
 * postgresStore() })` on the real PostgreSQL runs events with fan-out to groups, tasks with
 * results and retries, the DLQ, the scheduler and the monitor. One schema per test,
 * dropped afterwards.
 */
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { postgresStore, postgresTransport } from '../../adapters/postgres/index.js';
import { EventType, createEventSystem, silentLogger, type EventSystem } from '../../src/index.js';
import { waitUntil } from '../../src/testing/index.js';
import { POSTGRES_REQUIRED, TEST_POSTGRES_URL, dropSchema, probePostgres, uniqueSchema, warnSkipped } from './fixtures/postgres-helpers.js';

const unreachable = await probePostgres();
if (unreachable && !POSTGRES_REQUIRED) warnSkipped('the PostgreSQL transport system tests', unreachable);

describe.skipIf(unreachable !== undefined && !POSTGRES_REQUIRED)('an event system on PostgreSQL alone', () => {
  const admin = new pg.Pool({ connectionString: TEST_POSTGRES_URL, max: 2 });
  const schemas: string[] = [];
  const buses: EventSystem[] = [];
  afterEach(async () => {
    for (const b of buses.splice(0)) await b.close().catch(() => undefined);
    for (const s of schemas.splice(0)) await dropSchema(s, admin);
  });
  afterAll(() => admin.end());

  async function system(schema: string): Promise<EventSystem> {
    const bus = await createEventSystem({
      transport: postgresTransport({ connectionString: TEST_POSTGRES_URL, schema, poolSize: 4 }),
      store: postgresStore({ connectionString: TEST_POSTGRES_URL, schema, poolSize: 3 }),
      logger: silentLogger,
      env: {},
      config: { eventBlockTime: 200, retryBackoffMs: 20, retryBackoffMaxMs: 100, dlqMaxRetries: 1 },
    });
    buses.push(bus);
    return bus;
  }

  const input = (n: number) => ({
    type: EventType.REQUEST_CREATED,
    data: { requestId: `req-${n}`, description: 'Need CRM', budgetMax: 1000 + n },
    correlationId: `flow-${n}`,
  });

  it('events reach every group once, failures go to the DLQ; tasks return results after retries; the monitor sees it', async () => {
    const schema = uniqueSchema('pgt_sys');
    schemas.push(schema);
    const bus = await system(schema);
    const billing: string[] = [];
    const audit: string[] = [];
    const b = bus.consumer('billing', { group: 'billing' });
    b.registerHandler(EventType.REQUEST_CREATED, (e) => {
      if ((e.data as { requestId: string }).requestId === 'req-poison') throw new Error('cannot bill');
      billing.push((e.data as { requestId: string }).requestId);
    });
    const a = bus.consumer('audit', { group: 'audit' });
    a.registerHandler(EventType.REQUEST_CREATED, (e) => {
      audit.push((e.data as { requestId: string }).requestId);
    });
    await b.start();
    await a.start();
    for (let i = 0; i < 10; i++) await bus.publisher.publish(input(i));
    await bus.publisher.publish({ ...input(99), data: { requestId: 'req-poison', description: 'x', budgetMax: 1 } });
    await waitUntil(() => billing.length === 10 && audit.length === 11, 20_000);
    expect(new Set(billing).size).toBe(10);
    await waitUntil(async () => (await bus.dlq.size()) === 1, 20_000);
    const [entry] = await bus.dlq.list();
    expect(entry).toMatchObject({ group: 'billing', error: expect.stringContaining('cannot bill') });
    expect(await bus.store.getEventsByCorrelationId('flow-3')).toHaveLength(1);

    let calls = 0;
    const flaky = bus.tasks.define('flaky', { queue: 'q', maxRetries: 3, backoff: { type: 'fixed', delayMs: 20 } }, async (n: number, ctx) => {
      calls++;
      if (ctx.attempt < 2) throw new Error('not yet');
      return n * 2;
    });
    await bus.worker({ queues: { q: 2 } }).start();
    const r = await flaky.delay(21);
    expect(await r.get({ timeoutMs: 20_000 })).toBe(42);
    expect(calls).toBe(2);

    const health = await bus.monitor.getHealthStatus();
    expect(health.transport.name).toBe('postgres');
    expect(health.dlqSize).toBeGreaterThanOrEqual(1);
    const info = await bus.transport.info(bus.config.eventStreamName);
    expect(info.groups.map((g) => g.name).sort()).toEqual(['audit', 'billing']);
  });

  it('two schedulers on one database send each due run once', async () => {
    const schema = uniqueSchema('pgt_beat');
    schemas.push(schema);
    // The correlation id of a scheduled run names its slot: `schedule:<entry>:<ISO slot>`.
    const runs: string[] = [];
    const systems = [await system(schema), await system(schema)];
    for (const s of systems) {
      s.tasks.define('tick', { queue: 'beat' }, async (_a: unknown, ctx) => {
        runs.push(ctx.correlationId);
      });
      s.scheduler.add({ name: 'every-300ms', task: 'tick', everyMs: 300 });
    }
    await systems[0]!.worker({ queues: { beat: 1 } }).start();
    await Promise.all(systems.map((s) => s.scheduler.start()));
    await waitUntil(() => runs.length >= 4, 30_000);
    await Promise.all(systems.map((s) => s.scheduler.stop()));
    // Each 300 ms slot fired once, whatever the machine's load: no slot twice.
    for (const r of runs) expect(r).toMatch(/^schedule:every-300ms:/);
    expect(new Set(runs).size, `duplicate runs: ${runs.join(', ')}`).toBe(runs.length);
  });
});
