import type { SystemContext } from './context.js';
import type { EventQuery } from './contracts/store.js';
import type { OutgoingMessage, SignalOptions } from './contracts/transport.js';
import { EventValidationError } from './errors.js';
import { encodeEnvelope, priorityRank, type EventEnvelope } from './events/envelope.js';
import { isoNow } from './clock.js';
import { sleep, throwIfAborted } from './lifecycle.js';
import type { TimeInput } from './event-store-api.js';

/** Events read and re-delivered per round trip when `batchSize` is not given. */
export const DEFAULT_REPLAY_BATCH_SIZE = 500;
/** How long a group's backlog may stay put before replay stops waiting for it, in ms. */
const STALL_MS = 10_000;
/** How often replay looks at the backlog while it waits, in ms. */
const POLL_MS = 25;

/** What replay reports after each batch. */
export interface ReplayProgress {
  /** Events re-delivered so far. */
  replayed: number;
  /** Occurrence time of the last event re-delivered (ISO 8601): how far through the range it is. */
  lastOccurredAt: string;
}

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
  /** Events read and re-delivered per round trip (1 to 10,000). @default 500 */
  batchSize?: number;
  /**
   * Backpressure: before handing over the next batch, replay waits while a consumer group of the
   * stream (only `group`, when given) holds more than this many messages it has not read, or read
   * and not acknowledged, yet. So a
   * replay of millions of events neither outruns the consumers nor piles them up in the
   * transport (in this process, with the memory transport). A group with no consumers, or whose
   * backlog has not shrunk for 10 s, is not waited for. `Infinity` turns waiting off.
   * @default 4 × batchSize
   */
  maxBacklog?: number;
  /** Called after each batch. */
  onProgress?: (progress: ReplayProgress) => void;
}

/**
 * Re-delivers stored events, oldest first, page by page: it holds one page at a time (keyset
 * paging in the store), and waits for the consumers when their backlog passes `maxBacklog`, so
 * memory stays flat whatever the number of events. Each copy carries `metadata.replayed = true`
 * and `metadata.replayedAt`; ids stay the same (an idempotent consumer skips what it handled).
 * Returns the count.
 *
 * @throws `EventValidationError` when a time bound, `batchSize` or `maxBacklog` is malformed.
 */
export async function replayEvents(ctx: SystemContext, filter: ReplayFilter = {}): Promise<number> {
  const batchSize = filter.batchSize ?? DEFAULT_REPLAY_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
    throw new EventValidationError(undefined, [{ path: 'batchSize', message: `must be an integer from 1 to 10000, got ${String(batchSize)}` }]);
  }
  const maxBacklog = filter.maxBacklog ?? 4 * batchSize;
  if (typeof maxBacklog !== 'number' || Number.isNaN(maxBacklog) || maxBacklog < 0) {
    throw new EventValidationError(undefined, [{ path: 'maxBacklog', message: `must be a number >= 0 (or Infinity), got ${String(maxBacklog)}` }]);
  }
  const query: EventQuery = { order: 'asc', limit: batchSize };
  if (filter.correlationId) query.correlationId = filter.correlationId;
  if (filter.types && filter.types.length > 0) query.type = filter.types;
  for (const key of ['since', 'until'] as const) {
    const t = filter[key];
    if (t === undefined) continue;
    const d = t instanceof Date ? t : new Date(t);
    if (Number.isNaN(d.getTime())) throw new EventValidationError(undefined, [{ path: key, message: 'must be a valid date' }]);
    query[key] = d.toISOString();
  }
  const { signal } = filter;
  const stream = ctx.config.eventStreamName;
  const replayedAt = isoNow(ctx.clock);

  // Backpressure state per group: its backlog when it last shrank, and when (real time).
  const draining = new Map<string, { backlog: number; at: number }>();
  const ignored = new Set<string>();
  const waitForConsumers = async (): Promise<void> => {
    if (maxBacklog === Infinity) return;
    for (;;) {
      throwIfAborted(signal);
      const info = await ctx.transport.info(stream, { signal });
      const now = performance.now();
      let wait = false;
      for (const g of info.groups) {
        if ((filter.group !== undefined && g.name !== filter.group) || ignored.has(g.name) || g.consumers === 0) continue;
        // Not read yet, or read and not acknowledged yet: both are messages the group still holds.
        const backlog = g.lag + g.pending;
        if (backlog <= maxBacklog) {
          draining.delete(g.name);
          continue;
        }
        const last = draining.get(g.name);
        if (!last || backlog < last.backlog) draining.set(g.name, { backlog, at: now });
        else if (now - last.at > STALL_MS) {
          // Nobody is working this group off: waiting would stall the replay for nothing.
          ignored.add(g.name);
          ctx.logger.warn('replay: a consumer group is not working off its backlog; no longer waiting for it', { group: g.name, backlog });
          continue;
        }
        wait = true;
      }
      if (!wait) return;
      await sleep(POLL_MS, signal);
    }
  };

  let replayed = 0;
  let cursor: string | undefined;
  do {
    const page = await ctx.store.query(cursor ? { ...query, cursor } : query, { signal });
    if (page.events.length > 0) {
      const messages: OutgoingMessage[] = page.events.map((stored) => {
        const { storedAt: _s, publishedAt: _p, ...event } = stored;
        const copy: EventEnvelope = { ...event, metadata: { ...(event.metadata ?? {}), replayed: true, replayedAt } };
        return { body: encodeEnvelope(copy), priority: priorityRank(copy.priority) };
      });
      if (filter.group) await ctx.transport.redeliver(stream, filter.group, messages, { signal });
      else await ctx.transport.publish(stream, messages, { signal });
      replayed += messages.length;
      filter.onProgress?.({ replayed, lastOccurredAt: page.events[page.events.length - 1]!.occurredAt });
    }
    cursor = page.nextCursor;
    if (cursor) await waitForConsumers();
  } while (cursor);
  return replayed;
}
