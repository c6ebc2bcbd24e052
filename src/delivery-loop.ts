import type { Clock } from './clock.js';
import type { Delivery, Transport } from './contracts/transport.js';
import { ClosedError, ErrorCode, isEventBusError } from './errors.js';
import { takesValues } from './events/in-process.js';
import { sleep } from './lifecycle.js';
import type { Logger } from './logger.js';

/** Acks queued before they are sent at once instead of at the end of the event-loop turn. */
const ACK_BATCH_MAX = 256;
/**
 * How long acks may wait for the read on the wire to come back (and carry them with the next
 * one) before they are sent on their own: that read was full (a backlog), so it is expected
 * well within this, unless the backlog ended and it now waits for new events.
 */
const ACK_HOLD_MS = 5;
/** Reads in a row without yielding to timers and I/O (an in-process transport never waits). */
const READS_BEFORE_YIELD = 32;
/**
 * How long after its signal aborted a handler may still settle before {@link raceAbort} logs that
 * it ignored the signal (a handler that honours it settles well within this).
 */
const IGNORED_SIGNAL_GRACE_MS = 1000;

/**
 * Settles like `work`, or rejects with `signal.reason` as soon as `signal` aborts, whichever
 * comes first: a handler that ignores its signal (a promise that never settles) does not keep its
 * attempt, nor its concurrency slot, forever. When `work` has not settled
 * {@link IGNORED_SIGNAL_GRACE_MS} after the abort, `onIgnored` runs once. The late outcome of
 * `work` is dropped (never an unhandled rejection).
 *
 * @internal
 */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal, onIgnored: () => void): Promise<T> {
  let settled = false;
  const mark = () => {
    settled = true;
  };
  work.then(mark, mark);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      reject(signal.reason);
      if (settled) return;
      const timer = setTimeout(() => {
        if (!settled) onIgnored();
      }, IGNORED_SIGNAL_GRACE_MS);
      timer.unref();
      const clear = () => clearTimeout(timer);
      work.then(clear, clear);
    };
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/**
 * Like {@link raceAbort}, for a delivery's attempt: settles like `work`, or rejects with the
 * attempt's abort reason as soon as {@link InFlight.abort} (or its signal) aborts it. Listens on
 * the attempt itself, so a handler that never reads its signal costs no `AbortController`.
 *
 * @internal
 */
export function raceInFlight<T>(work: Promise<T>, f: InFlight, onIgnored: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let ended = false;
    const onAbort = (reason: unknown) => {
      if (ended) return;
      ended = true;
      reject(reason);
      if (settled) return;
      const timer = setTimeout(() => {
        if (!settled) onIgnored();
      }, IGNORED_SIGNAL_GRACE_MS);
      timer.unref();
      const clear = () => clearTimeout(timer);
      work.then(clear, clear);
    };
    work.then(
      (value) => {
        settled = true;
        if (ended) return;
        ended = true;
        f.onAbort(undefined);
        resolve(value);
      },
      (err: unknown) => {
        settled = true;
        if (ended) return;
        ended = true;
        f.onAbort(undefined);
        reject(err);
      },
    );
    if (f.aborted) onAbort(f.reason);
    else f.onAbort(onAbort);
  });
}

/** A delivery being processed by a {@link DeliveryLoop}. @internal */
export class InFlight {
  private abortController: AbortController | undefined;
  private isAborted = false;
  private abortReason: unknown;
  private abortListener: ((reason: unknown) => void) | undefined;
  /** Set when the loop handed the delivery back at stop: the processor must not settle it. */
  released = false;
  /** When the transport last saw this delivery (its read, then each touch): its idle time starts there. */
  refreshedAt: number;

  constructor(
    readonly delivery: Delivery,
    readonly startedAt: number,
    refreshedAt: number = startedAt,
  ) {
    this.refreshedAt = refreshedAt;
  }

