/**
 * The one kysely implementation of the {@link EventStore} contract behind `sqliteStore` and
 * `postgresStore`. Dialect differences live in a {@link SqlDialectStrategy}.
 *
 * @module
 */

import { AsyncLocalStorage } from 'node:async_hooks';
import { CompiledQuery, Kysely, sql, type Dialect, type Expression, type ExpressionBuilder, type Selectable, type SqlBool } from 'kysely';
import { ClosedError, ConfigError, StoreError, isEventBusError, loadSetting, systemClock, toError, type Clock, type EventPage, type EventPriority, type AppendOptions, type EventStore, type ProcessingOutcome, type ProcessingRecord, type SignalOptions, type StoredEvent, type StoreStats } from '@procur/event-bus';
import { Lifecycle, isoNow, storeValidation } from '@procur/event-bus/adapter-kit';
import type { SqlDialectStrategy } from './dialect.js';
import { MIGRATIONS, SCHEMA_VERSION, TableNamesPlugin, type EventsTable, type ProcessingTable, type StoreTables } from './schema.js';
// Shared with the memory store, so every store refuses the same input the same way.
const {
  DEFAULT_CLEANUP_BATCH_SIZE,
  DEFAULT_LIMIT,
  checkEvents,
  checkGroup,
  checkHandleOnce,
  checkIds,
  checkLimit,
  checkQuery,
  checkRecords,
  checkTime,
  encodeCursor,
  invalid,
} = storeValidation;

/** The table prefix when none is given. */
export const DEFAULT_TABLE_PREFIX = 'procur_';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** One events row as `append` writes it; {@link EVENT_ROW_KEYS} is its column order. */
interface EventRow {
  id: string;
  type: string;
  data: string;
  priority: string;
  correlation_id: string;
  causation_id: string | null;
  user_id: string | null;
  organization_id: string | null;
  source: string | null;
  occurred_at: string;
  version: number;
  metadata: string | null;
  stored_at: string;
  published_at: string | null;
}
const EVENT_ROW_KEYS: ReadonlyArray<keyof EventRow> = [
  'id', 'type', 'data', 'priority', 'correlation_id', 'causation_id', 'user_id', 'organization_id',
  'source', 'occurred_at', 'version', 'metadata', 'stored_at', 'published_at',
];
/** Columns of one events row, to size insert chunks under the parameter limit. */
const EVENT_COLUMNS = EVENT_ROW_KEYS.length;
const PROCESSING_COLUMNS = 7;

/** Options of {@link createSqlStore}. */
export interface SqlStoreOptions {
  /** The kysely dialect, connected lazily (the driver is created on first query). */
  dialect: Dialect;
  /** Prefix of the table and index names (letters, digits, `_`; at most 32). @default 'procur_' */
  tablePrefix?: string;
  /** The schema (namespace) of the tables, for databases that have them (Postgres). */
  schema?: string;
  /** The source of `storedAt` / `publishedAt` times. @default systemClock */
  clock?: Clock;
  /**
   * The longest one call may take before it rejects with `StoreError`, in ms (`handleOnce`, which
   * runs the application's handler, and `cleanup`, which works in batches, are not bounded).
   * @default `storeTimeoutMs` (`PROCUR_EVENT_STORE_TIMEOUT_MS`, else 10000)
   */
  timeoutMs?: number;
}

/** Removes credentials that a driver message might echo (`scheme://user:secret@host`). */
export function redactSecrets(message: string): string {
  return message.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]*:)[^@\s]*@/gi, '$1***@').replace(/(password=)[^\s&]+/gi, '$1***');
}

/** Marks a call that outlived the store's `timeoutMs`. */
class TimedOut {}

/**
 * Settles with `promise`, or rejects with `signal.reason` when the signal aborts, or with a
 * {@link TimedOut} after `timeoutMs` (when given). The work itself goes on (a driver call cannot
 * be taken back); its late outcome is dropped.
 */
