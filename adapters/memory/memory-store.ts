/**
 * The in-process {@link EventStore}: zero infrastructure, used by default and in tests and
 * benchmarks. Nothing survives the process.
 *
 * @module
 */

import { isoNow, systemClock, type Clock } from '../../src/clock.js';
import type { EventQuery, EventStore, ProcessingRecord, StoredEvent, StoreStats } from '../../src/contracts/store.js';
import type { SignalOptions } from '../../src/contracts/transport.js';
import type { EventPriority } from '../../src/events/envelope.js';
import { Lifecycle, throwIfAborted } from '../../src/lifecycle.js';
import { recordOf } from '../../src/records.js';
import {
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
  percentileOfSorted,
  type CheckedQuery,
} from '../../src/store-validation.js';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /** The source of `storedAt` / `publishedAt` times. @default systemClock */
  clock?: Clock;
}

/** One stored event; payloads are kept as JSON text so reads hand out fresh copies. */
interface Row {
  id: string;
  type: string;
  dataJson: string;
  priority: EventPriority;
  correlationId: string;
  causationId: string | undefined;
  userId: string | undefined;
  organizationId: string | undefined;
  source: string | undefined;
  occurredAt: string;
  version: number;
  metadataJson: string | undefined;
  storedAt: string;
  publishedAt: string | null;
}

/** Orders rows by (occurredAt, id); ISO strings of `toISOString` sort as text. */
function compareRows(a: Row, b: Row): number {
  return compareKey(a.occurredAt, a.id, b.occurredAt, b.id);
}

function compareKey(aTime: string, aId: string, bTime: string, bId: string): number {
  if (aTime !== bTime) return aTime < bTime ? -1 : 1;
  if (aId === bId) return 0;
  return aId < bId ? -1 : 1;
}

/** An index entry: rows of one key, sorted lazily (appends usually arrive in order). */
class Bucket {
  rows: Row[] = [];
  private sorted = true;

  push(row: Row): void {
    const last = this.rows[this.rows.length - 1];
    if (this.sorted && last !== undefined && compareRows(last, row) > 0) this.sorted = false;
    this.rows.push(row);
  }

  view(): Row[] {
    if (!this.sorted) {
      this.rows.sort(compareRows);
      this.sorted = true;
    }
    return this.rows;
  }

  remove(ids: ReadonlySet<string>): void {
    this.rows = this.rows.filter((r) => !ids.has(r.id));
  }
}

