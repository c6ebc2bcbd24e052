/**
 * Group commit for the PostgreSQL transport's writes: the key writes (`kvSet` without a
 * condition, `kvSetMany`), publishes, notifications (`notify`) and acks issued in one turn of the event loop
 * go to the server as one call of `<prefix>flush(...)`: one round trip and one commit for what
 * would be a statement each (a worker finishing 50 tasks at once writes 50 states, announces them
 * and acks them in one statement).
 *
 * Batches are sent one after another, never two at once: a write, notification or ack issued
 * after another one lands in the same batch or a later one, so this process's order is kept (a
 * notification never overtakes a write issued before it; a later write of a key wins). Inside a
 * batch the acks run first, then the key writes (the last value of a key wins), the publishes
 * and the notifications, all committed together. PostgreSQL folds identical notifications of one
 * transaction into one, so a notification identical to one already in the batch starts the next
 * batch.
 *
 * @internal
 * @module
 */

import type { PgConnection } from './connection.js';
import { plainArray, textArray } from './wire.js';

/** Key writes one batch holds at most (more start the next batch). */
const MAX_BATCH_KEYS = 2000;
/** Published messages one batch holds at most (a larger publish goes alone). */
const MAX_BATCH_MESSAGES = 2000;

interface Waiter {
  readonly op: string;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

interface Batch {
  /** Key -> [value, ttl ms or null], in the order written (a key written again moves nowhere: last value wins). */
  readonly kv: Map<string, [string, number | null]>;
  readonly ackGroups: number[];
  readonly ackIds: string[];
  readonly channels: string[];
  readonly payloads: string[];
  readonly big: boolean[];
  /** `channel \0 payload` of the notifications, to split where PostgreSQL would fold. */
  readonly seen: Set<string>;
  readonly waiters: Waiter[];
  /** The publishes: stream, message count, and the flattened messages. */
  readonly pubStreams: string[];
  readonly pubCounts: number[];
  readonly bodies: string[];
  readonly priorities: number[];
  readonly delays: number[];
  readonly pubWaiters: Array<{ readonly op: string; readonly resolve: (ids: string[]) => void; readonly reject: (err: unknown) => void }>;
  /** Rejects the callers still waiting once `operationTimeoutMs` passed since the batch opened (it may wait behind another). */
  timer: NodeJS.Timeout | undefined;
}

/** Orders delivery ids (decimal bigints) numerically. */
function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

const newBatch = (): Batch => ({
  kv: new Map(),
  ackGroups: [],
  ackIds: [],
  channels: [],
  payloads: [],
  big: [],
  seen: new Set(),
  waiters: [],
  pubStreams: [],
  pubCounts: [],
  bodies: [],
  priorities: [],
  delays: [],
  pubWaiters: [],
  timer: undefined,
});

/** The write batches of one transport. */
export class PgWriteBatch {
  /** Batches waiting to be sent; new writes join the last one. */
  private readonly queue: Batch[] = [];
  private sending: Promise<void> | undefined;
  private scheduled = false;

  /** The statement, built once. */
  private readonly name: string;
  private readonly text: string;

  constructor(private readonly c: PgConnection) {
    const n = c.names;
    this.name = `procur_${n.tag}_flush`;
    // One row per publish with its ids joined (a row per message cost more to decode than the ids).
    this.text = `SELECT o_call, string_agg(o_id::text, ',' ORDER BY o_id) AS o_ids FROM ${n.t('flush')}($1::text[], $2::text[], $3::float8[], $4::int4[], $5::bigint[],
      $6::text[], $7::text[], $8::bool[], $9::text[], $10::int4[], $11::text[], $12::int2[], $13::int4[]) GROUP BY o_call`;
  }

  /** Writes keys (values already encoded), each with its ttl in ms or null (no expiry). */
  kv(op: string, entries: ReadonlyArray<readonly [key: string, value: string, ttlMs: number | null]>): Promise<void> {
    let b = this.open();
    if (b.kv.size + entries.length > MAX_BATCH_KEYS && b.kv.size > 0) b = this.next();
    // One row per key (ON CONFLICT cannot touch a row twice in one statement): the last value wins.
    for (const [k, v, ttl] of entries) b.kv.set(k, [v, ttl]);
    return this.wait(b, op);
  }

  /** Acknowledges deliveries of a group. */
  ack(op: string, groupId: number, ids: readonly string[]): Promise<void> {
    const b = this.open();
    for (const id of ids) {
      b.ackGroups.push(groupId);
      b.ackIds.push(id);
    }
    return this.wait(b, op);
  }

  /**
   * Publishes messages (bodies encoded, priorities clamped, delays checked) to a stream through
   * `<prefix>publish`; resolves with their ids.
   */
  publish(op: string, stream: string, bodies: readonly string[], priorities: readonly number[], delays: readonly number[]): Promise<string[]> {
    let b = this.open();
    if (b.bodies.length > 0 && b.bodies.length + bodies.length > MAX_BATCH_MESSAGES) b = this.next();
    b.pubStreams.push(stream);
    b.pubCounts.push(bodies.length);
    for (let i = 0; i < bodies.length; i++) {
      b.bodies.push(bodies[i]!);
      b.priorities.push(priorities[i]!);
      b.delays.push(delays[i]!);
    }
    const p = new Promise<string[]>((resolve, reject) => b.pubWaiters.push({ op, resolve, reject }));
    this.schedule();
    return p;
  }

