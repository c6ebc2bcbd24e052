import type { SystemContext } from './context.js';
import type { SignalOptions } from './contracts/transport.js';
import { StoreError, isEventBusError, toError } from './errors.js';
import { encodeEnvelope, priorityRank } from './events/envelope.js';

/**
 * Runs one store call of the core (the publisher's append, the relay's reads and marks) within
 * `storeTimeoutMs`, whatever the store: it gets a signal that aborts at the bound, and the call
 * rejects with `StoreError` then even if the store ignores the signal. A non-`EventBusError`
 * failure of a store becomes a `StoreError` too.
 *
 * @internal
 */
export async function boundedStoreCall<T>(
  ctx: SystemContext,
  op: string,
  options: SignalOptions | undefined,
  call: (options: SignalOptions) => Promise<T>,
): Promise<T> {
  const ms = ctx.config.storeTimeoutMs;
  const bound = new AbortController();
  const timer = setTimeout(() => bound.abort(), ms);
  const signal = options?.signal ? AbortSignal.any([options.signal, bound.signal]) : bound.signal;
  const expired = new Promise<never>((_, reject) =>
    bound.signal.addEventListener('abort', () =>
      reject(
        new StoreError(
          `[event-bus:${ctx.store.name}] ${op} did not finish within ${ms} ms (storeTimeoutMs, PROCUR_EVENT_STORE_TIMEOUT_MS): the event store is not answering.`,
        ),
      ),
    ),
  );
  try {
    return await Promise.race([call({ ...options, signal }), expired]);
  } catch (err) {
    if (options?.signal?.aborted && err === options.signal.reason) throw err;
    if (bound.signal.aborted && !isEventBusError(err, 'ERR_STORE')) return expired;
    throw isEventBusError(err) ? err : new StoreError(`[event-bus:${ctx.store.name}] ${op} failed: ${toError(err).message}`, { cause: err });
  } finally {
    clearTimeout(timer);
    expired.catch(() => undefined);
  }
}

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
        const due = (
          await boundedStoreCall(ctx, 'unpublished', undefined, (o) => ctx.store.unpublished({ ...o, limit: this.batchSize }))
        ).filter((e) => Date.parse(e.storedAt) <= cutoff);
        if (due.length === 0) break;
        const messages = due.map((stored) => {
          const { storedAt: _s, publishedAt: _p, ...event } = stored;
          return { body: encodeEnvelope(event), priority: priorityRank(event.priority) };
        });
        await ctx.transport.publish(ctx.config.eventStreamName, messages);
        await boundedStoreCall(ctx, 'markPublished', undefined, (o) => ctx.store.markPublished(due.map((e) => e.id), o));
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