/** First index whose row sorts after (time, id) (`inclusive`: at or after). */
function lowerBound(rows: readonly Row[], time: string, id: string, inclusive: boolean): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const r = rows[mid]!;
    const c = compareKey(r.occurredAt, r.id, time, id);
    if (c < 0 || (c === 0 && !inclusive)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function toStored(r: Row): StoredEvent {
  const e: StoredEvent = {
    id: r.id,
    type: r.type,
    data: JSON.parse(r.dataJson) as unknown,
    priority: r.priority,
    correlationId: r.correlationId,
    occurredAt: r.occurredAt,
    version: r.version,
    storedAt: r.storedAt,
    publishedAt: r.publishedAt,
  };
  if (r.causationId !== undefined) e.causationId = r.causationId;
  if (r.userId !== undefined) e.userId = r.userId;
  if (r.organizationId !== undefined) e.organizationId = r.organizationId;
  if (r.source !== undefined) e.source = r.source;
  if (r.metadataJson !== undefined) e.metadata = JSON.parse(r.metadataJson) as Record<string, unknown>;
  return e;
}

function addTo(map: Map<string, Bucket>, key: string | undefined, row: Row): void {
  if (key === undefined) return;
  let b = map.get(key);
  if (!b) map.set(key, (b = new Bucket()));
  b.push(row);
}

/**
 * Creates an in-process event store. It implements the whole {@link EventStore} contract, keeps
 * every event in memory (indexed by id, correlation id, type, user and organisation) and loses
 * them when the process exits (`features.persistent` is `false`). Payloads are copied through
 * JSON on the way in and out, exactly as the SQL stores do, so a test passing against it passes
 * against them.
 *
 * @param options - {@link MemoryStoreOptions}; `clock` drives `storedAt` and `publishedAt`.
 * @example
 * ```ts
 * const store = memoryStore();
 * await store.append([event]);
 * const { events } = await store.query({ correlationId: event.correlationId });
 * ```
 */
export function memoryStore(options: MemoryStoreOptions = {}): EventStore {
  const clock = options.clock ?? systemClock;
  const life = new Lifecycle('memory store');

  const byId = new Map<string, Row>();
  const all = new Bucket();
  const byType = new Map<string, Bucket>();
  const byCorrelation = new Map<string, Bucket>();
  const byUser = new Map<string, Bucket>();
  const byOrg = new Map<string, Bucket>();
  const outbox = new Map<string, Row>();
  const processing = new Map<string, Map<string, ProcessingRecord>>();
  /** Pairs recorded by `handleOnce`: event id -> group -> when. */
  const handled = new Map<string, Map<string, string>>();
  /** `handleOnce` calls running now, by pair: later calls for the pair wait for them. */
  const handling = new Map<string, Promise<void>>();

  function enter(options: SignalOptions | undefined): void {
    life.assertOpen();
    throwIfAborted(options?.signal);
  }

  /** Rows matching every filter of `q` except time and cursor, sorted by (occurredAt, id). */
  function candidates(q: EventQuery, types: readonly string[] | undefined): Row[] {
    const lists: Row[][] = [];
    if (q.correlationId !== undefined) lists.push(byCorrelation.get(q.correlationId)?.view() ?? []);
    if (q.userId !== undefined) lists.push(byUser.get(q.userId)?.view() ?? []);
    if (q.organizationId !== undefined) lists.push(byOrg.get(q.organizationId)?.view() ?? []);
    if (types !== undefined) {
      if (types.length === 1) lists.push(byType.get(types[0]!)?.view() ?? []);
      else lists.push(types.flatMap((t) => byType.get(t)?.view() ?? []).sort(compareRows));
    }
    if (lists.length === 0) return all.view();
    lists.sort((a, b) => a.length - b.length);
    return lists[0]!;
  }

  function matches(r: Row, q: EventQuery, types: ReadonlySet<string> | undefined): boolean {
    return (
      (types === undefined || types.has(r.type)) &&
      (q.correlationId === undefined || r.correlationId === q.correlationId) &&
      (q.userId === undefined || r.userId === q.userId) &&
      (q.organizationId === undefined || r.organizationId === q.organizationId)
    );
  }

  const store: EventStore = {
    name: 'memory',
    features: Object.freeze({ persistent: false, distributed: false }),

    async migrate(opts) {
      enter(opts);
    },

    async append(events, opts) {
      enter(opts);
      if (opts?.transaction !== undefined) {
        invalid('append', [
          {
            path: 'transaction',
            message: 'the memory store has no transactions. Publish without `transaction`, or use postgresStore() or sqliteStore() to write events in your own transaction.',
          },
        ]);
      }
      const checked = checkEvents(events);
      const now = isoNow(clock);
      const publishedAt = opts?.published ? now : null;
      for (const c of checked) {
        const e = c.event;
        if (byId.has(e.id)) continue;
        const row: Row = {
          id: e.id,
          type: e.type,
          dataJson: c.data,
          priority: e.priority,
          correlationId: e.correlationId,
          causationId: e.causationId ?? undefined,
          userId: e.userId ?? undefined,
          organizationId: e.organizationId ?? undefined,
          source: e.source ?? undefined,
          occurredAt: c.occurredAt,
          version: e.version,
          metadataJson: c.metadata ?? undefined,
          storedAt: now,
          publishedAt,
        };
        byId.set(row.id, row);
        all.push(row);
        addTo(byType, row.type, row);
        addTo(byCorrelation, row.correlationId, row);
        addTo(byUser, row.userId, row);
        addTo(byOrg, row.organizationId, row);
        if (publishedAt === null) outbox.set(row.id, row);
      }
    },

    async handleOnce<T>(eventId: string, group: string, fn: (transaction: unknown) => Promise<T>, opts?: SignalOptions) {
      enter(opts);
      checkHandleOnce(eventId, group, fn);
      const key = JSON.stringify([eventId, group]);
      // One call per pair at a time: a second one waits, then sees the pair recorded (or runs
      // fn itself if the first one threw).
      for (let running = handling.get(key); running; running = handling.get(key)) await running;
      enter(opts);
      if (handled.get(eventId)?.has(group)) return { handled: false as const };
      let release!: () => void;
      handling.set(key, new Promise<void>((resolve) => (release = resolve)));
      try {
        const result = await fn(undefined);
        let groups = handled.get(eventId);
        if (!groups) handled.set(eventId, (groups = new Map()));
        groups.set(group, isoNow(clock));
        return { handled: true as const, result };
      } finally {
        handling.delete(key);
        release();
      }
    },

    async markPublished(ids, opts) {
      enter(opts);
      checkIds('markPublished', ids);
      const now = isoNow(clock);
      for (const id of ids) {
        const row = outbox.get(id);
        if (!row) continue;
        row.publishedAt = now;
        outbox.delete(id);
      }
    },

    async unpublished(opts) {
      enter(opts);
      const limit = checkLimit('unpublished', opts?.limit, DEFAULT_LIMIT);
      return [...outbox.values()].sort(compareRows).slice(0, limit).map(toStored);
    },

    async recordProcessing(records, opts) {
      enter(opts);
      for (const r of checkRecords(records)) {
        if (!byId.has(r.eventId)) continue;
        let groups = processing.get(r.eventId);
        if (!groups) processing.set(r.eventId, (groups = new Map()));
        const rec: ProcessingRecord = { eventId: r.eventId, group: r.group, outcome: r.outcome, attempt: r.attempt, at: r.at };
        if (r.error !== undefined && r.error !== null) rec.error = String(r.error);
        if (r.durationMs !== undefined && r.durationMs !== null) rec.durationMs = r.durationMs;
        groups.set(r.group, rec);
      }
    },

    async processingOf(eventId, opts) {
      enter(opts);
      const groups = processing.get(eventId);
      if (!groups) return [];
      return [...groups.values()].sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : 0)).map((r) => ({ ...r }));
    },

    async getEvent(id, opts) {
      enter(opts);
      const row = byId.get(id);
      return row ? toStored(row) : undefined;
    },

    async query(q, opts) {
      enter(opts);
      const { limit, since, until, cursor, order, types: typeList }: CheckedQuery = checkQuery(q);
      if (typeList !== undefined && typeList.length === 0) return { events: [], nextCursor: undefined };
      const types = typeList === undefined ? undefined : new Set(typeList);
      const rows = candidates(q, typeList);

      // [start, end) is the slice inside since/until and past the cursor.
      let start = since === undefined ? 0 : lowerBound(rows, since, '', true);
      let end = until === undefined ? rows.length : lowerBound(rows, until, '', true);
      if (cursor) {
        if (order === 'asc') start = Math.max(start, lowerBound(rows, cursor.occurredAt, cursor.id, false));
        else end = Math.min(end, lowerBound(rows, cursor.occurredAt, cursor.id, true));
      }
      const page: Row[] = [];
      let more = false;
      if (order === 'asc') {
        for (let i = start; i < end; i++) {
          const r = rows[i]!;
          if (!matches(r, q, types)) continue;
          if (page.length === limit) {
            more = true;
            break;
          }
          page.push(r);
        }
      } else {
        for (let i = end - 1; i >= start; i--) {
          const r = rows[i]!;
          if (!matches(r, q, types)) continue;
          if (page.length === limit) {
            more = true;
            break;
          }
          page.push(r);
        }
      }
      const last = page[page.length - 1];
      return { events: page.map(toStored), nextCursor: more && last ? encodeCursor(last.occurredAt, last.id) : undefined };
    },

    async unprocessed(opts) {
      enter(opts);
      const limit = checkLimit('unprocessed', opts?.limit, DEFAULT_LIMIT);
      const group = opts?.group;
      checkGroup('unprocessed', group);
      const out: StoredEvent[] = [];
      for (const r of all.view()) {
        const groups = processing.get(r.id);
        let done = false;
        if (groups) {
          if (group === undefined) {
            for (const rec of groups.values()) if (rec.outcome === 'processed') done = true;
          } else {
            done = groups.get(group)?.outcome === 'processed';
          }
        }
        if (done) continue;
        out.push(toStored(r));
        if (out.length === limit) break;
      }
      return out;
    },

    async stats(opts) {
      enter(opts);
      const since = checkTime('stats', opts?.since, 'since');
      const rows = all.view();
      const stats: StoreStats = {
        totalEvents: 0,
        processedEvents: 0,
        failedEvents: 0,
        unprocessedEvents: 0,
        unpublishedEvents: 0,
        byType: {},
        p50Ms: 0,
        p95Ms: 0,
      };
      // A Map: type names such as 'toString' or '__proto__' are not Object.prototype's members.
      const typeCounts = new Map<string, number>();
      const durations: number[] = [];
      for (let i = lowerBound(rows, since, '', true); i < rows.length; i++) {
        const r = rows[i]!;
        stats.totalEvents++;
        typeCounts.set(r.type, (typeCounts.get(r.type) ?? 0) + 1);
        if (r.publishedAt === null) stats.unpublishedEvents++;
        const groups = processing.get(r.id);
        if (!groups || groups.size === 0) {
          stats.unprocessedEvents++;
          continue;
        }
        let processed = false;
        let failed = false;
        for (const rec of groups.values()) {
          if (rec.outcome === 'processed') {
            processed = true;
            if (rec.durationMs !== undefined) durations.push(rec.durationMs);
          } else if (rec.outcome === 'failed' || rec.outcome === 'dead-lettered') failed = true;
        }
        if (processed) stats.processedEvents++;
        if (failed) stats.failedEvents++;
      }
      stats.byType = recordOf(typeCounts);
      durations.sort((a, b) => a - b);
      stats.p50Ms = percentileOfSorted(durations, 0.5);
      stats.p95Ms = percentileOfSorted(durations, 0.95);
      return stats;
    },

    async cleanup(opts) {
      enter(opts);
      const before = checkTime('cleanup', opts?.before, 'before');
      checkLimit('cleanup', opts?.batchSize, DEFAULT_CLEANUP_BATCH_SIZE, 'batchSize');
      // Handled pairs of events the store does not hold, past retention.
      for (const [eventId, groups] of handled) {
        if (byId.has(eventId)) continue;
        for (const [group, when] of groups) if (when < before) groups.delete(group);
        if (groups.size === 0) handled.delete(eventId);
      }
      const rows = all.view();
      const end = lowerBound(rows, before, '', true);
      if (end === 0) return 0;
      // Single-threaded: deleting everything at once holds no lock anyone could wait on.
      const doomed = rows.slice(0, end);
      const ids = new Set(doomed.map((r) => r.id));
      all.rows = rows.slice(end);
      const touched = (map: Map<string, Bucket>, key: (r: Row) => string | undefined) => {
        const keys = new Set<string>();
        for (const r of doomed) {
          const k = key(r);
          if (k !== undefined) keys.add(k);
        }
        for (const k of keys) {
          const b = map.get(k)!;
          b.remove(ids);
          if (b.rows.length === 0) map.delete(k);
        }
      };
      touched(byType, (r) => r.type);
      touched(byCorrelation, (r) => r.correlationId);
      touched(byUser, (r) => r.userId);
      touched(byOrg, (r) => r.organizationId);
      for (const id of ids) {
        byId.delete(id);
        outbox.delete(id);
        processing.delete(id);
        handled.delete(id);
      }
      return ids.size;
    },

    close() {
      return life.close(async () => {
        byId.clear();
        all.rows = [];
        byType.clear();
        byCorrelation.clear();
        byUser.clear();
        byOrg.clear();
        outbox.clear();
        processing.clear();
        handled.clear();
      });
    },
  };
  return store;
}
