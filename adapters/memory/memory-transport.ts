/**
 * The in-process {@link Transport}: streams, consumer groups, delays, priorities, a dead letter
 * queue, key-value and notifications, all in the memory of one process. For tests, demos and
 * single-process deployments; nothing survives a restart and nothing is shared between processes.
 *
 * @module
 */

import type {
  ClaimOptions,
  DeadLetter,
  DeadLetterInput,
  Delivery,
  KvSetOptions,
  ListDeadLettersOptions,
  NackOptions,
  OutgoingMessage,
  ReceiveOptions,
  SignalOptions,
  StreamInfo,
  Transport,
  TransportFeatures,
  Unsubscribe,
} from '../../src/contracts/transport.js';
import { systemClock, type Clock } from '../../src/clock.js';
import { ConfigError, TransportError } from '../../src/errors.js';
import { PRIORITY_LEVELS, clampRank } from '../../src/events/envelope.js';
import { TRANSPORT_DEFAULTS, countOption } from '../../src/contracts/transport-defaults.js';
import { Lifecycle, throwIfAborted } from '../../src/lifecycle.js';

/** How many messages a memory stream keeps for groups created with `startAt: 'beginning'`. */
export const DEFAULT_MEMORY_MAX_LEN = 10_000;

/** Options of {@link memoryTransport}. */
export interface MemoryTransportOptions {
  /**
   * The source of time for delays, idle times, `publishedAt` and key expiry. Timers still run on
   * real time; a fake clock is read again whenever the transport is called, so advancing it and
   * then calling `receive` or `info` makes due messages visible. @default systemClock
   */
  clock?: Clock;
  /**
   * How many of the latest messages each stream keeps (Redis `MAXLEN`): what a group created with
   * `startAt: 'beginning'` reads, and what `info().length` counts. It does not bound a group's
   * backlog: messages a group has not read yet are kept until it reads them or they are purged.
   * A non-negative integer or `Infinity`. @default DEFAULT_MEMORY_MAX_LEN (10,000)
   */
  maxLen?: number;
}

/** The longest delay `setTimeout` accepts; longer waits are re-armed. */
const MAX_TIMER_MS = 2_147_483_647;
/** Expired keys are swept every this many writes (reads also drop the expired keys they meet). */
const KV_SWEEP_EVERY = 1024;

const FEATURES: TransportFeatures = Object.freeze({
  persistent: false,
  distributed: false,
  streams: true,
  deadLetters: true,
  keyValue: true,
  signals: true,
  admin: true,
});

/** A FIFO queue with a moving head: O(1) push and shift, no `Array#shift` copies. */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i] as T;
  }
}

/** A published message, shared by the stream log and every group that holds it. */
interface Message {
  readonly id: string;
  readonly body: string;
  readonly priority: number;
  readonly publishedAt: number;
  /** Set once any group has been handed it: `purge` keeps such messages in the log. */
  handed: boolean;
}

/** A message ready for a group, with the attempt number its next delivery carries. */
interface Ready {
  readonly msg: Message;
  readonly attempt: number;
}

/** A pending delivery. */
interface Pending {
  readonly msg: Message;
  attempt: number;
  consumer: string;
  /** When it was handed to its current owner (for `oldestPendingMs`). */
  deliveredAt: number;
  /** When it was handed over or last touched (for idle time and `claimStale`). */
  activeAt: number;
}

/** A blocked `receive`. */
interface Waiter {
  readonly consumer: string;
  readonly max: number;
  readonly resolve: (deliveries: Delivery[]) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  done: boolean;
}

interface GroupState {
  readonly name: string;
  readonly stream: StreamState;
  /** Ready messages, one FIFO per priority rank. */
  readonly ready: Fifo<Ready>[];
  /** Pending deliveries by delivery id, in order of `deliveredAt` (claims re-insert). */
  readonly pending: Map<string, Pending>;
  readonly consumers: Set<string>;
  /** Messages scheduled for a delayed redelivery to this group. */
  retrying: number;
  /** Blocked `receive` calls, served first come first served. */
  readonly waiters: Waiter[];
}

