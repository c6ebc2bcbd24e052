/**
 * The in-process {@link EventStore}: zero infrastructure, used by default and in tests and
 * benchmarks. Nothing survives the process.
 *
 * @module
 */

import { isoNow, systemClock, type Clock } from '../../src/clock.js';
import type {
  EventQuery,
  EventStore,
  ProcessingOutcome,
  ProcessingRecord,
  StoredEvent,
  StoreStats,
} from '../../src/contracts/store.js';
import type { SignalOptions } from '../../src/contracts/transport.js';
import { isEventPriority, type EventEnvelope, type EventPriority } from '../../src/events/envelope.js';
import { EventValidationError, type ValidationIssue } from '../../src/errors.js';
import { Lifecycle, throwIfAborted } from '../../src/lifecycle.js';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /** The source of `storedAt` / `publishedAt` times. @default systemClock */
  clock?: Clock;
}

/** The largest `limit` a listing accepts. */
const MAX_LIMIT = 10_000;
/** The `limit` of a listing when none is given. */
const DEFAULT_LIMIT = 100;
/** The `batchSize` of `cleanup` when none is given. */
const DEFAULT_CLEANUP_BATCH = 1000;
const OUTCOMES: ReadonlySet<string> = new Set<ProcessingOutcome>(['processed', 'failed', 'dead-lettered', 'skipped']);

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

function fail(subject: string, issues: ValidationIssue[]): never {
  throw new EventValidationError(subject, issues);
}

function checkLimit(subject: string, value: unknown, fallback: number, path = 'limit'): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_LIMIT) {
    fail(subject, [{ path, message: `must be an integer from 1 to ${MAX_LIMIT}, got ${String(value)}` }]);
  }
  return value;
}

function checkTime(subject: string, value: unknown, path: string): string {
  const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  const year = Number.isNaN(ms) ? -1 : new Date(ms).getUTCFullYear();
  if (year < 0 || year > 9999) {
    fail(subject, [{ path, message: `must be an ISO 8601 time, got ${JSON.stringify(value)}` }]);
  }
  return new Date(ms).toISOString();
}

function optionalString(o: Record<string, unknown>, key: string, path: string, issues: ValidationIssue[]): void {
  const v = o[key];
  if (v !== undefined && v !== null && typeof v !== 'string') issues.push({ path: `${path}.${key}`, message: 'must be a string' });
}

/** Checks an envelope before it is stored; returns its JSON payload texts. */
function checkEnvelope(e: EventEnvelope, i: number, issues: ValidationIssue[]): { data: string; metadata: string | undefined; occurredAt: string } | undefined {
  const path = `events[${i}]`;
  const before = issues.length;
  if (typeof e !== 'object' || e === null) {
    issues.push({ path, message: 'must be an event envelope' });
    return undefined;
  }
  if (typeof e.id !== 'string' || e.id === '') issues.push({ path: `${path}.id`, message: 'must be a non-empty string' });
  if (typeof e.type !== 'string' || e.type === '') issues.push({ path: `${path}.type`, message: 'must be a non-empty string' });
  if (typeof e.correlationId !== 'string' || e.correlationId === '') {
    issues.push({ path: `${path}.correlationId`, message: 'must be a non-empty string' });
  }
  if (!isEventPriority(e.priority)) issues.push({ path: `${path}.priority`, message: `unknown priority ${JSON.stringify(e.priority)}` });
  if (typeof e.version !== 'number' || !Number.isInteger(e.version)) issues.push({ path: `${path}.version`, message: 'must be an integer' });
  for (const key of ['causationId', 'userId', 'organizationId', 'source']) {
    optionalString(e as unknown as Record<string, unknown>, key, path, issues);
  }
  let occurredAt = '';
  const ms = typeof e.occurredAt === 'string' ? Date.parse(e.occurredAt) : Number.NaN;
  const year = Number.isNaN(ms) ? -1 : new Date(ms).getUTCFullYear();
  if (year < 0 || year > 9999) issues.push({ path: `${path}.occurredAt`, message: 'must be an ISO 8601 time' });
  else occurredAt = new Date(ms).toISOString();
  let data = 'null';
  let metadata: string | undefined;
  try {
    data = JSON.stringify(e.data ?? null);
    if (e.metadata !== undefined && e.metadata !== null) {
      if (typeof e.metadata !== 'object' || Array.isArray(e.metadata)) issues.push({ path: `${path}.metadata`, message: 'must be an object' });
      else metadata = JSON.stringify(e.metadata);
    }
  } catch (err) {
    issues.push({ path: `${path}.data`, message: `must be JSON-serialisable (${(err as Error).message})` });
  }
  return issues.length === before ? { data, metadata, occurredAt } : undefined;
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

function encodeCursor(r: Row): string {
  return Buffer.from(JSON.stringify([1, r.occurredAt, r.id]), 'utf8').toString('base64url');
}

function decodeCursor(cursor: unknown): { time: string; id: string } {
  try {
    if (typeof cursor !== 'string') throw new Error('not a string');
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v[0] === 1 && typeof v[1] === 'string' && typeof v[2] === 'string') return { time: v[1], id: v[2] };
  } catch {
    // reported below
  }
  return fail('query', [{ path: 'cursor', message: 'is not a cursor returned by this store' }]);
}

