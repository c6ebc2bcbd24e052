import { hostname } from 'node:os';
import { backoffDelay, type BackoffOptions } from './backoff.js';
import { isoNow } from './clock.js';
import type { SystemContext } from './context.js';
import type { ProcessingRecord } from './contracts/store.js';
import type { Delivery } from './contracts/transport.js';
import { ClosedError, ErrorCode, EventValidationError, RetryLaterError, isEventBusError, toError } from './errors.js';
import type { EventData, EventType } from './events/catalog.js';
import { decodeEnvelope, type EventEnvelope } from './events/envelope.js';
import { sleep } from './lifecycle.js';

/** What a handler gets besides the event. */
export interface HandlerContext {
  /** Which attempt this is, from 1. */
  attempt: number;
  /** Attempts allowed in all (1 + retries). */
  maxAttempts: number;
  /** Aborted when the consumer stops and its grace period is over: stop work and throw. */
  signal: AbortSignal;
  /** The consumer group. */
  group: string;
  /** This consumer's member name in the group. */
  consumer: string;
}

/** A function that handles one event. Throw to fail the attempt. */
export type EventHandler<TData = unknown> = (event: EventEnvelope<TData>, ctx: HandlerContext) => unknown;

/** Options of `bus.consumer(name, options)`. */
export interface ConsumerOptions {
  /** The consumer group: members of one group share the events. @default config.eventConsumerGroup */
  group?: string;
  /** The stream to read. @default config.eventStreamName */
  stream?: string;
  /** Retries after the first attempt before dead-lettering. @default config.dlqMaxRetries */
  maxRetries?: number;
  /** Retry spacing. @default exponential from config.retryBackoffMs to config.retryBackoffMaxMs */
  backoff?: BackoffOptions;
  /** Where a group that does not exist yet starts reading. @default 'end' */
  startAt?: 'beginning' | 'end';
}

/** Options of `consumer.start()`. */
export interface ConsumerStartOptions {
  /** Only these types are handled; other events of the stream are acknowledged and skipped. @default every type with a handler */
  eventTypes?: readonly string[];
  /** Deliveries fetched per read. @default config.eventBatchSize */
  batchSize?: number;
  /** Handlers running at once. @default the batch size */
  concurrency?: number;
  /** How long one read waits for events, in ms. @default config.eventBlockTime */
  blockMs?: number;
}

/** Options of `consumer.stop()`. */
export interface ConsumerStopOptions {
  /**
   * How long to wait for running handlers before aborting their `ctx.signal` and handing their
   * events back for another consumer. @default 30000
   */
  timeoutMs?: number;
}

interface InFlight {
  delivery: Delivery;
  controller: AbortController;
  startedAt: number;
  released: boolean;
}

let consumerSeq = 0;
const HOST = hostname();

/**
 * A named member of a consumer group. Events of the stream are load balanced across the members
 * of a group (in any process sharing the transport); each group gets every event.
 *
 * Delivery is at-least-once: an event is acknowledged only after its handlers succeeded or it was
 * dead-lettered. A failed attempt is retried by delayed redelivery with exponential backoff up to
 * `maxRetries`, then moved to the dead letter queue with its error, stack and attempt count.
 * Handlers should be idempotent.
 *
 * Every event type of the stream reaches every group, so a group's members should register the
 * same handlers: an event no handler of the receiving member takes is acknowledged and skipped.
 * Give each service its own group.
 */
export class Consumer {
  /** The consumer's name. */
  readonly name: string;
  /** The consumer group. */
  readonly group: string;
  /** The stream read. */
  readonly stream: string;
  /** The member name used on the transport (`name@host:pid:n`). */
  readonly memberName: string;

  private readonly handlers = new Map<string, EventHandler[]>();
  private readonly inFlight = new Map<string, InFlight>();
  private readonly maxRetries: number;
  private readonly backoff: BackoffOptions;
  private readonly startAt: 'beginning' | 'end';
  private loopController = new AbortController();
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private loopDone: Promise<void> = Promise.resolve();
  private slotWaiter: (() => void) | undefined;
  private concurrency = 1;
  private batchSize = 10;
  private blockMs = 1000;
  private filter: Set<string> | undefined;
  private ackQueue: string[] = [];
  private ackFlush: Promise<void> | undefined;
  private records: ProcessingRecord[] = [];
  private recordFlush: Promise<void> | undefined;
  private touchTimer: NodeJS.Timeout | undefined;

