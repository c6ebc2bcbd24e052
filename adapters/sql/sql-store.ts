/**
 * The one kysely implementation of the {@link EventStore} contract behind `sqliteStore` and
 * `postgresStore`. Dialect differences live in a {@link SqlDialectStrategy}.
 *
 * @module
 */

import { Kysely, type Dialect, type Expression, type Selectable, type SqlBool } from 'kysely';
import {
  ClosedError,
  ConfigError,
  Lifecycle,
  StoreError,
  isEventBusError,
  isoNow,
  systemClock,
  toError,
  type Clock,
  type EventPage,
  type EventPriority,
  type EventStore,
  type ProcessingOutcome,
  type ProcessingRecord,
  type SignalOptions,
  type StoredEvent,
  type StoreStats,
} from '@procur/event-bus';
import type { SqlDialectStrategy } from './dialect.js';
import { MIGRATIONS, SCHEMA_VERSION, TableNamesPlugin, type EventsTable, type ProcessingTable, type StoreTables } from './schema.js';
import {
  DEFAULT_CLEANUP_BATCH_SIZE,
  DEFAULT_LIMIT,
  checkEvents,
  checkLimit,
  checkRecords,
  checkTime,
  decodeCursor,
  encodeCursor,
  invalid,
} from './validation.js';

/** The table prefix when none is given. */
export const DEFAULT_TABLE_PREFIX = 'procur_';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Columns of one events row, to size insert chunks under the parameter limit. */
const EVENT_COLUMNS = 14;
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
}

/** Removes credentials that a driver message might echo (`scheme://user:secret@host`). */
export function redactSecrets(message: string): string {
  return message.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]*:)[^@\s]*@/gi, '$1***@').replace(/(password=)[^\s&]+/gi, '$1***');
}

function raceSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Marks an error of the lazy migration, so the failing call can say so. */
class MigrationFailure {
  constructor(readonly cause: unknown) {}
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
  const name = strategy.name;
  const what = `${name} store`;
  const life = new Lifecycle(what);
  const db = new Kysely<StoreTables>({ dialect: options.dialect, plugins: [new TableNamesPlugin(prefix, options.schema)] });
  let migrated: Promise<void> | undefined;

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

  async function run<T>(op: string, opts: SignalOptions | undefined, fn: () => Promise<T>): Promise<T> {
    const signal = opts?.signal;
    if (signal?.aborted) throw signal.reason;
    try {
      return await raceSignal(
        (async () => {
          await ensureMigrated();
          return fn();
        })(),
        signal,
      );
    } catch (err) {
      if (signal?.aborted && err === signal.reason) throw err;
      if (err instanceof MigrationFailure) throw wrap(op, err.cause, op === 'migrate' ? '' : ' while migrating the schema');
      throw wrap(op, err);
    }
  }

  function toStored(r: Selectable<EventsTable>): StoredEvent {
    const e: StoredEvent = {
      id: r.id,
      type: r.type,
      data: strategy.decodeJson(r.data),
      priority: r.priority as EventPriority,
      correlationId: r.correlation_id,
      occurredAt: strategy.decodeTime(r.occurred_at),
      version: Number(r.version),
      storedAt: strategy.decodeTime(r.stored_at),
      publishedAt: r.published_at === null || r.published_at === undefined ? null : strategy.decodeTime(r.published_at),
    };
    if (r.causation_id !== null) e.causationId = r.causation_id;
    if (r.user_id !== null) e.userId = r.user_id;
    if (r.organization_id !== null) e.organizationId = r.organization_id;
    if (r.source !== null) e.source = r.source;
    if (r.metadata !== null && r.metadata !== undefined) e.metadata = strategy.decodeJson(r.metadata) as Record<string, unknown>;
    return e;
  }

  function toRecord(r: Selectable<ProcessingTable>): ProcessingRecord {
    const rec: ProcessingRecord = {
      eventId: r.event_id,
      group: r.group_name,
      outcome: r.outcome as ProcessingOutcome,
      attempt: Number(r.attempt),
      at: strategy.decodeTime(r.at),
    };
    if (r.error !== null) rec.error = r.error;
    if (r.duration_ms !== null) rec.durationMs = Number(r.duration_ms);
    return rec;
  }

