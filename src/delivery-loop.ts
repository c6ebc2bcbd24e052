import type { Clock } from './clock.js';
import type { Delivery, Transport } from './contracts/transport.js';
import { ClosedError, ErrorCode, isEventBusError } from './errors.js';
import { sleep } from './lifecycle.js';
import type { Logger } from './logger.js';

/** Acks queued before they are sent at once instead of at the end of the event-loop turn. */
const ACK_BATCH_MAX = 256;
/** Reads in a row without yielding to timers and I/O (an in-process transport never waits). */
const READS_BEFORE_YIELD = 32;

/** A delivery being processed by a {@link DeliveryLoop}. @internal */
export class InFlight {
  private abortController: AbortController | undefined;
  /** Set when the loop handed the delivery back at stop: the processor must not settle it. */
  released = false;

  constructor(
    readonly delivery: Delivery,
    readonly startedAt: number,
  ) {}

  /**
   * Aborted when the loop stops and its grace period is over (or by the processor). Created on
   * first use: most handlers never look at their signal, and an AbortController per delivery
   * is a measurable share of the hot path.
   */
  get controller(): AbortController {
    this.abortController ??= new AbortController();
    return this.abortController;
  }

  /** True when the controller exists and was aborted. */
  get aborted(): boolean {
    return this.abortController?.signal.aborted ?? false;
  }
}

/** Options of a {@link DeliveryLoop}. @internal */
export interface DeliveryLoopOptions {
  transport: Transport;
  logger: Logger;
  clock: Clock;
  stream: string;
  group: string;
  consumer: string;
  concurrency: number;
  batchSize: number;
  /**
   * Deliveries read ahead and held beyond `concurrency`, so a finished slot is refilled without
   * a round trip. Held deliveries are kept alive (touched) and handed back at stop. @default 0
   */
  prefetch?: number;
  blockMs: number;
  claimIdleMs: number;
  startAt?: 'beginning' | 'end';
  /**
   * Processes one delivery and settles it (ack, nack, dead-letter) through the loop. Must not
   * throw. Returns `undefined` when it finished synchronously (no promise, no extra tick).
   */
  process: (f: InFlight) => Promise<void> | undefined;
  /**
   * Asked before each read how many deliveries may be taken now (rate limits); 0 means wait.
   * Returns the number granted and, when 0, how long to wait.
   */
  budget?: (wanted: number, signal: AbortSignal) => Promise<{ granted: number; retryInMs?: number }>;
}

/**
 * The read loop shared by event consumers and task workers: claims stale deliveries of dead
 * members, reads up to the free concurrency, runs the processor for each delivery, keeps long
 * runs alive (touch), batches acks, and stops gracefully (finish, then abort and hand back).
 *
 * @internal
 */
export class DeliveryLoop {
  private readonly inFlight = new Map<string, InFlight>();
  /** Read ahead, waiting for a free slot (see `prefetch`). */
  private buffer: Delivery[] = [];
  private readonly controller = new AbortController();
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private loopDone: Promise<void> = Promise.resolve();
  private slotWaiters: (() => void)[] = [];
  private ackQueue: string[] = [];
  private ackFlush: Promise<void> | undefined;
  private ackFlushNow: Promise<void> | undefined;
  private touchTimer: NodeJS.Timeout | undefined;
  /** Set at stop (a plain flag: `pump` checks it per delivery). */
  private stopped = false;
  private pumpScheduled = false;

  constructor(private readonly o: DeliveryLoopOptions) {}

  /** Deliveries being processed. */
  get active(): number {
    return this.inFlight.size;
  }

  /** The deliveries being processed. */
  get current(): IterableIterator<InFlight> {
    return this.inFlight.values();
  }

  /** True between start and stop. */
  get running(): boolean {
    return this.starting !== undefined && this.stopping === undefined;
  }

  /** Creates the group and starts reading. Memoised. */
  start(): Promise<void> {
    if (this.stopping) return Promise.reject(new ClosedError(`reader of '${this.o.stream}'`));
    this.starting ??= (async () => {
      await this.o.transport.ensureGroup(this.o.stream, this.o.group, { startAt: this.o.startAt ?? 'beginning' });
      const touchEvery = Math.max(50, Math.floor(this.o.claimIdleMs / 3));
      this.touchTimer = setInterval(() => void this.touchLongRunning(touchEvery), touchEvery);
      this.touchTimer.unref();
      this.loopDone = this.loop();
    })();
    return this.starting;
  }

