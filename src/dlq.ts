import type { SystemContext } from './context.js';
import type { DeadLetter, SignalOptions } from './contracts/transport.js';
import { NotFoundError } from './errors.js';
import { decodeEnvelope, type EventEnvelope } from './events/envelope.js';

/** A dead letter queue entry as `bus.dlq` shows it. */
export interface DeadLetterEntry {
  /** The entry id (pass it to `replay` and `delete`). */
  id: string;
  /** The event, or `undefined` when the message could not be decoded (see `body`). */
  event: EventEnvelope | undefined;
  /** The raw message as it was read. */
  body: string;
  /** The last error message. */
  error: string;
  /** The last error's stack, when there was one. */
  stack: string | undefined;
  /** Attempts made. */
  attempts: number;
  /** When it was dead-lettered. */
  failedAt: Date;
  /** The consumer group (or task queue) that failed it. */
  group: string;
  /** The stream it came from. */
  stream: string;
  /** Extra context (consumer name, event type). */
  context: Record<string, string>;
}

/** Options of `dlq.list`. */
export interface DlqListOptions extends SignalOptions {
  /** At most this many, oldest first. @default 100 */
  limit?: number;
  /** Entries after this id (the last id of the previous page). */
  after?: string;
}

/**
 * The dead letter queue: events that failed every attempt, or could not be decoded. Inspect
 * them, replay them once the cause is fixed, or delete them.
 */
export class DeadLetterQueue {
  /** @internal */
  constructor(private readonly ctx: SystemContext) {}

  private get name(): string {
    return this.ctx.config.dlqStreamName;
  }

  /** The number of entries. */
  size(options?: SignalOptions): Promise<number> {
    return this.ctx.transport.countDeadLetters(this.name, options);
  }

  /** Entries, oldest first, with cursor paging through `after`. */
  async list(options: DlqListOptions = {}): Promise<DeadLetterEntry[]> {
    const rows = await this.ctx.transport.listDeadLetters(this.name, options);
    return rows.map(toEntry);
  }

  /** One entry, or `undefined`. */
  async get(id: string, options?: SignalOptions): Promise<DeadLetterEntry | undefined> {
    const row = await this.ctx.transport.getDeadLetter(this.name, id, options);
    return row ? toEntry(row) : undefined;
  }

  /**
   * Delivers the entry's message again to the group that failed it (other groups do not see it
   * again), as a first attempt, then removes it from the DLQ. If the process dies in between, the
   * entry stays and a second replay may deliver the message twice (at-least-once).
   *
   * @throws {@link NotFoundError} when there is no such entry.
   */
  async replay(id: string, options?: SignalOptions): Promise<void> {
    const row = await this.ctx.transport.getDeadLetter(this.name, id, options);
    if (!row) throw new NotFoundError(`[event-bus] No dead letter '${id}' in '${this.name}'`);
    await this.ctx.transport.redeliver(row.stream, row.group, [{ body: row.body, priority: row.priority, attempt: 1 }], options);
    await this.ctx.transport.deleteDeadLetters(this.name, [id], options);
  }

  /** Replays every entry (page by page, oldest first). Returns how many were replayed. */
  async replayAll(options: SignalOptions & { limit?: number } = {}): Promise<number> {
    const max = options.limit ?? Number.POSITIVE_INFINITY;
    let done = 0;
    while (done < max) {
      const page = await this.ctx.transport.listDeadLetters(this.name, { limit: Math.min(100, max - done), signal: options.signal });
      if (page.length === 0) break;
      for (const row of page) {
        await this.ctx.transport.redeliver(row.stream, row.group, [{ body: row.body, priority: row.priority, attempt: 1 }], options);
        await this.ctx.transport.deleteDeadLetters(this.name, [row.id], options);
        done++;
      }
    }
    return done;
  }

  /** Deletes one entry. Returns whether it existed. */
  async delete(id: string, options?: SignalOptions): Promise<boolean> {
    return (await this.ctx.transport.deleteDeadLetters(this.name, [id], options)) > 0;
  }

  /** Deletes every entry. Returns how many there were. */
  purge(options?: SignalOptions): Promise<number> {
    return this.ctx.transport.purgeDeadLetters(this.name, options);
  }
}

function toEntry(row: DeadLetter): DeadLetterEntry {
  let event: EventEnvelope | undefined;
  try {
    event = decodeEnvelope(row.body);
  } catch {
    event = undefined;
  }
  return {
    id: row.id,
    event,
    body: row.body,
    error: row.error,
    stack: row.stack,
    attempts: row.attempts,
    failedAt: new Date(row.failedAt),
    group: row.group,
    stream: row.stream,
    context: row.context,
  };
}
