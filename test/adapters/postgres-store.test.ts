import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { postgresStore } from '../../adapters/postgres/index.js';
import { describeStore, type StoreSuiteContext } from '../../src/testing/store-suite.js';

const url = process.env.PROCUR_TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test';
const inCi = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';

/** The URL without credentials, for messages. */
function safe(u: string): string {
  return u.replace(/\/\/[^@/]*@/, '//');
}

async function reachable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const unreachable = await reachable();

function schemaName(): string {
  return `procur_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

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
  const dropSchema = (schema: string) => admin.query(`drop schema if exists "${schema}" cascade`);

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
        teardown: async () => {
          await dropSchema(schema);
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
            expect(rows).toEqual([{ id: 1, version: 1 }]);
            const e = context().event();
            await stores[0]!.append([e]);
            for (const s of stores) expect((await s.getEvent(e.id))?.id).toBe(e.id);
          } finally {
            await Promise.all(stores.map((s) => s.close()));
            await dropSchema(schema);
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
          expect((err as Error).message).toMatch(/version 1\b/);
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
