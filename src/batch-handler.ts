/**
 * Batch handlers of event consumers: `consumer.registerBatchHandler(type, (events, ctx) => ...,
 * { maxSize, maxWaitMs })` hands up to `maxSize` events of one type at once, or what arrived
 * within `maxWaitMs`, and settles each event on its own: the succeeded ones are acknowledged,
 * a failed one is retried or dead-lettered alone, through the consumers' one retry policy
 * (`src/retry-policy.ts`).
 *
 * @module
 */
import type { SystemContext } from './context.js';
import { raceAbort, type InFlight } from './delivery-loop.js';
import { ErrorCode, EventBusError, EventValidationError, TimeoutError, toError } from './errors.js';
import type { EventEnvelope } from './events/envelope.js';

/** Options of `consumer.registerBatchHandler`. */
export interface BatchHandlerOptions {
  /**
   * The most events handed to one call. A batch is also cut short when the consumer's
   * `concurrency` is reached (every slot then holds an event waiting for its batch; the
   * consumer's default concurrency grows to the largest `maxSize`). A whole number >= 1.
   * @default 100
   */
  maxSize?: number;
  /**
   * How long the first event of a batch waits for more, in ms: the batch is handed over when it
   * is full or when this has passed since its first event arrived. `0` hands over what arrived
   * in the same event-loop turn. @default 50
   */
  maxWaitMs?: number;
}

/** What a batch handler gets besides the events. */
export interface BatchContext<TData = unknown> {
  /** Attempts allowed per event in all (1 + retries). */
  readonly maxAttempts: number;
  /**
   * Aborted when the consumer's `timeoutMs` passes for the batch (the whole batch fails with a
   * `TimeoutError`), and when the consumer stops and its grace period is over (the events are
   * handed back for another member, no attempt counted).
   */
  readonly signal: AbortSignal;
  /** The consumer group. */
  readonly group: string;
  /** This consumer's member name in the group. */
  readonly consumer: string;
  /** Which attempt this is for one event of the batch, from 1 (events of one batch may differ). */
  attemptOf(event: EventEnvelope<TData> | string): number;
  /**
   * Fails one event of the batch (by the event or its id): it is retried alone with the
   * consumer's backoff, or dead-lettered when its retries are used up or `error` is an
   * `UnrecoverableError` (`RetryLaterError` asks for a later try without counting the attempt).
   * The other events succeed when the handler returns.
   *
   * @throws {@link EventValidationError} when the event is not in this batch.
   */
  fail(event: EventEnvelope<TData> | string, error: unknown): void;
}

/**
 * A function that handles a batch of events of one type. Return to acknowledge every event not
 * failed with `ctx.fail`; throw a {@link BatchError} to fail the events it lists (the others
 * succeed); throw anything else to fail the whole batch (each event is retried or dead-lettered
 * on its own attempt count).
 */
export type BatchEventHandler<TData = unknown> = (events: EventEnvelope<TData>[], ctx: BatchContext<TData>) => unknown;

/**
 * Thrown by a batch handler to fail some events of its batch and acknowledge the rest.
 * `failures` maps event ids to their errors.
 *
 * @example
 * ```ts
 * consumer.registerBatchHandler('invoice.paid', async (events) => {
 *   const rejected = await bulkInsert(events); // ids the database refused
 *   if (rejected.length) throw new BatchError(rejected.map((id) => [id, new Error('refused')] as const));
 * });
 * ```
 */
export class BatchError extends EventBusError {
  /** The failed events: event id -> error. */
  readonly failures: ReadonlyMap<string, Error>;

  /**
   * @param failures - `[event or id, error]` pairs, or an object of id -> error.
   * @param message - @default a summary naming the count
   */
  constructor(failures: Iterable<readonly [EventEnvelope | string, unknown]> | Record<string, unknown>, message?: string) {
    const map = new Map<string, Error>();
    const entries: Iterable<readonly [EventEnvelope | string, unknown]> =
      Symbol.iterator in Object(failures) ? (failures as Iterable<readonly [EventEnvelope | string, unknown]>) : Object.entries(failures);
    for (const [e, err] of entries) map.set(typeof e === 'string' ? e : e.id, toError(err));
    super(ErrorCode.BATCH, message ?? `[event-bus] ${map.size} event(s) of the batch failed: ${[...map.keys()].slice(0, 5).join(', ')}${map.size > 5 ? ', ...' : ''}`);
    this.name = 'BatchError';
    this.failures = map;
  }
}

