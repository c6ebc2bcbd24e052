/**
 * Partitioned event streams, adapter-agnostic: {@link partitionTransport} wraps any
 * {@link Transport} so that one logical stream is N streams of the adapter (its partitions).
 * On Redis each partition is its own hash-tag slot, so on a cluster the partitions spread over
 * the masters; on one Redis, or in memory, they spread the load over consumers only.
 *
 * - **Names.** Partition 0 keeps the stream's name (so one partition is exactly today's layout
 *   and raising N keeps the data there); partition `i > 0` is `<stream>#<i>`.
 * - **Routing.** A message goes to the partition of its key: `OutgoingMessage.partitionKey`, else
 *   the `correlationId` of its envelope (so the events of one flow keep their order), else
 *   partition 0. One `publish` call becomes one call per partition, sent concurrently (on a
 *   cluster: one script call on each partition's node).
 * - **Reading.** Every group reads every partition; its members share them. A `receive` asks
 *   the partitions in turn (rotating), shares `max` over them, and when none has anything waits
 *   on all of them at once (one blocking read per partition and consumer). Deliveries that arrive
 *   after that call returned are kept for the consumer's next `receive` (they are pending to it,
 *   as read-ahead is); an aborted or closed read hands them back unprocessed (`nack` without
 *   counting an attempt).
 * - **Ids.** A delivery id is `<partition>|<id of the adapter>`; `ack`, `nack`, `touch` and
 *   `deadLetter` go to that partition. Priorities, retries, claims and dead letters work per
 *   partition exactly as the adapter does them.
 * - **Admin.** `info` reports the sum over the partitions and each partition in `partitions`;
 *   `purge` purges every partition. Dead letters show the logical stream name.
 *
 * @module
 */

import { getMaxListeners, setMaxListeners } from 'node:events';
import type {
  ClaimOptions,
  DeadLetter,
  DeadLetterInput,
  Delivery,
  EnsureGroupOptions,
  GroupInfo,
  KvSetOptions,
  ListDeadLettersOptions,
  NackOptions,
  OutgoingMessage,
  ReceiveOptions,
  RedeliverMessage,
  SignalOptions,
  StreamInfo,
  Transport,
  Unsubscribe,
} from './contracts/transport.js';
import { TRANSPORT_DEFAULTS, countOption } from './contracts/transport-defaults.js';
import { ConfigError } from './errors.js';

/** The largest `eventStreamPartitions` accepted. */
export const MAX_PARTITIONS = 1024;

/** The adapter's stream that holds partition `index` of `stream`: `stream` itself for 0, else `<stream>#<index>`. */
export function partitionName(stream: string, index: number): string {
  return index === 0 ? stream : `${stream}#${index}`;
}