function race<T>(promise: Promise<T>, signal: AbortSignal | undefined, timeoutMs: number | undefined): Promise<T> {
  if (!signal && timeoutMs === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => finish(() => reject(signal!.reason));
    const finish = (settle: () => void) => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      settle();
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs !== undefined) timer = setTimeout(() => finish(() => reject(new TimedOut())), timeoutMs);
    promise.then(
      (v) => finish(() => resolve(v)),
      (e: unknown) => finish(() => reject(e)),
    );
  });
}

/** Marks an error of the lazy migration, so the failing call can say so. */
class MigrationFailure {
  constructor(readonly cause: unknown) {}
}

/** Carries an error thrown by `handleOnce`'s callback through the store's error wrapping, unchanged. */
class CallbackFailure {
  constructor(readonly error: unknown) {}
}

/**
 * The transaction a `handleOnce` callback runs in. The store's own calls made inside the callback
 * join it: with one connection (SQLite) or a full pool (Postgres), a second connection could wait
 * forever for the one the callback holds.
 */
interface Scope {
  readonly trx: Kysely<StoreTables>;
  open: boolean;
}

/** Runs a compiled statement through the application's transaction handle. */
type HandleExecutor = (query: CompiledQuery) => Promise<unknown>;

/**
 * Turns `append`'s `transaction` option into something that runs our compiled statements on it.
 * A kysely instance (or `Transaction`) runs them through its executor, so its plugins and table
 * types do not matter; a pg client (when the dialect accepts clients) through `query(text, values)`.
 */