  /**
   * Sends a notification (payload as sent on the wire); `big` stores the payload in
   * `<prefix>signal_payloads` and notifies `'@' || id` instead.
   */
  notify(op: string, channel: string, payload: string, big: boolean): Promise<void> {
    let b = this.open();
    if (!big) {
      // A stored payload is notified by its own id: never folded, nothing to remember.
      const key = `${channel}\u0000${payload}`;
      if (b.seen.has(key)) b = this.next();
      b.seen.add(key);
    }
    b.channels.push(channel);
    b.payloads.push(payload);
    b.big.push(big);
    return this.wait(b, op);
  }

  /**
   * Sends what is queued now (not at the next turn) and settles once every batch is done, or
   * after `operationTimeoutMs` (a server that does not answer does not hold close up for long).
   */
  async drain(): Promise<void> {
    const until = Date.now() + this.c.timeoutMs;
    while ((this.queue.length > 0 || this.sending) && Date.now() < until) {
      if (!this.sending) this.pump();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.sending, new Promise<void>((r) => (timer = setTimeout(r, Math.max(1, until - Date.now()))))]);
      clearTimeout(timer);
    }
  }

  private open(): Batch {
    const last = this.queue[this.queue.length - 1];
    return last ?? this.next();
  }

  private next(): Batch {
    const b = newBatch();
    // Every call is bounded by operationTimeoutMs, waiting in the queue included: the callers
    // get the timeout; the batch is still sent in its turn (its late outcome is dropped).
    b.timer = setTimeout(() => this.fail(b, (op) => this.c.timedOut(op)), this.c.timeoutMs);
    b.timer.unref();
    this.queue.push(b);
    return b;
  }

  /** Rejects every caller of a batch (settled callers ignore it). */
  private fail(b: Batch, error: (op: string) => unknown): void {
    for (const w of b.waiters) w.reject(error(w.op));
    for (const w of b.pubWaiters) w.reject(error(w.op));
  }

  private wait(b: Batch, op: string): Promise<void> {
    const p = new Promise<void>((resolve, reject) => b.waiters.push({ op, resolve, reject }));
    this.schedule();
    return p;
  }

  private schedule(): void {
    if (!this.scheduled && !this.sending) {
      // Everything issued in this turn joins: the batch goes out in the next one.
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        if (!this.sending) this.pump();
      });
    }
  }

  /** Sends the batches in order, one at a time, until the queue is empty. */
  private pump(): void {
    const b = this.queue.shift();
    if (!b) return;
    this.sending = this.send(b).finally(() => {
      this.sending = undefined;
      this.pump();
    });
  }

  private async send(b: Batch): Promise<void> {
    const keys = [...b.kv.keys()];
    // Sorted: two processes writing the same keys lock them in the same order (no deadlock).
    keys.sort();
    const values = new Array<string>(keys.length);
    const ttls = new Array<number | null>(keys.length);
    for (let i = 0; i < keys.length; i++) [values[i], ttls[i]] = b.kv.get(keys[i]!)!;
    // Acks in ascending id order too, the order a multi-row touch or ack locks them in.
    let ackIds = b.ackIds;
    let ackGroups = b.ackGroups;
    if (ackIds.length > 1) {
      const order = ackIds.map((_, i) => i).sort((x, y) => compareIds(ackIds[x]!, ackIds[y]!));
      ackIds = order.map((i) => b.ackIds[i]!);
      ackGroups = order.map((i) => b.ackGroups[i]!);
    }
    try {
      // Accepted before close: still sent (close drains the batches before ending the pool).
      const res = await this.c.bounded(
        undefined,
        async (pool) => {
          // The text arrays in the binary format when the driver sends it, the numbers as plain literals (wire.ts).
          const text = (await this.c.binaryArrays(pool)) ? textArray : (a: string[]) => a;
          return pool.query({
            name: this.name,
            text: this.text,
            values: [
              text(keys),
              text(values),
              plainArray(ttls),
              plainArray(ackGroups),
              plainArray(ackIds),
              text(b.channels),
              text(b.payloads),
              plainArray(b.big),
              text(b.pubStreams),
              plainArray(b.pubCounts),
              text(b.bodies),
              plainArray(b.priorities),
              plainArray(b.delays),
            ],
          });
        },
        true,
        false,
      );
      clearTimeout(b.timer);
      for (const w of b.waiters) w.resolve();
      if (b.pubWaiters.length > 0) {
        // Each publish's ids ascend in the order of its messages (`<prefix>publish` inserts them so).
        const ids = b.pubWaiters.map((): string[] => []);
        for (const r of res.rows as Array<{ o_call: number; o_ids: string | null }>) if (r.o_ids) ids[r.o_call - 1] = r.o_ids.split(',');
        b.pubWaiters.forEach((w, i) => w.resolve(ids[i]!));
      }
    } catch (err) {
      clearTimeout(b.timer);
      this.fail(b, (op) => this.c.wrap(op, err));
    }
  }
}
