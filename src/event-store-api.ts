import type { SystemContext } from './context.js';
import type { EventQuery, EventStore, ProcessingRecord, StoredEvent } from './contracts/store.js';
import type { SignalOptions } from './contracts/transport.js';
import { EventValidationError } from './errors.js';

/** A time bound: a `Date` or an ISO 8601 string. */
export type TimeInput = Date | string;

/** Options of the `getEventsBy*` queries. */
export interface EventQueryOptions extends SignalOptions {
  /** At most this many (1 to 10,000). @default 100 */
  limit?: number;
  /** Only events that occurred at or after this time. */
  since?: TimeInput;
  /** Only events that occurred before this time. */
  until?: TimeInput;
  /** Newest first with `'desc'`. @default 'asc' */
  order?: 'asc' | 'desc';
}

function iso(name: string, t: TimeInput | undefined): string | undefined {
  if (t === undefined) return undefined;
  const d = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(d.getTime())) throw new EventValidationError(undefined, [{ path: name, message: 'must be a valid date' }]);
  return d.toISOString();
}

/**
 * The event store as `bus.store` exposes it: the audit-trail queries of the seed, on top of the
 * configured {@link EventStore} adapter.
 */
export class EventStoreApi {
  /** @internal */
  constructor(private readonly ctx: SystemContext) {}

  /** The adapter behind this API. */
  get adapter(): EventStore {
    return this.ctx.store;
  }

  /** Any query, one page at a time (see {@link EventQuery}). */
  query(query: EventQuery, options?: SignalOptions) {
    return this.ctx.store.query(query, options);
  }

  /** Every event matching `query`, following the cursor through all pages. */
  async *iterate(query: Omit<EventQuery, 'cursor'>, options?: SignalOptions): AsyncGenerator<StoredEvent> {
    let cursor: string | undefined;
    do {
      const page = await this.ctx.store.query({ ...query, limit: query.limit ?? 1000, ...(cursor ? { cursor } : {}) }, options);
      for (const e of page.events) yield e;
      cursor = page.nextCursor;
    } while (cursor);
  }

  /** One event by id. */
  getEvent(id: string, options?: SignalOptions): Promise<StoredEvent | undefined> {
    return this.ctx.store.getEvent(id, options);
  }

  /** Events of one type, oldest first. */
  async getEventsByType(type: string, options: EventQueryOptions = {}): Promise<StoredEvent[]> {
    return (await this.ctx.store.query({ type, ...this.window(options) }, options)).events;
  }

  /** The whole chain of events of one correlation id, in order (all pages). */
  async getEventsByCorrelationId(correlationId: string, options?: SignalOptions): Promise<StoredEvent[]> {
    const out: StoredEvent[] = [];
    for await (const e of this.iterate({ correlationId }, options)) out.push(e);
    return out;
  }

  /** Events of one user. */
  async getEventsByUser(userId: string | number, options: EventQueryOptions = {}): Promise<StoredEvent[]> {
    return (await this.ctx.store.query({ userId: String(userId), ...this.window(options) }, options)).events;
  }

  /** Events of one organisation. */
  async getEventsByOrganization(organizationId: string, options: EventQueryOptions = {}): Promise<StoredEvent[]> {
    return (await this.ctx.store.query({ organizationId, ...this.window(options) }, options)).events;
  }

  /** Events no consumer group has processed yet (or only `group`'s view, when given). */
  getUnprocessedEvents(options: SignalOptions & { limit?: number; group?: string } = {}): Promise<StoredEvent[]> {
    return this.ctx.store.unprocessed(options);
  }

  /** The processing outcome of an event in each group. */
  processingOf(eventId: string, options?: SignalOptions): Promise<ProcessingRecord[]> {
    return this.ctx.store.processingOf(eventId, options);
  }

  /**
   * Deletes events that occurred more than `retentionDays` ago, with their processing records and
   * idempotency records, in batches of `batchSize` (one short transaction each, so writers are
   * never blocked for long). Returns how many events were deleted.
   *
   * @param retentionDays - @default config.eventStoreRetentionDays
   * @param options.batchSize - events per batch (1 to 10,000). @default 1000
   */
  cleanupOldEvents(
    retentionDays = this.ctx.config.eventStoreRetentionDays,
    options?: SignalOptions & { batchSize?: number },
  ): Promise<number> {
    if (!Number.isFinite(retentionDays) || retentionDays < 0) {
      throw new EventValidationError(undefined, [{ path: 'retentionDays', message: 'must be a number of days >= 0' }]);
    }
    const before = new Date(this.ctx.clock.now() - retentionDays * 86_400_000).toISOString();
    return this.ctx.store.cleanup({ before, ...options });
  }

  private window(o: EventQueryOptions): EventQuery {
    const q: EventQuery = {};
    if (o.limit !== undefined) q.limit = o.limit;
    const since = iso('since', o.since);
    const until = iso('until', o.until);
    if (since) q.since = since;
    if (until) q.until = until;
    if (o.order) q.order = o.order;
    return q;
  }
}