function handleExecutor(handle: unknown, acceptsClients: boolean, name: string): HandleExecutor {
  const accepted = acceptsClients
    ? 'a kysely Transaction (or Kysely instance) or a pg client inside BEGIN'
    : 'a kysely Transaction (or Kysely instance)';
  const reject = (why: string): never =>
    invalid('append', [{ path: 'transaction', message: `${why}. The ${name} store takes ${accepted}.` }]);
  if (typeof handle !== 'object' || handle === null) return reject(`must be a transaction handle, got ${handle === null ? 'null' : typeof handle}`);
  const h = handle as Record<string, unknown>;
  if (typeof h.executeQuery === 'function' && typeof h.getExecutor === 'function') {
    return (query) => (h.executeQuery as (q: CompiledQuery) => Promise<unknown>).call(h, query);
  }
  if (acceptsClients && typeof h.query === 'function') {
    if (typeof h.totalCount === 'number' && typeof h.idleCount === 'number') {
      return reject('is a pg Pool, whose queries each commit on their own: pass the client you ran BEGIN on (`const client = await pool.connect()`)');
    }
    const status = typeof h.getTransactionStatus === 'function' ? (h.getTransactionStatus as () => unknown).call(h) : undefined;
    if (status === 'I') return reject('is a pg client outside a transaction: run BEGIN on it first');
    return (query) => (h.query as (text: string, values: readonly unknown[]) => Promise<unknown>).call(h, query.sql, query.parameters);
  }
  return reject('is not a transaction handle this store can use');
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function count(value: unknown): number {
  return value === null || value === undefined ? 0 : Number(value);
}

/**
 * Creates an event store over a kysely dialect. Implements the whole {@link EventStore}
 * contract in SQL: keyset pagination on (occurred_at, id), idempotent appends
 * (`ON CONFLICT DO NOTHING`, one statement per chunk under the dialect's parameter limit),
 * processing upserts per (event, group), aggregates and percentiles computed by the database,
 * batched cleanup. The schema is migrated on first use (memoised) or by `migrate()`.
 *
 * `append(events, { transaction })` writes through the application's handle: a kysely instance
 * or `Transaction` (its executor runs the statement this store compiled, so the handle's plugins
 * do not matter), or, when the strategy says `acceptsClientTransactions`, a pg client inside
 * `BEGIN`. `handleOnce` records the (event, group) pair and runs its callback in one transaction;
 * the callback gets that transaction without this store's table-name plugin, and this store's own
 * calls made inside the callback join it instead of taking another connection.
 *
 * Driver errors are rethrown as `StoreError` (`ERR_STORE`) naming the store and the operation;
 * credentials in driver messages are masked.
 *
 * @param strategy - the dialect differences ({@link SqlDialectStrategy}).
 * @param options - {@link SqlStoreOptions}.
 * @throws `ConfigError` when `tablePrefix` or `schema` is not a plain identifier.
 * @example
 * ```ts
 * const store = createSqlStore(mySqliteStrategy, { dialect: new SqliteDialect({ database }) });
 * ```
 */
export function createSqlStore(strategy: SqlDialectStrategy, options: SqlStoreOptions): EventStore {
  const prefix = options.tablePrefix ?? DEFAULT_TABLE_PREFIX;
  if (prefix !== '' && (!IDENTIFIER.test(prefix) || prefix.length > 32)) {
    throw new ConfigError('tablePrefix', `must be letters, digits and '_' (at most 32, not starting with a digit), got ${JSON.stringify(prefix)}`);
  }
  if (options.schema !== undefined && (!IDENTIFIER.test(options.schema) || options.schema.length > 63)) {
    throw new ConfigError('schema', `must be letters, digits and '_' (not starting with a digit), got ${JSON.stringify(options.schema)}`);
  }
  const clock = options.clock ?? systemClock;
  const same = (v: string): string => v;
  /** A string for a text column, and back (see SqlDialectStrategy.encodeText). */
  const enc = strategy.encodeText ?? same;
  const dec = strategy.decodeText ?? same;
  const encOpt = (v: string | undefined): string | null => (v === undefined ? null : enc(v));
  const timeoutMs = loadSetting('storeTimeoutMs', process.env, options.timeoutMs, 'timeoutMs');
  const name = strategy.name;
  const what = `${name} store`;
  const life = new Lifecycle(what);
  const db = new Kysely<StoreTables>({ dialect: options.dialect, plugins: [new TableNamesPlugin(prefix, options.schema)] });
  let migrated: Promise<void> | undefined;
  const scope = new AsyncLocalStorage<Scope>();

  /** The transaction of the `handleOnce` callback this call runs in, if any. */
  function scoped(): Kysely<StoreTables> | undefined {
    const s = scope.getStore();
    return s?.open ? s.trx : undefined;
  }
  /** Where reads go: the enclosing `handleOnce` transaction, else the pool / connection. */
  const reader = (): Kysely<StoreTables> => scoped() ?? db;
  /** Runs one writing statement (inside an enclosing `handleOnce` transaction: in it). */
  function write<T>(fn: (q: Kysely<StoreTables>) => Promise<T>): Promise<T> {
    const trx = scoped();
    return trx ? fn(trx) : strategy.write(() => fn(db));
  }
  /** Runs several statements atomically (inside an enclosing `handleOnce` transaction: in it). */
  function writeTransaction<T>(fn: (q: Kysely<StoreTables>) => Promise<T>): Promise<T> {
    const trx = scoped();
    return trx ? fn(trx) : strategy.writeTransaction(db, fn);
  }

  function wrap(op: string, err: unknown, during = ''): unknown {
    if (isEventBusError(err)) return err;
    if (life.closed) return new ClosedError(what);
    const code = (err as { code?: unknown } | null)?.code;
    const connection = typeof code === 'string' && (/^E[A-Z]+$/.test(code) || code.startsWith('08') || code.startsWith('28') || code === '3D000');
    const hint = connection && strategy.connectionHint ? `. ${strategy.connectionHint}` : '';
    return new StoreError(`[event-bus:${name}] ${op} failed${during}: ${redactSecrets(toError(err).message)}${hint}`, { cause: err });
  }

  async function applyMigrations(): Promise<void> {
    await strategy.writeTransaction(db, async (trx) => {
      await strategy.beginMigration(trx);
      await trx.schema
        .createTable('schema_version')
        .ifNotExists()
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('updated_at', strategy.types.timestamp, (c) => c.notNull())
        .execute();
      const row = await trx.selectFrom('schema_version').select('version').where('id', '=', 1).executeTakeFirst();
      const current = row ? Number(row.version) : 0;
      if (current > SCHEMA_VERSION) {
        throw new StoreError(
          `[event-bus:${name}] The database holds event store schema version ${current}, newer than this code (version ${SCHEMA_VERSION}). ` +
            'Upgrade @procur/event-bus in this service, or point it at another database or table prefix.',
        );
      }
      if (current === SCHEMA_VERSION) return;
      for (let v = current; v < SCHEMA_VERSION; v++) await MIGRATIONS[v]!(trx, { prefix, types: strategy.types });
      const now = isoNow(clock);
      await trx
        .insertInto('schema_version')
        .values({ id: 1, version: SCHEMA_VERSION, updated_at: now })
        .onConflict((oc) => oc.column('id').doUpdateSet({ version: SCHEMA_VERSION, updated_at: now }))
        .execute();
    });
  }

  function ensureMigrated(): Promise<void> {
    if (!migrated) {
      const attempt = applyMigrations().catch((err: unknown) => {
        // A failure (server down, newer schema) is not memoised: the next call tries again.
        if (migrated === attempt) migrated = undefined;
        throw new MigrationFailure(err);
      });
      migrated = attempt;
    }
    return migrated;
  }

  function timedOut(op: string): StoreError {
    const unknown =
      op === 'append' || op === 'markPublished' || op === 'recordProcessing'
        ? ' Its writes may still commit when the database answers (append again with the same ids to be sure: appends are idempotent on id).'
        : '';
    const hint = strategy.connectionHint ? ` ${strategy.connectionHint}` : '';
    return new StoreError(
      `[event-bus:${name}] ${op} did not finish within ${timeoutMs} ms (timeoutMs / storeTimeoutMs, PROCUR_EVENT_STORE_TIMEOUT_MS): the database is not answering.${unknown}${hint}`,
    );
  }

  async function run<T>(op: string, opts: SignalOptions | undefined, fn: () => Promise<T>): Promise<T> {
    const signal = opts?.signal;
    if (signal?.aborted) throw signal.reason;
    try {
      return await race(
        (async () => {
          await ensureMigrated();
          return fn();
        })(),
        signal,
        // The application's handler runs inside handleOnce; cleanup works through batches.
        op === 'handleOnce' || op === 'cleanup' ? undefined : timeoutMs,
      );
    } catch (err) {
      if (signal?.aborted && err === signal.reason) throw err;
      if (err instanceof TimedOut) throw life.closed ? new ClosedError(what) : timedOut(op);
      if (err instanceof CallbackFailure) throw err.error;
      if (err instanceof MigrationFailure) throw wrap(op, err.cause, op === 'migrate' ? '' : ' while migrating the schema');
      throw wrap(op, err);
    }
  }

  function toStored(r: Selectable<EventsTable>): StoredEvent {
    const e: StoredEvent = {
      id: dec(r.id),
      type: dec(r.type),
      data: strategy.decodeJson(r.data),
      priority: r.priority as EventPriority,
      correlationId: dec(r.correlation_id),
      occurredAt: strategy.decodeTime(r.occurred_at),
      version: Number(r.version),
      storedAt: strategy.decodeTime(r.stored_at),
      publishedAt: r.published_at === null || r.published_at === undefined ? null : strategy.decodeTime(r.published_at),
    };
    if (r.causation_id !== null) e.causationId = dec(r.causation_id);
    if (r.user_id !== null) e.userId = dec(r.user_id);
    if (r.organization_id !== null) e.organizationId = dec(r.organization_id);
    if (r.source !== null) e.source = dec(r.source);
    if (r.metadata !== null && r.metadata !== undefined) e.metadata = strategy.decodeJson(r.metadata) as Record<string, unknown>;
    return e;
  }

  function toRecord(r: Selectable<ProcessingTable>): ProcessingRecord {
    const rec: ProcessingRecord = {
      eventId: dec(r.event_id),
      group: dec(r.group_name),
      outcome: r.outcome as ProcessingOutcome,
      attempt: Number(r.attempt),
      at: strategy.decodeTime(r.at),
    };
    if (r.error !== null) rec.error = dec(r.error);
    if (r.duration_ms !== null) rec.durationMs = Number(r.duration_ms);
    return rec;
  }

  /**
   * The INSERT of a chunk of event rows. Building and compiling a 500-row statement through
   * kysely (and the table-name plugin) costs about as much as Postgres takes to run it, so the
   * SQL text is compiled once per row count and reused with the new rows' parameters, in the
   * order kysely gave them the first time (checked then; not cached if it differs).
   */
  const insertText = new Map<number, string>();
  const arrayTypes = strategy.eventColumnArrayTypes;
  let unnestText: string | undefined;
  function insertEvents(values: readonly EventRow[]): CompiledQuery {
    if (arrayTypes !== undefined) return insertEventArrays(arrayTypes, values);
    const params: unknown[] = [];
    for (const v of values) for (const k of EVENT_ROW_KEYS) params.push(v[k]);
    const text = insertText.get(values.length);
    if (text !== undefined) return CompiledQuery.raw(text, params);
    const compiled = db
      .insertInto('events')
      .values(values as EventRow[])
      .onConflict((oc) => oc.column('id').doNothing())
      .compile();
    if (compiled.parameters.length === params.length && compiled.parameters.every((p, i) => p === params[i])) {
      if (insertText.size >= 64) insertText.clear();
      insertText.set(values.length, compiled.sql);
    }
    return compiled;
  }

  /**
   * The INSERT of event rows as one array per column (`unnest`): the statement text is the same
   * for every batch size, compiled once through kysely (so the table-name plugin names the table).
   */
  function insertEventArrays(types: Readonly<Record<string, string>>, values: readonly EventRow[]): CompiledQuery {
    const arrays: unknown[][] = EVENT_ROW_KEYS.map(() => new Array<unknown>(values.length));
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      for (let k = 0; k < EVENT_COLUMNS; k++) arrays[k]![i] = v[EVENT_ROW_KEYS[k]!];
    }
    if (unnestText === undefined) {
      const columns = sql.join(EVENT_ROW_KEYS.map((k) => sql.ref(k)));
      const unnest = sql.join(
        EVENT_ROW_KEYS.map((k, i) => {
          const type = types[k];
          if (type === undefined || !/^[a-z ]+$/.test(type)) throw new StoreError(`[event-bus:${name}] no array type for the events column ${k}`);
          return sql`${arrays[i]}::${sql.raw(type)}[]`;
        }),
      );
      unnestText = sql`insert into ${sql.table('events')} (${columns}) select * from unnest(${unnest}) on conflict (${sql.ref('id')}) do nothing`.compile(db).sql;
    }
    return CompiledQuery.raw(unnestText, arrays);
  }

  const store: EventStore = {
    name,
    features: Object.freeze({ ...strategy.features }),

    async migrate(opts) {
      life.assertOpen();
      await run('migrate', opts, async () => {});
    },

    async append(events, opts?: AppendOptions) {
      life.assertOpen();
      const checked = checkEvents(events);
      const through =
        opts?.transaction === undefined ? undefined : handleExecutor(opts.transaction, strategy.acceptsClientTransactions === true, name);
      if (checked.length === 0) return run('append', opts, async () => {});
      const now = isoNow(clock);
      const publishedAt = opts?.published ? now : null;
      const rows = checked.map(({ event: e, occurredAt, data, metadata }): EventRow => ({
        id: enc(e.id),
        type: enc(e.type),
        data: strategy.encodeJson(data),
        priority: e.priority,
        correlation_id: enc(e.correlationId),
        causation_id: encOpt(e.causationId),
        user_id: encOpt(e.userId),
        organization_id: encOpt(e.organizationId),
        source: encOpt(e.source),
        occurred_at: occurredAt,
        version: e.version,
        metadata: metadata === null ? null : strategy.encodeJson(metadata),
        stored_at: now,
        published_at: publishedAt,
      }));
      const chunks = chunk(rows, Math.floor(strategy.maxParameters / EVENT_COLUMNS));
      await run('append', opts, async () => {
        if (through) {
          // The application's transaction: compiled here (our table names), run on its connection.
          for (const c of chunks) await through(insertEvents(c));
        } else if (chunks.length === 1) await write((q) => q.executeQuery(insertEvents(chunks[0]!)));
        else {
          await writeTransaction(async (trx) => {
            for (const c of chunks) await trx.executeQuery(insertEvents(c));
          });
        }
      });
    },

    async handleOnce<T>(eventId: string, group: string, fn: (transaction: unknown) => Promise<T>, opts?: SignalOptions) {
      life.assertOpen();
      checkHandleOnce(eventId, group, fn);
      type Outcome = { handled: true; result: T } | { handled: false };
      return run('handleOnce', opts, () =>
        writeTransaction(async (trx): Promise<Outcome> => {
          // Inserted first: a concurrent call for the same pair (another process too) waits on
          // this row until we commit (then skips) or roll back (then runs fn itself).
          const res = await trx
            .insertInto('handled')
            .values({ event_id: enc(eventId), group_name: enc(group), handled_at: isoNow(clock) })
            .onConflict((oc) => oc.columns(['event_id', 'group_name']).doNothing())
            .executeTakeFirst();
          if (Number(res.numInsertedOrUpdatedRows ?? 0n) === 0) return { handled: false };
          const s: Scope = { trx, open: true };
          try {
            // Without our plugin: the handler's own table names must not be mapped to ours.
            const result = await scope.run(s, () => fn(trx.withoutPlugins()));
            return { handled: true, result };
          } catch (err) {
            throw new CallbackFailure(err);
          } finally {
            s.open = false;
          }
        }),
      );
    },

    async markPublished(ids, opts) {
      life.assertOpen();
      checkIds('markPublished', ids);
      const unique = [...new Set(ids)].map(enc);
      await run('markPublished', opts, async () => {
        if (unique.length === 0) return;
        const now = isoNow(clock);
        const update = (q: Kysely<StoreTables>, part: string[]) =>
          q.updateTable('events').set({ published_at: now }).where('id', 'in', part).where('published_at', 'is', null).execute();
        const parts = chunk(unique, strategy.maxParameters - 1);
        if (parts.length === 1) await write((q) => update(q, parts[0]!));
        else await writeTransaction(async (trx) => { for (const p of parts) await update(trx, p); });
      });
    },

    async unpublished(opts) {
      life.assertOpen();
      const limit = checkLimit('unpublished', opts?.limit, DEFAULT_LIMIT);
      return run('unpublished', opts, async () => {
        const rows = await reader()
          .selectFrom('events')
          .selectAll()
          .where('published_at', 'is', null)
          .orderBy('occurred_at')
          .orderBy('id')
          .limit(limit)
          .execute();
        return rows.map(toStored);
      });
    },

    async recordProcessing(records, opts) {
      life.assertOpen();
      const checked = checkRecords(records);
      await run('recordProcessing', opts, async () => {
        if (checked.length === 0) return;
        await writeTransaction(async (trx) => {
          // Records of events the store does not hold are ignored (the contract), so filter first.
          const eventIds = [...new Set(checked.map((r) => enc(r.eventId)))];
          const known = new Set<string>();
          for (const part of chunk(eventIds, strategy.maxParameters)) {
            const found = await trx.selectFrom('events').select('id').where('id', 'in', part).execute();
            for (const f of found) known.add(f.id);
          }
          const rows = checked
            .filter((r) => known.has(enc(r.eventId)))
            .map((r) => ({
              event_id: enc(r.eventId),
              group_name: enc(r.group),
              outcome: r.outcome,
              attempt: r.attempt,
              error: r.error === undefined || r.error === null ? null : enc(String(r.error)),
              duration_ms: r.durationMs === undefined || r.durationMs === null ? null : r.durationMs,
              at: r.at,
            }));
          for (const part of chunk(rows, Math.floor(strategy.maxParameters / PROCESSING_COLUMNS))) {
            await trx
              .insertInto('event_processing')
              .values(part)
              .onConflict((oc) =>
                oc.columns(['event_id', 'group_name']).doUpdateSet((eb) => ({
                  outcome: eb.ref('excluded.outcome'),
                  attempt: eb.ref('excluded.attempt'),
                  error: eb.ref('excluded.error'),
                  duration_ms: eb.ref('excluded.duration_ms'),
                  at: eb.ref('excluded.at'),
                })),
              )
              .execute();
          }
        });
      });
    },

    async processingOf(eventId, opts) {
      life.assertOpen();
      return run('processingOf', opts, async () => {
        const rows = await reader().selectFrom('event_processing').selectAll().where('event_id', '=', enc(eventId)).execute();
        return rows.map(toRecord).sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
      });
    },

    async getEvent(id, opts) {
      life.assertOpen();
      return run('getEvent', opts, async () => {
        const row = await reader().selectFrom('events').selectAll().where('id', '=', enc(id)).executeTakeFirst();
        return row ? toStored(row) : undefined;
      });
    },

    async query(q, opts) {
      life.assertOpen();
      const { limit, since, until, cursor, order, types } = checkQuery(q);
      return run('query', opts, async (): Promise<EventPage> => {
        if (types !== undefined && types.length === 0) return { events: [], nextCursor: undefined };
        let sel = reader().selectFrom('events').selectAll();
        if (types !== undefined) sel = types.length === 1 ? sel.where('type', '=', enc(types[0]!)) : sel.where('type', 'in', types.map(enc));
        if (q.correlationId !== undefined) sel = sel.where('correlation_id', '=', enc(q.correlationId));
        if (q.userId !== undefined) sel = sel.where('user_id', '=', enc(q.userId));
        if (q.organizationId !== undefined) sel = sel.where('organization_id', '=', enc(q.organizationId));
        if (since !== undefined) sel = sel.where('occurred_at', '>=', since);
        if (until !== undefined) sel = sel.where('occurred_at', '<', until);
        if (cursor) {
          sel = sel.where((eb) =>
            eb(eb.refTuple('occurred_at', 'id'), order === 'asc' ? '>' : '<', eb.tuple(cursor.occurredAt, enc(cursor.id))),
          );
        }
        const rows = await sel.orderBy('occurred_at', order).orderBy('id', order).limit(limit + 1).execute();
        const more = rows.length > limit;
        const events = (more ? rows.slice(0, limit) : rows).map(toStored);
        const last = events[events.length - 1];
        return { events, nextCursor: more && last ? encodeCursor(last.occurredAt, last.id) : undefined };
      });
    },

    async unprocessed(opts) {
      life.assertOpen();
      const limit = checkLimit('unprocessed', opts?.limit, DEFAULT_LIMIT);
      const group = opts?.group;
      checkGroup('unprocessed', group);
      return run('unprocessed', opts, async () => {
        const rows = await reader()
          .selectFrom('events as e')
          .selectAll('e')
          .where((eb) => {
            let done = eb
              .selectFrom('event_processing as p')
              .select(eb.lit(1).as('one'))
              .whereRef('p.event_id', '=', 'e.id')
              .where('p.outcome', '=', 'processed');
            if (group !== undefined) done = done.where('p.group_name', '=', enc(group));
            return eb.not(eb.exists(done));
          })
          .orderBy('e.occurred_at')
          .orderBy('e.id')
          .limit(limit)
          .execute();
        return rows.map(toStored);
      });
    },

    async stats(opts) {
      life.assertOpen();
      const since = checkTime('stats', opts?.since, 'since');
      return run('stats', opts, async (): Promise<StoreStats> => {
        const db = reader();
        const totals = await db
          .selectFrom('events as e')
          .where('e.occurred_at', '>=', since)
          .select((eb) => {
            const hasRecord = (outcomes?: string[]) => {
              let q = eb.selectFrom('event_processing as p').select(eb.lit(1).as('one')).whereRef('p.event_id', '=', 'e.id');
              if (outcomes) q = q.where('p.outcome', 'in', outcomes);
              return eb.exists(q);
            };
            const countIf = (cond: Expression<SqlBool>) =>
              eb.fn.sum<string | number | null>(eb.case().when(cond).then(eb.lit(1)).else(eb.lit(0)).end());
            return [
              eb.fn.countAll<string | number>().as('total'),
              countIf(eb('e.published_at', 'is', null)).as('unpublished'),
              countIf(hasRecord(['processed'])).as('processed'),
              countIf(hasRecord(['failed', 'dead-lettered'])).as('failed'),
              countIf(eb.not(hasRecord())).as('unprocessed'),
            ];
          })
          .executeTakeFirstOrThrow();
        const types = await db
          .selectFrom('events')
          .select((eb) => ['type', eb.fn.countAll<string | number>().as('n')])
          .where('occurred_at', '>=', since)
          .groupBy('type')
          .execute();
        const { p50, p95 } = await strategy.percentiles(db, since);
        // Null-prototype: a type named 'toString', 'constructor' or '__proto__' is an ordinary key.
        const byType = Object.create(null) as Record<string, number>;
        for (const t of types) byType[dec(t.type)] = count(t.n);
        return {
          totalEvents: count(totals.total),
          processedEvents: count(totals.processed),
          failedEvents: count(totals.failed),
          unprocessedEvents: count(totals.unprocessed),
          unpublishedEvents: count(totals.unpublished),
          byType,
          p50Ms: p50,
          p95Ms: p95,
        };
      });
    },

    async cleanup(opts) {
      life.assertOpen();
      const before = checkTime('cleanup', opts?.before, 'before');
      const batchSize = checkLimit('cleanup', opts?.batchSize, DEFAULT_CLEANUP_BATCH_SIZE, 'batchSize');
      return run('cleanup', opts, async () => {
        let total = 0;
        for (;;) {
          if (opts?.signal?.aborted || life.closed) break;
          // One short transaction per batch: the ids are read once, so the two deletes agree.
          const { selected, deleted } = await writeTransaction(async (trx) => {
            const ids = (
              await trx
                .selectFrom('events')
                .select('id')
                .where('occurred_at', '<', before)
                .orderBy('occurred_at')
                .orderBy('id')
                .limit(batchSize)
                .execute()
            ).map((r) => r.id);
            if (ids.length === 0) return { selected: 0, deleted: 0 };
            await trx.deleteFrom('event_processing').where('event_id', 'in', ids).execute();
            await trx.deleteFrom('handled').where('event_id', 'in', ids).execute();
            const res = await trx.deleteFrom('events').where('id', 'in', ids).executeTakeFirst();
            return { selected: ids.length, deleted: Number(res.numDeletedRows) };
          });
          total += deleted;
          if (selected < batchSize) break;
        }
        // Handled pairs of events the store does not hold (or no longer holds), past retention.
        for (;;) {
          if (opts?.signal?.aborted || life.closed) break;
          const orphan = (eb: ExpressionBuilder<StoreTables, 'handled'>) =>
            eb.and([
              eb('handled.handled_at', '<', before),
              eb.not(eb.exists(eb.selectFrom('events as e').select(eb.lit(1).as('one')).whereRef('e.id', '=', 'handled.event_id'))),
            ]);
          // One statement per batch; every group of a selected event that qualifies goes with it.
          const res = await write((q) =>
            q
              .deleteFrom('handled')
              .where((eb) => eb('handled.event_id', 'in', eb.selectFrom('handled').select('handled.event_id').where(orphan).limit(batchSize)))
              .where(orphan)
              .executeTakeFirst(),
          );
          const removed = Number(res.numDeletedRows);
          if (removed < batchSize) break;
        }
        return total;
      });
    },

    close() {
      return life.close(async () => {
        await migrated?.catch(() => {});
        await db.destroy();
      });
    },
  };
  return store;
}