/** What the batch handlers need of their consumer. @internal */
export interface BatchHost {
  readonly ctx: SystemContext;
  readonly name: string;
  readonly stream: string;
  readonly group: string;
  readonly memberName: string;
  readonly maxAttempts: number;
  readonly timeoutMs: number | undefined;
  readonly idempotent: boolean;
  succeeded(f: InFlight, event: EventEnvelope, started: number): void;
  failed(f: InFlight, event: EventEnvelope, thrown: unknown, started: number): Promise<void> | undefined;
  deadLetter(f: InFlight, event: EventEnvelope, error: Error): Promise<void>;
}

const DEFAULT_MAX_SIZE = 100;
const DEFAULT_MAX_WAIT_MS = 50;

interface Member {
  f: InFlight;
  event: EventEnvelope;
  started: number;
  done: () => void;
}

interface Slot {
  type: string;
  handler: BatchEventHandler;
  maxSize: number;
  maxWaitMs: number;
  pending: Member[];
  timer: NodeJS.Timeout | undefined;
}

class RunContext implements BatchContext {
  /** The members failed with `ctx.fail`, and their errors. */
  readonly failures = new Map<Member, Error>();

  constructor(
    private readonly members: readonly Member[],
    readonly maxAttempts: number,
    readonly signal: AbortSignal,
    readonly group: string,
    readonly consumer: string,
  ) {}

  attemptOf(event: EventEnvelope | string): number {
    return this.find(event, 'attemptOf')[0]?.f.delivery.attempt as number;
  }

  fail(event: EventEnvelope | string, error: unknown): void {
    for (const m of this.find(event, 'fail')) this.failures.set(m, toError(error));
  }

  /** The members of `event` (an event object of the batch, or an id: every delivery of that id). */
  find(event: EventEnvelope | string, verb: string): Member[] {
    const found =
      typeof event === 'string'
        ? this.members.filter((m) => m.event.id === event)
        : this.members.filter((m) => m.event === event);
    if (found.length === 0 && typeof event === 'object' && event !== null) found.push(...this.members.filter((m) => m.event.id === event.id));
    if (found.length === 0) {
      const id = typeof event === 'string' ? event : (event as EventEnvelope | null)?.id;
      throw new EventValidationError(undefined, [
        { path: 'event', message: `ctx.${verb}(): event ${JSON.stringify(id ?? null)} is not in this batch (pass one of the events given to the handler, or its id)` },
      ]);
    }
    return found;
  }
}

/**
 * The batch handlers of one consumer: collects the deliveries of each batch type, hands them to
 * the handler when a batch is full, its wait is over, the consumer's slots are all held, or the
 * consumer stops, and settles each event through the consumer.
 *
 * @internal
 */
export class BatchHandlers {
  private readonly slots = new Map<string, Slot>();
  private concurrency = Number.POSITIVE_INFINITY;
  private waiting = 0;
  private closing = false;

  constructor(private readonly host: BatchHost) {}

  /** True when a batch handler takes `type`. */
  has(type: string): boolean {
    return this.slots.has(type);
  }

  /** The largest `maxSize` registered (the consumer's default concurrency grows to it). */
  get maxSize(): number {
    let max = 0;
    for (const s of this.slots.values()) max = Math.max(max, s.maxSize);
    return max;
  }

