import { hasListeners } from './hooks.js';
import { hostname } from 'node:os';
import type { BackoffOptions } from './backoff.js';
import { isoNow } from './clock.js';
import type { SystemContext } from './context.js';
import type { ProcessingRecord } from './contracts/store.js';
import { Batcher } from './batcher.js';
import { DeliveryLoop, raceAbort, type InFlight } from './delivery-loop.js';
import { ClosedError, EventValidationError, TimeoutError, toError } from './errors.js';
import { deadLetterDelivery, decideRetry, defaultBackoff } from './retry-policy.js';
import type { EventEnvelope } from './events/envelope.js';
import { decodeDelivery } from './events/in-process.js';
import { eventTypeName } from './events/registry.js';
import { traceConsumer, traceSettle } from './tracing.js';
import { BatchHandlers, assertNoBatchHandler, type BatchEventHandler, type BatchHandlerOptions } from './batch-handler.js';
import type { CheckedEventRef, EventRef, HandlerData } from './events/types.js';

/** What a handler gets besides the event. */
export interface HandlerContext {
  /** Which attempt this is, from 1. */
  attempt: number;
  /** Attempts allowed in all (1 + retries). */
  maxAttempts: number;
  /**
   * Aborted when the consumer's `timeoutMs` passes, and when the consumer stops and its grace
   * period is over: stop work and throw.
   */
  signal: AbortSignal;
  /** The consumer group. */
  group: string;
  /** This consumer's member name in the group. */
  consumer: string;
  /**
   * With `{ idempotent: true }`: the store transaction that records this event as handled. Write
   * through it (SQL stores: a kysely `Transaction`) and your writes commit atomically with that
   * record. `undefined` otherwise.
   */
  transaction?: unknown;
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
  /** Retry spacing. @default exponential from config.retryBackoffMs to config.retryBackoffMaxMs, no jitter (`defaultBackoff`, shared with task workers) */
  backoff?: BackoffOptions;
  /**
   * Where a group that does not exist yet starts reading: `'beginning'` of what the stream keeps
   * (events published before the first start are delivered) or `'end'` (only newer ones).
   * @default 'beginning'
   */
  startAt?: 'beginning' | 'end';
  /**
   * Handle each event at most once per group, even when it is delivered again (a retry after a
   * crash, a replay): the store records handled ids per group in the same transaction as the
   * handler runs (see `ctx.transaction`). Needs event sourcing on. @default false
   */
  idempotent?: boolean;
  /**
   * How long the handlers of one event may take, in ms (all handlers of the event together, per
   * attempt). When it passes, `ctx.signal` aborts and the attempt fails at once, like a thrown
   * error, with a `TimeoutError` naming the consumer, the event type and the limit: retried with
   * backoff, then dead-lettered. The handler's slot is freed even if it ignores the signal (its
   * late result is ignored, and a warning is logged). Only a handler that returns a promise can
   * be timed out: synchronous code that blocks the event loop cannot be interrupted. @default none (no limit)
   */
  timeoutMs?: number;
}

/**
 * With none of `batchSize`, `concurrency` and `prefetch` given, a consumer reads up to this many
 * times `config.eventBatchSize` per read: the read-ahead grows from the batch size only while the
 * handlers' recent run time says the held events start well within a third of `claimIdleMs`
 * (the same adaptive read-ahead as the task worker's), so a backlog drains in large reads.
 */
const DEFAULT_READ_GROWTH = 10;
/** Event types whose resolved handler list a consumer keeps (see `handlersFor`). */
const MAX_RESOLVED_TYPES = 1000;

/** Options of `consumer.start()`. */
export interface ConsumerStartOptions {
  /** Only these types are handled; other events of the stream are acknowledged and skipped. @default every type with a handler */
  eventTypes?: readonly string[];
  /**
   * Deliveries fetched per read. @default config.eventBatchSize; when none of `batchSize`,
   * `concurrency` and `prefetch` is given, reads grow up to 10 times that while handlers are short.
   */
  batchSize?: number;
  /** Handlers running at once. @default the batch size */
  concurrency?: number;
  /** How long one read waits for events, in ms. @default config.eventBlockTime */
  blockMs?: number;
  /**
   * Events read ahead beyond `concurrency` and held until a handler slot frees. One not started
   * within a third of `config.claimIdleMs` is handed back (no attempt counted) for any member,
   * and no more is read ahead while every slot has been busy that long; held events are handed
   * back at stop too. `0` reads only what can start now. @default the batch size
   */
  prefetch?: number;
}