  /** @internal */
  constructor(
    private readonly ctx: SystemContext,
    name: string,
    options: ConsumerOptions = {},
    private readonly onClosed: (c: Consumer) => void = () => {},
  ) {
    if (typeof name !== 'string' || name.length === 0) {
      throw new EventValidationError(undefined, [{ path: 'name', message: 'a consumer needs a non-empty name' }]);
    }
    this.name = name;
    this.group = options.group ?? ctx.config.eventConsumerGroup;
    this.stream = options.stream ?? ctx.config.eventStreamName;
    this.maxRetries = options.maxRetries ?? ctx.config.dlqMaxRetries;
    if (!Number.isInteger(this.maxRetries) || this.maxRetries < 0) {
      throw new EventValidationError(undefined, [{ path: 'maxRetries', message: 'must be a whole number >= 0' }]);
    }
    this.backoff = options.backoff ?? {
      type: 'exponential',
      delayMs: ctx.config.retryBackoffMs,
      maxDelayMs: ctx.config.retryBackoffMaxMs,
    };
    this.startAt = options.startAt ?? 'end';
    this.memberName = `${name}@${HOST}:${process.pid}:${++consumerSeq}`;
  }

  /** Events being handled right now. */
  get activeCount(): number {
    return this.inFlight.size;
  }

  /** True between `start()` and `stop()`. */
  get running(): boolean {
    return this.starting !== undefined && this.stopping === undefined;
  }

  /**
   * Registers a handler for an event type (`'*'` for every type). Several handlers of one type
   * run in registration order; if one throws, the attempt fails and a retry runs them all again.
   *
   * @returns this consumer, for chaining.
   */
  registerHandler<T extends EventType>(type: T, handler: EventHandler<EventData<T>>): this;
  registerHandler(type: string, handler: EventHandler): this;
  registerHandler(type: string, handler: EventHandler<never>): this {
    if (typeof type !== 'string' || type.length === 0) {
      throw new EventValidationError(undefined, [{ path: 'type', message: 'must be an event type or "*"' }]);
    }
    if (typeof handler !== 'function') {
      throw new EventValidationError(type, [{ path: 'handler', message: 'must be a function' }]);
    }
    if (type !== '*' && !this.ctx.registry.has(type) && this.ctx.validate) {
      throw new EventValidationError(type, [
        { path: 'type', message: `unknown event type '${type}'; register it with defineEvent(type, schema)` },
      ]);
    }
    const list = this.handlers.get(type) ?? [];
    list.push(handler as EventHandler);
    this.handlers.set(type, list);
    return this;
  }

  /**
   * Starts consuming. Resolves once the group exists and the read loop runs. Calling it again
   * returns the same promise.
   *
   * @throws {@link ClosedError} after `stop()`.
   */
  start(options: ConsumerStartOptions = {}): Promise<void> {
    if (this.stopping) return Promise.reject(new ClosedError(`consumer '${this.name}'`));
    if (this.starting) return this.starting;
    const { config } = this.ctx;
    this.batchSize = positiveInt('batchSize', options.batchSize ?? config.eventBatchSize);
    this.concurrency = positiveInt('concurrency', options.concurrency ?? this.batchSize);
    this.blockMs = positiveInt('blockMs', options.blockMs ?? config.eventBlockTime);
    this.filter = options.eventTypes ? new Set(options.eventTypes) : undefined;
    this.starting = (async () => {
      await this.ctx.transport.ensureGroup(this.stream, this.group, { startAt: this.startAt });
      const touchEvery = Math.max(50, Math.floor(config.claimIdleMs / 3));
      this.touchTimer = setInterval(() => void this.touchLongRunning(touchEvery), touchEvery);
      this.touchTimer.unref();
      this.loopDone = this.loop();
      this.ctx.logger.info('consumer started', { consumer: this.memberName, group: this.group, stream: this.stream });
    })();
    return this.starting;
  }

  /**
   * Stops consuming: no new reads, waits for running handlers up to `timeoutMs`, then aborts
   * the rest through `ctx.signal` and hands their events back (without counting an attempt) so
   * another member takes them. Memoised.
   */
  stop(options: ConsumerStopOptions = {}): Promise<void> {
    if (this.stopping) return this.stopping;
    const timeoutMs = options.timeoutMs ?? 30_000;
    this.stopping = (async () => {
      await this.starting?.catch(() => {});
      this.loopController.abort();
      this.slotWaiter?.();
      await this.loopDone;
      if (this.touchTimer) clearInterval(this.touchTimer);
      if (this.inFlight.size > 0) {
        await Promise.race([this.drained(), sleep(timeoutMs)]);
      }
      const left = [...this.inFlight.values()];
      for (const f of left) {
        f.released = true;
        f.controller.abort(new ClosedError(`consumer '${this.name}'`));
        try {
          await this.ctx.transport.nack(this.stream, this.group, f.delivery.deliveryId, { delayMs: 0, countAttempt: false });
        } catch (err) {
          this.ctx.logger.warn('could not hand back an unfinished event; it will be claimed after claimIdleMs', {
            error: (err as Error).message,
          });
        }
      }
      await this.flushAcks();
      await this.flushRecords();
      this.onClosed(this);
      this.ctx.logger.info('consumer stopped', { consumer: this.memberName });
    })();
    return this.stopping;
  }