/** The partition (0 to `partitions - 1`) of a key: FNV-1a (32 bit) of its UTF-16 code units, modulo `partitions`. */
export function partitionOf(key: string, partitions: number): number {
  if (partitions <= 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}

const CORRELATION = '"correlationId":"';

/**
 * The routing key of a message: its `partitionKey`, else the `correlationId` of the JSON envelope
 * in its body (found without parsing the body when it holds no escapes), else `undefined`.
 */
export function routingKey(message: OutgoingMessage): string | undefined {
  if (typeof message.partitionKey === 'string') return message.partitionKey;
  const body = message.body;
  if (typeof body !== 'string') return undefined;
  const at = body.indexOf(CORRELATION);
  if (at < 0) return undefined;
  const start = at + CORRELATION.length;
  const end = body.indexOf('"', start);
  if (end < 0) return undefined;
  const raw = body.slice(start, end);
  if (!raw.includes('\\')) return raw;
  try {
    const parsed = JSON.parse(body) as { correlationId?: unknown };
    return typeof parsed.correlationId === 'string' ? parsed.correlationId : undefined;
  } catch {
    return raw;
  }
}

/** Splits `<partition>|<id>`; `undefined` for an id that is not one of a partitioned stream. */
function splitId(id: string): { partition: number; inner: string } | undefined {
  if (typeof id !== 'string') return undefined;
  const bar = id.indexOf('|');
  if (bar < 1 || bar > 4) return undefined;
  let p = 0;
  for (let i = 0; i < bar; i++) {
    const c = id.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    p = p * 10 + c;
  }
  return { partition: p, inner: id.slice(bar + 1) };
}

/** Checks `eventStreamPartitions`. @throws `ConfigError` naming `setting` unless a whole number from 1 to {@link MAX_PARTITIONS}. */
export function checkPartitions(value: unknown, setting = 'eventStreamPartitions'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_PARTITIONS) {
    throw new ConfigError(setting, `must be a whole number from 1 to ${MAX_PARTITIONS} (the partitions of each event stream), got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Options of {@link partitionTransport}. */
export interface PartitionOptions {
  /** Partitions of each partitioned stream, 1 to {@link MAX_PARTITIONS}; 1 returns the transport itself. */
  partitions: number;
  /** Which streams are partitioned (the others pass through unchanged). @default every stream */
  streams?: (stream: string) => boolean;
}

/** Reads of one (stream, group, consumer) that outlived the `receive` that started them. */
interface ReaderState {
  buffer: Delivery[];
  inflight: Set<number>;
  next: number;
  wake: Set<() => void>;
}


function sumGroups(parts: StreamInfo[]): GroupInfo[] {
  const byName = new Map<string, GroupInfo>();
  for (const part of parts) {
    for (const g of part.groups) {
      const seen = byName.get(g.name);
      if (!seen) {
        byName.set(g.name, { ...g, lagByPriority: [...g.lagByPriority] });
        continue;
      }
      seen.pending += g.pending;
      seen.lag += g.lag;
      g.lagByPriority.forEach((n, i) => (seen.lagByPriority[i] = (seen.lagByPriority[i] ?? 0) + n));
      seen.retrying += g.retrying;
      seen.consumers = Math.max(seen.consumers, g.consumers);
      seen.oldestPendingMs = Math.max(seen.oldestPendingMs, g.oldestPendingMs);
    }
  }
  return [...byName.values()];
}

class PartitionedTransport implements Transport {
  readonly name: string;
  readonly features: Transport['features'];
  private readonly readers = new Map<string, ReaderState>();
  private closed = false;

  constructor(
    private readonly inner: Transport,
    private readonly n: number,
    private readonly partitioned: (stream: string) => boolean,
  ) {
    this.name = inner.name;
    this.features = inner.features;
  }

  private parts(stream: string): string[] {
    return Array.from({ length: this.n }, (_, i) => partitionName(stream, i));
  }

  /** The logical stream of an adapter stream name (`s#3` -> `s` when `s` is partitioned). */
  private logical(name: string): string {
    const hash = name.lastIndexOf('#');
    if (hash < 0) return name;
    const base = name.slice(0, hash);
    const index = Number(name.slice(hash + 1));
    return Number.isInteger(index) && index > 0 && index < this.n && this.partitioned(base) ? base : name;
  }

  private tag(partition: number, deliveries: Delivery[], stream: string): Delivery[] {
    for (const d of deliveries) {
      d.deliveryId = `${partition}|${d.deliveryId}`;
      d.stream = stream;
    }
    return deliveries;
  }

  /** Ids grouped by partition; ids that are not ours are dropped (ignored like unknown ids). */
  private byPartition(ids: readonly string[] | undefined): Map<number, string[]> {
    const out = new Map<number, string[]>();
    for (const id of ids ?? []) {
      const s = splitId(id);
      if (!s || s.partition >= this.n) continue;
      let list = out.get(s.partition);
      if (!list) out.set(s.partition, (list = []));
      list.push(s.inner);
    }
    return out;
  }

  private route<T extends OutgoingMessage>(messages: readonly T[]): Map<number, { index: number[]; messages: T[] }> {
    const out = new Map<number, { index: number[]; messages: T[] }>();
    messages.forEach((m, i) => {
      const key = routingKey(m);
      const p = key === undefined ? 0 : partitionOf(key, this.n);
      let g = out.get(p);
      if (!g) out.set(p, (g = { index: [], messages: [] }));
      g.index.push(i);
      g.messages.push(m);
    });
    return out;
  }

  // ---- message streams ------------------------------------------------------------------------

  async publish(stream: string, messages: readonly OutgoingMessage[], options?: SignalOptions): Promise<string[]> {
    if (!this.partitioned(stream) || this.closed || messages.length === 0) return this.inner.publish(stream, messages, options);
    const ids = new Array<string>(messages.length);
    await Promise.all(
      [...this.route(messages)].map(async ([p, g]) => {
        const got = await this.inner.publish(partitionName(stream, p), g.messages, options);
        g.index.forEach((at, j) => (ids[at] = `${p}|${got[j]}`));
      }),
    );
    return ids;
  }

  async redeliver(stream: string, group: string, messages: readonly RedeliverMessage[], options?: SignalOptions): Promise<string[]> {
    if (!this.partitioned(stream) || this.closed || messages.length === 0) return this.inner.redeliver(stream, group, messages, options);
    const ids = new Array<string>(messages.length);
    await Promise.all(
      [...this.route(messages)].map(async ([p, g]) => {
        const got = await this.inner.redeliver(partitionName(stream, p), group, g.messages, options);
        g.index.forEach((at, j) => (ids[at] = `${p}|${got[j]}`));
      }),
    );
    return ids;
  }

  async ensureGroup(stream: string, group: string, options?: EnsureGroupOptions): Promise<void> {
    if (!this.partitioned(stream)) return this.inner.ensureGroup(stream, group, options);
    await Promise.all(this.parts(stream).map((s) => this.inner.ensureGroup(s, group, options)));
  }

  private state(stream: string, group: string, consumer: string): ReaderState {
    const id = `${stream}\u0000${group}\u0000${consumer}`;
    let st = this.readers.get(id);
    if (!st) this.readers.set(id, (st = { buffer: [], inflight: new Set(), next: 0, wake: new Set() }));
    return st;
  }

  /** Hands deliveries back unprocessed (an aborted or closed read that still got some). */
  private async handBack(stream: string, group: string, deliveries: readonly Delivery[]): Promise<void> {
    await Promise.all(deliveries.map((d) => this.nack(stream, group, d.deliveryId, { countAttempt: false }).catch(() => {})));
  }

  async receive(stream: string, options: ReceiveOptions): Promise<Delivery[]> {
    if (!this.partitioned(stream)) return this.inner.receive(stream, options);
    const { group, consumer, signal } = options;
    const max = countOption(options.max, TRANSPORT_DEFAULTS.receiveMax);
    const st = this.state(stream, group, consumer);
    const acks = this.byPartition(options.ack);
    const sendAcks = (except: Set<number>) =>
      Promise.all([...acks].filter(([p]) => !except.has(p)).map(([p, ids]) => this.inner.ack(partitionName(stream, p), group, ids)));
    // After close the adapter rejects (ERR_CLOSED), as the contract says.
    if (this.closed) return this.inner.receive(partitionName(stream, 0), options);
    if (signal?.aborted) {
      await sendAcks(new Set());
      return [];
    }
    if (st.buffer.length > 0 || max === 0) {
      await sendAcks(new Set());
      return st.buffer.splice(0, max);
    }
    // A sweep without waiting: `max` shared over the partitions with no read in flight, the
    // first ones (rotating) getting the remainder; acks ride with the first read of their
    // partition. Partitions that filled their share are asked again for what is left.
    let candidates: number[] = [];
    for (let k = 0; k < this.n; k++) {
      const p = (st.next + k) % this.n;
      if (!st.inflight.has(p)) candidates.push(p);
    }
    st.next = (st.next + 1) % this.n;
    const out: Delivery[] = [];
    const acked = new Set<number>();
    let first = true;
    while (out.length < max && candidates.length > 0) {
      const left = max - out.length;
      const shares = candidates.map((_, i) => Math.floor(left / candidates.length) + (i < left % candidates.length ? 1 : 0));
      const reads = candidates.map((p, i) => {
        if (shares[i] === 0) return Promise.resolve([] as Delivery[]);
        const ack = acked.has(p) ? undefined : acks.get(p);
        acked.add(p);
        return this.inner
          .receive(partitionName(stream, p), { group, consumer, max: shares[i]!, blockMs: 0, ...(ack ? { ack } : {}), ...(signal ? { signal } : {}) })
          .then((ds) => this.tag(p, ds, stream));
      });
      const [got] = await Promise.all([Promise.all(reads), first ? sendAcks(acked) : undefined]);
      first = false;
      // Asked again: partitions that filled their share, and those not asked yet.
      const again: number[] = [];
      got.forEach((ds, i) => {
        out.push(...ds);
        if (shares[i] === 0 || ds.length === shares[i]) again.push(candidates[i]!);
      });
      candidates = again;
    }
    const blockMs = options.blockMs ?? 0;
    if (out.length > 0 || blockMs <= 0) return out;
    return this.waitAll(stream, st, { group, consumer, max, blockMs, ...(signal ? { signal } : {}) });
  }

  /**
   * Waits on every partition without a read in flight (one blocking read each, `max` shared,
   * at least one each) until one of them (or a read still in flight from an earlier call) brings
   * deliveries, `blockMs` passes, or `signal` aborts. What comes later waits in the buffer.
   */
  private waitAll(stream: string, st: ReaderState, o: { group: string; consumer: string; max: number; blockMs: number; signal?: AbortSignal }): Promise<Delivery[]> {
    const share = Math.max(1, Math.ceil(o.max / this.n));
    // One abort listener per partition read plus this call's own: more than Node's default of 10
    // on one signal with 5+ partitions, which is expected here, not a leak.
    if (o.signal) setMaxListeners(Math.max(getMaxListeners(o.signal), this.n * 2 + 10), o.signal);
    for (let p = 0; p < this.n; p++) {
      if (st.inflight.has(p)) continue;
      st.inflight.add(p);
      this.inner
        .receive(partitionName(stream, p), { group: o.group, consumer: o.consumer, max: share, blockMs: o.blockMs, ...(o.signal ? { signal: o.signal } : {}) })
        .then(
          (ds) => this.tag(p, ds, stream),
          () => [] as Delivery[],
        )
        .then(async (ds) => {
          st.inflight.delete(p);
          if (ds.length > 0 && (this.closed || o.signal?.aborted)) await this.handBack(stream, o.group, ds);
          else st.buffer.push(...ds);
          for (const w of [...st.wake]) w();
        });
    }
    return new Promise<Delivery[]>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        st.wake.delete(check);
        o.signal?.removeEventListener('abort', onAbort);
        resolve(o.signal?.aborted || this.closed ? [] : st.buffer.splice(0, o.max));
      };
      const check = () => {
        if (st.buffer.length > 0 || st.inflight.size === 0) finish();
      };
      const onAbort = () => {
        const left = st.buffer.splice(0);
        void this.handBack(stream, o.group, left);
        finish();
      };
      const timer = setTimeout(finish, o.blockMs);
      st.wake.add(check);
      o.signal?.addEventListener('abort', onAbort, { once: true });
      check();
    });
  }

  async ack(stream: string, group: string, deliveryIds: readonly string[], options?: SignalOptions): Promise<void> {
    if (!this.partitioned(stream) || this.closed) return this.inner.ack(stream, group, deliveryIds, options);
    await Promise.all([...this.byPartition(deliveryIds)].map(([p, ids]) => this.inner.ack(partitionName(stream, p), group, ids, options)));
  }

  async nack(stream: string, group: string, deliveryId: string, options?: NackOptions): Promise<void> {
    if (!this.partitioned(stream)) return this.inner.nack(stream, group, deliveryId, options);
    const s = splitId(deliveryId);
    if (this.closed) return this.inner.nack(partitionName(stream, 0), group, deliveryId, options);
    if (!s || s.partition >= this.n) {
      if (options?.signal?.aborted) throw options.signal.reason;
      return;
    }
    return this.inner.nack(partitionName(stream, s.partition), group, s.inner, options);
  }

  async claimStale(stream: string, options: ClaimOptions): Promise<Delivery[]> {
    if (!this.partitioned(stream)) return this.inner.claimStale(stream, options);
    const max = countOption(options.max, TRANSPORT_DEFAULTS.claimMax);
    const st = this.state(stream, options.group, options.consumer);
    const out: Delivery[] = [];
    for (let k = 0; k < this.n && out.length < max; k++) {
      const p = (st.next + k) % this.n;
      const got = await this.inner.claimStale(partitionName(stream, p), { ...options, max: max - out.length });
      out.push(...this.tag(p, got, stream));
    }
    return out;
  }

  async touch(stream: string, group: string, consumer: string, deliveryIds: readonly string[], options?: SignalOptions): Promise<void> {
    if (!this.partitioned(stream) || this.closed) return this.inner.touch(stream, group, consumer, deliveryIds, options);
    await Promise.all([...this.byPartition(deliveryIds)].map(([p, ids]) => this.inner.touch(partitionName(stream, p), group, consumer, ids, options)));
  }

  // ---- dead letters ---------------------------------------------------------------------------

  deadLetter(
    stream: string,
    group: string,
    delivery: Pick<Delivery, 'deliveryId' | 'body' | 'priority'>,
    input: DeadLetterInput,
    options?: SignalOptions,
  ): Promise<string | undefined> {
    if (!this.partitioned(stream)) return this.inner.deadLetter(stream, group, delivery, input, options);
    const s = splitId(delivery.deliveryId);
    // An id that is not ours (nothing pending): recorded, with its body, in partition 0.
    const p = s && s.partition < this.n ? s.partition : 0;
    return this.inner.deadLetter(partitionName(stream, p), group, { ...delivery, deliveryId: s ? s.inner : delivery.deliveryId }, input, options);
  }

  private shown(entry: DeadLetter): DeadLetter {
    entry.stream = this.logical(entry.stream);
    return entry;
  }

  async listDeadLetters(dlq: string, options?: ListDeadLettersOptions): Promise<DeadLetter[]> {
    return (await this.inner.listDeadLetters(dlq, options)).map((e) => this.shown(e));
  }

  async getDeadLetter(dlq: string, id: string, options?: SignalOptions): Promise<DeadLetter | undefined> {
    const e = await this.inner.getDeadLetter(dlq, id, options);
    return e ? this.shown(e) : undefined;
  }

  deleteDeadLetters(dlq: string, ids: readonly string[], options?: SignalOptions): Promise<number> {
    return this.inner.deleteDeadLetters(dlq, ids, options);
  }

  countDeadLetters(dlq: string, options?: SignalOptions): Promise<number> {
    return this.inner.countDeadLetters(dlq, options);
  }

  purgeDeadLetters(dlq: string, options?: SignalOptions): Promise<number> {
    return this.inner.purgeDeadLetters(dlq, options);
  }

  // ---- admin ----------------------------------------------------------------------------------

  async info(stream: string, options?: SignalOptions): Promise<StreamInfo> {
    if (!this.partitioned(stream)) return this.inner.info(stream, options);
    const parts = await Promise.all(this.parts(stream).map((s) => this.inner.info(s, options)));
    const lengthByPriority = [0, 0, 0, 0];
    for (const part of parts) part.lengthByPriority.forEach((n, i) => (lengthByPriority[i] = (lengthByPriority[i] ?? 0) + n));
    return {
      stream,
      length: parts.reduce((a, p) => a + p.length, 0),
      lengthByPriority,
      delayed: parts.reduce((a, p) => a + p.delayed, 0),
      groups: sumGroups(parts),
      partitions: parts,
    };
  }

  async purge(stream: string, options?: SignalOptions): Promise<number> {
    if (!this.partitioned(stream)) return this.inner.purge(stream, options);
    const counts = await Promise.all(this.parts(stream).map((s) => this.inner.purge(s, options)));
    return counts.reduce((a, b) => a + b, 0);
  }

  // ---- key-value and signals: unchanged -------------------------------------------------------

  kvGet(key: string, options?: SignalOptions): Promise<string | null> {
    return this.inner.kvGet(key, options);
  }

  kvSet(key: string, value: string, options?: KvSetOptions): Promise<boolean> {
    return this.inner.kvSet(key, value, options);
  }

  kvSetMany(entries: ReadonlyArray<{ key: string; value: string }>, options?: SignalOptions & { ttlMs?: number }): Promise<void> {
    return this.inner.kvSetMany(entries, options);
  }

  kvDelete(key: string, options?: SignalOptions & { ifEquals?: string }): Promise<boolean> {
    return this.inner.kvDelete(key, options);
  }

  kvIncr(key: string, options?: SignalOptions & { by?: number; ttlMs?: number }): Promise<number> {
    return this.inner.kvIncr(key, options);
  }

  kvScan(prefix: string, options?: SignalOptions): Promise<Array<{ key: string; value: string }>> {
    return this.inner.kvScan(prefix, options);
  }

  notify(channel: string, message: string, options?: SignalOptions): Promise<void> {
    return this.inner.notify(channel, message, options);
  }

  listen(channel: string, handler: (message: string) => void, options?: SignalOptions): Promise<Unsubscribe> {
    return this.inner.listen(channel, handler, options);
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      for (const st of this.readers.values()) for (const w of [...st.wake]) w();
    }
    await this.inner.close();
  }
}

/**
 * Splits streams of `transport` into `partitions` partitions (see the module notes): routing
 * by partition key or correlation id, every group reading every partition, ids naming their
 * partition, `info` per partition and in total. Works over any adapter; `createEventSystem`
 * applies it to the event stream when `eventStreamPartitions > 1`.
 *
 * @param transport - the adapter; closing the result closes it.
 * @returns `transport` itself when `partitions` is 1.
 * @throws `ConfigError` when `partitions` is not a whole number from 1 to {@link MAX_PARTITIONS}.
 * @example
 * ```ts
 * const transport = partitionTransport(redisTransport({ url }), { partitions: 6, streams: (s) => s === 'procur:events' });
 * ```
 */
export function partitionTransport(transport: Transport, options: PartitionOptions): Transport {
  const n = checkPartitions(options.partitions, 'partitions');
  if (n === 1) return transport;
  return new PartitionedTransport(transport, n, options.streams ?? (() => true));
}
