/**
 * The SQLite event store (better-sqlite3, loaded on first use).
 *
 * @module
 */

import { resolve } from 'node:path';
import { SqliteDialect, sql, type Kysely, type SqliteDatabase } from 'kysely';
import { ConfigError, MissingPeerError, StoreError, loadSetting, toError, type Clock, type EventStore } from '@procur/event-bus';
import { createSqlStore, redactSecrets, type SqlDialectStrategy, type StoreTables } from '../sql/index.js';

/** SQLite's limit on bind parameters per statement (`SQLITE_MAX_VARIABLE_NUMBER` since 3.32). */
export const SQLITE_MAX_PARAMETERS = 32_766;
/** How long a writer waits for another connection's lock before failing, in ms. */
export const DEFAULT_SQLITE_BUSY_TIMEOUT_MS = 5000;

/**
 * A better-sqlite3 `Database`, typed structurally so this package does not depend on its types.
 * `new Database(file)` from better-sqlite3 12 fits.
 */
export interface BetterSqlite3Database extends SqliteDatabase {
  /** Runs a PRAGMA (better-sqlite3's `db.pragma`). */
  pragma?(source: string, options?: { simple?: boolean }): unknown;
  /** True for an in-memory database. */
  readonly memory?: boolean;
}

/** Options shared by both ways of opening a {@link sqliteStore}. */
export interface SqliteStoreBaseOptions {
  /** Prefix of the table and index names. @default 'procur_' */
  tablePrefix?: string;
  /** The source of `storedAt` / `publishedAt` times. @default systemClock */
  clock?: Clock;
  /**
   * Busy timeout of a database the store opens, in ms: how long a write waits for another
   * connection's lock before it fails with `StoreError` (`SQLITE_BUSY`). better-sqlite3 waits
   * synchronously, so this, not `timeoutMs`, bounds a wait for a locked database.
   * @default the smaller of 5000 ({@link DEFAULT_SQLITE_BUSY_TIMEOUT_MS}) and `timeoutMs`
   */
  busyTimeoutMs?: number;
  /**
   * The longest one store call may take, queueing behind this process's other writers included,
   * before it rejects with `StoreError`, in ms.
   * @default `storeTimeoutMs`: `PROCUR_EVENT_STORE_TIMEOUT_MS`, else 10000
   */
  timeoutMs?: number;
}

/**
 * Options of {@link sqliteStore}: a `filename` to open (`':memory:'` for a private in-memory
 * database), or a `database` you opened (it stays open when the store closes).
 */
export type SqliteStoreOptions = SqliteStoreBaseOptions &
  (
    | {
        /** The database file, created when missing; `':memory:'` for an in-memory database. */
        filename: string;
        /** Not given: the store opens `filename`. */
        database?: undefined;
      }
    | {
        /** An open better-sqlite3 database. Used as is (no PRAGMA is changed) and left open on close. */
        database: BetterSqlite3Database;
        /** Only used in error messages. */
        filename?: string;
      }
  );

type BetterSqlite3Constructor = new (filename: string, options?: Record<string, unknown>) => BetterSqlite3Database;

let peer: Promise<BetterSqlite3Constructor> | undefined;

/** Loads better-sqlite3 once; a missing package becomes a `MissingPeerError`. */
function loadBetterSqlite3(): Promise<BetterSqlite3Constructor> {
  peer ??= import('better-sqlite3').then(
    (mod) => ((mod as { default?: unknown }).default ?? mod) as BetterSqlite3Constructor,
    (err: unknown) => {
      peer = undefined;
      const code = (err as { code?: unknown } | null)?.code;
      if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String((err as Error).message).includes('better-sqlite3')) {
        throw new MissingPeerError('better-sqlite3', '@procur/event-bus/sqlite', { cause: err });
      }
      throw new StoreError(`[event-bus:sqlite] Cannot load better-sqlite3: ${toError(err).message}`, { cause: err });
    },
  );
  return peer;
}

/** Serialises async work (SQLite allows one writer; see `writeTransaction`). */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

// One writer mutex per database in this process. better-sqlite3 waits for a lock synchronously
// (busy_timeout blocks the event loop), so two stores of one process on one file would deadlock
// if one waited for a lock the other holds across an await; they queue here instead.
const fileMutexes = new Map<string, Mutex>();
const databaseMutexes = new WeakMap<object, Mutex>();

function mutexFor(filename: string | undefined, database: object | undefined): Mutex {
  if (database) {
    let m = databaseMutexes.get(database);
    if (!m) databaseMutexes.set(database, (m = new Mutex()));
    return m;
  }
  if (filename === undefined || filename === ':memory:' || filename === '' || filename.startsWith('file::memory:')) return new Mutex();
  const key = resolve(filename);
  let m = fileMutexes.get(key);
  if (!m) fileMutexes.set(key, (m = new Mutex()));
  return m;
}