  private async drained(): Promise<void> {
    while (this.inFlight.size > 0) {
      await new Promise<void>((resolve) => {
        this.slotWaiter = resolve;
      });
    }
  }

  private async loop(): Promise<void> {
    const { transport, config, logger } = this.ctx;
    const signal = this.loopController.signal;
    const claimEvery = Math.max(100, Math.floor(config.claimIdleMs / 2));
    let nextClaimAt = 0;
    let errorDelay = 100;
    while (!signal.aborted) {
      if (this.inFlight.size >= this.concurrency) {
        await new Promise<void>((resolve) => {
          this.slotWaiter = resolve;
        });
        continue;
      }
      const free = this.concurrency - this.inFlight.size;
      let deliveries: Delivery[] = [];
      try {
        const now = this.ctx.clock.now();
        if (now >= nextClaimAt) {
          nextClaimAt = now + claimEvery;
          deliveries = await transport.claimStale(this.stream, {
            group: this.group,
            consumer: this.memberName,
            minIdleMs: config.claimIdleMs,
            max: free,
          });
          if (deliveries.length > 0) {
            logger.info('claimed stale deliveries of another consumer', { count: deliveries.length, group: this.group });
          }
        }
        if (deliveries.length === 0) {
          deliveries = await transport.receive(this.stream, {
            group: this.group,
            consumer: this.memberName,
            max: Math.min(this.batchSize, free),
            blockMs: this.blockMs,
            signal,
          });
        }
        errorDelay = 100;
      } catch (err) {
        if (signal.aborted || isEventBusError(err, ErrorCode.CLOSED)) break;
        logger.warn('read failed; retrying', { consumer: this.memberName, error: (err as Error).message, retryInMs: errorDelay });
        await sleep(errorDelay, signal);
        errorDelay = Math.min(errorDelay * 2, 5000);
        continue;
      }
      for (const d of deliveries) this.dispatch(d);
    }
  }

  private dispatch(delivery: Delivery): void {
    const f: InFlight = { delivery, controller: new AbortController(), startedAt: this.ctx.clock.now(), released: false };
    this.inFlight.set(delivery.deliveryId, f);
    this.handle(f)
      .catch((err) => this.ctx.logger.error('unexpected consumer error', { error: (err as Error).message }))
      .finally(() => {
        this.inFlight.delete(delivery.deliveryId);
        const w = this.slotWaiter;
        this.slotWaiter = undefined;
        w?.();
      });
  }

  private async handle(f: InFlight): Promise<void> {
    const d = f.delivery;
    let event: EventEnvelope;
    try {
      event = decodeEnvelope(d.body);
    } catch (err) {
      await this.deadLetter(f, undefined, toError(err));
      return;
    }
    const handlers = this.handlersFor(event.type);
    if (!handlers) {
      this.ackLater(d.deliveryId);
      return;
    }
    const ctx: HandlerContext = {
      attempt: d.attempt,
      maxAttempts: this.maxRetries + 1,
      signal: f.controller.signal,
      group: this.group,
      consumer: this.memberName,
    };
    const started = performance.now();
    try {
      if (this.ctx.validate && this.ctx.registry.has(event.type)) {
        event.data = this.ctx.registry.validate(event.type, event.data);
      }
      for (const h of handlers) await h(event, ctx);
    } catch (thrown) {
      if (f.released) return;
      await this.fail(f, event, toError(thrown), performance.now() - started);
      return;
    }
    if (f.released) return;
    const durationMs = performance.now() - started;
    this.ackLater(d.deliveryId);
    this.record({ eventId: event.id, group: this.group, outcome: 'processed', attempt: d.attempt, durationMs: round(durationMs), at: isoNow(this.ctx.clock) });
    this.ctx.hooks.emit('handled', { event, group: this.group, consumer: this.memberName, attempt: d.attempt, durationMs });
  }

  private handlersFor(type: string): EventHandler[] | undefined {
    if (this.filter && !this.filter.has(type)) return undefined;
    const exact = this.handlers.get(type);
    const any = this.handlers.get('*');
    if (exact && any) return [...exact, ...any];
    return exact ?? any;
  }