  /**
   * Aborted when the attempt is (see {@link abort}), also when aborted through it. Created on
   * first use: most handlers never look at their signal, and an AbortController per delivery
   * is a measurable share of the hot path.
   */
  get controller(): AbortController {
    if (!this.abortController) {
      const c = new AbortController();
      this.abortController = c;
      if (this.isAborted) c.abort(this.abortReason);
      else c.signal.addEventListener('abort', () => this.markAborted(c.signal.reason), { once: true });
    }
    return this.abortController;
  }

  /** Aborts the attempt (loop stop, timeout, revoke): its signal, if created, and {@link raceInFlight}. Once. */
  abort(reason: unknown): void {
    if (this.isAborted) return;
    if (this.abortController) this.abortController.abort(reason);
    else this.markAborted(reason);
  }

  /** True once the attempt was aborted. */
  get aborted(): boolean {
    return this.isAborted;
  }

  /** Why the attempt was aborted (`undefined` until it is). */
  get reason(): unknown {
    return this.abortReason;
  }

  /** Sets (or with `undefined` clears) the one abort listener, for {@link raceInFlight}. */
  onAbort(listener: ((reason: unknown) => void) | undefined): void {
    this.abortListener = listener;
  }

  private markAborted(reason: unknown): void {
    if (this.isAborted) return;
    this.isAborted = true;
    this.abortReason = reason;
    const l = this.abortListener;
    this.abortListener = undefined;
    l?.(reason);
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
   * a round trip. Held deliveries are not touched: one not started within a third of
   * `claimIdleMs` is handed back (no attempt counted) before any member could claim it, and the
   * rest are handed back at stop. Read-ahead shrinks with the slots busy longer than that (none
   * when every slot is), so a member whose handlers hang does not sit on events. @default 0
   */
  prefetch?: number;
  /**
   * Read-ahead kept whatever the deliveries' run time. Above it, read-ahead is capped to what
   * the slots are expected to start within half the hold time (a third of `claimIdleMs`), from
   * the recent run times: a large default read-ahead serves short deliveries in few reads,
   * and does not hold long ones until they are handed back. @default prefetch (no cap)
   */
  prefetchMin?: number;
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
   * Returns the number granted and, when 0, how long to wait; `validForMs` bounds how long the
   * read that follows may block (a grant spent after its window would exceed the next one).
   */
  budget?: (wanted: number, signal: AbortSignal) => Promise<{ granted: number; retryInMs?: number; validForMs?: number }>;
}

/**
 * The read loop shared by event consumers and task workers: claims stale deliveries of dead
 * members, reads up to the free concurrency, runs the processor for each delivery, keeps long
 * runs alive (touch), batches acks, and stops gracefully (finish, then abort and hand back).
 *
 * @internal
 */
export class DeliveryLoop {
  /** The deliveries being processed (by identity: no hashing of delivery ids per delivery). */
  private readonly inFlight = new Set<InFlight>();
  /** Read ahead, waiting for a free slot (see `prefetch`). */
  private buffer: Delivery[] = [];
  /** When each delivery of `buffer` was read (same order). */
  private bufferAt: number[] = [];
  /** How long a delivery may be held, and how long a slot may run before it counts as busy for long (a third of claimIdleMs). */
  private readonly holdMs: number;
  /** Held deliveries being handed back by the touch timer (awaited at stop). */
  private handingBack: Promise<void> = Promise.resolve();
  private readonly controller = new AbortController();
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private loopDone: Promise<void> = Promise.resolve();
  private slotWaiters: (() => void)[] = [];
  private ackQueue: string[] = [];
  /** Acks waiting for their record to be written (see `ackAfter`). */
  private readonly tails = new Set<Promise<void>>();
  private ackFlush: Promise<void> | undefined;
  private ackFlushNow: Promise<void> | undefined;
  /**
   * Set while a read is on the wire that followed a full read (a backlog): acks queued meanwhile
   * are held for the next read to carry (one round trip, no command of their own), for at most
   * {@link ACK_HOLD_MS}.
   */
  private holdAcks = false;
  private ackHoldTimer: NodeJS.Timeout | undefined;
  private touchTimer: NodeJS.Timeout | undefined;
  /** Set at stop (a plain flag: `pump` checks it per delivery). */
  private stopped = false;
  private pumpScheduled = false;
  /** The transport keeps messages in this process (`src/events/in-process.ts`). */
  private readonly inProcess: boolean;
  /** Recent run time of a delivery, ms (moving average; see `prefetchMin`); -1 before the first. */
  private avgRunMs = -1;