/** Options of `consumer.stop()`. */
export interface ConsumerStopOptions {
  /**
   * How long to wait for running handlers before aborting their `ctx.signal` and handing their
   * events back for another consumer. @default 30000
   */
  timeoutMs?: number;
}

/**
 * The {@link HandlerContext} of one delivery. A class with `signal` on its prototype, not an
 * object literal with a getter: V8 allocates such literals (closure and all) in the old
 * generation, and what they reference, the whole delivery, then survived every young
 * collection; on the consume hot path that was about 40% of the CPU in garbage collection.
 */
class DeliveryContext implements HandlerContext {
  readonly #f: InFlight;

  constructor(
    readonly attempt: number,
    readonly maxAttempts: number,
    f: InFlight,
    readonly group: string,
    readonly consumer: string,
    readonly transaction?: unknown,
  ) {
    this.#f = f;
  }

  get signal(): AbortSignal {
    return this.#f.controller.signal;
  }
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
  private readonly maxRetries: number;
  private readonly backoff: BackoffOptions;
  private readonly startAt: 'beginning' | 'end';
  private readonly idempotent: boolean;
  private readonly timeoutMs: number | undefined;
  private readonly records: Batcher<ProcessingRecord>;
  private loop: DeliveryLoop | undefined;
  private batches: BatchHandlers | undefined;
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private filter: Set<string> | undefined;
  /** The handlers of each type seen (`null`: none), from `handlers` and `filter`; cleared when either changes. */
  private readonly resolved = new Map<string, EventHandler[] | null>();

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
    this.backoff = options.backoff ?? defaultBackoff(ctx.config);
    this.startAt = options.startAt ?? 'beginning';
    this.idempotent = options.idempotent ?? false;
    this.timeoutMs = options.timeoutMs;
    if (this.timeoutMs !== undefined && !(Number.isFinite(this.timeoutMs) && this.timeoutMs > 0)) {
      throw new EventValidationError(undefined, [
        { path: 'timeoutMs', message: `must be a number of ms > 0, or left out for no limit (got ${String(this.timeoutMs)})` },
      ]);
    }
    if (this.idempotent && !ctx.config.eventSourcingEnabled) {
      throw new EventValidationError(undefined, [
        { path: 'idempotent', message: 'idempotent handling needs event sourcing (PROCUR_EVENT_EVENT_SOURCING_ENABLED=true)' },
      ]);
    }
    this.memberName = `${name}@${HOST}:${process.pid}:${++consumerSeq}`;
    this.records = new Batcher(
      (batch) => ctx.store.recordProcessing(batch),
      (err, count) => ctx.logger.warn('could not record processing outcomes in the store', { count, error: (err as Error).message }),
    );
  }

  /** Events being handled right now. */
  get activeCount(): number {
    return this.loop?.active ?? 0;
  }

  /** True between `start()` and `stop()`. */
  get running(): boolean {
    return this.starting !== undefined && this.stopping === undefined;
  }

  /**
   * Registers a handler for an event type (`'*'` for every type). Several handlers of one type
   * run in registration order; if one throws, the attempt fails and a retry runs them all again.
   *
   * `type` is a catalog type, a `defineEvent` definition or its `.type`, a name declared in
   * `EventTypeRegistry`, or a `string` known only at run time; `event.data` is typed by it (the
   * schema's output, extra fields of other producers included). A misspelled literal is a
   * compile error.
   *
   * @returns this consumer, for chaining.
   * @example
   * ```ts
   * consumer.registerHandler(EventType.NEGOTIATION_STARTED, (event) => event.data.vendorId);
   * consumer.registerHandler(InvoicePaid, (event) => event.data.amount); // InvoicePaid = defineEvent(...)
   * ```
   */
  registerHandler<const R extends EventRef>(type: CheckedEventRef<R>, handler: EventHandler<HandlerData<R>>): this {
    return this.addHandler(eventTypeName(type), handler as EventHandler);
  }

  private addHandler(type: unknown, handler: EventHandler): this {
    if (typeof type !== 'string' || type.length === 0) {
      throw new EventValidationError(undefined, [{ path: 'type', message: 'must be an event type or "*"' }]);
    }
    if (typeof handler !== 'function') {
      throw new EventValidationError(type, [{ path: 'handler', message: 'must be a function' }]);
    }
    if (type !== '*' && this.ctx.validate && !this.ctx.registry.allowUnknownTypes && !this.ctx.registry.has(type)) {
      throw new EventValidationError(type, [
        { path: 'type', message: `unknown event type '${type}'; register it with defineEvent(type, schema)` },
      ]);
    }
    assertNoBatchHandler(this.batches, type, this.name);
    const list = this.handlers.get(type) ?? [];
    list.push(handler as EventHandler);
    this.handlers.set(type, list);
    this.resolved.clear();
    return this;
  }

  /**
   * Registers a batch handler for one event type: it gets up to `maxSize` events of that type at
   * once, or those that arrived within `maxWaitMs` of the first, and settles each on its own.
   * Return to acknowledge them all; `ctx.fail(event, error)` or a thrown {@link BatchError}
   * fails only the events named (each retried with the consumer's backoff, or dead-lettered when
   * its retries are used up, alone); any other throw fails every event of the batch (each on its
   * own attempt count). Payloads are validated per event first: one that fails its schema is
   * dead-lettered alone and never reaches the handler.
   *
   * A type takes either one batch handler or `registerHandler` handlers; `'*'` handlers do not
   * run for it. Batches of one type may run at once as slots allow; the consumer's `concurrency`
   * (default: the larger of the batch size and the largest `maxSize`) bounds the events held in
   * all. `timeoutMs` of the consumer applies to each batch call. `stop()` hands partial batches
   * over at once.
   *
   * @throws {@link EventValidationError} for `'*'`, an unknown type, a type that already has a
   *   handler, a non-function handler, `maxSize` not a whole number from 1 to 10000, `maxWaitMs`
   *   not a number >= 0, or an idempotent consumer.
   * @returns this consumer, for chaining.
   * @example
   * ```ts
   * consumer.registerBatchHandler(InvoicePaid, async (events, ctx) => {
   *   for (const e of events) if (e.data.amount < 0) ctx.fail(e, new UnrecoverableError('negative amount'));
   *   await db.insertMany(events.map((e) => e.data));
   * }, { maxSize: 500, maxWaitMs: 100 });
   * ```
   */
  registerBatchHandler<const R extends EventRef>(
    type: CheckedEventRef<R>,
    handler: BatchEventHandler<HandlerData<R>>,
    options?: BatchHandlerOptions,
  ): this {
    this.batches ??= new BatchHandlers({
      ctx: this.ctx,
      name: this.name,
      stream: this.stream,
      group: this.group,
      memberName: this.memberName,
      maxAttempts: this.maxRetries + 1,
      timeoutMs: this.timeoutMs,
      idempotent: this.idempotent,
      succeeded: (f, event, started) => this.succeeded(f, event, started),
      failed: (f, event, thrown, started) => this.failed(f, event, thrown, started),
      deadLetter: (f, event, error) => this.deadLetter(f, event, error),
    });
    this.batches.register(eventTypeName(type), handler, options, (t) => this.handlers.has(t));
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
    const batchSize = positiveInt('batchSize', options.batchSize ?? config.eventBatchSize);
    const grow = options.batchSize === undefined && options.concurrency === undefined && options.prefetch === undefined;
    this.filter = options.eventTypes ? new Set(options.eventTypes) : undefined;
    this.resolved.clear();
    // With batch handlers the default concurrency holds the largest batch.
    const concurrency = positiveInt('concurrency', options.concurrency ?? Math.max(batchSize, this.batches?.maxSize ?? 0));
    this.batches?.started(concurrency);
    this.loop = new DeliveryLoop({
      transport: this.ctx.transport,
      logger: this.ctx.logger,
      clock: this.ctx.clock,
      stream: this.stream,
      group: this.group,
      consumer: this.memberName,
      // At full defaults reads grow with short handlers (see DEFAULT_READ_GROWTH).
      batchSize: grow ? batchSize * DEFAULT_READ_GROWTH : batchSize,
      concurrency,
      // Read the next batch while this one is handled, so a read's round trip overlaps work: at
      // full defaults room for two grown reads (one held, one on the wire), as a loop that sends
      // its next read the moment the last one replied.
      prefetch: grow ? batchSize * (2 * DEFAULT_READ_GROWTH - 1) : (options.prefetch ?? batchSize),
      ...(grow ? { prefetchMin: batchSize } : {}),
      blockMs: positiveInt('blockMs', options.blockMs ?? config.eventBlockTime),
      claimIdleMs: config.claimIdleMs,
      startAt: this.startAt,
      process: traceConsumer(this.ctx, { stream: this.stream, group: this.group, memberName: this.memberName, isBatchType: (t) => this.batches?.has(t) ?? false }, (f, decoded) => this.handle(f, decoded)),
    });
    this.starting = this.loop.start().then(() => {
      this.ctx.logger.info('consumer started', { consumer: this.memberName, group: this.group, stream: this.stream });
    });
    return this.starting;
  }

  /**
   * Stops consuming: no new reads, waits for running handlers up to `timeoutMs`, then aborts
   * the rest through `ctx.signal` and hands their events back (without counting an attempt) so
   * another member takes them. Memoised.
   */
  stop(options: ConsumerStopOptions = {}): Promise<void> {
    this.stopping ??= (async () => {
      // Partial batches are handed to their handlers now rather than after their maxWaitMs.
      this.batches?.close();
      await this.loop?.stop(options.timeoutMs ?? 30_000);
      await this.records.flush();
      this.onClosed(this);
      this.ctx.logger.info('consumer stopped', { consumer: this.memberName });
    })();
    return this.stopping;
  }

  /**
   * Handles one delivery. Synchronous (returns `undefined`) as long as every handler is: the
   * common case costs no promise and no extra tick; the first handler that returns a promise
   * hands over to {@link continueAsync}.
   */
  private handle(f: InFlight, decoded?: EventEnvelope): Promise<void> | undefined {
    const loop = this.loop as DeliveryLoop;
    const d = f.delivery;
    let event: EventEnvelope;
    try {
      event = decoded ?? decodeDelivery(d);
    } catch (err) {
      return this.deadLetter(f, undefined, toError(err));
    }
    if (this.batches?.has(event.type) && (!this.filter || this.filter.has(event.type))) return this.batches.add(f, event);
    const handlers = this.handlersFor(event.type);
    if (!handlers) {
      loop.ack(d.deliveryId);
      return undefined;
    }
    const ctx: HandlerContext = new DeliveryContext(d.attempt, this.maxRetries + 1, f, this.group, this.memberName);
    if (this.ctx.validate) {
      try {
        event.data = this.ctx.registry.validateKnown(event.type, event.data);
      } catch (err) {
        // A payload that fails its schema (a foreign or outdated producer) fails every retry too.
        return this.deadLetter(f, event, toError(err));
      }
    }
    const started = performance.now();
    if (this.idempotent) return this.handleOnce(f, event, handlers, ctx, started);
    for (let i = 0; i < handlers.length; i++) {
      let r: unknown;
      try {
        r = (handlers[i] as EventHandler)(event, ctx);
      } catch (thrown) {
        return this.failed(f, event, thrown, started);
      }
      // Only a returned promise is awaited: a synchronous handler costs no extra tick.
      if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') {
        if (this.timeoutMs !== undefined) return this.continueTimed(f, event, handlers, i, r as Promise<unknown>, ctx, started);
        // The last handler's promise settles the delivery: one reaction, no async frame.
        if (i === handlers.length - 1) {
          return (r as Promise<unknown>).then(
            () => this.succeeded(f, event, started),
            (thrown: unknown) => this.failed(f, event, thrown, started),
          );
        }
        return this.continueAsync(f, event, handlers, i, r as Promise<unknown>, ctx, started);
      }
    }
    this.succeeded(f, event, started);
    return undefined;
  }

  /** The rest of {@link handle} once handler `i` returned a promise. */
  private async continueAsync(
    f: InFlight,
    event: EventEnvelope,
    handlers: EventHandler[],
    i: number,
    pending: Promise<unknown>,
    ctx: HandlerContext,
    started: number,
  ): Promise<void> {
    try {
      await pending;
      for (let k = i + 1; k < handlers.length; k++) {
        const r = (handlers[k] as EventHandler)(event, ctx);
        if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') await r;
      }
    } catch (thrown) {
      return this.failed(f, event, thrown, started);
    }
    this.succeeded(f, event, started);
  }

  /** {@link continueAsync} under `timeoutMs`. */
  private async continueTimed(
    f: InFlight,
    event: EventEnvelope,
    handlers: EventHandler[],
    i: number,
    pending: Promise<unknown>,
    ctx: HandlerContext,
    started: number,
  ): Promise<void> {
    const rest = (async () => {
      await pending;
      // After a timeout, the handlers not started yet are not started late.
      for (let k = i + 1; k < handlers.length && !f.aborted; k++) await (handlers[k] as EventHandler)(event, ctx);
    })();
    try {
      await this.timed(f, event, rest, started);
    } catch (thrown) {
      return this.failed(f, event, thrown, started);
    }
    this.succeeded(f, event, started);
  }

  /**
   * Settles like `work`, or rejects with a `TimeoutError` (and aborts `ctx.signal`) when
   * `timeoutMs` since `started` passes, even if the handler ignores its signal.
   */
  private async timed(f: InFlight, event: EventEnvelope, work: Promise<unknown>, started: number): Promise<unknown> {
    const limit = this.timeoutMs as number;
    const d = f.delivery;
    const timer = setTimeout(
      () =>
        f.controller.abort(
          new TimeoutError(
            `[event-bus] consumer '${this.name}' (group '${this.group}'): the handler of '${event.type}' ran past its timeoutMs of ${limit} ms (event ${event.id}, attempt ${d.attempt})`,
          ),
        ),
      Math.max(0, limit - (performance.now() - started)),
    );
    try {
      return await raceAbort(work, f.controller.signal, () =>
        this.ctx.logger.warn('event handler ignored its abort signal; the attempt ended without it and its late result or error is ignored', {
          consumer: this.memberName,
          group: this.group,
          type: event.type,
          eventId: event.id,
          attempt: d.attempt,
          reason: toError(f.controller.signal.reason).message,
        }),
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /** `{ idempotent: true }`: runs the handlers inside the store's handled-once transaction. */
  private async handleOnce(f: InFlight, event: EventEnvelope, handlers: EventHandler[], ctx: HandlerContext, started: number): Promise<void> {
    const loop = this.loop as DeliveryLoop;
    const d = f.delivery;
    try {
      const once = this.ctx.store.handleOnce(event.id, this.group, async (transaction) => {
        const txCtx = new DeliveryContext(ctx.attempt, ctx.maxAttempts, f, ctx.group, ctx.consumer, transaction);
        for (const h of handlers) await h(event, txCtx);
      });
      const outcome = (this.timeoutMs === undefined ? await once : await this.timed(f, event, once, started)) as Awaited<typeof once>;
      if (!outcome.handled) {
        if (f.released) return;
        // Already handled by this group (a redelivery or a replay): acknowledge, run nothing.
        loop.ack(d.deliveryId);
        this.ctx.logger.debug('event already handled by this group; skipped', { eventId: event.id, group: this.group });
        return;
      }
    } catch (thrown) {
      return this.failed(f, event, thrown, started);
    }
    this.succeeded(f, event, started);
  }

  private failed(f: InFlight, event: EventEnvelope, thrown: unknown, started: number): Promise<void> | undefined {
    if (f.released) return undefined;
    return this.fail(f, event, toError(thrown), performance.now() - started);
  }

  private succeeded(f: InFlight, event: EventEnvelope, started: number): void {
    if (f.released) return;
    const d = f.delivery;
    (this.loop as DeliveryLoop).ack(d.deliveryId);
    const recording = this.ctx.config.eventSourcingEnabled;
    const hooked = hasListeners(this.ctx.hooks, 'handled');
    // The clock is read only when someone takes the duration.
    if (!recording && !hooked) return;
    const durationMs = performance.now() - started;
    this.record(event.id, 'processed', d.attempt, durationMs);
    if (hooked) {
      this.ctx.hooks.emit('handled', { event, group: this.group, consumer: this.memberName, attempt: d.attempt, durationMs });
    }
  }

  private handlersFor(type: string): EventHandler[] | undefined {
    const cached = this.resolved.get(type);
    if (cached !== undefined) return cached ?? undefined;
    let list: EventHandler[] | undefined;
    if (!this.filter || this.filter.has(type)) {
      const exact = this.handlers.get(type);
      const any = this.handlers.get('*');
      list = exact && any ? [...exact, ...any] : (exact ?? any);
    }
    // Types seen on the stream are few; a stream of ever-new types only costs a bounded cache.
    if (this.resolved.size >= MAX_RESOLVED_TYPES) this.resolved.clear();
    this.resolved.set(type, list ?? null);
    return list;
  }

  private async fail(f: InFlight, event: EventEnvelope, error: Error, durationMs: number): Promise<void> {
    const { logger, hooks } = this.ctx;
    const loop = this.loop as DeliveryLoop;
    const d = f.delivery;
    const base = { event, group: this.group, consumer: this.memberName, attempt: d.attempt, error, durationMs };
    const decision = decideRetry(error, d.attempt, { maxRetries: this.maxRetries, backoff: this.backoff });
    if (decision.action === 'later') {
      await loop.nack(d.deliveryId, decision.delayMs, false);
      hooks.emit('failed', { ...base, retryInMs: decision.delayMs });
      return;
    }
    if (decision.action === 'retry') {
      const delayMs = decision.delayMs;
      traceSettle(this.ctx, f, 'retry', this.stream, error, d.attempt, delayMs);
      await loop.nack(d.deliveryId, delayMs);
      this.record(event.id, 'failed', d.attempt, durationMs, error.message);
      logger.warn('handler failed; will retry', { type: event.type, eventId: event.id, attempt: d.attempt, retryInMs: delayMs, error: error.message });
      hooks.emit('failed', { ...base, retryInMs: delayMs });
      return;
    }
    hooks.emit('failed', { ...base, retryInMs: undefined });
    traceSettle(this.ctx, f, 'dead_letter', this.stream, error, d.attempt);
    await this.deadLetter(f, event, error, durationMs);
  }

  private async deadLetter(f: InFlight, event: EventEnvelope | undefined, error: Error, durationMs = 0): Promise<void> {
    const d = f.delivery;
    const dlqId = await deadLetterDelivery(this.ctx, this.loop as DeliveryLoop, this.stream, this.group, d, error, {
      consumer: this.memberName,
      ...(event ? { eventId: event.id, type: event.type } : {}),
    });
    if (dlqId === null) return;
    if (event) this.record(event.id, 'dead-lettered', d.attempt, durationMs, error.message);
    this.ctx.hooks.emit('dead-lettered', { event, body: d.body, group: this.group, error, attempts: d.attempt, dlqId });
  }

  private record(eventId: string, outcome: ProcessingRecord['outcome'], attempt: number, durationMs: number, error?: string): void {
    if (!this.ctx.config.eventSourcingEnabled) return;
    const r: ProcessingRecord = { eventId, group: this.group, outcome, attempt, durationMs: round(durationMs), at: isoNow(this.ctx.clock) };
    if (error !== undefined) r.error = error;
    this.records.push(r);
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
