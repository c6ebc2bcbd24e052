/**
 * `publish(input, { transaction })` with postgresStore and postgresTransport on one database: the
 * event goes onto the transport tables inside the application's own transaction (no outbox relay
 * in between). Committed: delivered once, stored as published, the relay has nothing to do.
 * Rolled back: neither the store nor the transport has it, no handler runs.
 */
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { postgresStore, postgresTransport } from '../../adapters/postgres/index.js';
import { EventType, createEventSystem, silentLogger, type EventEnvelope, type EventSystem } from '../../src/index.js';
import { waitUntil } from '../../src/testing/index.js';
import { POSTGRES_REQUIRED, TEST_POSTGRES_URL, dropSchema, probePostgres, uniqueSchema, warnSkipped } from './fixtures/postgres-helpers.js';

const unreachable = await probePostgres();
if (unreachable && !POSTGRES_REQUIRED) warnSkipped('the PostgreSQL transport transaction tests', unreachable);

describe.skipIf(unreachable !== undefined && !POSTGRES_REQUIRED)('publish in the application transaction on PostgreSQL alone', () => {
  const pool = new pg.Pool({ connectionString: TEST_POSTGRES_URL, max: 4 });
  let schema = '';
  let bus: EventSystem | undefined;
  afterEach(async () => {
    await bus?.close().catch(() => undefined);
    bus = undefined;
    if (schema) await dropSchema(schema, pool);
    schema = '';
  });
  afterAll(() => pool.end());

  async function system(): Promise<{ bus: EventSystem; handled: EventEnvelope[] }> {
    schema = uniqueSchema('pgt_trx');
    bus = await createEventSystem({
      transport: postgresTransport({ connectionString: TEST_POSTGRES_URL, schema, poolSize: 4 }),
      store: postgresStore({ connectionString: TEST_POSTGRES_URL, schema, poolSize: 3 }),
      logger: silentLogger,
      env: {},
      // The periodic relay stays out of the way: the test runs it by hand.
      outbox: { intervalMs: 600_000 },
      config: { eventBlockTime: 200 },
    });
    await pool.query(`create table "${schema}".orders (id text primary key, total integer not null)`);
    const handled: EventEnvelope[] = [];
    const consumer = bus.consumer('billing', { group: 'billing' });
    consumer.registerHandler(EventType.REQUEST_CREATED, (event) => {
      handled.push(event);
    });
    await consumer.start();
    return { bus, handled };
  }

  const input = (n: number) => ({
    type: EventType.REQUEST_CREATED,
    data: { requestId: `req-${n}`, description: 'Need CRM', budgetMax: 1000 + n },
    correlationId: `order-${n}`,
  });
  const messageRows = async (): Promise<number> =>
    Number((await pool.query(`select count(*)::int as n from "${schema}".procur_messages`)).rows[0].n);

  it('committed: the handler gets it exactly once, the store has it as published, the relay does not publish it again', async () => {
    const { bus, handled } = await system();
    const client = await pool.connect();
    let id: string;
    try {
      await client.query('begin');
      await client.query(`insert into "${schema}".orders (id, total) values ($1, $2)`, ['o-1', 100]);
      id = await bus.publisher.publish(input(1), { transaction: client });
      // Not visible outside the transaction yet: no message row, no event, no delivery.
      expect(await messageRows()).toBe(0);
      expect(await bus.store.getEvent(id)).toBeUndefined();
      await new Promise((r) => setTimeout(r, 300));
      expect(handled).toEqual([]);
      await client.query('commit');
    } finally {
      client.release();
    }
    await waitUntil(() => handled.length >= 1, 20_000);
    expect(handled.map((e) => e.id)).toEqual([id]);
    expect(handled[0]).toMatchObject({ correlationId: 'order-1', data: { requestId: 'req-1' } });
    expect((await bus.store.getEvent(id))?.publishedAt).toEqual(expect.any(String));
    expect(await bus.store.adapter.unpublished()).toEqual([]);
    // The relay finds nothing to re-publish, and no second delivery arrives.
    expect(await bus.outbox!.runOnce({ graceMs: 0 })).toBe(0);
    await new Promise((r) => setTimeout(r, 500));
    expect(handled).toHaveLength(1);
    expect(await messageRows()).toBe(1);
    expect((await pool.query(`select id from "${schema}".orders`)).rows).toEqual([{ id: 'o-1' }]);
  });

  it('rolled back: neither the store nor the transport has it, and no handler runs', async () => {
    const { bus, handled } = await system();
    const client = await pool.connect();
    let ids: string[];
    try {
      await client.query('begin');
      await client.query(`insert into "${schema}".orders (id, total) values ($1, $2)`, ['o-2', 200]);
      ids = await bus.publisher.publishMany([input(2), input(3)], { transaction: client });
      await client.query('rollback');
    } finally {
      client.release();
    }
    expect(await bus.outbox!.runOnce({ graceMs: 0 })).toBe(0);
    await new Promise((r) => setTimeout(r, 500));
    for (const id of ids) expect(await bus.store.getEvent(id)).toBeUndefined();
    expect(await bus.store.adapter.unpublished()).toEqual([]);
    expect(await messageRows()).toBe(0);
    const info = await bus.transport.info(bus.config.eventStreamName);
    expect(info.groups.reduce((n, g) => n + g.lag + g.pending, 0)).toBe(0);
    expect((await pool.query(`select * from "${schema}".orders`)).rows).toEqual([]);
    expect(handled).toEqual([]);

    // The bus still works afterwards: a committed publish on the same path arrives.
    const again = await pool.connect();
    try {
      await again.query('begin');
      await bus.publisher.publish(input(4), { transaction: again });
      await again.query('commit');
    } finally {
      again.release();
    }
    await waitUntil(() => handled.length === 1, 20_000);
    expect(handled[0]).toMatchObject({ correlationId: 'order-4' });
  });
});