  constructor(private readonly o: DeliveryLoopOptions) {
    this.holdMs = Math.max(50, Math.floor(o.claimIdleMs / 3));
    this.inProcess = takesValues(o.transport);
  }

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
      const touchEvery = this.holdMs;
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
      this.releaseAcks();
      this.wakeSlots();
      await this.loopDone;
      if (this.touchTimer) clearInterval(this.touchTimer);
      await this.handingBack;
      const held = this.buffer;
      this.buffer = [];
      this.bufferAt = [];
      for (const d of held) {
        await this.safe(
          () => this.o.transport.nack(this.o.stream, this.o.group, d.deliveryId, { delayMs: 0, countAttempt: false }),
          'hand back',
        );
      }
      if (this.inFlight.size > 0) await Promise.race([this.drained(), sleep(timeoutMs)]);
      for (const f of [...this.inFlight.values()]) {
        f.released = true;
        f.abort(new ClosedError(`consumer '${this.o.consumer}'`));
        await this.safe(
          () => this.o.transport.nack(this.o.stream, this.o.group, f.delivery.deliveryId, { delayMs: 0, countAttempt: false }),
          'hand back',
        );
      }
      while (this.tails.size > 0) await Promise.all([...this.tails]);
      // A flush scheduled earlier may have taken its acks and still be on the wire: wait for it,
      // then send the rest (stop resolves once every ack is written).
      await this.ackFlush;
      await this.flushAcks();
    })();
    return this.stopping;
  }

  /**
   * Acknowledges a delivery once `written` settles (its result is recorded), without holding
   * its slot meanwhile: the next delivery starts while the record is on the wire, and the ack
   * still follows the record. `stop()` waits for these before its last ack flush.
   */
  ackAfter(deliveryId: string, written: Promise<unknown>): void {
    const tail: Promise<void> = written.then(
      () => this.ack(deliveryId),
      () => this.ack(deliveryId),
    );
    this.tails.add(tail);
    void tail.finally(() => this.tails.delete(tail));
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
    if (this.holdAcks) {
      if (!this.ackHoldTimer) {
        this.ackHoldTimer = setTimeout(() => this.releaseAcks(), ACK_HOLD_MS);
        this.ackHoldTimer.unref();
      }
      return;
    }
    this.scheduleAckFlush();
  }

  /** Sends the queued acks from the check phase of this event-loop turn (once, however often asked). */
  private scheduleAckFlush(): void {
    this.ackFlush ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flushAcks());
  }

  /** Ends holding acks for the read on the wire (it came back, failed, or took too long): they go out as usual. */
  private releaseAcks(): void {
    this.holdAcks = false;
    if (this.ackHoldTimer) {
      clearTimeout(this.ackHoldTimer);
      this.ackHoldTimer = undefined;
    }
    // Scheduled, not sent: a read issued in this turn takes them first (see `loop`).
    if (this.ackQueue.length > 0) this.scheduleAckFlush();
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
    /** The last read returned all it asked for: a backlog, so the next one is expected back at once. */
    let full = false;
    while (!signal.aborted) {
      // Held deliveries start from `pump` as slots free, even while this loop waits on a read,
      // so the next read overlaps the work in hand instead of following it.
      const ahead = this.readAhead(prefetch);
      const room = this.o.concurrency + ahead - this.inFlight.size - this.buffer.length;
      // With work still held, wait until half the read-ahead is free: a few full reads, not many tiny ones.
      if (room <= 0 || (this.buffer.length > 0 && room < Math.ceil((this.o.concurrency + ahead) / 2))) {
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
        let blockFor = this.o.blockMs;
        if (deliveries.length === 0) {
          if (this.o.budget) {
            const { granted, retryInMs, validForMs } = await this.o.budget(Math.min(this.o.batchSize, free), signal);
            if (granted <= 0) {
              await sleep(retryInMs ?? 50, signal);
              continue;
            }
            free = granted;
            if (validForMs !== undefined) blockFor = Math.max(0, Math.min(blockFor, validForMs));
          }
          // Acks queued since the last flush go out with the read, in its round trip.
          carried = this.ackQueue.length > 0 ? this.ackQueue : undefined;
          if (carried) this.ackQueue = [];
          // Behind a full read the next one comes back at once: what is acked meanwhile waits for it.
          this.holdAcks = full && !this.inProcess;
          try {
            deliveries = await transport.receive(this.o.stream, {
              group: this.o.group,
              consumer: this.o.consumer,
              max: (asked = Math.min(this.o.batchSize, free)),
              blockMs: blockFor,
              signal,
              ...(carried ? { ack: carried } : {}),
            });
          } finally {
            if (this.holdAcks || this.ackHoldTimer) this.releaseAcks();
          }
          // An aborted read may have returned before sending them: they go out with the final flush.
          if (carried && signal.aborted) this.requeueAcks(carried);
          carried = undefined;
        }
        errorDelay = 100;
      } catch (err) {
        if (carried) this.requeueAcks(carried);
        carried = undefined;
        full = false;
        if (signal.aborted || isEventBusError(err, ErrorCode.CLOSED)) break;
        logger.warn('read failed; retrying', { stream: this.o.stream, consumer: this.o.consumer, error: (err as Error).message, retryInMs: errorDelay });
        await sleep(errorDelay, signal);
        errorDelay = Math.min(errorDelay * 2, 5000);
        continue;
      }
      full = deliveries.length > 0 && deliveries.length >= asked;
      const readAt = clock.now();
      for (const d of deliveries) {
        this.buffer.push(d);
        this.bufferAt.push(readAt);
      }
      // A full read means a backlog: start its deliveries once the next read (when there is
      // room for one) is on the wire, so the transport works on it while this batch is handled.
      // A short read (events trickling in) starts at once: latency first. An in-process
      // transport has no wire to overlap: its reads return at once, so handling starts now.
      if (deliveries.length >= asked && !this.inProcess) this.schedulePump();
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
    // One clock read per delivery: a delivery that finished synchronously hands its end time on
    // as the start of the next.
    let now = -1;
    // Taken from the front by index and cut once (a shift per delivery moves the rest each time).
    // Nothing a processor does synchronously touches the buffer: it is replaced only by timers
    // (hand-back) and after an await in `stop`, and `pump` re-runs only from promise reactions.
    const buffer = this.buffer;
    const at = this.bufferAt;
    let i = 0;
    while (i < buffer.length && this.inFlight.size < this.o.concurrency && !this.stopped) {
      const d = buffer[i] as Delivery;
      const readAt = at[i] as number;
      i++;
      now = this.dispatch(d, readAt, now);
    }
    if (i > 0) {
      buffer.splice(0, i);
      at.splice(0, i);
    }
  }

  /**
   * The read-ahead allowed now: `prefetch` scaled by the share of slots that can start something
   * soon (free, or running for less than `holdMs`). None when every slot is busy for long (hung
   * handlers, or tasks longer than a third of claimIdleMs): what it read would only wait.
   */
  private readAhead(prefetch: number): number {
    const min = this.o.prefetchMin ?? prefetch;
    if (prefetch > min) {
      // Until a run time is known, only the minimum; a run time of 0 ms fits any read-ahead.
      const fits = this.avgRunMs < 0 ? min : this.avgRunMs === 0 ? prefetch : Math.floor((this.holdMs / 2 / this.avgRunMs) * this.o.concurrency);
      prefetch = Math.max(min, Math.min(prefetch, fits));
    }
    if (prefetch === 0 || this.inFlight.size === 0) return prefetch;
    const cutoff = this.o.clock.now() - this.holdMs;
    let long = 0;
    for (const f of this.inFlight.values()) if (f.startedAt <= cutoff) long++;
    if (long === 0) return prefetch;
    const soon = Math.max(0, this.o.concurrency - long);
    return Math.floor((prefetch * soon) / this.o.concurrency);
  }

  /**
   * Starts one delivery (at `startedAt`, or now when it is negative). Returns the time it
   * finished when it did so synchronously, else -1.
   */
  private dispatch(delivery: Delivery, readAt: number, startedAt = -1): number {
    const f = new InFlight(delivery, startedAt >= 0 ? startedAt : this.o.clock.now(), readAt);
    this.inFlight.add(f);
    let pending: Promise<void> | undefined;
    try {
      pending = this.o.process(f);
    } catch (err) {
      this.o.logger.error('unexpected error while processing a delivery', { error: (err as Error).message });
    }
    if (pending === undefined) {
      // Finished synchronously: the slot is free again before `pump` looks at the next one. Its
      // run time counts too (read-ahead grows with short runs; without it a loop of synchronous
      // handlers kept the minimum read-ahead and read in small batches).
      const end = this.o.clock.now();
      const ran = end - f.startedAt;
      this.avgRunMs = this.avgRunMs < 0 ? ran : this.avgRunMs * 0.8 + ran * 0.2;
      this.inFlight.delete(f);
      if (this.slotWaiters.length > 0) this.wakeSlots();
      return end;
    }
    const done = () => {
      const ran = this.o.clock.now() - f.startedAt;
      this.avgRunMs = this.avgRunMs < 0 ? ran : this.avgRunMs * 0.8 + ran * 0.2;
      this.inFlight.delete(f);
      this.pump();
      this.wakeSlots();
    };
    pending.then(done, (err: unknown) => {
      this.o.logger.error('unexpected error while processing a delivery', { error: (err as Error).message });
      done();
    });
    return -1;
  }

  /**
   * Keeps running deliveries alive (those the transport last saw `olderThanMs` ago or more) and
   * hands back held ones read that long ago: untouched, they would become claimable at
   * claimIdleMs, and a member whose slots all hang would otherwise sit on them for good.
   */
  private async touchLongRunning(olderThanMs: number): Promise<void> {
    const now = this.o.clock.now();
    const cutoff = now - olderThanMs;
    const touched: InFlight[] = [];
    for (const f of this.inFlight.values()) if (f.refreshedAt <= cutoff && !f.released) touched.push(f);
    if (!this.stopped && this.bufferAt.some((at) => at <= cutoff)) this.handBackHeld(cutoff);
    if (touched.length === 0) return;
    const ids = touched.map((f) => f.delivery.deliveryId);
    try {
      await this.o.transport.touch(this.o.stream, this.o.group, this.o.consumer, ids);
      for (const f of touched) f.refreshedAt = now;
    } catch (err) {
      this.o.logger.warn('touch failed; long-running deliveries may be claimed by another member after claimIdleMs', {
        stream: this.o.stream,
        error: (err as Error).message,
      });
    }
  }

  /** Hands back (no attempt counted) the held deliveries read at `cutoff` or earlier. */
  private handBackHeld(cutoff: number): void {
    const keep: Delivery[] = [];
    const keepAt: number[] = [];
    const back: Delivery[] = [];
    for (let i = 0; i < this.buffer.length; i++) {
      const at = this.bufferAt[i] as number;
      if (at <= cutoff) back.push(this.buffer[i] as Delivery);
      else {
        keep.push(this.buffer[i] as Delivery);
        keepAt.push(at);
      }
    }
    this.buffer = keep;
    this.bufferAt = keepAt;
    this.o.logger.info('handed back deliveries read ahead but not started in time (every slot busy)', {
      count: back.length,
      stream: this.o.stream,
      group: this.o.group,
      consumer: this.o.consumer,
      heldMs: this.holdMs,
    });
    const previous = this.handingBack;
    this.handingBack = (async () => {
      await previous;
      for (const d of back) {
        await this.safe(
          () => this.o.transport.nack(this.o.stream, this.o.group, d.deliveryId, { delayMs: 0, countAttempt: false }),
          'hand back',
        );
      }
    })();
    void this.handingBack.then(() => this.wakeSlots());
  }
}
