import type { SystemContext } from './context.js';
import type { EventQuery } from './contracts/store.js';
import type { OutgoingMessage, SignalOptions } from './contracts/transport.js';
import { EventValidationError } from './errors.js';
import { encodeEnvelope, priorityRank, type EventEnvelope } from './events/envelope.js';
import { isoNow } from './clock.js';
import type { TimeInput } from './event-store-api.js';

/** What to replay. Every given field narrows the selection. */
export interface ReplayFilter extends SignalOptions {
  /** The events of one correlation id. */
  correlationId?: string;
  /** Only these types. */
  types?: readonly string[];
  /** Events that occurred at or after this time. */
  since?: TimeInput;
  /** Events that occurred before this time. */
  until?: TimeInput;
  /** Re-deliver to this consumer group only; by default every group of the stream gets them. */
  group?: string;
  /** Events read and re-delivered per round trip. @default 500 */
  batchSize?: number;
  /** Called after each batch with the running count. */
  onProgress?: (progress: { replayed: number }) => void;
}

/**
 * Re-delivers stored events, oldest first, page by page (constant memory). Each copy carries
 * `metadata.replayed = true` and `metadata.replayedAt`; ids stay the same. Returns the count.
 */
export async function replayEvents(ctx: SystemContext, filter: ReplayFilter = {}): Promise<number> {
  const query: EventQuery = { order: 'asc', limit: filter.batchSize ?? 500 };
  if (filter.correlationId) query.correlationId = filter.correlationId;
  if (filter.types && filter.types.length > 0) query.type = filter.types;
  for (const key of ['since', 'until'] as const) {
    const t = filter[key];
    if (t === undefined) continue;
    const d = t instanceof Date ? t : new Date(t);
    if (Number.isNaN(d.getTime())) throw new EventValidationError(undefined, [{ path: key, message: 'must be a valid date' }]);
    query[key] = d.toISOString();
  }
  const stream = ctx.config.eventStreamName;
  const replayedAt = isoNow(ctx.clock);
  let replayed = 0;
  let cursor: string | undefined;
  do {
    const page = await ctx.store.query(cursor ? { ...query, cursor } : query, { signal: filter.signal });
    if (page.events.length > 0) {
      const messages: OutgoingMessage[] = page.events.map((stored) => {
        const { storedAt: _s, publishedAt: _p, ...event } = stored;
        const copy: EventEnvelope = { ...event, metadata: { ...(event.metadata ?? {}), replayed: true, replayedAt } };
        return { body: encodeEnvelope(copy), priority: priorityRank(copy.priority) };
      });
      if (filter.group) await ctx.transport.redeliver(stream, filter.group, messages, { signal: filter.signal });
      else await ctx.transport.publish(stream, messages, { signal: filter.signal });
      replayed += messages.length;
      filter.onProgress?.({ replayed });
    }
    cursor = page.nextCursor;
  } while (cursor);
  return replayed;
}
