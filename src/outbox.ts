import type { SystemContext } from './context.js';
import { encodeEnvelope, priorityRank } from './events/envelope.js';

/** Options of the outbox relay. */
export interface OutboxOptions {
  /** How often the relay looks for unpublished events, in ms. @default 5000 */
  intervalMs?: number;
  /** Only events stored at least this long ago are re-published (a publish may be in flight). @default 5000 */
  graceMs?: number;
  /** Events per round trip. @default 500 */
  batchSize?: number;
}

/**
 * Publishes events that were stored but not handed to the transport (the transport was down).
 * Runs at start and on an interval. May publish an event twice if it races a publisher that is
 * about to mark it published: delivery is at-least-once.
 */
export class OutboxRelay {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private readonly intervalMs: number;
  private readonly graceMs: number;
  private readonly batchSize: number;

  /** @internal */
  constructor(
    private readonly ctx: SystemContext,
    options: OutboxOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 5000;
    this.graceMs = options.graceMs ?? 5000;
    this.batchSize = options.batchSize ?? 500;
  }

  /** Starts the periodic relay (the timer never keeps the process alive). */
  start(): void {
    if (this.timer) return;
    void this.runOnce();
    this.timer = setInterval(() => void this.runOnce(), this.intervalMs);
    this.timer.unref();
  }

  /**
   * Publishes what is due now; returns how many events were published. Never throws.
   *
   * @param options.graceMs - override the grace period (0 after committing a transaction that published events).
   */
  runOnce(options: { graceMs?: number } = {}): Promise<number> {
    if (this.running && options.graceMs !== undefined) {
      // A run with the default grace is under way; run again after it with the caller's grace.
      return this.running.then(() => this.runOnce(options));
    }
    if (!this.running) {
      this.running = this.relay(options.graceMs ?? this.graceMs).finally(() => {
        this.running = undefined;
      });
    }
    return this.running;
  }

  private async relay(graceMs: number): Promise<number> {
    const { ctx } = this;
    let total = 0;
    try {
      for (;;) {
        const cutoff = ctx.clock.now() - graceMs;
        const due = (await ctx.store.unpublished({ limit: this.batchSize })).filter((e) => Date.parse(e.storedAt) <= cutoff);
        if (due.length === 0) break;
        const messages = due.map((stored) => {
          const { storedAt: _s, publishedAt: _p, ...event } = stored;
          return { body: encodeEnvelope(event), priority: priorityRank(event.priority) };
        });
        await ctx.transport.publish(ctx.config.eventStreamName, messages);
        await ctx.store.markPublished(due.map((e) => e.id));
        total += due.length;
        if (due.length < this.batchSize) break;
      }
      if (total > 0) ctx.logger.info('outbox relay published stored events', { count: total });
    } catch (err) {
      ctx.logger.warn('outbox relay could not publish yet; will retry', { error: (err as Error).message, published: total });
    }
    return total;
  }

  /** Stops the relay and waits for a run in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