/** Linear-interpolated percentile of sorted values, as SQL `percentile_cont`. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const pos = p * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (pos - lo);
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

  function enter(options: SignalOptions | undefined): void {
    life.assertOpen();
    throwIfAborted(options?.signal);
  }

  /** Rows matching every filter of `q` except time and cursor, sorted by (occurredAt, id). */
  function candidates(q: EventQuery): Row[] {
    const lists: Row[][] = [];
    if (q.correlationId !== undefined) lists.push(byCorrelation.get(q.correlationId)?.view() ?? []);
    if (q.userId !== undefined) lists.push(byUser.get(q.userId)?.view() ?? []);
    if (q.organizationId !== undefined) lists.push(byOrg.get(q.organizationId)?.view() ?? []);
    if (q.type !== undefined) {
      const types = typeof q.type === 'string' ? [q.type] : [...new Set(q.type)];
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
      const issues: ValidationIssue[] = [];
      const checked = events.map((e, i) => checkEnvelope(e, i, issues));
      if (issues.length > 0) fail('append', issues);
      const now = isoNow(clock);
      const publishedAt = opts?.published ? now : null;
      events.forEach((e, i) => {
        if (byId.has(e.id)) return;
        const c = checked[i]!;
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
          metadataJson: c.metadata,
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
      });
    },

    async markPublished(ids, opts) {
      enter(opts);
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
      const issues: ValidationIssue[] = [];
      records.forEach((r, i) => {
        const path = `records[${i}]`;
        if (typeof r.eventId !== 'string' || r.eventId === '') issues.push({ path: `${path}.eventId`, message: 'must be a non-empty string' });
        if (typeof r.group !== 'string' || r.group === '') issues.push({ path: `${path}.group`, message: 'must be a non-empty string' });
        if (!OUTCOMES.has(r.outcome)) issues.push({ path: `${path}.outcome`, message: `unknown outcome ${JSON.stringify(r.outcome)}` });
        if (!Number.isInteger(r.attempt) || r.attempt < 1) issues.push({ path: `${path}.attempt`, message: 'must be an integer from 1' });
        if (r.durationMs !== undefined && r.durationMs !== null && (typeof r.durationMs !== 'number' || !Number.isFinite(r.durationMs) || r.durationMs < 0)) {
          issues.push({ path: `${path}.durationMs`, message: 'must be a number of ms from 0' });
        }
      });
      if (issues.length > 0) fail('recordProcessing', issues);
      const checked = records.map((r, i) => checkTime('recordProcessing', r.at, `records[${i}].at`));
      records.forEach((r, i) => {
        if (!byId.has(r.eventId)) return;
        let groups = processing.get(r.eventId);
        if (!groups) processing.set(r.eventId, (groups = new Map()));
        const rec: ProcessingRecord = { eventId: r.eventId, group: r.group, outcome: r.outcome, attempt: r.attempt, at: checked[i]! };
        if (r.error !== undefined && r.error !== null) rec.error = String(r.error);
        if (r.durationMs !== undefined && r.durationMs !== null) rec.durationMs = r.durationMs;
        groups.set(r.group, rec);
      });
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
      const limit = checkLimit('query', q.limit, DEFAULT_LIMIT);
      const since = q.since === undefined ? undefined : checkTime('query', q.since, 'since');
      const until = q.until === undefined ? undefined : checkTime('query', q.until, 'until');
      const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
      const order = q.order ?? 'asc';
      if (order !== 'asc' && order !== 'desc') fail('query', [{ path: 'order', message: "must be 'asc' or 'desc'" }]);
      if (q.type !== undefined && typeof q.type !== 'string' && q.type.length === 0) return { events: [], nextCursor: undefined };
      const types = q.type === undefined ? undefined : new Set(typeof q.type === 'string' ? [q.type] : q.type);
      const rows = candidates(q);

      // [start, end) is the slice inside since/until and past the cursor.
      let start = since === undefined ? 0 : lowerBound(rows, since, '', true);
      let end = until === undefined ? rows.length : lowerBound(rows, until, '', true);
      if (cursor) {
        if (order === 'asc') start = Math.max(start, lowerBound(rows, cursor.time, cursor.id, false));
        else end = Math.min(end, lowerBound(rows, cursor.time, cursor.id, true));
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
      return { events: page.map(toStored), nextCursor: more && last ? encodeCursor(last) : undefined };
    },

    async unprocessed(opts) {
      enter(opts);
      const limit = checkLimit('unprocessed', opts?.limit, DEFAULT_LIMIT);
      const group = opts?.group;
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
      const durations: number[] = [];
      for (let i = lowerBound(rows, since, '', true); i < rows.length; i++) {
        const r = rows[i]!;
        stats.totalEvents++;
        stats.byType[r.type] = (stats.byType[r.type] ?? 0) + 1;
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
      durations.sort((a, b) => a - b);
      stats.p50Ms = percentile(durations, 0.5);
      stats.p95Ms = percentile(durations, 0.95);
      return stats;
    },

    async cleanup(opts) {
      enter(opts);
      const before = checkTime('cleanup', opts?.before, 'before');
      checkLimit('cleanup', opts?.batchSize, DEFAULT_CLEANUP_BATCH, 'batchSize');
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
      });
    },
  };
  return store;
}
