import { waitUntil as until } from '../../src/testing/index.js';
/**
 * Idempotent consumers on the real PostgreSQL: a redelivered event (here: a replay) is not
 * handled twice by an `{ idempotent: true }` consumer, and what its handler writes through
 * `ctx.transaction` commits exactly once, with the store's record of the handling.
 */
import type { Kysely } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { postgresStore } from '../../adapters/postgres/index.js';
import { EventType, createEventSystem, memoryTransport, silentLogger, type EventSystem } from '../../src/index.js';
import { drain } from '../../src/testing/index.js';
import { POSTGRES_REQUIRED, TEST_POSTGRES_URL, dropSchema, probePostgres, uniqueSchema, warnSkipped } from './fixtures/postgres-helpers.js';

const unreachable = await probePostgres();
if (unreachable && !POSTGRES_REQUIRED) warnSkipped('the Postgres idempotent-consumer tests', unreachable);

interface AppDb {
  ledger: { event_id: string; request_id: string; attempt: number };
}

describe.skipIf(unreachable !== undefined && !POSTGRES_REQUIRED)('idempotent consumers on Postgres', () => {
  let pool: pg.Pool;
  let schema = '';
  let bus: EventSystem | undefined;

  beforeAll(() => {
    pool = new pg.Pool({ connectionString: TEST_POSTGRES_URL, max: 2 });
  });
  afterAll(async () => {
    await pool?.end();
  });
  afterEach(async () => {
    await bus?.close();
    bus = undefined;
    if (schema) await dropSchema(schema, pool);
    schema = '';
  });

  async function system(withRelay = false): Promise<EventSystem> {
    schema = uniqueSchema('idem');
    bus = await createEventSystem({
      store: postgresStore({ connectionString: TEST_POSTGRES_URL, schema, poolSize: 4 }),
      transport: memoryTransport(),
      logger: silentLogger,
      env: {},
      // The relay, when on, runs only when the test asks.
      outbox: withRelay ? { intervalMs: 600_000 } : false,
      config: { eventBlockTime: 50, retryBackoffMs: 10, retryBackoffMaxMs: 50 },
    });
    await pool.query(`create table "${schema}".ledger (event_id text primary key, request_id text not null, attempt integer not null)`);
    return bus;
  }

  const ledgerRows = async () => (await pool.query(`select event_id, request_id, attempt from "${schema}".ledger`)).rows;

  it('a replayed event is not handled again; the handler wrote through ctx.transaction once', async () => {
    const bus = await system();
    const ledger = `${schema}.ledger` as 'ledger';
    let runs = 0;
    const idempotent = bus.consumer('ledger-writer', { group: 'ledger', idempotent: true });
    idempotent.registerHandler(EventType.REQUEST_CREATED, async (event, ctx) => {
      runs++;
      const trx = ctx.transaction as Kysely<AppDb>;
      const data = event.data as { requestId: string };
      await trx.insertInto(ledger).values({ event_id: event.id, request_id: data.requestId, attempt: ctx.attempt }).execute();
    });
    // A plain consumer in another group sees both deliveries: proof the replay did redeliver.
    const seen: Array<{ id: string; replayed: boolean }> = [];
    const audit = bus.consumer('auditor', { group: 'audit' });
    audit.registerHandler(EventType.REQUEST_CREATED, (event) => {
      seen.push({ id: event.id, replayed: event.metadata?.replayed === true });
    });
    await idempotent.start();
    await audit.start();

    const id = await bus.publisher.publish({
      type: EventType.REQUEST_CREATED,
      data: { requestId: 'req-1', description: 'Need CRM', budgetMax: 5000 },
      correlationId: 'flow-1',
    });
    // Committed once the handling is recorded as processed.
    await until(async () => seen.length === 1 && (await bus.store.processingOf(id)).some((r) => r.group === 'ledger' && r.outcome === 'processed'));
    expect(runs).toBe(1);
    expect(await ledgerRows()).toEqual([{ event_id: id, request_id: 'req-1', attempt: 1 }]);

    expect(await bus.replay({ correlationId: 'flow-1' })).toBe(1);
    await until(() => seen.length === 2);
    await drain(bus, { timeoutMs: 10_000 });
    expect(seen).toEqual([
      { id, replayed: false },
      { id, replayed: true },
    ]);
    expect(runs).toBe(1);
    expect(await ledgerRows()).toEqual([{ event_id: id, request_id: 'req-1', attempt: 1 }]);
    const handled = await pool.query(`select event_id, group_name from "${schema}".procur_handled order by group_name`);
    expect(handled.rows).toEqual([{ event_id: id, group_name: 'ledger' }]);
  });

  it('a follow-up published with { transaction: ctx.transaction } goes out only when the handling commits', async () => {
    const bus = await system(true);
    const attempts: number[] = [];
    const worker = bus.consumer('worker', { group: 'workers', idempotent: true, maxRetries: 3 });
    worker.registerHandler(EventType.REQUEST_CREATED, async (event, ctx) => {
      attempts.push(ctx.attempt);
      await bus.publisher.publish(
        { type: EventType.REQUEST_UPDATED, data: { requestId: `follow-up-${ctx.attempt}`, changes: {} }, correlationId: event.correlationId, causationId: event.id },
        { transaction: ctx.transaction },
      );
      if (ctx.attempt === 1) throw new Error('fails after publishing');
    });
    const followUps: string[] = [];
    const downstream = bus.consumer('downstream', { group: 'downstream' });
    downstream.registerHandler(EventType.REQUEST_UPDATED, (event) => {
      followUps.push((event.data as { requestId: string }).requestId);
    });
    await worker.start();
    await downstream.start();
    const id = await bus.publisher.publish({
      type: EventType.REQUEST_CREATED,
      data: { requestId: 'req-3', description: 'Need CRM', budgetMax: 10 },
      correlationId: 'flow-3',
    });
    await until(async () => (await bus.store.processingOf(id)).some((r) => r.outcome === 'processed'));
    expect(attempts).toEqual([1, 2]);
    // Only the committed attempt's follow-up is in the outbox; the relay publishes it.
    const outbox = await bus.store.adapter.unpublished();
    expect(outbox.map((e) => (e.data as { requestId: string }).requestId)).toEqual(['follow-up-2']);
    expect(outbox[0]).toMatchObject({ causationId: id, correlationId: 'flow-3' });
    expect(await bus.outbox!.runOnce({ graceMs: 0 })).toBe(1);
    await until(() => followUps.length === 1);
    expect(followUps).toEqual(['follow-up-2']);
  });

  it('a handler that fails after writing leaves nothing behind; the retry writes once', async () => {
    const bus = await system();
    const ledger = `${schema}.ledger` as 'ledger';
    const attempts: number[] = [];
    const consumer = bus.consumer('flaky-writer', { group: 'flaky', idempotent: true, maxRetries: 3 });
    consumer.registerHandler(EventType.REQUEST_CREATED, async (event, ctx) => {
      attempts.push(ctx.attempt);
      const trx = ctx.transaction as Kysely<AppDb>;
      await trx.insertInto(ledger).values({ event_id: event.id, request_id: 'req-2', attempt: ctx.attempt }).execute();
      if (ctx.attempt === 1) throw new Error('downstream timeout after the write');
    });
    await consumer.start();
    const id = await bus.publisher.publish({
      type: EventType.REQUEST_CREATED,
      data: { requestId: 'req-2', description: 'Need ERP', budgetMax: 100 },
      correlationId: 'flow-2',
    });
    await until(async () => (await bus.store.processingOf(id)).some((r) => r.outcome === 'processed'));
    expect(attempts).toEqual([1, 2]);
    // The first attempt's row was rolled back with its transaction.
    expect(await ledgerRows()).toEqual([{ event_id: id, request_id: 'req-2', attempt: 2 }]);
  });
});
