/**
 * The transactional outbox on the real PostgreSQL: `publish(input, { transaction })` writes the
 * event with the application's rows, in the application's transaction, and the relay hands it to
 * the transport only after the commit.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { postgresStore } from '../../adapters/postgres/index.js';
import { EventType, createEventSystem, memoryTransport, silentLogger, type EventEnvelope, type EventSystem } from '../../src/index.js';
import { waitForEvent } from '../../src/testing/index.js';
import { POSTGRES_REQUIRED, TEST_POSTGRES_URL, dropSchema, probePostgres, uniqueSchema, warnSkipped } from './fixtures/postgres-helpers.js';

const unreachable = await probePostgres();
if (unreachable && !POSTGRES_REQUIRED) warnSkipped('the Postgres outbox tests', unreachable);

describe.skipIf(unreachable !== undefined && !POSTGRES_REQUIRED)('transactional outbox on Postgres', () => {
  let pool: pg.Pool;
  let schema = '';
  let bus: EventSystem | undefined;

  beforeAll(() => {
    pool = new pg.Pool({ connectionString: TEST_POSTGRES_URL, max: 4 });
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

  /** A system on a fresh schema, with an app table `orders` next to the store's tables. */
  async function system(): Promise<{ bus: EventSystem; handled: EventEnvelope[] }> {
    schema = uniqueSchema('outbox');
    bus = await createEventSystem({
      store: postgresStore({ connectionString: TEST_POSTGRES_URL, schema, poolSize: 3 }),
      transport: memoryTransport(),
      logger: silentLogger,
      env: {},
      // The periodic relay stays out of the way: the test runs it by hand.
      outbox: { intervalMs: 600_000 },
      config: { eventBlockTime: 50 },
    });
    await pool.query(`create table "${schema}".orders (id text primary key, total integer not null)`);
    const handled: EventEnvelope[] = [];
    const consumer = bus.consumer('billing');
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

  it('a pg client transaction that rolls back leaves no event; one that commits is published by the relay', async () => {
    const { bus, handled } = await system();
    const stream = bus.config.eventStreamName;

    // 1. The application changes its mind: ROLLBACK.
    const client = await pool.connect();
    try {
      await client.query('begin');
      await client.query(`insert into "${schema}".orders (id, total) values ($1, $2)`, ['o-1', 100]);
      await bus.publisher.publish(input(1), { transaction: client });
      await client.query('rollback');
    } finally {
      client.release();
    }
    expect(await bus.outbox!.runOnce({ graceMs: 0 })).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(await bus.store.getEventsByCorrelationId('order-1')).toEqual([]);
    expect(await bus.store.adapter.unpublished()).toEqual([]);
    expect((await pool.query(`select * from "${schema}".orders`)).rows).toEqual([]);
    expect((await bus.transport.info(stream)).groups.reduce((n, g) => n + g.lag + g.pending, 0)).toBe(0);
    expect(handled).toEqual([]);

    // 2. Same again, but COMMIT: the event exists exactly when the order does.
    const again = await pool.connect();
    let id: string;
    try {
      await again.query('begin');
      await again.query(`insert into "${schema}".orders (id, total) values ($1, $2)`, ['o-2', 200]);
      id = await bus.publisher.publish(input(2), { transaction: again });
      // Before the commit nobody else sees it, so the relay has nothing to publish.
      expect(await bus.outbox!.runOnce({ graceMs: 0 })).toBe(0);
      expect(await bus.store.getEvent(id)).toBeUndefined();
      await again.query('commit');
    } finally {
      again.release();
    }
    expect((await bus.store.getEvent(id))?.publishedAt).toBeNull();
    expect((await bus.store.adapter.unpublished()).map((e) => e.id)).toEqual([id]);
    const delivered = waitForEvent(bus, EventType.REQUEST_CREATED);
    expect(await bus.outbox!.runOnce({ graceMs: 0 })).toBe(1);
    expect((await delivered).id).toBe(id);
    expect(handled.map((e) => e.id)).toEqual([id]);
    expect(handled[0]).toMatchObject({ correlationId: 'order-2', data: { requestId: 'req-2' } });
    expect((await bus.store.getEvent(id))?.publishedAt).toEqual(expect.any(String));
    expect(await bus.store.adapter.unpublished()).toEqual([]);
    expect((await pool.query(`select id from "${schema}".orders`)).rows).toEqual([{ id: 'o-2' }]);
    // Published once: a second relay run has nothing left.
    expect(await bus.outbox!.runOnce({ graceMs: 0 })).toBe(0);
  });

  it('a kysely transaction works the same way, for publishMany too', async () => {
    const { bus, handled } = await system();
    interface AppDb {
      orders: { id: string; total: number };
    }
    const app = new Kysely<AppDb>({ dialect: new PostgresDialect({ pool }) }).withSchema(schema);
    const failed = await app
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('orders').values({ id: 'k-1', total: 1 }).execute();
        await bus.publisher.publishMany([input(3), input(4)], { transaction: trx });
        throw new Error('payment declined');
      })
      .catch((e: unknown) => e);
    expect((failed as Error).message).toBe('payment declined');
    expect(await bus.store.adapter.unpublished()).toEqual([]);

    const ids = await app.transaction().execute(async (trx) => {
      await trx.insertInto('orders').values({ id: 'k-2', total: 2 }).execute();
      return bus.publisher.publishMany([input(5), input(6)], { transaction: trx });
    });
    const both = new Promise<void>((resolve) => {
      const off = bus.on('handled', () => {
        if (handled.length === 2) {
          off();
          resolve();
        }
      });
    });
    expect(await bus.outbox!.runOnce({ graceMs: 0 })).toBe(2);
    await both;
    expect(handled.map((e) => e.id).sort()).toEqual([...ids].sort());
    expect((await app.selectFrom('orders').select('id').execute()).map((r) => r.id)).toEqual(['k-2']);
  });

  it('the memory store refuses a transaction with a clear error, and nothing is published', async () => {
    const memoryBus = await createEventSystem({ transport: memoryTransport(), logger: silentLogger, env: {}, outbox: false });
    try {
      const err = await memoryBus.publisher.publish(input(7), { transaction: {} }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_VALIDATION', issues: [{ path: 'transaction' }] });
      expect((err as Error).message).toMatch(/memory store has no transactions/);
      expect((await memoryBus.transport.info(memoryBus.config.eventStreamName)).length).toBe(0);
    } finally {
      await memoryBus.close();
    }
  });
});