  /**
   * Registers `handler` for `type`.
   *
   * @throws {@link EventValidationError} for a bad type, handler or option, a type that already
   *   has a handler, or an idempotent consumer.
   */
  register(type: unknown, handler: unknown, options: BatchHandlerOptions | undefined, hasHandler: (type: string) => boolean): void {
    const { ctx } = this.host;
    if (typeof type !== 'string' || type.length === 0) {
      throw new EventValidationError(undefined, [{ path: 'type', message: 'must be an event type (a batch handler takes one type, not "*")' }]);
    }
    if (type === '*') {
      throw new EventValidationError(type, [{ path: 'type', message: 'a batch handler takes one event type, not "*"; register one per type' }]);
    }
    if (typeof handler !== 'function') throw new EventValidationError(type, [{ path: 'handler', message: 'must be a function (events, ctx) => ...' }]);
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw new EventValidationError(type, [{ path: 'options', message: 'must be an object such as { maxSize: 100, maxWaitMs: 50 }' }]);
    }
    const maxSize = options?.maxSize ?? DEFAULT_MAX_SIZE;
    const maxWaitMs = options?.maxWaitMs ?? DEFAULT_MAX_WAIT_MS;
    const issues = [];
    if (!Number.isInteger(maxSize) || maxSize < 1 || maxSize > 10_000) {
      issues.push({ path: 'maxSize', message: `must be a whole number from 1 to 10000 (got ${String(maxSize)})` });
    }
    if (typeof maxWaitMs !== 'number' || !Number.isFinite(maxWaitMs) || maxWaitMs < 0 || maxWaitMs > 2_147_483_647) {
      issues.push({ path: 'maxWaitMs', message: `must be a number of ms >= 0 (got ${String(maxWaitMs)})` });
    }
    if (issues.length > 0) throw new EventValidationError(type, issues);
    if (this.host.idempotent) {
      throw new EventValidationError(type, [
        { path: 'idempotent', message: 'batch handlers do not run on an idempotent consumer (handled-once is per event); use registerHandler, or a consumer without idempotent: true' },
      ]);
    }
    if (this.slots.has(type) || hasHandler(type)) {
      throw new EventValidationError(type, [
        { path: 'type', message: `'${type}' already has a handler on consumer '${this.host.name}'; a type takes either one batch handler or registerHandler handlers` },
      ]);
    }
    if (ctx.validate && !ctx.registry.allowUnknownTypes && !ctx.registry.has(type)) {
      throw new EventValidationError(type, [{ path: 'type', message: `unknown event type '${type}'; register it with defineEvent(type, schema)` }]);
    }
    this.slots.set(type, { type, handler: handler as BatchEventHandler, maxSize, maxWaitMs, pending: [], timer: undefined });
  }

  /** Called at start with the consumer's concurrency. */
  started(concurrency: number): void {
    this.concurrency = concurrency;
    const max = this.maxSize;
    if (max > concurrency) {
      this.host.ctx.logger.warn('batch handler maxSize is larger than the consumer concurrency; batches are cut at the concurrency', {
        consumer: this.host.memberName,
        maxSize: max,
        concurrency,
      });
    }
  }

  /**
   * Takes one delivery of a batch type into its batch. Resolves once the event is settled (acked,
   * retried or dead-lettered), so the delivery holds its slot until then.
   */
  add(f: InFlight, event: EventEnvelope): Promise<void> {
    const { ctx } = this.host;
    const slot = this.slots.get(event.type) as Slot;
    if (ctx.validate && ctx.registry.has(event.type)) {
      try {
        event.data = ctx.registry.validate(event.type, event.data);
      } catch (err) {
        // A payload that fails its schema fails every retry too: dead-lettered alone.
        return this.host.deadLetter(f, event, toError(err));
      }
    }
    return new Promise<void>((resolve) => {
      slot.pending.push({ f, event, started: performance.now(), done: resolve });
      this.waiting++;
      if (this.closing || slot.pending.length >= slot.maxSize) this.flush(slot);
      else if (this.waiting >= this.concurrency) {
        // Every slot holds an event waiting for a batch: nothing more can arrive until one runs.
        for (const s of this.slots.values()) if (s.pending.length > 0) this.flush(s);
      } else slot.timer ??= setTimeout(() => this.flush(slot), slot.maxWaitMs);
    });
  }

  /** At stop: hands every partial batch over now, and each later delivery at once. */
  close(): void {
    this.closing = true;
    for (const s of this.slots.values()) if (s.pending.length > 0) this.flush(s);
  }

  private flush(slot: Slot): void {
    if (slot.timer) {
      clearTimeout(slot.timer);
      slot.timer = undefined;
    }
    while (slot.pending.length > 0) {
      const members = slot.pending.splice(0, slot.maxSize);
      this.waiting -= members.length;
      void this.run(slot, members);
    }
  }

  private run(slot: Slot, members: Member[]): Promise<void> {
    const tracing = this.host.ctx.tracing;
    if (tracing === undefined || !tracing.live()) return this.runBatch(slot, members);
    const key = {};
    return tracing.processBatch(
      key,
      {
        destination: this.host.stream,
        id: '',
        group: this.host.group,
        client: this.host.memberName,
        count: members.length,
        attributes: { 'procur.event.type': slot.type },
      },
      members.map((m) => m.event),
      () => this.runBatch(slot, members, (err) => tracing.fail(key, err)),
    );
  }

  private async runBatch(slot: Slot, members: Member[], onFailed?: (err: unknown) => void): Promise<void> {
    const { host } = this;
    const controller = new AbortController();
    const unlink: (() => void)[] = [];
    for (const m of members) {
      // The loop aborts a delivery's signal at stop past the grace period: the batch's too.
      const s = m.f.controller.signal;
      const onAbort = () => controller.abort(s.reason);
      if (s.aborted) onAbort();
      else {
        s.addEventListener('abort', onAbort, { once: true });
        unlink.push(() => s.removeEventListener('abort', onAbort));
      }
    }
    const started = performance.now();
    const ctx = new RunContext(members, host.maxAttempts, controller.signal, host.group, host.memberName);
    let whole: Error | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      let work: unknown;
      try {
        work = slot.handler(
          members.map((m) => m.event),
          ctx,
        );
      } catch (thrown) {
        work = Promise.reject(thrown);
      }
      if (host.timeoutMs !== undefined) {
        const limit = host.timeoutMs;
        timer = setTimeout(
          () =>
            controller.abort(
              new TimeoutError(
                `[event-bus] consumer '${host.name}' (group '${host.group}'): the batch handler of '${slot.type}' ran past its timeoutMs of ${limit} ms (${members.length} events)`,
              ),
            ),
          limit,
        );
        await raceAbort(Promise.resolve(work), controller.signal, () =>
          host.ctx.logger.warn('batch handler ignored its abort signal; the batch ended without it and its late result or error is ignored', {
            consumer: host.memberName,
            type: slot.type,
            events: members.length,
          }),
        );
      } else await work;
    } catch (thrown) {
      if (thrown instanceof BatchError || (thrown as { code?: unknown })?.code === ErrorCode.BATCH) {
        for (const [id, err] of (thrown as BatchError).failures) {
          for (const m of members) if (m.event.id === id && !ctx.failures.has(m)) ctx.failures.set(m, err);
        }
      } else whole = toError(thrown);
    } finally {
      if (timer) clearTimeout(timer);
      for (const u of unlink) u();
    }
    if (whole) onFailed?.(whole);
    else if (ctx.failures.size > 0) onFailed?.(new BatchError([...ctx.failures].map(([m, e]) => [m.event.id, e] as const)));
    const settling: Promise<void>[] = [];
    for (const m of members) {
      const error = whole ?? ctx.failures.get(m);
      if (error === undefined) {
        host.succeeded(m.f, m.event, m.started);
        m.done();
        continue;
      }
      const p = host.failed(m.f, m.event, error, started);
      if (p === undefined) m.done();
      else settling.push(p.then(m.done, m.done));
    }
    await Promise.all(settling);
  }
}

/** Refuses `registerHandler` for a type that has a batch handler. @internal */
export function assertNoBatchHandler(batches: BatchHandlers | undefined, type: string, consumer: string): void {
  if (batches?.has(type)) {
    throw new EventValidationError(type, [
      { path: 'type', message: `'${type}' has a batch handler on consumer '${consumer}'; a type takes either one batch handler or registerHandler handlers` },
    ]);
  }
}
