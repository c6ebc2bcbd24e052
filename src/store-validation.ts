/**
 * Input checks and cursor encoding shared by every event store (memory, SQLite, Postgres), so
 * they all refuse the same input with the same `ERR_VALIDATION` and read each other's cursors.
 * Adapters in this package import it as `storeValidation` from `@procur/event-bus` (the SQL
 * stores) or by path (the memory store).
 *
 * @internal Not a public API: it may change in any release.
 * @module
 */

import { EventValidationError, type ValidationIssue } from './errors.js';
import { isEventPriority, type EventEnvelope } from './events/envelope.js';
import type { EventQuery, ProcessingOutcome, ProcessingRecord } from './contracts/store.js';

/** The largest `limit` (and `batchSize`) a store call accepts. */
export const MAX_LIMIT = 10_000;
/** The `limit` of a listing when none is given. */
export const DEFAULT_LIMIT = 100;
/** The `batchSize` of `cleanup` when none is given. */
export const DEFAULT_CLEANUP_BATCH_SIZE = 1000;

const OUTCOMES: ReadonlySet<string> = new Set<ProcessingOutcome>(['processed', 'failed', 'dead-lettered', 'skipped']);

/** Throws an `EventValidationError` for `subject` (the store operation). */
export function invalid(subject: string, issues: ValidationIssue[]): never {
  throw new EventValidationError(subject, issues);
}

/** Checks a `limit` / `batchSize`: an integer from 1 to {@link MAX_LIMIT}. */
export function checkLimit(subject: string, value: unknown, fallback: number, path = 'limit'): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_LIMIT) {
    invalid(subject, [{ path, message: `must be an integer from 1 to ${MAX_LIMIT}, got ${String(value)}` }]);
  }
  return value;
}

/** Parses an ISO time into the canonical `toISOString` form (years 0-9999), or undefined. */
export function canonicalTime(value: unknown): string | undefined {
  const ms = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) return undefined;
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  return year < 0 || year > 9999 ? undefined : d.toISOString();
}

/** Checks and canonicalises an ISO time option. */
export function checkTime(subject: string, value: unknown, path: string): string {
  const t = canonicalTime(value);
  if (t === undefined) invalid(subject, [{ path, message: `must be an ISO 8601 time, got ${JSON.stringify(value)}` }]);
  return t;
}

/** An envelope checked for storage, with its JSON texts and canonical time. */
export interface CheckedEvent {
  event: EventEnvelope;
  occurredAt: string;
  data: string;
  metadata: string | null;
}

/** Checks a batch of envelopes; drops repeated ids (the first wins, as in the store). */
export function checkEvents(events: readonly EventEnvelope[]): CheckedEvent[] {
  const issues: ValidationIssue[] = [];
  const out: CheckedEvent[] = [];
  const seen = new Set<string>();
  if (!Array.isArray(events)) invalid('append', [{ path: 'events', message: 'must be an array' }]);
  events.forEach((e, i) => {
    const path = `events[${i}]`;
    const before = issues.length;
    if (typeof e !== 'object' || e === null) {
      issues.push({ path, message: 'must be an event envelope' });
      return;
    }
    if (typeof e.id !== 'string' || e.id === '') issues.push({ path: `${path}.id`, message: 'must be a non-empty string' });
    if (typeof e.type !== 'string' || e.type === '') issues.push({ path: `${path}.type`, message: 'must be a non-empty string' });
    if (typeof e.correlationId !== 'string' || e.correlationId === '') {
      issues.push({ path: `${path}.correlationId`, message: 'must be a non-empty string' });
    }
    if (!isEventPriority(e.priority)) issues.push({ path: `${path}.priority`, message: `unknown priority ${JSON.stringify(e.priority)}` });
    if (typeof e.version !== 'number' || !Number.isInteger(e.version)) issues.push({ path: `${path}.version`, message: 'must be an integer' });
    for (const key of ['causationId', 'userId', 'organizationId', 'source'] as const) {
      const v = e[key] as unknown;
      if (v !== undefined && v !== null && typeof v !== 'string') issues.push({ path: `${path}.${key}`, message: 'must be a string' });
    }
    const occurredAt = canonicalTime(e.occurredAt);
    if (occurredAt === undefined) issues.push({ path: `${path}.occurredAt`, message: 'must be an ISO 8601 time' });
    let data = 'null';
    let metadata: string | null = null;
    try {
      data = JSON.stringify(e.data ?? null);
      if (e.metadata !== undefined && e.metadata !== null) {
        if (typeof e.metadata !== 'object' || Array.isArray(e.metadata)) issues.push({ path: `${path}.metadata`, message: 'must be an object' });
        else metadata = JSON.stringify(e.metadata);
      }
    } catch (err) {
      issues.push({ path: `${path}.data`, message: `must be JSON-serialisable (${(err as Error).message})` });
    }
    if (issues.length > before || seen.has(e.id)) return;
    seen.add(e.id);
    out.push({ event: e, occurredAt: occurredAt!, data, metadata });
  });
  if (issues.length > 0) invalid('append', issues);
  return out;
}

