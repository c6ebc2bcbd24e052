/**
 * The PostgreSQL event store (pg, loaded on first use).
 *
 * @module
 */

import { PostgresDialect, sql, type Kysely, type PostgresPool } from 'kysely';
import { ConfigError, MissingPeerError, StoreError, loadSetting, toError, type Clock, type EventStore } from '@procur/event-bus';
import { DEFAULT_TABLE_PREFIX, createSqlStore, type SqlDialectStrategy, type StoreTables } from '../sql/index.js';

/** Postgres' limit on bind parameters per statement. */
export const POSTGRES_MAX_PARAMETERS = 65_535;
/** The schema of the tables when none is given. */
export const DEFAULT_POSTGRES_SCHEMA = 'public';
/** Connections of a pool the store creates. */
export const DEFAULT_POSTGRES_POOL_SIZE = 10;
/** The environment variables read, in order, when no `connectionString` or `pool` is given. */
export const POSTGRES_URL_VARIABLES = ['PROCUR_EVENT_DATABASE_URL', 'DATABASE_URL'] as const;

/**
 * A pg `Pool` (or anything shaped like it), typed structurally so this package does not depend
 * on pg's types. `new pg.Pool()` fits.
 */
export type PostgresPoolLike = PostgresPool;

/** Options of {@link postgresStore}. */
export interface PostgresStoreOptions {
  /**
   * Connection string (`postgres://user:password@host:5432/db`). Ignored when `pool` is given.
   * @default process.env.PROCUR_EVENT_DATABASE_URL, then process.env.DATABASE_URL
   */
  connectionString?: string;
  /** A pool you created. The store borrows connections from it and leaves it open on close. */
  pool?: PostgresPoolLike;
  /** The schema of the tables, created when missing. @default 'public' */
  schema?: string;
  /** Prefix of the table and index names. @default 'procur_' */
  tablePrefix?: string;
  /** The source of `storedAt` / `publishedAt` times. @default systemClock */
  clock?: Clock;
  /** Connections of the pool the store creates (not used with `pool`). @default 10 */
  poolSize?: number;
  /**
   * The longest one store call may take (and a new connection may take to open, for a pool the
   * store creates) before it rejects with `StoreError`, in ms: a server that is down or frozen
   * fails calls within this bound instead of holding them.
   * @default `storeTimeoutMs`: `PROCUR_EVENT_STORE_TIMEOUT_MS`, else 10000
   */
  timeoutMs?: number;
}

interface PgModule {
  Pool: new (config: Record<string, unknown>) => PostgresPool & { on(event: 'error', listener: (err: Error) => void): unknown };
}

/** An event emitter's `on`, as pg clients have it. */
interface ErrorEmitter {
  on?(event: 'error', listener: (err: Error) => void): unknown;
}

const ignore = (): void => undefined;

/**
 * A pool whose clients never crash the process: pg emits 'error' on a checked-out client whose
 * connection dies (the server stopped, a reset) as well as failing its query, and an 'error'
 * event without a listener throws. The query's own rejection reports the problem (as
 * `StoreError`); pg then drops the broken client on release, and the pool opens new ones.
 */
function guardedPool(connect: () => Promise<PostgresPoolClientLike>, end: () => Promise<void>): PostgresPool {
  const guarded = new WeakSet<object>();
  return {
    async connect() {
      const client = await connect();
      if (!guarded.has(client)) {
        guarded.add(client);
        (client as ErrorEmitter).on?.('error', ignore);
      }
      return client;
    },
    end,
  };
}

type PostgresPoolClientLike = Awaited<ReturnType<PostgresPool['connect']>>;

let peer: Promise<PgModule> | undefined;

/** Loads pg once; a missing package becomes a `MissingPeerError`. */
function loadPg(): Promise<PgModule> {
  peer ??= import('pg').then(
    (mod) => {
      const m = mod as unknown as Partial<PgModule> & { default?: PgModule };
      return (m.Pool ? m : m.default) as PgModule;
    },
    (err: unknown) => {
      peer = undefined;
      const code = (err as { code?: unknown } | null)?.code;
      if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && /['"/]pg['"/]/.test(String((err as Error).message))) {
        throw new MissingPeerError('pg', '@procur/event-bus/postgres', { cause: err });
      }
      throw new StoreError(`[event-bus:postgres] Cannot load pg: ${toError(err).message}`, { cause: err });
    },
  );
  return peer;
}

