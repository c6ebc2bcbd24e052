import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { postgresStore } from '../../adapters/postgres/index.js';
import { SCHEMA_VERSION } from '../../adapters/sql/index.js';
import { describeStore, type StoreSuiteContext } from '../../src/testing/store-suite.js';
import { POSTGRES_REQUIRED, TEST_POSTGRES_URL, dropSchema, probePostgres, safeUrl, uniqueSchema } from '../e2e/fixtures/postgres-helpers.js';

const url = TEST_POSTGRES_URL;
const inCi = POSTGRES_REQUIRED;
const safe = safeUrl;
const reachable = () => probePostgres(url);

const unreachable = await reachable();
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

const schemaName = () => uniqueSchema('test');

if (unreachable !== undefined && !inCi) {
  console.warn(
    `\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n` +
      `!! SKIPPING the Postgres event store tests: cannot reach ${safe(url)}\n` +
      `!! (${unreachable}). Set PROCUR_TEST_POSTGRES_URL or start Postgres.\n` +
      `!! In CI (CI=true) this is a failure, not a skip.\n` +
      `!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n`,
  );
  describe.skip('postgres store (server unreachable)', () => {
    it('needs a Postgres server', () => undefined);
  });
} else if (unreachable !== undefined) {
  describe('postgres store', () => {
    it('reaches the Postgres server (required in CI)', () => {
      throw new Error(`Cannot reach Postgres at ${safe(url)}: ${unreachable}. Set PROCUR_TEST_POSTGRES_URL.`);
    });
  });
} else {
  const admin = new pg.Pool({ connectionString: url, max: 2 });
  afterAll(() => admin.end());

  // The schema of the running test's store (set by the factory).
  let currentSchema = '';

  describeStore(
    'postgres',
    async () => {
      const schema = schemaName();
      currentSchema = schema;
      return {
        store: postgresStore({ connectionString: url, schema, poolSize: 4 }),
        reopen: async () => postgresStore({ connectionString: url, schema, poolSize: 2 }),
        // The application's own pg client, inside BEGIN.
        transaction: async () => {
          const client = await admin.connect();
          await client.query('begin');
          return {
            handle: client,
            commit: async () => {
              await client.query('commit').finally(() => client.release());
            },
            rollback: async () => {
              await client.query('rollback').finally(() => client.release());
            },
          };
        },
        teardown: async () => {
          await dropSchema(schema, admin);
        },
      };
    },
    {
      additionalTests(context: () => StoreSuiteContext) {
        it('postgres: 5 stores migrating an empty schema at once all succeed, with one version row', async () => {
          const schema = schemaName();
          const stores = Array.from({ length: 5 }, () => postgresStore({ connectionString: url, schema, poolSize: 2 }));
          try {
            await Promise.all(stores.map((s) => s.migrate()));
            const { rows } = await admin.query(`select id, version from "${schema}".procur_schema_version`);
            expect(rows).toEqual([{ id: 1, version: SCHEMA_VERSION }]);
            const e = context().event();
            await stores[0]!.append([e]);
            for (const s of stores) expect((await s.getEvent(e.id))?.id).toBe(e.id);
          } finally {
            await Promise.all(stores.map((s) => s.close()));
            await dropSchema(schema, admin);
          }
        });

        it('postgres: tables, jsonb/timestamptz columns and indexes are created', async () => {
          const { store } = context();
          expect(store.name).toBe('postgres');
          expect(store.features).toEqual({ persistent: true, distributed: true });
          await store.migrate();
          const cols = await admin.query(
            `select column_name, data_type from information_schema.columns where table_schema = $1 and table_name = 'procur_events' order by column_name`,
            [currentSchema],
          );
          const types = Object.fromEntries(cols.rows.map((r: { column_name: string; data_type: string }) => [r.column_name, r.data_type]));
          expect(types).toMatchObject({ data: 'jsonb', metadata: 'jsonb', occurred_at: 'timestamp with time zone', published_at: 'timestamp with time zone' });
          const idx = await admin.query(`select indexname, indexdef from pg_indexes where schemaname = $1`, [currentSchema]);
          const names = idx.rows.map((r: { indexname: string }) => r.indexname);
          expect(names).toEqual(
            expect.arrayContaining([
              'procur_events_type_occurred_idx',
              'procur_events_correlation_occurred_idx',
              'procur_events_user_idx',
              'procur_events_organization_idx',
              'procur_events_occurred_idx',
              'procur_events_unpublished_idx',
            ]),
          );
          const partial = idx.rows.find((r: { indexname: string }) => r.indexname === 'procur_events_unpublished_idx') as { indexdef: string };
          expect(partial.indexdef).toMatch(/WHERE \(published_at IS NULL\)/);
        });

        it('postgres: a database schema newer than the code is refused, naming both versions', async () => {
          await context().store.migrate();
          await admin.query(`update "${currentSchema}".procur_schema_version set version = 42`);
          const newer = await context().reopen();
          const err = await newer.migrate().catch((e: unknown) => e);
          expect(err).toMatchObject({ code: 'ERR_STORE', name: 'StoreError' });
          expect((err as Error).message).toMatch(/version 42/);
          expect((err as Error).message).toMatch(new RegExp(`version ${SCHEMA_VERSION}\\b`));
        });

        it('postgres: another process appends and reads through the same database', async () => {
          const { store, event } = context();
          const mine = event();
          await store.append([mine]);
          const theirs = event({ id: `${mine.id}-child` });
          const { stdout } = await promisify(execFile)(
            process.execPath,
            [
              '--import',
              'tsx',
              '--input-type=module',
              '-e',
              `import { postgresStore } from './adapters/postgres/index.ts';
               const s = postgresStore({ connectionString: process.env.PG_URL, schema: process.env.PG_SCHEMA, poolSize: 1 });
               await s.append([JSON.parse(process.env.EVENT)]);
               const page = await s.query({ limit: 100 });
               console.log(JSON.stringify(page.events.map((e) => e.id)));
               await s.close();`,
            ],
            { cwd: repoRoot, env: { ...process.env, PG_URL: url, PG_SCHEMA: currentSchema, EVENT: JSON.stringify(theirs) }, timeout: 20_000 },
          );
          expect(JSON.parse(stdout.trim())).toEqual([mine.id, theirs.id]);
          expect(await store.getEvent(theirs.id)).toMatchObject({ id: theirs.id, data: theirs.data });
        });

        it('postgres: a schema at version 1 is upgraded in place (handled table added), data kept', async () => {
          const { store, event } = context();
          const e = event();
          await store.append([e]);
          await admin.query(`drop table "${currentSchema}".procur_handled`);
          await admin.query(`update "${currentSchema}".procur_schema_version set version = 1`);
          const upgraded = await context().reopen();
          expect(await upgraded.handleOnce(e.id, 'g', async () => 'ran')).toEqual({ handled: true, result: 'ran' });
          const { rows } = await admin.query(`select version from "${currentSchema}".procur_schema_version`);
          expect(rows).toEqual([{ version: SCHEMA_VERSION }]);
          expect((await upgraded.getEvent(e.id))?.id).toBe(e.id);
        });

        it('postgres: append takes the application kysely Transaction; it commits or rolls back with the app rows', async () => {
          const { store, event } = context();
          await store.migrate();
          interface AppDb {
            orders: { id: string; total: number };
          }
          const appDb = new Kysely<AppDb>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }) });
          try {
            await sql`create table ${sql.table(`${currentSchema}.orders`)} (id text primary key, total int not null)`.execute(appDb);
            const orders = `${currentSchema}.orders` as 'orders';
            const lost = event();
            const err = await appDb
              .transaction()
              .execute(async (trx) => {
                await trx.insertInto(orders).values({ id: 'o-1', total: 10 }).execute();
                await store.append([lost], { transaction: trx });
                throw new Error('app changed its mind');
              })
              .catch((e: unknown) => e);
            expect((err as Error).message).toBe('app changed its mind');
            expect(await store.getEvent(lost.id)).toBeUndefined();
            expect(await appDb.selectFrom(orders).selectAll().execute()).toEqual([]);

            const kept = event();
            await appDb.transaction().execute(async (trx) => {
              await trx.insertInto(orders).values({ id: 'o-2', total: 20 }).execute();
              await store.append([kept], { transaction: trx });
            });
            expect(await store.getEvent(kept.id)).toMatchObject({ id: kept.id, publishedAt: null });
            expect((await store.unpublished()).map((x) => x.id)).toEqual([kept.id]);
            expect(await appDb.selectFrom(orders).selectAll().execute()).toEqual([{ id: 'o-2', total: 20 }]);

            // A controlled transaction and a plain Kysely instance work too.
            const controlled = await appDb.startTransaction().execute();
            const viaControlled = event();
            await store.append([viaControlled], { transaction: controlled });
            await controlled.rollback().execute();
            expect(await store.getEvent(viaControlled.id)).toBeUndefined();
            const viaInstance = event();
            await store.append([viaInstance], { transaction: appDb });
            expect((await store.getEvent(viaInstance.id))?.id).toBe(viaInstance.id);
          } finally {
            await appDb.destroy();
          }
        });

        it('postgres: append refuses a pg Pool and a client outside BEGIN, naming transaction', async () => {
          const { store, event } = context();
          const e = event();
          const pool = new pg.Pool({ connectionString: url, max: 1 });
          const client = await admin.connect();
          try {
            const viaPool = await store.append([e], { transaction: pool }).catch((x: unknown) => x);
            expect(viaPool).toMatchObject({ code: 'ERR_VALIDATION', issues: [{ path: 'transaction' }] });
            expect((viaPool as Error).message).toMatch(/pg Pool/);
            await client.query('select 1');
            const outside = await store.append([e], { transaction: client }).catch((x: unknown) => x);
            expect(outside).toMatchObject({ code: 'ERR_VALIDATION', issues: [{ path: 'transaction' }] });
            expect((outside as Error).message).toMatch(/BEGIN/);
            expect(await store.getEvent(e.id)).toBeUndefined();
          } finally {
            client.release();
            await pool.end();
          }
        });

        it('postgres: handleOnce hands a transaction; writes through it commit with the record, or roll back with it', async () => {
          const { store, event } = context();
          const e = event();
          await store.append([e]);
          await admin.query(`create table "${currentSchema}".effects (event_id text primary key, note text)`);
          interface AppDb {
            effects: { event_id: string; note: string };
          }
          const effects = `${currentSchema}.effects` as 'effects';
          const effect = (note: string, fail: boolean) => async (transaction: unknown) => {
            const trx = transaction as Kysely<AppDb>;
            await trx.insertInto(effects).values({ event_id: e.id, note }).execute();
            if (fail) throw new Error('after the write');
            return note;
          };
          await expect(store.handleOnce(e.id, 'g', effect('first', true))).rejects.toThrow('after the write');
          expect((await admin.query(`select * from "${currentSchema}".effects`)).rows).toEqual([]);
          expect(await store.handleOnce(e.id, 'g', effect('second', false))).toEqual({ handled: true, result: 'second' });
          expect(await store.handleOnce(e.id, 'g', effect('third', false))).toEqual({ handled: false });
          expect((await admin.query(`select note from "${currentSchema}".effects`)).rows).toEqual([{ note: 'second' }]);
        });

        it('postgres: store calls inside a handleOnce callback join its transaction (no second connection needed)', async () => {
          const { event } = context();
          const store = postgresStore({ connectionString: url, schema: currentSchema, poolSize: 1 });
          try {
            const e = event();
            const followUp = event();
            await store.append([e]);
            const outcome = await store.handleOnce(e.id, 'g', async () => {
              await store.append([followUp]);
              await store.markPublished([followUp.id]);
              return (await store.getEvent(followUp.id))?.id;
            });
            expect(outcome).toEqual({ handled: true, result: followUp.id });
            expect((await store.getEvent(followUp.id))?.publishedAt).toEqual(expect.any(String));
            // Rolled back with the callback.
            const g = event();
            await expect(
              store.handleOnce(e.id, 'g2', async () => {
                await store.append([g]);
                throw new Error('nope');
              }),
            ).rejects.toThrow('nope');
            expect(await store.getEvent(g.id)).toBeUndefined();
          } finally {
            await store.close();
          }
        });

        it('postgres: cleanup commits batch by batch (other sessions see it progress), handled pairs included', async () => {
          const { store, event } = context();
          const old = Array.from({ length: 20_000 }, (_, i) => event({ occurredAt: new Date(Date.parse('2020-01-01T00:00:00Z') + i).toISOString() }));
          for (let i = 0; i < old.length; i += 5000) await store.append(old.slice(i, i + 5000));
          for (const e of old.slice(0, 50)) await store.handleOnce(e.id, 'g', async () => undefined);
          const keep = event({ occurredAt: '2030-01-01T00:00:00.000Z' });
          await store.append([keep]);
          const seen = new Set<number>();
          let done = false;
          const watcher = (async () => {
            while (!done) {
              const { rows } = await admin.query(`select count(*)::int as n from "${currentSchema}".procur_events`);
              seen.add((rows[0] as { n: number }).n);
            }
          })();
          const deleted = await store.cleanup({ before: '2021-01-01T00:00:00.000Z', batchSize: 500 });
          done = true;
          await watcher;
          expect(deleted).toBe(20_000);
          // Counts strictly between "all" and "done" were visible while it ran: no single long transaction.
          expect([...seen].filter((n) => n > 1 && n < 20_001).length).toBeGreaterThan(0);
          const handled = await admin.query(`select count(*)::int as n from "${currentSchema}".procur_handled`);
          expect(handled.rows).toEqual([{ n: 0 }]);
          expect((await store.getEvent(keep.id))?.id).toBe(keep.id);
        });

        it('postgres: a pool passed in stays open after close', async () => {
          const pool = new pg.Pool({ connectionString: url, max: 2 });
          try {
            const store = postgresStore({ pool, schema: currentSchema });
            const e = context().event();
            await store.append([e]);
            await store.close();
            const { rows } = await pool.query(`select count(*)::int as n from "${currentSchema}".procur_events`);
            expect(rows).toEqual([{ n: 1 }]);
          } finally {
            await pool.end();
          }
        });

        it('postgres: the connection string defaults to PROCUR_EVENT_DATABASE_URL, then DATABASE_URL', async () => {
          const saved = { a: process.env.PROCUR_EVENT_DATABASE_URL, b: process.env.DATABASE_URL };
          try {
            delete process.env.PROCUR_EVENT_DATABASE_URL;
            delete process.env.DATABASE_URL;
            expect(() => postgresStore({ schema: currentSchema })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
            process.env.DATABASE_URL = url;
            const viaFallback = postgresStore({ schema: currentSchema });
            await viaFallback.migrate();
            await viaFallback.close();
            process.env.PROCUR_EVENT_DATABASE_URL = 'postgres://nobody:hunter2@127.0.0.1:1/none';
            const viaPrimary = postgresStore({ schema: currentSchema });
            const err = await viaPrimary.query({}).catch((e: unknown) => e);
            await viaPrimary.close();
            expect(err).toMatchObject({ code: 'ERR_STORE' });
            expect((err as Error).message).toMatch(/^\[event-bus:postgres\] query failed/);
            expect((err as Error).message).toMatch(/PROCUR_EVENT_DATABASE_URL/);
            expect((err as Error).message).not.toMatch(/hunter2/);
          } finally {
            for (const [k, v] of [['PROCUR_EVENT_DATABASE_URL', saved.a], ['DATABASE_URL', saved.b]] as const) {
              if (v === undefined) delete process.env[k];
              else process.env[k] = v;
            }
          }
        });

        it('postgres: errors never include the password', async () => {
          const store = postgresStore({ connectionString: 'postgres://someone:s3cr3t-pw@127.0.0.1:1/db', schema: currentSchema });
          const err = await store.append([context().event()]).catch((e: unknown) => e);
          await store.close();
          expect(err).toMatchObject({ code: 'ERR_STORE' });
          expect(String((err as Error).message)).not.toMatch(/s3cr3t/);
          expect(String((err as Error).message)).toMatch(/append failed/);
        });
      },
    },
  );
}
