/**
 * The state the memory adapter's stream roles share (message streams, dead letters, admin):
 * streams, consumer groups with their ready queues and pending lists, blocked receivers, and the
 * one timer that makes delayed messages visible. Not a role itself; the role files work on it.
 *
 * @module
 */

import type { Delivery, OutgoingMessage, SignalOptions } from '../../src/contracts/transport.js';
import type { Clock } from '../../src/clock.js';
import { TransportError } from '../../src/errors.js';
import { PRIORITY_LEVELS, clampRank } from '../../src/events/envelope.js';
import { DELIVERY_VALUE, cloneJson, messageValue, type JsonValue } from '../../src/events/in-process.js';
import { throwIfAborted, type Lifecycle } from '../../src/lifecycle.js';
import type { PendingList } from './memory-pending.js';

/** The longest delay `setTimeout` accepts; longer waits are re-armed. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A FIFO queue with a moving head: O(1) push and shift, no `Array#shift` copies. */
export class Fifo<T> {
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
export interface Message {
  /**
   * The body as published. Undefined for an in-process message until a body is asked for
   * ({@link bodyOf} encodes `value` then).
   */
  body: string | undefined;
  /**
   * The JSON snapshot of an in-process message (`src/events/in-process.ts`); never handed out,
   * only copies of it. Undefined for a message published as text.
   */
  readonly value: JsonValue | undefined;
  readonly priority: number;
  readonly publishedAt: number;
  /** Set once any group has been handed it: `purge` keeps such messages in the log. */
  handed: boolean;
}

/** The body of `msg`: as published, or the JSON text of its snapshot (encoded once, on first read). */
export function bodyOf(msg: Message): string {
  msg.body ??= JSON.stringify(msg.value);
  return msg.body;
}

/**
 * A delivery as its consumer gets it, and at the same time its entry in the group's pending list
 * (one object per delivery, not a delivery plus a record). The pending state is private: the
 * consumer sees the {@link Delivery} fields only, and changing them changes nothing here. A claim
 * replaces the entry with a new delivery (new attempt and owner, same id).
 */
export abstract class Handout implements Delivery {
  abstract readonly body: string;
  readonly stream: string;
  readonly group: string;
  readonly priority: number;
  readonly publishedAt: number;
  readonly #msg: Message;
  readonly #attempt: number;
  #consumer: string;
  #deliveredAt: number;
  #activeAt: number;

  constructor(
    readonly deliveryId: string,
    g: GroupState,
    msg: Message,
    readonly attempt: number,
    consumer: string,
    now: number,
  ) {
    this.stream = g.stream.name;
    this.group = g.name;
    this.priority = msg.priority;
    this.publishedAt = msg.publishedAt;
    this.#msg = msg;
    this.#attempt = attempt;
    this.#consumer = consumer;
    this.#deliveredAt = now;
    this.#activeAt = now;
  }

  /** The message delivered. */
  static message(h: Handout): Message {
    return h.#msg;
  }

  /** The attempt as delivered (whatever the consumer did to its copy of the field). */
  static attemptOf(h: Handout): number {
    return h.#attempt;
  }

  /** The consumer that owns the delivery. */
  static owner(h: Handout): string {
    return h.#consumer;
  }

  /** When it was handed to its current owner (for `oldestPendingMs`). */
  static deliveredAt(h: Handout): number {
    return h.#deliveredAt;
  }

  /** When it was handed over or last touched (for idle time and `claimStale`). */
  static activeAt(h: Handout): number {
    return h.#activeAt;
  }

  /** Marks the delivery active now (`touch`). */
  static touch(h: Handout, now: number): void {
    h.#activeAt = now;
  }
}

/** The delivery of a message published as text. */
class TextHandout extends Handout {
  readonly body: string;

  constructor(deliveryId: string, g: GroupState, msg: Message, attempt: number, consumer: string, now: number) {
    super(deliveryId, g, msg, attempt, consumer, now);
    this.body = msg.body as string;
  }
}

/**
 * The delivery of an in-process message: its `body` is encoded only when read, and the consumer
 * takes a fresh copy of the snapshot (`DELIVERY_VALUE`) instead of decoding text, so a handler
 * that mutates its event changes nothing another group, a redelivery or the DLQ sees.
 */
class ValueHandout extends Handout {
  get body(): string {
    return bodyOf(Handout.message(this));
  }

  [DELIVERY_VALUE](): JsonValue {
    return cloneJson(Handout.message(this).value as JsonValue);
  }