interface StreamState {
  readonly name: string;
  /** The latest `maxLen` visible messages. */
  log: Fifo<Message>;
  readonly lengthByPriority: number[];
  /** Delayed publishes not due yet. */
  delayed: number;
  readonly groups: Map<string, GroupState>;
}

/** A delayed publish (`group` undefined) or a delayed redelivery to one group. */
interface Scheduled {
  readonly due: number;
  readonly seq: number;
  readonly stream: StreamState;
  readonly group: GroupState | undefined;
  readonly msg: Message;
  readonly attempt: number;
}

interface Subscription {
  readonly handler: (message: string) => void;
  active: boolean;
}

interface KvEntry {
  readonly value: string;
  /** `Infinity` when the key does not expire. */
  readonly expiresAt: number;
}

function heapLess(a: Scheduled, b: Scheduled): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

function readyCount(g: GroupState): number {
  let n = 0;
  for (const q of g.ready) n += q.length;
  return n;
}

function copyDeadLetter(e: DeadLetter): DeadLetter {
  return { ...e, context: { ...e.context } };
}

/**
 * Creates an in-process {@link Transport}. It implements the whole contract (consumer groups,
 * pending lists, delays, priorities, dead letters, key-value with TTL, notifications) in memory,
 * so the core runs without infrastructure; it passes the same conformance suite as the Redis
 * adapter (`describeTransport` from `@procur/event-bus/testing`).
 *
 * Contract notes for this adapter:
 * - Not persistent, not distributed (`features`): each call of `memoryTransport()` is its own
 *   world, and everything is lost on `close()` or exit.
 * - Delivery is in priority order (rank 3 first), FIFO within a rank. A blocked `receive` is woken
 *   the moment a message becomes ready for its group (publish, `nack`, a delay ending).
 * - `receive`, `claimStale` and `redeliver` reject with a `TransportError` when the group does not
 *   exist; `ack`, `nack`, `touch` ignore unknown groups like unknown ids.
 * - Priorities outside `0`-`3` are clamped; a missing or `NaN` priority is `1`.
 * - Delivery ids are fresh for each delivery (a stale id from an earlier delivery of the same
 *   message is ignored), and kept when a delivery is claimed (as Redis does).
 * - `touch` only refreshes deliveries owned by the given consumer.
 * - One timer, re-armed to the earliest due delay, is unref'd; a blocked `receive` holds a ref'd
 *   timer of at most `blockMs` (it is an operation the caller awaits). `close()` clears them all.
 *
 * @example
 * ```ts
 * import { memoryTransport } from '@procur/event-bus';
 *
 * const transport = memoryTransport();
 * await transport.ensureGroup('orders', 'billing');
 * await transport.publish('orders', [{ body: '{"id":1}', priority: 2 }]);
 * const [delivery] = await transport.receive('orders', { group: 'billing', consumer: 'w1', blockMs: 1000 });
 * if (delivery) await transport.ack('orders', 'billing', [delivery.deliveryId]);
 * await transport.close();
 * ```
 *
 * @throws `ConfigError` (code `ERR_CONFIG`) when `maxLen` is not a non-negative integer or `Infinity`.
 */