/** Postgres returns timestamptz as `Date` (or text, with custom type parsers). */
function decodeTime(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'string') {
    // '2024-03-01 12:00:00.123+00' -> ISO 8601
    const iso = value.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00');
    const ms = Date.parse(iso);
    if (!Number.isNaN(ms)) return new Date(ms).toISOString();
  }
  return new Date(value as number).toISOString();
}

/**
 * The key of the wrapper that carries a JSON text jsonb cannot hold: jsonb refuses the escape
 * `\u0000` (NUL) and the escape of a lone surrogate (`\ud800`), so such a value is stored as `{"$procur:json": "<its JSON text>"}`, a jsonb
 * string in which the escape is just text, and unwrapped on read. A value that itself starts
 * with this key is wrapped too, so reading never mistakes data for a wrapper.
 */
export const POSTGRES_JSON_WRAPPER_KEY = '$procur:json';
const WRAPPED_PREFIX = `{${JSON.stringify(POSTGRES_JSON_WRAPPER_KEY)}:`;

/** The escape JSON.stringify writes for a lone surrogate, which jsonb refuses too (a pair is written as is). */
const LONE_SURROGATE_ESCAPE = /\\ud[89a-f]/i;

function encodeJson(json: string): string {
  return json.includes('\\u0000') || json.startsWith(WRAPPED_PREFIX) || LONE_SURROGATE_ESCAPE.test(json)
    ? JSON.stringify({ [POSTGRES_JSON_WRAPPER_KEY]: json })
    : json;
}

function decodeJson(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && Object.hasOwn(value, POSTGRES_JSON_WRAPPER_KEY)) {
    const inner = (value as Record<string, unknown>)[POSTGRES_JSON_WRAPPER_KEY];
    if (typeof inner === 'string' && Object.keys(value).length === 1) return JSON.parse(inner) as unknown;
  }
  return value;
}

/**
 * Text columns cannot hold NUL: in ids, types, correlation ids, groups and error messages NUL is
 * written as `\u0001 0` and the escape `\u0001` itself as `\u0001\u0001`. The encoding is
 * one-to-one, so equality queries on encoded values find exactly the encoded ids.
 */
function encodeText(value: string): string {
  if (value.indexOf('\u0000') === -1 && value.indexOf('\u0001') === -1) return value;
  return value.replace(/[\u0000\u0001]/g, (c) => (c === '\u0000' ? '\u00010' : '\u0001\u0001'));
}

function decodeText(value: string): string {
  if (value.indexOf('\u0001') === -1) return value;
  return value.replace(/\u0001([\u00010])/g, (_, c: string) => (c === '0' ? '\u0000' : '\u0001'));
}

/** The array type of each events column, for the `unnest` insert of `append`. */
const EVENT_ARRAY_TYPES: Readonly<Record<string, string>> = Object.freeze({
  id: 'text', type: 'text', data: 'jsonb', priority: 'text', correlation_id: 'text', causation_id: 'text',
  user_id: 'text', organization_id: 'text', source: 'text', occurred_at: 'timestamptz', version: 'integer',
  metadata: 'jsonb', stored_at: 'timestamptz', published_at: 'timestamptz',
});

function postgresStrategy(schema: string, prefix: string, hint: string): SqlDialectStrategy {
  return {
    name: 'postgres',
    features: { persistent: true, distributed: true },
    maxParameters: POSTGRES_MAX_PARAMETERS,
    // Ids and groups sort bytewise ("C"), as the keyset and the other stores compare them.
    types: { key: sql`text collate "C"`, json: 'jsonb', timestamp: 'timestamptz', float: 'double precision' },
    eventColumnArrayTypes: EVENT_ARRAY_TYPES,
    encodeJson,
    decodeJson,
    encodeText,
    decodeText,
    decodeTime,
    write: (fn) => fn(),
    writeTransaction: <T>(db: Kysely<StoreTables>, fn: (trx: Kysely<StoreTables>) => Promise<T>) => db.transaction().execute(fn),
    async beginMigration(trx) {
      // Serialises concurrent migrations of this schema and prefix across processes; released
      // with the transaction, so a crashed migrator cannot leave it held.
      await sql`select pg_advisory_xact_lock(hashtext(${'procur-event-store'}), hashtext(${`${schema}.${prefix}`}))`.execute(trx);
      const exists = await sql<{ one: number }>`select 1 as one from pg_namespace where nspname = ${schema}`.execute(trx);
      // Checked first: CREATE SCHEMA needs the CREATE privilege on the database even when the schema exists.
      if (exists.rows.length === 0) await trx.schema.createSchema(schema).ifNotExists().execute();
    },
    async percentiles(db, since) {
      const row = await db
        .selectFrom('event_processing as p')
        .innerJoin('events as e', 'e.id', 'p.event_id')
        .where('e.occurred_at', '>=', since)
        .where('p.outcome', '=', 'processed')
        .where('p.duration_ms', 'is not', null)
        .select([
          sql<number | null>`percentile_cont(0.5) within group (order by ${sql.ref('p.duration_ms')})`.as('p50'),
          sql<number | null>`percentile_cont(0.95) within group (order by ${sql.ref('p.duration_ms')})`.as('p95'),
        ])
        .executeTakeFirst();
      return { p50: Number(row?.p50 ?? 0), p95: Number(row?.p95 ?? 0) };
    },
    acceptsClientTransactions: true,
    connectionHint: hint,
  };
}