  const store: EventStore = {
    name,
    features: Object.freeze({ ...strategy.features }),

    async migrate(opts) {
      life.assertOpen();
      await run('migrate', opts, async () => {});
    },

    async append(events, opts) {
      life.assertOpen();
      const checked = checkEvents(events);
      if (checked.length === 0) return run('append', opts, async () => {});
      const now = isoNow(clock);
      const publishedAt = opts?.published ? now : null;
      const rows = checked.map(({ event: e, occurredAt, data, metadata }) => ({
        id: e.id,
        type: e.type,
        data: strategy.encodeJson(data),
        priority: e.priority,
        correlation_id: e.correlationId,
        causation_id: e.causationId ?? null,
        user_id: e.userId ?? null,
        organization_id: e.organizationId ?? null,
        source: e.source ?? null,
        occurred_at: occurredAt,
        version: e.version,
        metadata: metadata === null ? null : strategy.encodeJson(metadata),
        stored_at: now,
        published_at: publishedAt,
      }));
      const chunks = chunk(rows, Math.floor(strategy.maxParameters / EVENT_COLUMNS));
      const insert = (q: Kysely<StoreTables>, values: typeof rows) =>
        q.insertInto('events').values(values).onConflict((oc) => oc.column('id').doNothing()).execute();
      await run('append', opts, async () => {
        if (chunks.length === 1) await strategy.write(() => insert(db, chunks[0]!));
        else {
          await strategy.writeTransaction(db, async (trx) => {
            for (const c of chunks) await insert(trx, c);
          });
        }
      });
    },

    async markPublished(ids, opts) {
      life.assertOpen();
      if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string')) invalid('markPublished', [{ path: 'ids', message: 'must be an array of strings' }]);
      const unique = [...new Set(ids)];
      await run('markPublished', opts, async () => {
        if (unique.length === 0) return;
        const now = isoNow(clock);
        const update = (q: Kysely<StoreTables>, part: string[]) =>
          q.updateTable('events').set({ published_at: now }).where('id', 'in', part).where('published_at', 'is', null).execute();
        const parts = chunk(unique, strategy.maxParameters - 1);
        if (parts.length === 1) await strategy.write(() => update(db, parts[0]!));
        else await strategy.writeTransaction(db, async (trx) => { for (const p of parts) await update(trx, p); });
      });
    },

    async unpublished(opts) {
      life.assertOpen();
      const limit = checkLimit('unpublished', opts?.limit, DEFAULT_LIMIT);
      return run('unpublished', opts, async () => {
        const rows = await db
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
        await strategy.writeTransaction(db, async (trx) => {
          // Records of events the store does not hold are ignored (the contract), so filter first.
          const eventIds = [...new Set(checked.map((r) => r.eventId))];
          const known = new Set<string>();
          for (const part of chunk(eventIds, strategy.maxParameters)) {
            const found = await trx.selectFrom('events').select('id').where('id', 'in', part).execute();
            for (const f of found) known.add(f.id);
          }
          const rows = checked
            .filter((r) => known.has(r.eventId))
            .map((r) => ({
              event_id: r.eventId,
              group_name: r.group,
              outcome: r.outcome,
              attempt: r.attempt,
              error: r.error === undefined || r.error === null ? null : String(r.error),
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
        const rows = await db.selectFrom('event_processing').selectAll().where('event_id', '=', eventId).execute();
        return rows.map(toRecord).sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
      });
    },

    async getEvent(id, opts) {
      life.assertOpen();
      return run('getEvent', opts, async () => {
        const row = await db.selectFrom('events').selectAll().where('id', '=', id).executeTakeFirst();
        return row ? toStored(row) : undefined;
      });
    },

    async query(q, opts) {
      life.assertOpen();
      if (typeof q !== 'object' || q === null) invalid('query', [{ path: '', message: 'must be a query object' }]);
      const limit = checkLimit('query', q.limit, DEFAULT_LIMIT);
      const since = q.since === undefined ? undefined : checkTime('query', q.since, 'since');
      const until = q.until === undefined ? undefined : checkTime('query', q.until, 'until');
      const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
      const order = q.order ?? 'asc';
      if (order !== 'asc' && order !== 'desc') invalid('query', [{ path: 'order', message: "must be 'asc' or 'desc'" }]);
      const types = q.type === undefined ? undefined : typeof q.type === 'string' ? [q.type] : [...new Set(q.type)];
      return run('query', opts, async (): Promise<EventPage> => {
        if (types !== undefined && types.length === 0) return { events: [], nextCursor: undefined };
        let sel = db.selectFrom('events').selectAll();
        if (types !== undefined) sel = types.length === 1 ? sel.where('type', '=', types[0]!) : sel.where('type', 'in', types);
        if (q.correlationId !== undefined) sel = sel.where('correlation_id', '=', q.correlationId);
        if (q.userId !== undefined) sel = sel.where('user_id', '=', q.userId);
        if (q.organizationId !== undefined) sel = sel.where('organization_id', '=', q.organizationId);
        if (since !== undefined) sel = sel.where('occurred_at', '>=', since);
        if (until !== undefined) sel = sel.where('occurred_at', '<', until);
        if (cursor) {
          sel = sel.where((eb) =>
            eb(eb.refTuple('occurred_at', 'id'), order === 'asc' ? '>' : '<', eb.tuple(cursor.occurredAt, cursor.id)),
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
      if (group !== undefined && typeof group !== 'string') invalid('unprocessed', [{ path: 'group', message: 'must be a string' }]);
      return run('unprocessed', opts, async () => {
        const rows = await db
          .selectFrom('events as e')
          .selectAll('e')
          .where((eb) => {
            let done = eb
              .selectFrom('event_processing as p')
              .select(eb.lit(1).as('one'))
              .whereRef('p.event_id', '=', 'e.id')
              .where('p.outcome', '=', 'processed');
            if (group !== undefined) done = done.where('p.group_name', '=', group);
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
        const byType: Record<string, number> = {};
        for (const t of types) byType[t.type] = count(t.n);
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
          const { selected, deleted } = await strategy.writeTransaction(db, async (trx) => {
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
            const res = await trx.deleteFrom('events').where('id', 'in', ids).executeTakeFirst();
            return { selected: ids.length, deleted: Number(res.numDeletedRows) };
          });
          total += deleted;
          if (selected < batchSize) break;
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