export function memoryTransport(options: MemoryTransportOptions = {}): Transport {
  const clock = options.clock ?? systemClock;
  const maxLen = options.maxLen ?? DEFAULT_MEMORY_MAX_LEN;
  if (!(maxLen === Infinity || (Number.isInteger(maxLen) && maxLen >= 0))) {
    throw new ConfigError('maxLen', `[event-bus:memory] expected a non-negative integer or Infinity, got ${String(maxLen)}.`);
  }

  const life = new Lifecycle('memory transport');
  const streams = new Map<string, StreamState>();
  const dlqs = new Map<string, Map<string, DeadLetter>>();
  const kv = new Map<string, KvEntry>();
  const channels = new Map<string, Set<Subscription>>();
  /** Min-heap of delayed publishes and redeliveries, by (due, seq). */
  const heap: Scheduled[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timerDue = Infinity;
  let messageSeq = 0;
  let deliverySeq = 0;
  let scheduleSeq = 0;
  let dlqSeq = 0;
  let kvWrites = 0;

  // ---- streams and groups -------------------------------------------------------------------

  function streamOf(name: string): StreamState {
    let s = streams.get(name);
    if (!s) {
      s = { name, log: new Fifo(), lengthByPriority: new Array<number>(PRIORITY_LEVELS).fill(0), delayed: 0, groups: new Map() };
      streams.set(name, s);
    }
    return s;
  }

  function requireGroup(stream: string, group: string): GroupState {
    const g = streams.get(stream)?.groups.get(group);
    if (!g) {
      throw new TransportError(
        `[event-bus:memory] Consumer group '${group}' does not exist on stream '${stream}'. Call ensureGroup('${stream}', '${group}') first.`,
      );
    }
    return g;
  }

  function newMessage(body: string, priority: number | undefined, now: number): Message {
    return { id: String(++messageSeq), body, priority: clampRank(priority), publishedAt: now, handed: false };
  }

  /** Makes a message visible on its stream: into the log and every group's backlog. */
  function appendVisible(s: StreamState, msg: Message): void {
    if (maxLen > 0) {
      s.log.push(msg);
      s.lengthByPriority[msg.priority]!++;
      if (s.log.length > maxLen) {
        const dropped = s.log.shift()!;
        s.lengthByPriority[dropped.priority]!--;
      }
    }
    for (const g of s.groups.values()) g.ready[msg.priority]!.push({ msg, attempt: 1 });
  }

  function toDelivery(id: string, g: GroupState, msg: Message, attempt: number): Delivery {
    return {
      deliveryId: id,
      stream: g.stream.name,
      group: g.name,
      body: msg.body,
      priority: msg.priority,
      attempt,
      publishedAt: msg.publishedAt,
    };
  }

  /** Moves up to `max` ready messages, highest rank first, to the pending list of `consumer`. */
  function take(g: GroupState, consumer: string, max: number, now: number): Delivery[] {
    const out: Delivery[] = [];
    for (let rank = PRIORITY_LEVELS - 1; rank >= 0 && out.length < max; rank--) {
      const q = g.ready[rank]!;
      while (out.length < max) {
        const r = q.shift();
        if (r === undefined) break;
        const id = String(++deliverySeq);
        r.msg.handed = true;
        g.pending.set(id, { msg: r.msg, attempt: r.attempt, consumer, deliveredAt: now, activeAt: now });
        out.push(toDelivery(id, g, r.msg, r.attempt));
      }
    }
    return out;
  }

  function finish(w: Waiter, deliveries: Delivery[]): void {
    if (w.done) return;
    w.done = true;
    if (w.timer !== undefined) clearTimeout(w.timer);
    if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
    w.resolve(deliveries);
  }

  /** Hands ready messages to blocked receivers of `g`, first come first served. */
  function drain(g: GroupState): void {
    if (g.waiters.length === 0) return;
    const now = clock.now();
    while (g.waiters.length > 0 && readyCount(g) > 0) {
      const w = g.waiters.shift()!;
      finish(w, take(g, w.consumer, w.max, now));
    }
  }

  // ---- delays: one timer armed to the earliest due entry ------------------------------------

  function heapPush(item: Scheduled): void {
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!heapLess(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  function siftDown(i: number): void {
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && heapLess(heap[l]!, heap[m]!)) m = l;
      if (r < n && heapLess(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  }

  function heapPop(): Scheduled | undefined {
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last !== undefined) {
      heap[0] = last;
      siftDown(0);
    }
    return top;
  }

  function schedule(item: Omit<Scheduled, 'seq'>): void {
    heapPush({ ...item, seq: ++scheduleSeq });
    arm();
  }

  function arm(): void {
    const next = heap[0];
    if (!next) {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      timerDue = Infinity;
      return;
    }
    if (timer !== undefined && timerDue <= next.due) return;
    if (timer !== undefined) clearTimeout(timer);
    timerDue = next.due;
    timer = setTimeout(onTimer, Math.min(MAX_TIMER_MS, Math.max(1, next.due - clock.now())));
    // A delay alone must not keep the process alive; a blocked receive holds its own timer.
    timer.unref();
  }

  function onTimer(): void {
    timer = undefined;
    timerDue = Infinity;
    if (life.closed) return;
    promoteDue();
    arm();
  }

  /** Makes every delayed entry that is due visible, then wakes the groups that got messages. */
  function promoteDue(): void {
    const top = heap[0];
    if (top === undefined) return;
    const now = clock.now();
    if (top.due > now) return;
    const touched = new Set<GroupState>();
    while (heap.length > 0 && heap[0]!.due <= now) {
      const item = heapPop()!;
      if (item.group) {
        item.group.retrying--;
        item.group.ready[item.msg.priority]!.push({ msg: item.msg, attempt: item.attempt });
        touched.add(item.group);
      } else {
        item.stream.delayed--;
        appendVisible(item.stream, item.msg);
        for (const g of item.stream.groups.values()) touched.add(g);
      }
    }
    for (const g of touched) drain(g);
    arm();
  }

  // ---- key-value ----------------------------------------------------------------------------

  function kvLive(key: string, now: number): KvEntry | undefined {
    const e = kv.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= now) {
      kv.delete(key);
      return undefined;
    }
    return e;
  }

  function sweepKv(now: number): void {
    for (const [key, e] of kv) if (e.expiresAt <= now) kv.delete(key);
  }

  /** Checks, at the top of every method but `close`, that the transport is open and the call not aborted. */
  function enter(options: SignalOptions | undefined): void {
    life.assertOpen();
    throwIfAborted(options?.signal);
  }

  const transport: Transport = {
    name: 'memory',
    features: FEATURES,

    async publish(stream: string, messages: readonly OutgoingMessage[], options?: SignalOptions): Promise<string[]> {
      enter(options);
      promoteDue();
      const s = streamOf(stream);
      const now = clock.now();
      const ids = new Array<string>(messages.length);
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i]!;
        const msg = newMessage(m.body, m.priority, now);
        ids[i] = msg.id;
        const delay = m.delayMs;
        if (delay !== undefined && delay > 0) {
          s.delayed++;
          schedule({ due: now + delay, stream: s, group: undefined, msg, attempt: 1 });
        } else {
          appendVisible(s, msg);
        }
      }
      // Wake receivers after the whole batch is in, so they are served by priority.
      for (const g of s.groups.values()) drain(g);
      return ids;
    },

    async ensureGroup(stream, group, options) {
      enter(options);
      const s = streamOf(stream);
      if (s.groups.has(group)) return;
      // Messages already due belong to the stream's past: a group starting at the end must not get them.
      promoteDue();
      const g: GroupState = {
        name: group,
        stream: s,
        ready: Array.from({ length: PRIORITY_LEVELS }, () => new Fifo<Ready>()),
        pending: new Map(),
        consumers: new Set(),
        retrying: 0,
        waiters: [],
      };
      if (options?.startAt === 'beginning') {
        for (const msg of s.log) g.ready[msg.priority]!.push({ msg, attempt: 1 });
      }
      s.groups.set(group, g);
    },

    async receive(stream: string, options: ReceiveOptions): Promise<Delivery[]> {
      life.assertOpen();
      const { signal } = options;
      // An aborted receive takes nothing: a message handed to a caller that left would sit pending.
      if (signal?.aborted) return [];
      const g = requireGroup(stream, options.group);
      if (options.ack) for (const id of options.ack) g.pending.delete(id);
      promoteDue();
      g.consumers.add(options.consumer);
      const max = countOption(options.max, TRANSPORT_DEFAULTS.receiveMax);
      if (max === 0) return [];
      const got = take(g, options.consumer, max, clock.now());
      const blockMs = options.blockMs ?? 0;
      if (got.length > 0 || !(blockMs > 0)) return got;
      return new Promise<Delivery[]>((resolve) => {
        const w: Waiter = { consumer: options.consumer, max, resolve, timer: undefined, signal, onAbort: undefined, done: false };
        const leave = () => {
          const i = g.waiters.indexOf(w);
          if (i >= 0) g.waiters.splice(i, 1);
          finish(w, []);
        };
        if (Number.isFinite(blockMs)) w.timer = setTimeout(leave, Math.min(blockMs, MAX_TIMER_MS));
        if (signal) {
          w.onAbort = leave;
          signal.addEventListener('abort', leave, { once: true });
        }
        g.waiters.push(w);
      });
    },

    async ack(stream, group, deliveryIds, options) {
      enter(options);
      const g = streams.get(stream)?.groups.get(group);
      if (!g) return;
      for (const id of deliveryIds) g.pending.delete(id);
    },

    async nack(stream: string, group: string, deliveryId: string, options?: NackOptions): Promise<void> {
      enter(options);
      const g = streams.get(stream)?.groups.get(group);
      const p = g?.pending.get(deliveryId);
      if (!g || !p) return;
      // Synchronous from here: the delivery leaves pending and is queued in one step.
      g.pending.delete(deliveryId);
      const attempt = options?.countAttempt === false ? p.attempt : p.attempt + 1;
      const delay = options?.delayMs;
      if (delay !== undefined && delay > 0) {
        g.retrying++;
        schedule({ due: clock.now() + delay, stream: g.stream, group: g, msg: p.msg, attempt });
      } else {
        g.ready[p.msg.priority]!.push({ msg: p.msg, attempt });
        drain(g);
      }
    },

    async claimStale(stream: string, options: ClaimOptions): Promise<Delivery[]> {
      enter(options);
      const g = requireGroup(stream, options.group);
      g.consumers.add(options.consumer);
      const max = countOption(options.max, TRANSPORT_DEFAULTS.claimMax);
      const minIdle = Math.max(0, options.minIdleMs || 0);
      const now = clock.now();
      const found: Array<[string, Pending]> = [];
      for (const entry of g.pending) {
        if (found.length >= max) break;
        if (now - entry[1].activeAt >= minIdle) found.push(entry);
      }
      // Re-insert after the scan (re-inserting during it would visit the entry again).
      const out: Delivery[] = [];
      for (const [id, p] of found) {
        g.pending.delete(id);
        p.consumer = options.consumer;
        p.attempt++;
        p.deliveredAt = now;
        p.activeAt = now;
        g.pending.set(id, p);
        out.push(toDelivery(id, g, p.msg, p.attempt));
      }
      return out;
    },

    async touch(stream, group, consumer, deliveryIds, options) {
      enter(options);
      const g = streams.get(stream)?.groups.get(group);
      if (!g) return;
      const now = clock.now();
      for (const id of deliveryIds) {
        const p = g.pending.get(id);
        if (p && p.consumer === consumer) p.activeAt = now;
      }
    },

    async deadLetter(
      stream: string,
      group: string,
      delivery: Pick<Delivery, 'deliveryId' | 'body' | 'priority'>,
      input: DeadLetterInput,
      options?: SignalOptions,
    ): Promise<string | undefined> {
      enter(options);
      const g = streams.get(stream)?.groups.get(group);
      const p = g?.pending.get(delivery.deliveryId);
      let body: string;
      let priority: number;
      if (g && p) {
        g.pending.delete(delivery.deliveryId);
        body = p.msg.body;
        priority = p.msg.priority;
      } else if (typeof delivery.body === 'string') {
        body = delivery.body;
        priority = clampRank(delivery.priority);
      } else {
        return undefined;
      }
      const entry: DeadLetter = {
        id: String(++dlqSeq),
        stream,
        group,
        body,
        priority,
        error: input.error,
        attempts: input.attempts,
        failedAt: clock.now(),
        context: { ...input.context },
      };
      if (input.stack !== undefined) entry.stack = input.stack;
      let q = dlqs.get(input.dlq);
      if (!q) {
        q = new Map();
        dlqs.set(input.dlq, q);
      }
      q.set(entry.id, entry);
      return entry.id;
    },

    async listDeadLetters(dlq: string, options?: ListDeadLettersOptions): Promise<DeadLetter[]> {
      enter(options);
      const q = dlqs.get(dlq);
      const limit = countOption(options?.limit, TRANSPORT_DEFAULTS.deadLetterLimit);
      if (!q || limit === 0) return [];
      // Ids are increasing integers and the map keeps insertion order, so the cursor is numeric.
      const after = options?.after === undefined ? -Infinity : Number(options.after);
      if (Number.isNaN(after)) return [];
      const out: DeadLetter[] = [];
      for (const e of q.values()) {
        if (Number(e.id) <= after) continue;
        out.push(copyDeadLetter(e));
        if (out.length >= limit) break;
      }
      return out;
    },

    async getDeadLetter(dlq, id, options) {
      enter(options);
      const e = dlqs.get(dlq)?.get(id);
      return e ? copyDeadLetter(e) : undefined;
    },

    async deleteDeadLetters(dlq, ids, options) {
      enter(options);
      const q = dlqs.get(dlq);
      if (!q) return 0;
      let n = 0;
      for (const id of ids) if (q.delete(id)) n++;
      return n;
    },

    async countDeadLetters(dlq, options) {
      enter(options);
      return dlqs.get(dlq)?.size ?? 0;
    },

    async purgeDeadLetters(dlq, options) {
      enter(options);
      const n = dlqs.get(dlq)?.size ?? 0;
      dlqs.delete(dlq);
      return n;
    },

    async redeliver(stream, group, messages, options) {
      enter(options);
      const g = requireGroup(stream, group);
      const now = clock.now();
      const ids = new Array<string>(messages.length);
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i]!;
        const msg = newMessage(m.body, m.priority, now);
        ids[i] = msg.id;
        const attempt = m.attempt !== undefined && m.attempt >= 1 ? Math.floor(m.attempt) : 1;
        const delay = m.delayMs;
        if (delay !== undefined && delay > 0) {
          g.retrying++;
          schedule({ due: now + delay, stream: g.stream, group: g, msg, attempt });
        } else {
          g.ready[msg.priority]!.push({ msg, attempt });
        }
      }
      drain(g);
      return ids;
    },

    async info(stream: string, options?: SignalOptions): Promise<StreamInfo> {
      enter(options);
      promoteDue();
      const s = streams.get(stream);
      if (!s) return { stream, length: 0, lengthByPriority: new Array<number>(PRIORITY_LEVELS).fill(0), delayed: 0, groups: [] };
      const now = clock.now();
      return {
        stream,
        length: s.log.length,
        lengthByPriority: [...s.lengthByPriority],
        delayed: s.delayed,
        groups: [...s.groups.values()].map((g) => {
          const oldest = g.pending.values().next();
          return {
            name: g.name,
            pending: g.pending.size,
            lag: readyCount(g),
            lagByPriority: g.ready.map((q) => q.length),
            retrying: g.retrying,
            consumers: g.consumers.size,
            oldestPendingMs: oldest.done ? 0 : Math.max(0, now - oldest.value.deliveredAt),
          };
        }),
      };
    },

    async purge(stream, options) {
      enter(options);
      promoteDue();
      const s = streams.get(stream);
      if (!s) return 0;
      const removed = new Set<Message>();
      for (const g of s.groups.values()) {
        for (const q of g.ready) {
          for (const r of q) removed.add(r.msg);
          q.clear();
        }
      }
      // Delayed publishes and scheduled redeliveries of this stream.
      const kept: Scheduled[] = [];
      for (const item of heap) {
        if (item.stream !== s) {
          kept.push(item);
          continue;
        }
        removed.add(item.msg);
        if (item.group) item.group.retrying--;
        else s.delayed--;
      }
      if (kept.length !== heap.length) {
        heap.length = 0;
        for (const item of kept) heapPush(item);
        arm();
      }
      // The log keeps what some group has been handed (pending, or processed by another group).
      const log = new Fifo<Message>();
      s.lengthByPriority.fill(0);
      for (const msg of s.log) {
        if (msg.handed) {
          log.push(msg);
          s.lengthByPriority[msg.priority]!++;
        } else {
          removed.add(msg);
        }
      }
      s.log = log;
      return removed.size;
    },

    async kvGet(key, options) {
      enter(options);
      return kvLive(key, clock.now())?.value ?? null;
    },

    async kvSet(key: string, value: string, options?: KvSetOptions): Promise<boolean> {
      enter(options);
      const now = clock.now();
      if (++kvWrites % KV_SWEEP_EVERY === 0) sweepKv(now);
      const current = kvLive(key, now);
      if (options?.ifAbsent && current !== undefined) return false;
      if (options?.ifEquals !== undefined && current?.value !== options.ifEquals) return false;
      const ttl = options?.ttlMs;
      kv.set(key, { value, expiresAt: ttl === undefined ? Infinity : now + ttl });
      return true;
    },

    async kvSetMany(entries, options) {
      enter(options);
      const now = clock.now();
      const ttl = options?.ttlMs;
      for (const { key, value } of entries) kv.set(key, { value, expiresAt: ttl === undefined ? Infinity : now + ttl });
      if ((kvWrites += entries.length) % KV_SWEEP_EVERY < entries.length) sweepKv(now);
    },

    async kvDelete(key, options) {
      enter(options);
      const current = kvLive(key, clock.now());
      if (current === undefined) return false;
      if (options?.ifEquals !== undefined && current.value !== options.ifEquals) return false;
      kv.delete(key);
      return true;
    },

    async kvIncr(key, options) {
      enter(options);
      const now = clock.now();
      const by = options?.by ?? 1;
      if (!Number.isInteger(by)) throw new TransportError(`[event-bus:memory] kvIncr '${key}': 'by' must be a whole number`);
      const current = kvLive(key, now);
      if (current === undefined) {
        const ttl = options?.ttlMs;
        kv.set(key, { value: String(by), expiresAt: ttl === undefined ? Infinity : now + ttl });
        return by;
      }
      const n = Number(current.value);
      if (!Number.isInteger(n)) throw new TransportError(`[event-bus:memory] kvIncr '${key}': the key does not hold an integer`);
      kv.set(key, { value: String(n + by), expiresAt: current.expiresAt });
      return n + by;
    },

    async kvScan(prefix, options) {
      enter(options);
      const now = clock.now();
      const out: Array<{ key: string; value: string }> = [];
      for (const [key, e] of kv) {
        if (e.expiresAt <= now) kv.delete(key);
        else if (key.startsWith(prefix)) out.push({ key, value: e.value });
      }
      return out;
    },

    async notify(channel, message, options) {
      enter(options);
      const subs = channels.get(channel);
      if (!subs) return;
      for (const sub of subs) {
        // Asynchronous like a network pub/sub: the publisher never runs listener code inline.
        queueMicrotask(() => {
          if (!sub.active) return;
          try {
            const result = (sub.handler as (m: string) => unknown)(message);
            if (result instanceof Promise) result.catch(() => {});
          } catch {
            // A throwing listener keeps its subscription (contract); its error is its own business.
          }
        });
      }
    },

    async listen(channel: string, handler: (message: string) => void, options?: SignalOptions): Promise<Unsubscribe> {
      enter(options);
      const sub: Subscription = { handler, active: true };
      let subs = channels.get(channel);
      if (!subs) {
        subs = new Set();
        channels.set(channel, subs);
      }
      subs.add(sub);
      return async () => {
        sub.active = false;
        const set = channels.get(channel);
        if (set?.delete(sub) && set.size === 0) channels.delete(channel);
      };
    },

    close(): Promise<void> {
      return life.close(async () => {
        if (timer !== undefined) clearTimeout(timer);
        timer = undefined;
        heap.length = 0;
        for (const s of streams.values()) {
          for (const g of s.groups.values()) for (const w of g.waiters.splice(0)) finish(w, []);
        }
        for (const subs of channels.values()) for (const sub of subs) sub.active = false;
        streams.clear();
        channels.clear();
        dlqs.clear();
        kv.clear();
      });
    },
  };
  return transport;
}