/**
 * Creates an event store in PostgreSQL (pg, an optional peer loaded on first use). Tables live
 * in `schema` (created when missing) with `tablePrefix`; JSON is stored as `jsonb`, times as
 * `timestamptz`. Migrations run on first use, once per process, under an advisory lock, so any
 * number of processes can start at once. Aggregates and percentiles (`percentile_cont`) are
 * computed by the database.
 *
 * A server that stops, restarts or resets connections never crashes the process: the failing
 * calls reject with `StoreError`, broken clients are dropped and the pool reconnects when the
 * server is back. A call that outlives `timeoutMs` (a frozen server) rejects with `StoreError`.
 * NUL characters, which `jsonb` and `text` refuse, round trip through a reversible encoding
 * ({@link POSTGRES_JSON_WRAPPER_KEY}; see docs/stores.md).
 *
 * `append(events, { transaction })` (and `publisher.publish(input, { transaction })`) takes your
 * own kysely `Transaction` (or `Kysely` instance) or a pg client after `BEGIN`, and writes the
 * events in it: they commit, and then wait in the outbox, only if your transaction commits. A pg
 * `Pool` or a client outside a transaction is refused with `EventValidationError`.
 *
 * @throws `ConfigError` when no `pool`, `connectionString`, `PROCUR_EVENT_DATABASE_URL` or
 *   `DATABASE_URL` is given, or `schema` / `tablePrefix` is not a plain identifier.
 * @throws `MissingPeerError` (on first use) when pg is not installed.
 * @example
 * ```ts
 * import { postgresStore } from '@procur/event-bus/postgres';
 * const store = postgresStore({ connectionString: process.env.DATABASE_URL, schema: 'events' });
 * ```
 */
export function postgresStore(options: PostgresStoreOptions = {}): EventStore {
  const schema = options.schema ?? DEFAULT_POSTGRES_SCHEMA;
  const prefix = options.tablePrefix ?? DEFAULT_TABLE_PREFIX;
  const userPool = options.pool;
  let hint = "Check the pool's connection settings.";
  let dialect: PostgresDialect;
  const timeoutMs = loadSetting('storeTimeoutMs', process.env, options.timeoutMs, 'postgresStore({ timeoutMs })');
  if (userPool) {
    // The user's pool stays open when the store closes.
    dialect = new PostgresDialect({ pool: guardedPool(() => userPool.connect(), async () => undefined) });
  } else {
    let connectionString = options.connectionString;
    let source = 'connectionString';
    for (const variable of POSTGRES_URL_VARIABLES) {
      if (connectionString) break;
      connectionString = process.env[variable] || undefined;
      source = variable;
    }
    if (!connectionString) {
      throw new ConfigError(
        'PROCUR_EVENT_DATABASE_URL',
        'no Postgres connection: pass connectionString or pool to postgresStore(), or set PROCUR_EVENT_DATABASE_URL (or DATABASE_URL).',
      );
    }
    hint = source === 'connectionString' ? 'Check the connectionString given to postgresStore().' : `Check ${source}.`;
    const url = connectionString;
    const max = options.poolSize ?? DEFAULT_POSTGRES_POOL_SIZE;
    dialect = new PostgresDialect({
      pool: async () => {
        const pg = await loadPg();
        // connectionTimeoutMillis: a frozen server accepts TCP but never answers the startup.
        const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: timeoutMs });
        // An idle client that loses its connection emits 'error' on the pool; unhandled it would
        // crash the process. The next query reports the problem instead.
        pool.on('error', ignore);
        return guardedPool(() => pool.connect(), () => pool.end());
      },
    });
  }
  return createSqlStore(postgresStrategy(schema, prefix, hint), {
    dialect,
    schema,
    tablePrefix: prefix,
    clock: options.clock,
    timeoutMs,
  });
}