  /** Own fields and the body, as an encoded delivery shows them (`JSON.stringify`, logs). */
  toJSON(): Delivery {
    const { deliveryId, stream, group, body, priority, attempt, publishedAt } = this;
    return { deliveryId, stream, group, body, priority, attempt, publishedAt };
  }
}

/** Hands `msg` to `consumer` of `g`: a new delivery, which is also its pending entry. */
export function handOut(id: string, g: GroupState, msg: Message, attempt: number, consumer: string, now: number): Handout {
  return msg.value !== undefined ? new ValueHandout(id, g, msg, attempt, consumer, now) : new TextHandout(id, g, msg, attempt, consumer, now);
}

/** A message ready for a group, with the attempt number its next delivery carries. */
export interface Ready {
  readonly msg: Message;
  readonly attempt: number;
}

/**
 * An entry of a ready queue: a message itself when its next delivery is its first (no wrapper
 * per message and group on the publish path), else a {@link Ready} with the attempt.
 */
export type ReadyEntry = Message | Ready;

/** The message of a ready entry. */
export function entryMessage(r: ReadyEntry): Message {
  return (r as Partial<Ready>).msg ?? (r as Message);
}

/** The attempt the next delivery of a ready entry carries. */
export function entryAttempt(r: ReadyEntry): number {
  return (r as Partial<Ready>).msg === undefined ? 1 : (r as Ready).attempt;
}

/** A blocked `receive`. */
export interface Waiter {
  readonly consumer: string;
  readonly max: number;
  readonly resolve: (deliveries: Delivery[]) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  done: boolean;
}

export interface GroupState {
  readonly name: string;
  readonly stream: StreamState;
  /** Ready messages, one FIFO per priority rank. */
  readonly ready: Fifo<ReadyEntry>[];
  /** Pending deliveries by delivery id (the group's own sequence), in id order. */
  readonly pending: PendingList<Handout>;
  readonly consumers: Set<string>;
  /** Messages scheduled for a delayed redelivery to this group. */
  retrying: number;
  /** Blocked `receive` calls, served first come first served. */
  readonly waiters: Waiter[];
}

export interface StreamState {
  readonly name: string;
  /** The latest `maxLen` visible messages. */
  log: Fifo<Message>;
  readonly lengthByPriority: number[];
  /** Delayed publishes not due yet. */
  delayed: number;
  readonly groups: Map<string, GroupState>;
  /** The values of `groups`, for the per-message loops (a Map iterator per message otherwise). */
  readonly groupList: GroupState[];
}

/** A delayed publish (`group` undefined) or a delayed redelivery to one group. */
export interface Scheduled {
  readonly due: number;
  readonly seq: number;
  readonly stream: StreamState;
  readonly group: GroupState | undefined;
  readonly msg: Message;
  readonly attempt: number;
}


function heapLess(a: Scheduled, b: Scheduled): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

export function readyCount(g: GroupState): number {
  let n = 0;
  for (const q of g.ready) n += q.length;
  return n;
}

/** What the role files use of the shared stream state. */
export type StreamCore = ReturnType<typeof createStreamCore>;

/** Checks, at the top of every method but `close`, that the adapter is open and the call not aborted. */
export function enterWith(life: Lifecycle): (options: SignalOptions | undefined) => void {
  return (options) => {
    life.assertOpen();
    throwIfAborted(options?.signal);
  };
}

/** Creates the shared stream state of one memory transport. */
export function createStreamCore(clock: Clock, maxLen: number, life: Lifecycle) {
  const streams = new Map<string, StreamState>();
  /** Min-heap of delayed publishes and redeliveries, by (due, seq). */
  const heap: Scheduled[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timerDue = Infinity;
  let messageSeq = 0;
  let scheduleSeq = 0;

  // ---- streams and groups -------------------------------------------------------------------

  function streamOf(name: string): StreamState {
    let s = streams.get(name);
    if (!s) {
      s = { name, log: new Fifo(), lengthByPriority: new Array<number>(PRIORITY_LEVELS).fill(0), delayed: 0, groups: new Map(), groupList: [] };
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

  /** The id `publish` or `redeliver` returns for its next message. */
  function nextMessageId(): string {
    return String(++messageSeq);
  }

  /** A message from what `publish` or `redeliver` was given: its snapshot when it carries one, else its body. */
  function newMessage(m: OutgoingMessage, now: number): Message {
    const value = messageValue(m);
    return {
      body: value === undefined ? m.body : undefined,
      value,
      priority: clampRank(m.priority),
      publishedAt: now,
      handed: false,
    };
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
    const groups = s.groupList;
    for (let i = 0; i < groups.length; i++) groups[i]!.ready[msg.priority]!.push(msg);
  }

  /** Moves up to `max` ready messages, highest rank first, to the pending list of `consumer`. */
  function take(g: GroupState, consumer: string, max: number, now: number): Delivery[] {
    const out: Delivery[] = [];
    for (let rank = PRIORITY_LEVELS - 1; rank >= 0 && out.length < max; rank--) {
      const q = g.ready[rank]!;
      while (out.length < max) {
        const r = q.shift();
        if (r === undefined) break;
        const msg = entryMessage(r);
        const attempt = entryAttempt(r);
        const id = g.pending.nextId();
        msg.handed = true;
        const h = handOut(id, g, msg, attempt, consumer, now);
        g.pending.push(h);
        out.push(h);
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

  /** Wakes every blocked receive with `[]`, clears the timer and forgets everything. */
  function close(): void {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    heap.length = 0;
    for (const s of streams.values()) {
      for (const g of s.groups.values()) for (const w of g.waiters.splice(0)) finish(w, []);
    }
    streams.clear();
  }

  return {
    clock,
    streams,
    heap,
    streamOf,
    requireGroup,
    nextMessageId,
    newMessage,
    appendVisible,
    take,
    finish,
    drain,
    heapPush,
    schedule,
    arm,
    promoteDue,
    close,
  };
}