function sqliteStrategy(persistent: boolean, mutex: Mutex): SqlDialectStrategy {
  return {
    name: 'sqlite',
    features: { persistent, distributed: persistent },
    maxParameters: SQLITE_MAX_PARAMETERS,
    types: { key: 'text', json: 'text', timestamp: 'text', float: 'real' },
    encodeJson: (json) => json,
    decodeJson: (value) => (typeof value === 'string' ? (JSON.parse(value) as unknown) : value),
    // Times are written as canonical `toISOString` text, which also makes them sort as text.
    decodeTime: (value) => (typeof value === 'string' ? value : new Date(value as number).toISOString()),
    write: (fn) => mutex.run(fn),
    writeTransaction<T>(db: Kysely<StoreTables>, fn: (trx: Kysely<StoreTables>) => Promise<T>): Promise<T> {
      return mutex.run(() =>
        // One pinned connection, so no other query of this store slips into the transaction.
        db.connection().execute(async (conn) => {
          // IMMEDIATE takes the write lock up front: a deferred transaction that read first could
          // fail with SQLITE_BUSY_SNAPSHOT instead of waiting for busy_timeout.
          await sql`begin immediate`.execute(conn);
          try {
            const result = await fn(conn);
            await sql`commit`.execute(conn);
            return result;
          } catch (err) {
            await sql`rollback`.execute(conn).catch(() => undefined);
            throw err;
          }
        }),
      );
    },
    async beginMigration() {
      // BEGIN IMMEDIATE already excludes every other writer, in this process and others.
    },
    async percentiles(db, since) {
      const durations = () =>
        db
          .selectFrom('event_processing as p')
          .innerJoin('events as e', 'e.id', 'p.event_id')
          .where('e.occurred_at', '>=', since)
          .where('p.outcome', '=', 'processed')
          .where('p.duration_ms', 'is not', null);
      const { n } = await durations()
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      const total = Number(n);
      // SQLite has no percentile_cont: fetch the one or two rows around the rank (ORDER BY ...
      // OFFSET) and interpolate as percentile_cont does.
      const at = async (p: number): Promise<number> => {
        if (total === 0) return 0;
        const pos = p * (total - 1);
        const lo = Math.floor(pos);
        const rows = await durations()
          .select('p.duration_ms as v')
          .orderBy('p.duration_ms')
          .limit(Math.ceil(pos) - lo + 1)
          .offset(lo)
          .execute();
        const a = Number(rows[0]?.v ?? 0);
        const b = Number(rows[rows.length - 1]?.v ?? a);
        return a + (b - a) * (pos - lo);
      };
      return { p50: await at(0.5), p95: await at(0.95) };
    },
  };
}

/**
 * Creates an event store in a SQLite database (better-sqlite3, an optional peer loaded on
 * first use). A database it opens gets `journal_mode=WAL`, `synchronous=NORMAL` and a busy
 * timeout, so several stores and processes can share the file: each sees what the others
 * appended. The schema is created on first use; `':memory:'` gives a private, non-persistent
 * database.
 *
 * @throws `MissingPeerError` (on first use) when better-sqlite3 is not installed.
 * @throws `ConfigError` when neither `filename` nor `database` is given, or `tablePrefix` is malformed.
 * @example
 * ```ts
 * import { sqliteStore } from '@procur/event-bus/sqlite';
 * const store = sqliteStore({ filename: './events.db' });
 * await store.append([event]);
 * ```
 */
/**
 * Switches a database to WAL. Two processes opening a new file at once can both try: SQLite then
 * answers one of them SQLITE_BUSY at once (its busy handler is not run for this lock), so the
 * switch is retried, with a short pause, until `busyTimeoutMs` has passed.
 */
async function toWal(db: BetterSqlite3Database, busyTimeoutMs: number): Promise<void> {
  const deadline = Date.now() + busyTimeoutMs;
  for (let pause = 10; ; pause = Math.min(pause * 2, 200)) {
    try {
      db.pragma?.('journal_mode = WAL');
      return;
    } catch (err) {
      const busy = /SQLITE_BUSY|database is locked/i.test(`${(err as { code?: string }).code ?? ''} ${toError(err).message}`);
      if (!busy || Date.now() >= deadline) throw err;
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}

export function sqliteStore(options: SqliteStoreOptions): EventStore {
  const database = options.database;
  const filename = options.filename;
  if (!database && (typeof filename !== 'string' || filename === '')) {
    throw new ConfigError('filename', "is required (a file path, or ':memory:')");
  }
  const memory = database ? database.memory === true : filename === ':memory:' || filename!.startsWith('file::memory:');
  const timeoutMs = loadSetting('storeTimeoutMs', process.env, options.timeoutMs, 'sqliteStore({ timeoutMs })');
  const busyTimeoutMs = options.busyTimeoutMs ?? Math.min(DEFAULT_SQLITE_BUSY_TIMEOUT_MS, timeoutMs);
  const dialect = new SqliteDialect({
    database: database
      ? // The user's database stays open when the store closes.
        { prepare: (source) => database.prepare(source), close: () => undefined }
      : async () => {
          const Database = await loadBetterSqlite3();
          try {
            const db = new Database(filename!);
            // busy_timeout first: switching to WAL takes a lock another process may hold.
            db.pragma?.(`busy_timeout = ${Math.max(0, Math.trunc(busyTimeoutMs))}`);
            await toWal(db, busyTimeoutMs);
            db.pragma?.('synchronous = NORMAL');
            return db;
          } catch (err) {
            throw new StoreError(`[event-bus:sqlite] Cannot open the database ${filename}: ${redactSecrets(toError(err).message)}`, { cause: err });
          }
        },
  });
  return createSqlStore(sqliteStrategy(!memory, mutexFor(filename, database)), {
    dialect,
    tablePrefix: options.tablePrefix,
    clock: options.clock,
    timeoutMs,
  });
}