  private async fail(f: InFlight, event: EventEnvelope, error: Error, durationMs: number): Promise<void> {
    const { transport, logger, hooks } = this.ctx;
    const d = f.delivery;
    const base = { event, group: this.group, consumer: this.memberName, attempt: d.attempt, error, durationMs };
    if (error instanceof RetryLaterError || isEventBusError(error, ErrorCode.RETRY_LATER)) {
      const delayMs = Math.max(0, (error as RetryLaterError).delayMs ?? 0);
      await this.safe(() => transport.nack(this.stream, this.group, d.deliveryId, { delayMs, countAttempt: false }), 'nack');
      hooks.emit('failed', { ...base, retryInMs: delayMs });
      return;
    }
    const unrecoverable = isEventBusError(error, ErrorCode.UNRECOVERABLE);
    if (!unrecoverable && d.attempt <= this.maxRetries) {
      const delayMs = backoffDelay(this.backoff, d.attempt);
      await this.safe(() => transport.nack(this.stream, this.group, d.deliveryId, { delayMs }), 'nack');
      this.record({ eventId: event.id, group: this.group, outcome: 'failed', attempt: d.attempt, error: error.message, durationMs: round(durationMs), at: isoNow(this.ctx.clock) });
      logger.warn('handler failed; will retry', { type: event.type, eventId: event.id, attempt: d.attempt, retryInMs: delayMs, error: error.message });
      hooks.emit('failed', { ...base, retryInMs: delayMs });
      return;
    }
    hooks.emit('failed', { ...base, retryInMs: undefined });
    await this.deadLetter(f, event, error, durationMs);
  }

  private async deadLetter(f: InFlight, event: EventEnvelope | undefined, error: Error, durationMs = 0): Promise<void> {
    const { transport, config, logger, hooks } = this.ctx;
    const d = f.delivery;
    let dlqId: string | undefined;
    if (config.dlqEnabled) {
      const context: Record<string, string> = { consumer: this.memberName };
      if (event) {
        context.eventId = event.id;
        context.type = event.type;
      }
      if (error.name) context.errorName = error.name;
      try {
        dlqId = await transport.deadLetter(this.stream, this.group, d, {
          dlq: config.dlqStreamName,
          error: error.message,
          ...(error.stack ? { stack: error.stack } : {}),
          attempts: d.attempt,
          context,
        });
      } catch (err) {
        // Not acked: the delivery stays pending and is claimed and tried again later.
        logger.error('could not dead-letter an event; it stays pending', { error: (err as Error).message });
        return;
      }
      logger.warn('event moved to the dead letter queue', { type: event?.type, eventId: event?.id, attempts: d.attempt, error: error.message });
    } else {
      this.ackLater(d.deliveryId);
      logger.error('event failed for good and was dropped (DLQ disabled)', { type: event?.type, eventId: event?.id, error: error.message });
    }
    if (event) {
      this.record({ eventId: event.id, group: this.group, outcome: 'dead-lettered', attempt: d.attempt, error: error.message, durationMs: round(durationMs), at: isoNow(this.ctx.clock) });
    }
    hooks.emit('dead-lettered', { event, body: d.body, group: this.group, error, attempts: d.attempt, dlqId });
  }

  private async safe(fn: () => Promise<unknown>, what: string): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.ctx.logger.warn(`${what} failed; the delivery stays pending and will be claimed after claimIdleMs`, {
        error: (err as Error).message,
      });
    }
  }

  private ackLater(deliveryId: string): void {
    this.ackQueue.push(deliveryId);
    if (!this.ackFlush) {
      // Acks finished in the same turn of the event loop go out in one round trip.
      this.ackFlush = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flushAcks());
    }
  }

  private async flushAcks(): Promise<void> {
    while (this.ackQueue.length > 0) {
      const ids = this.ackQueue;
      this.ackQueue = [];
      await this.safe(() => this.ctx.transport.ack(this.stream, this.group, ids), 'ack');
    }
    this.ackFlush = undefined;
  }

  private record(r: ProcessingRecord): void {
    if (!this.ctx.config.eventSourcingEnabled) return;
    this.records.push(r);
    if (!this.recordFlush) {
      this.recordFlush = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flushRecords());
    }
  }

  private async flushRecords(): Promise<void> {
    while (this.records.length > 0) {
      const batch = this.records;
      this.records = [];
      try {
        await this.ctx.store.recordProcessing(batch);
      } catch (err) {
        this.ctx.logger.warn('could not record processing outcomes in the store', { count: batch.length, error: (err as Error).message });
      }
    }
    this.recordFlush = undefined;
  }

  private async touchLongRunning(olderThanMs: number): Promise<void> {
    const cutoff = this.ctx.clock.now() - olderThanMs;
    const ids: string[] = [];
    for (const f of this.inFlight.values()) if (f.startedAt <= cutoff && !f.released) ids.push(f.delivery.deliveryId);
    if (ids.length === 0) return;
    await this.safe(() => this.ctx.transport.touch(this.stream, this.group, this.memberName, ids), 'touch');
  }
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) {
    throw new EventValidationError(undefined, [{ path: name, message: `must be a whole number >= 1 (got ${String(v)})` }]);
  }
  return v;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