  /**
   * Stops reading, waits up to `timeoutMs` for running deliveries, then aborts the rest and
   * hands them back (without counting an attempt) for another member. Memoised.
   */
  stop(timeoutMs: number): Promise<void> {
    this.stopping ??= (async () => {
      await this.starting?.catch(() => {});
      this.stopped = true;
      this.controller.abort();
      this.wakeSlots();
      await this.loopDone;
      if (this.touchTimer) clearInterval(this.touchTimer);
      const held = this.buffer;
      this.buffer = [];
      for (const d of held) {
        await this.safe(
          () => this.o.transport.nack(this.o.stream, this.o.group, d.deliveryId, { delayMs: 0, countAttempt: false }),
          'hand back',
        );
      }
      if (this.inFlight.size > 0) await Promise.race([this.drained(), sleep(timeoutMs)]);
      for (const f of [...this.inFlight.values()]) {
        f.released = true;
        f.controller.abort(new ClosedError(`consumer '${this.o.consumer}'`));
        await this.safe(
          () => this.o.transport.nack(this.o.stream, this.o.group, f.delivery.deliveryId, { delayMs: 0, countAttempt: false }),
          'hand back',
        );
      }
      await this.flushAcks();
    })();
    return this.stopping;
  }

  /** Acknowledges a delivery; acks of one event-loop turn go out in one round trip. */
  ack(deliveryId: string): void {
    this.ackQueue.push(deliveryId);
    if (this.ackQueue.length >= ACK_BATCH_MAX && !this.ackFlushNow) {
      // A busy loop may not yield to setImmediate for a long time: send a full batch now.
      this.ackFlushNow = this.flushAcks().finally(() => {
        this.ackFlushNow = undefined;
      });
    }
    this.ackFlush ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flushAcks());
  }

  /** Queues acks again (acks are idempotent: sending one twice is harmless). */
  private requeueAcks(ids: string[]): void {
    for (const id of ids) this.ack(id);
  }

  /** Hands a delivery back for redelivery after `delayMs`. Failures are logged, never thrown. */
  nack(deliveryId: string, delayMs: number, countAttempt = true): Promise<void> {
    return this.safe(
      () => this.o.transport.nack(this.o.stream, this.o.group, deliveryId, { delayMs, countAttempt }),
      'nack',
    );
  }

  /** Runs a transport call; on failure logs it (the delivery stays pending and is claimed later). */
  async safe(fn: () => Promise<unknown>, what: string): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.o.logger.warn(`${what} failed; the delivery stays pending and will be claimed after claimIdleMs`, {
        stream: this.o.stream,
        error: (err as Error).message,
      });
    }
  }

  private async flushAcks(): Promise<void> {
    await this.ackFlushNow;
    while (this.ackQueue.length > 0) {
      const ids = this.ackQueue;
      this.ackQueue = [];
      await this.safe(() => this.o.transport.ack(this.o.stream, this.o.group, ids), 'ack');
    }
    this.ackFlush = undefined;
  }

  private wakeSlots(): void {
    if (this.slotWaiters.length === 0) return;
    const waiters = this.slotWaiters;
    this.slotWaiters = [];
    for (const w of waiters) w();
  }

  private waitForSlot(): Promise<void> {
    return new Promise<void>((resolve) => this.slotWaiters.push(resolve));
  }

  private async drained(): Promise<void> {
    while (this.inFlight.size > 0) await this.waitForSlot();
  }

  private async loop(): Promise<void> {
    const { transport, logger, clock } = this.o;
    const signal = this.controller.signal;
    const claimEvery = Math.max(100, Math.floor(this.o.claimIdleMs / 2));
    let nextClaimAt = 0;
    let errorDelay = 100;
    let reads = 0;
    const prefetch = this.o.prefetch ?? 0;
    let carried: string[] | undefined;
    let asked = 0;
    while (!signal.aborted) {
      // Held deliveries start from `pump` as slots free, even while this loop waits on a read,
      // so the next read overlaps the work in hand instead of following it.
      const room = this.o.concurrency + prefetch - this.inFlight.size - this.buffer.length;
      // With work still held, wait until half the read-ahead is free: a few full reads, not many tiny ones.
      if (room <= 0 || (this.buffer.length > 0 && room < Math.ceil((this.o.concurrency + prefetch) / 2))) {
        await this.waitForSlot();
        continue;
      }
      let free = room;
      asked = free;
      let deliveries: Delivery[] = [];
      try {
        const now = clock.now();
        if (now >= nextClaimAt) {
          nextClaimAt = now + claimEvery;
          deliveries = await transport.claimStale(this.o.stream, {
            group: this.o.group,
            consumer: this.o.consumer,
            minIdleMs: this.o.claimIdleMs,
            max: free,
          });
          if (deliveries.length > 0) {
            logger.info('claimed stale deliveries of another member', { count: deliveries.length, stream: this.o.stream, group: this.o.group });
          }
        }
        if (deliveries.length === 0) {
          if (this.o.budget) {
            const { granted, retryInMs } = await this.o.budget(Math.min(this.o.batchSize, free), signal);
            if (granted <= 0) {
              await sleep(retryInMs ?? 50, signal);
              continue;
            }
            free = granted;
          }
          // Acks queued since the last flush go out with the read, in its round trip.
          carried = this.ackQueue.length > 0 ? this.ackQueue : undefined;
          if (carried) this.ackQueue = [];
          deliveries = await transport.receive(this.o.stream, {
            group: this.o.group,
            consumer: this.o.consumer,
            max: (asked = Math.min(this.o.batchSize, free)),
            blockMs: this.o.blockMs,
            signal,
            ...(carried ? { ack: carried } : {}),
          });
          // An aborted read may have returned before sending them: they go out with the final flush.
          if (carried && signal.aborted) this.requeueAcks(carried);
          carried = undefined;
        }
        errorDelay = 100;
      } catch (err) {
        if (carried) this.requeueAcks(carried);
        carried = undefined;
        if (signal.aborted || isEventBusError(err, ErrorCode.CLOSED)) break;
        logger.warn('read failed; retrying', { stream: this.o.stream, consumer: this.o.consumer, error: (err as Error).message, retryInMs: errorDelay });
        await sleep(errorDelay, signal);
        errorDelay = Math.min(errorDelay * 2, 5000);
        continue;
      }
      for (const d of deliveries) this.buffer.push(d);
      // A full read means a backlog: start its deliveries once the next read (when there is
      // room for one) is on the wire, so the transport works on it while this batch is handled.
      // A short read (events trickling in) starts at once: latency first.
      if (deliveries.length >= asked) this.schedulePump();
      else this.pump();
      // Let timers, I/O and batched acks run now and then, however fast reads come back.
      if (++reads % READS_BEFORE_YIELD === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Runs `pump` from the check phase of this event-loop turn (once, however often asked). */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Starts held deliveries while slots are free (not after stop: those are handed back). */
  private pump(): void {
    while (this.buffer.length > 0 && this.inFlight.size < this.o.concurrency && !this.stopped) {
      this.dispatch(this.buffer.shift() as Delivery);
    }
  }

  private dispatch(delivery: Delivery): void {
    const f = new InFlight(delivery, this.o.clock.now());
    this.inFlight.set(delivery.deliveryId, f);
    let pending: Promise<void> | undefined;
    try {
      pending = this.o.process(f);
    } catch (err) {
      this.o.logger.error('unexpected error while processing a delivery', { error: (err as Error).message });
    }
    if (pending === undefined) {
      // Finished synchronously: the slot is free again before `pump` looks at the next one.
      this.inFlight.delete(delivery.deliveryId);
      if (this.slotWaiters.length > 0) this.wakeSlots();
      return;
    }
    const done = () => {
      this.inFlight.delete(delivery.deliveryId);
      this.pump();
      this.wakeSlots();
    };
    pending.then(done, (err: unknown) => {
      this.o.logger.error('unexpected error while processing a delivery', { error: (err as Error).message });
      done();
    });
  }

  private async touchLongRunning(olderThanMs: number): Promise<void> {
    const cutoff = this.o.clock.now() - olderThanMs;
    const ids: string[] = [];
    for (const f of this.inFlight.values()) if (f.startedAt <= cutoff && !f.released) ids.push(f.delivery.deliveryId);
    for (const d of this.buffer) ids.push(d.deliveryId);
    if (ids.length === 0) return;
    await this.safe(() => this.o.transport.touch(this.o.stream, this.o.group, this.o.consumer, ids), 'touch');
  }
}
