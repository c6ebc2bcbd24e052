/**
 * The EventStore contract: the audit trail and event-sourcing log. Its TSDoc is the
 * specification every adapter (memory, SQLite, Postgres) implements and `describeStore` (from
 * `./testing`) checks.
 *
 * Times are ISO 8601 strings in UTC on the way in and out. Strings (data, ids, correlation ids,
 * groups, error messages) round trip exactly, NUL characters included. Every async method accepts
 * `{ signal }`. A failing or unreachable database rejects with `StoreError` (never an unhandled
 * error event) and a call does not wait longer than the store's timeout (`storeTimeoutMs`). After `close()` every method rejects with a `ClosedError` (code `ERR_CLOSED`),
 * except `close()` itself.
 *
 * @module
 */

import type { EventEnvelope } from '../events/envelope.js';
import type { SignalOptions } from './transport.js';

/** Options of {@link EventStore.append}. */
export interface AppendOptions extends SignalOptions {
  /** Record the events as published now (no outbox entry). @default false */
  published?: boolean;
  /** The application's open transaction to write in (adapter-specific handle). */
  transaction?: unknown;
}

/** An event as the store returns it: the envelope plus bookkeeping. */
export interface StoredEvent extends EventEnvelope {
  /** When the store recorded it (ISO 8601). */
  storedAt: string;
  /** When the transport accepted it (ISO 8601), or `null` while it waits in the outbox. */
  publishedAt: string | null;
}

/** How one consumer group's processing of an event ended (so far). */
export type ProcessingOutcome = 'processed' | 'failed' | 'dead-lettered' | 'skipped';

/** One processing record: the latest outcome of an event in one consumer group. */
export interface ProcessingRecord {
  /** The event id. */
  eventId: string;
  /** The consumer group (or task queue) that handled it. */
  group: string;
  /** The outcome of the latest attempt. */
  outcome: ProcessingOutcome;
  /** The attempt number this outcome belongs to, from 1. */
  attempt: number;
  /** The error message of a failed attempt. */
  error?: string;
  /** How long the handler ran, in ms. */
  durationMs?: number;
  /** When the attempt ended (ISO 8601). */
  at: string;
}

/** A query over stored events. Every given field narrows the result. */
export interface EventQuery {
  /** One event type, or several. */
  type?: string | readonly string[];
  /** The events of one correlation id (one business flow). */
  correlationId?: string;
  /** The events of one user. */
  userId?: string;
  /** The events of one organisation. */
  organizationId?: string;
  /** Only events that occurred at or after this time (ISO 8601). */
  since?: string;
  /** Only events that occurred before this time (ISO 8601). */
  until?: string;
  /** At most this many (1 to 10,000). @default 100 */
  limit?: number;
  /** Continue after this cursor (`nextCursor` of the previous page). */
  cursor?: string;
  /** Oldest first (`'asc'`) or newest first (`'desc'`), by occurrence time then id. @default 'asc' */
  order?: 'asc' | 'desc';
}

/** One page of a query. */
export interface EventPage {
  /** The events of this page, in the requested order. */
  events: StoredEvent[];
  /** Pass as `cursor` to get the next page; `undefined` when this is the last page. */
  nextCursor: string | undefined;
}

/** Aggregates over a time window, computed by the store (not by scanning in JavaScript). */
export interface StoreStats {
  /** Events that occurred in the window. */
  totalEvents: number;
  /** Events of the window with at least one `processed` record. */
  processedEvents: number;
  /** Events of the window whose latest record in some group is `failed` or `dead-lettered`. */
  failedEvents: number;
  /** Events of the window with no processing record yet. */
  unprocessedEvents: number;
  /** Events still in the outbox (not published). */
  unpublishedEvents: number;
  /**
   * Events per type in the window, one own key per type. Build it with no prototype
   * (`Object.create(null)`) or a `Map`: a type may be named `toString`, `constructor` or
   * `__proto__`, and a plain `{}` would read or swallow those.
   */
  byType: Record<string, number>;
  /** Median handler duration of `processed` records in the window, in ms (0 when none). */
  p50Ms: number;
  /** 95th percentile handler duration, in ms (0 when none). */
  p95Ms: number;
}

