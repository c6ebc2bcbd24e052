import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { expect, it } from 'vitest';
import { sqliteStore } from '../../adapters/sqlite/index.js';
import { SCHEMA_VERSION } from '../../adapters/sql/index.js';
import { describeStore, type StoreSuiteContext } from '../../src/testing/store-suite.js';
import { StoreError } from '../../src/index.js';

async function tempFile(): Promise<{ filename: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'procur-sqlite-'));
  return { filename: join(dir, 'events.db'), remove: () => rm(dir, { recursive: true, force: true }) };
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `code` (an ES module using the store) in a separate Node process, returning its stdout. */
async function inChildProcess(code: string, env: Record<string, string>): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    timeout: 20_000,
  });
  return stdout;
}

// The file path of the running test's store (set by the factory).
let currentFile = '';

describeStore(
  'sqlite (file)',
  async () => {
    const { filename, remove } = await tempFile();
    currentFile = filename;
    return {
      store: sqliteStore({ filename }),
      reopen: async () => sqliteStore({ filename }),
      // The application's own kysely transaction, on its own connection to the file.
      transaction: async () => {
        const app = new Kysely<Record<string, never>>({
          dialect: new SqliteDialect({
            database: () => {
              const raw = new Database(filename);
              raw.pragma('busy_timeout = 5000');
              return Promise.resolve(raw);
            },
          }),
        });
        const trx = await app.startTransaction().execute();
        return {
          handle: trx,
          commit: async () => {
            await trx.commit().execute();
            await app.destroy();
          },
          rollback: async () => {
            await trx.rollback().execute();
            await app.destroy();
          },
        };
      },
      teardown: remove,
    };
  },
  {
    additionalTests(context: () => StoreSuiteContext) {
      it('sqlite: the file is in WAL mode with synchronous=NORMAL', async () => {
        await context().store.migrate();
        const raw = new Database(currentFile, { readonly: true });
        try {
          expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
        } finally {
          raw.close();
        }
        expect(context().store.features).toEqual({ persistent: true, distributed: true });
        expect(context().store.name).toBe('sqlite');
      });

      it('sqlite: a second store and a raw connection on the same file see the events', async () => {
        const { store, event } = context();
        const other = await context().reopen();
        const e = event();
        await store.append([e]);
        expect((await other.getEvent(e.id))?.id).toBe(e.id);
        const e2 = event();
        await other.append([e2]);
        expect((await store.getEvent(e2.id))?.id).toBe(e2.id);
        const raw = new Database(currentFile, { readonly: true });
        try {
          const rows = raw.prepare('select id, data from procur_events order by occurred_at, id').all() as Array<{ id: string; data: string }>;
          expect(rows.map((r) => r.id)).toEqual([e.id, e2.id]);
          expect(JSON.parse(rows[0]!.data)).toEqual(e.data);
        } finally {
          raw.close();
        }
      });

      it('sqlite: another process appends and reads through the same file', async () => {
        const { store, event } = context();
        const mine = event();
        await store.append([mine]);
        const theirs = event({ id: `${mine.id}-child` });
        const out = await inChildProcess(
          `import { sqliteStore } from './adapters/sqlite/index.ts';
           const s = sqliteStore({ filename: process.env.DB_FILE });
           await s.append([JSON.parse(process.env.EVENT)]);
           const page = await s.query({ limit: 100 });
           console.log(JSON.stringify(page.events.map((e) => e.id)));
           await s.close();`,
          { DB_FILE: currentFile, EVENT: JSON.stringify(theirs) },
        );
        expect(JSON.parse(out.trim())).toEqual([mine.id, theirs.id]);
        expect(await store.getEvent(theirs.id)).toMatchObject({ id: theirs.id, data: theirs.data });
      });

      it('sqlite: concurrent writers of two stores in one process do not deadlock', async () => {
        const { store, event } = context();
        const other = await context().reopen();
        const batches = Array.from({ length: 20 }, () => [event(), event()]);
        await Promise.all(
          batches.map((b, i) => {
            const s = i % 2 === 0 ? store : other;
            return Promise.all([
              s.append(b),
              s.recordProcessing([{ eventId: b[0]!.id, group: 'g', outcome: 'processed', attempt: 1, at: new Date().toISOString() }]),
              s.cleanup({ before: '2000-01-01T00:00:00.000Z' }),
            ]);
          }),
        );
        expect((await store.query({ limit: 1000 })).events).toHaveLength(40);
      });

      it('sqlite: a database schema newer than the code is refused, naming both versions', async () => {
        await context().store.migrate();
        const raw = new Database(currentFile);
        raw.prepare('update procur_schema_version set version = 99 where id = 1').run();
        raw.close();
        const newer = await context().reopen();
        const err = await newer.migrate().catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'ERR_STORE', name: 'StoreError' });
        expect((err as Error).message).toMatch(/version 99/);
        expect((err as Error).message).toMatch(new RegExp(`version ${SCHEMA_VERSION}\\b`));
        await expect(newer.query({})).rejects.toMatchObject({ code: 'ERR_STORE' });
      });

      it('sqlite: store calls inside a handleOnce callback join its transaction instead of deadlocking', async () => {
        const { store, event } = context();
        const e = event();
        const followUp = event();
        await store.append([e]);
        const outcome = await store.handleOnce(e.id, 'g', async (trx) => {
          await store.append([followUp]);
          await store.recordProcessing([{ eventId: followUp.id, group: 'x', outcome: 'processed', attempt: 1, at: new Date().toISOString() }]);
          // The handle is a kysely instance bound to the transaction (no table-name mapping).
          const rows = await (trx as Kysely<{ procur_events: { id: string } }>).selectFrom('procur_events').select('id').execute();
          return rows.length;
        });
        expect(outcome).toEqual({ handled: true, result: 2 });
        const g = event();
        await expect(
          store.handleOnce(e.id, 'g2', async () => {
            await store.append([g]);
            throw new Error('nope');
          }),
        ).rejects.toThrow('nope');
        expect(await store.getEvent(g.id)).toBeUndefined();
        expect((await store.getEvent(followUp.id))?.id).toBe(followUp.id);
      });

      it('sqlite: a schema at version 1 is upgraded in place, data kept', async () => {
        const { store, event } = context();
        const e = event();
        await store.append([e]);
        await store.close();
        const raw = new Database(currentFile);
        raw.exec('drop table procur_handled; update procur_schema_version set version = 1');
        raw.close();
        const upgraded = await context().reopen();
        expect(await upgraded.handleOnce(e.id, 'g', async () => 'ran')).toEqual({ handled: true, result: 'ran' });
        expect((await upgraded.getEvent(e.id))?.id).toBe(e.id);
        const check = new Database(currentFile, { readonly: true });
        expect(check.prepare('select version from procur_schema_version').get()).toEqual({ version: SCHEMA_VERSION });
        check.close();
      });

      it('sqlite: table prefixes keep stores apart in one file', async () => {
        const { event } = context();
        const a = sqliteStore({ filename: currentFile, tablePrefix: 'a_' });
        const b = sqliteStore({ filename: currentFile, tablePrefix: 'b_' });
        try {
          const e = event();
          await a.append([e]);
          expect(await b.getEvent(e.id)).toBeUndefined();
          expect((await a.getEvent(e.id))?.id).toBe(e.id);
        } finally {
          await a.close();
          await b.close();
        }
        expect(() => sqliteStore({ filename: currentFile, tablePrefix: 'bad-prefix;' })).toThrow(expect.objectContaining({ code: 'ERR_CONFIG' }));
      });

      it('sqlite: a database passed in stays open after close', async () => {
        const raw = new Database(':memory:');
        const store = sqliteStore({ database: raw });
        const e = context().event();
        await store.append([e]);
        await store.close();
        expect(raw.open).toBe(true);
        expect(raw.prepare('select count(*) as n from procur_events').get()).toEqual({ n: 1 });
        raw.close();
      });

      it('sqlite: a database locked by another connection fails calls with StoreError within timeoutMs, then recovers', async () => {
        const store = sqliteStore({ filename: currentFile, timeoutMs: 300 });
        await store.migrate();
        const other = new Database(currentFile);
        other.exec('begin immediate');
        try {
          // The lock holder never lets go while the call waits: without a bound it would fail only
          // after the 5 s default busy timeout, or hang for ever with a longer one.
          const err = await store.append([context().event()]).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(StoreError);
          expect((err as Error).message).toMatch(/^\[event-bus:sqlite\] append failed: database is locked/);
          expect(store.features.persistent).toBe(true);
        } finally {
          other.exec('rollback');
          other.close();
        }
        const e = context().event();
        await store.append([e]);
        expect(await store.getEvent(e.id)).toMatchObject({ id: e.id });
        await store.close();
      });

      it('sqlite: a bad PROCUR_EVENT_STORE_TIMEOUT_MS is a ConfigError naming the variable', () => {
        const saved = process.env.PROCUR_EVENT_STORE_TIMEOUT_MS;
        process.env.PROCUR_EVENT_STORE_TIMEOUT_MS = 'soon';
        try {
          expect(() => sqliteStore({ filename: currentFile })).toThrow(
            expect.objectContaining({ code: 'ERR_CONFIG', message: expect.stringContaining('PROCUR_EVENT_STORE_TIMEOUT_MS') }),
          );
          expect(() => sqliteStore({ filename: currentFile, timeoutMs: 0 })).toThrow(
            expect.objectContaining({ code: 'ERR_CONFIG', message: expect.stringContaining('sqliteStore({ timeoutMs })') }),
          );
        } finally {
          if (saved === undefined) delete process.env.PROCUR_EVENT_STORE_TIMEOUT_MS;
          else process.env.PROCUR_EVENT_STORE_TIMEOUT_MS = saved;
        }
      });

      it('sqlite: driver errors become StoreError naming the operation', async () => {
        const store = sqliteStore({ filename: join(currentFile, 'no', 'such', 'dir.db') });
        const err = await store.query({}).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'ERR_STORE' });
        expect((err as Error).message).toMatch(/^\[event-bus:sqlite\]/);
        await store.close();
      });
    },
  },
);

describeStore('sqlite (:memory:)', async () => ({ store: sqliteStore({ filename: ':memory:' }) }), {
  additionalTests(context) {
    it('sqlite memory: declares itself non-persistent', () => {
      expect(context().store.features).toEqual({ persistent: false, distributed: false });
    });
  },
});