/** Checks processing records; keeps the last record of each (event, group), in input order. */
export function checkRecords(records: readonly ProcessingRecord[]): Array<ProcessingRecord & { at: string }> {
  const issues: ValidationIssue[] = [];
  const latest = new Map<string, ProcessingRecord & { at: string }>();
  if (!Array.isArray(records)) invalid('recordProcessing', [{ path: 'records', message: 'must be an array' }]);
  records.forEach((r, i) => {
    const path = `records[${i}]`;
    const before = issues.length;
    if (typeof r !== 'object' || r === null) {
      issues.push({ path, message: 'must be a processing record' });
      return;
    }
    if (typeof r.eventId !== 'string' || r.eventId === '') issues.push({ path: `${path}.eventId`, message: 'must be a non-empty string' });
    if (typeof r.group !== 'string' || r.group === '') issues.push({ path: `${path}.group`, message: 'must be a non-empty string' });
    if (!OUTCOMES.has(r.outcome)) issues.push({ path: `${path}.outcome`, message: `unknown outcome ${JSON.stringify(r.outcome)}` });
    if (!Number.isInteger(r.attempt) || r.attempt < 1) issues.push({ path: `${path}.attempt`, message: 'must be an integer from 1' });
    if (r.durationMs !== undefined && r.durationMs !== null && (typeof r.durationMs !== 'number' || !Number.isFinite(r.durationMs) || r.durationMs < 0)) {
      issues.push({ path: `${path}.durationMs`, message: 'must be a number of ms from 0' });
    }
    const at = canonicalTime(r.at);
    if (at === undefined) issues.push({ path: `${path}.at`, message: 'must be an ISO 8601 time' });
    if (issues.length > before) return;
    const key = JSON.stringify([r.eventId, r.group]);
    latest.delete(key);
    latest.set(key, { ...r, at: at! });
  });
  if (issues.length > 0) invalid('recordProcessing', issues);
  return [...latest.values()];
}

/** Checks a list of event ids (`markPublished`). */
export function checkIds(subject: string, ids: unknown): readonly string[] {
  if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string')) invalid(subject, [{ path: 'ids', message: 'must be an array of strings' }]);
  return ids as readonly string[];
}

/** Checks the `group` option of `unprocessed`. */
export function checkGroup(subject: string, group: unknown): string | undefined {
  if (group !== undefined && (typeof group !== 'string' || group === '')) invalid(subject, [{ path: 'group', message: 'must be a non-empty string' }]);
  return group as string | undefined;
}

/** Checks the arguments of `handleOnce`. */
export function checkHandleOnce(eventId: unknown, group: unknown, fn: unknown): void {
  const issues: ValidationIssue[] = [];
  if (typeof eventId !== 'string' || eventId === '') issues.push({ path: 'eventId', message: 'must be a non-empty string' });
  if (typeof group !== 'string' || group === '') issues.push({ path: 'group', message: 'must be a non-empty string' });
  if (typeof fn !== 'function') issues.push({ path: 'fn', message: 'must be a function' });
  if (issues.length > 0) invalid('handleOnce', issues);
}

/** A query checked by {@link checkQuery}. */
export interface CheckedQuery {
  limit: number;
  /** Canonical ISO time, inclusive. */
  since: string | undefined;
  /** Canonical ISO time, exclusive. */
  until: string | undefined;
  cursor: { occurredAt: string; id: string } | undefined;
  order: 'asc' | 'desc';
  /** The types asked for, without repeats; `[]` matches nothing; `undefined`: any type. */
  types: string[] | undefined;
}

/** Checks an {@link EventQuery} (limit, time bounds, cursor, order, types). */
export function checkQuery(q: EventQuery): CheckedQuery {
  if (typeof q !== 'object' || q === null) invalid('query', [{ path: '', message: 'must be a query object' }]);
  const limit = checkLimit('query', q.limit, DEFAULT_LIMIT);
  const since = q.since === undefined ? undefined : checkTime('query', q.since, 'since');
  const until = q.until === undefined ? undefined : checkTime('query', q.until, 'until');
  const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
  const order = q.order ?? 'asc';
  if (order !== 'asc' && order !== 'desc') invalid('query', [{ path: 'order', message: "must be 'asc' or 'desc'" }]);
  let types: string[] | undefined;
  if (q.type !== undefined) {
    if (typeof q.type === 'string') types = [q.type];
    else if (Array.isArray(q.type) && q.type.every((t) => typeof t === 'string')) types = [...new Set(q.type)];
    else invalid('query', [{ path: 'type', message: 'must be an event type or an array of them' }]);
  }
  return { limit, since, until, cursor, order, types };
}

/** Encodes the keyset position (occurredAt, id) of the last event of a page as an opaque cursor. */
export function encodeCursor(occurredAt: string, id: string): string {
  return Buffer.from(JSON.stringify([1, occurredAt, id]), 'utf8').toString('base64url');
}

/** Decodes a cursor of {@link encodeCursor}. @throws EventValidationError when malformed. */
export function decodeCursor(cursor: unknown): { occurredAt: string; id: string } {
  try {
    if (typeof cursor === 'string') {
      const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
      if (Array.isArray(v) && v[0] === 1 && typeof v[2] === 'string') {
        const t = canonicalTime(v[1]);
        if (t !== undefined) return { occurredAt: t, id: v[2] };
      }
    }
  } catch {
    // reported below
  }
  return invalid('query', [{ path: 'cursor', message: 'is not a cursor returned by this store' }]);
}

/** Linear-interpolated percentile of ascending values, as SQL `percentile_cont` computes it. */
export function percentileOfSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const pos = p * (sorted.length - 1);
  const lo = Math.floor(pos);
  const a = sorted[lo]!;
  const b = sorted[Math.ceil(pos)]!;
  return a + (b - a) * (pos - lo);
}