/** What a store can do. */
export interface StoreFeatures {
  /**
   * Data survives a restart of the process: the outbox is durable. The publisher relies on it:
   * with a persistent store, a publish whose transport call fails resolves (the event waits in the
   * outbox for the relay); without one it rejects with `TransportError`, since the event would be
   * gone at exit. Memory and `':memory:'` SQLite: `false`; SQLite files and Postgres: `true`.
   */
  readonly persistent: boolean;
  /** Several processes can share it. */
  readonly distributed: boolean;
}

/** The event store. */
export interface EventStore {
  /** Adapter name, e.g. `'memory'`, `'sqlite'`, `'postgres'`. */
  readonly name: string;
  /** What this store can do. */
  readonly features: StoreFeatures;

  /**
   * Creates or upgrades the schema. Idempotent and safe when several processes run it at once.
   * Other methods call it on first use, so calling it is optional.
   *
   * @throws `StoreError` when the database holds a schema newer than this code.
   */
  migrate(options?: SignalOptions): Promise<void>;

  /**
   * Stores events in one round trip. Idempotent on `id`: an id already stored is left as it is.
   * With `published: true` they are recorded as published now; otherwise they wait in the
   * outbox (`unpublished`) until `markPublished`.
   *
   * With `transaction`, the rows are written inside the application's own open transaction, so
   * they commit or roll back with the application's rows. Which handles an adapter accepts is its
   * own (Postgres: a kysely `Transaction` or a `pg` client inside `BEGIN`; SQLite: a kysely
   * `Transaction`); an adapter rejects a handle it cannot use with `EventValidationError`.
   */
  append(events: readonly EventEnvelope[], options?: AppendOptions): Promise<void>;

  /**
   * Runs `fn` at most once per (`eventId`, `group`): in one store transaction it records the pair
   * as handled and runs `fn(transaction)`; if the pair was already recorded it does not run `fn`
   * and returns `{ handled: false }`. If `fn` throws, the transaction rolls back (the pair is not
   * recorded) and the error is rethrown. Writes a handler makes through `transaction` commit
   * atomically with the record: exactly-once effects in the same database. `transaction` is the
   * adapter's handle (a kysely `Transaction` for the SQL stores, `undefined` for memory).
   */
  handleOnce<T>(
    eventId: string,
    group: string,
    fn: (transaction: unknown) => Promise<T>,
    options?: SignalOptions,
  ): Promise<{ handled: true; result: T } | { handled: false }>;

  /** Records that the transport accepted these events. Idempotent; unknown ids are ignored. */
  markPublished(ids: readonly string[], options?: SignalOptions): Promise<void>;

  /** Events still in the outbox, oldest first. */
  unpublished(options?: SignalOptions & { limit?: number }): Promise<StoredEvent[]>;

  /**
   * Records processing outcomes. Keeps one row per (event, group): a later attempt replaces an
   * earlier one; a record for an event the store does not hold is ignored.
   */
  recordProcessing(records: readonly ProcessingRecord[], options?: SignalOptions): Promise<void>;

  /** The processing records of one event, one per group. */
  processingOf(eventId: string, options?: SignalOptions): Promise<ProcessingRecord[]>;

  /** One event by id, or `undefined`. */
  getEvent(id: string, options?: SignalOptions): Promise<StoredEvent | undefined>;

  /**
   * Events matching `query`, ordered by occurrence time then id, with cursor paging: pages never
   * repeat or skip an event, even when events are appended between pages.
   */
  query(query: EventQuery, options?: SignalOptions): Promise<EventPage>;

  /**
   * Events that no group has `processed` yet (no record, or only `failed`/`dead-lettered`/
   * `skipped`), oldest first. With `group`, only that group's records count.
   */
  unprocessed(options?: SignalOptions & { limit?: number; group?: string }): Promise<StoredEvent[]>;

  /** Aggregates over events that occurred at or after `since`. */
  stats(options: SignalOptions & { since: string }): Promise<StoreStats>;

  /**
   * Deletes events that occurred before `before` (and their processing records), in batches of
   * `batchSize` so no lock is held long. Returns how many events were deleted.
   */
  cleanup(options: SignalOptions & { before: string; batchSize?: number }): Promise<number>;

  /** Releases what the store opened (a pool or database passed in stays open). Memoised. */
  close(): Promise<void>;
}
