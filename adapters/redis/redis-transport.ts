/**
 * The Redis Streams {@link Transport}: shared by many processes on many machines, persistent when
 * Redis is. See `docs/redis.md` for the design and key layout.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import type { ChainableCommander, Cluster, Redis, RedisOptions } from 'ioredis';
import {
  ClosedError,
  TransportError,
  isEventBusError,
  toError,
  type ClaimOptions,
  type DeadLetter,
  type DeadLetterInput,
  type Delivery,
  type KvSetOptions,
  type ListDeadLettersOptions,
  type NackOptions,
  type OutgoingMessage,
  type ReceiveOptions,
  type SignalOptions,
  type StreamInfo,
  type GroupInfo,
  type Transport,
  type TransportFeatures,
  type Unsubscribe,
} from '@procur/event-bus';
import { Lifecycle, TRANSPORT_DEFAULTS, clampRank, countOption, runAll } from '@procur/event-bus/adapter-kit';
import {
  bounded,
  closeConnection,
  isCluster,
  loadIoredis,
  planConnection,
  scrub,
  whenReady,
  type RedisClient,
} from './connection.js';
import { DEFAULT_KEY_PREFIX, KeyLayout, RANKS, decodeDeliveryId, encodeDeliveryId, entryIdMs, isEntryId } from './keys.js';
import {
  CLAIM,
  DEAD_LETTER,
  ENSURE_GROUP,
  KV_DELETE_IF,
  KV_INCR,
  KV_SET,
  NACK,
  PUBLISH,
  PUBLISH_NOW,
  PURGE,
  PURGE_DLQ,
  READ,
  READ_GUARD,
  REDELIVER,
  TOUCH,
  TRIM,
  type LuaScript,
} from './scripts.js';

/** Default bound on `publish` when Redis is unreachable or slow, in ms. */
export const DEFAULT_PUBLISH_TIMEOUT_MS = 5000;
/** Default bound on every other non-blocking command, in ms. */
export const DEFAULT_OPERATION_TIMEOUT_MS = 5000;
/** Default cap of a stream without consumer groups, applied by the trimming timer. */
export const DEFAULT_UNGROUPED_MAX_LEN = 10_000;

/** Default interval of the MINID trimming of the streams this transport used, in ms. */
export const DEFAULT_TRIM_INTERVAL_MS = 60_000;

/** Options of {@link redisTransport}. Every other key is an ioredis option for connections it opens. */
export interface RedisTransportOptions extends Omit<Partial<RedisOptions>, 'keyPrefix'> {
  /**
   * `redis://[[user]:password@]host[:port][/db]`, `rediss://...` (TLS) or `unix://...`. When
   * neither `url`, `client` nor `host`/`port`/`path` is given, the `PROCUR_EVENT_REDIS_*` settings
   * are read (`loadConfig(process.env)`).
   */
  url?: string;
  /**
   * An ioredis client (or Cluster client) to use instead of opening one. It stays open on
   * `close()`; the extra connections the transport opens for blocking reads and pub/sub
   * (duplicates of it) are closed. Do not set ioredis's own `keyPrefix` on it.
   */
  client?: Redis | Cluster;
  /**
   * The hash tag every key starts with (`{procur}:...`). Use one prefix per system; two systems
   * on one Redis must use different prefixes. @default DEFAULT_KEY_PREFIX ('procur')
   */
  keyPrefix?: string;
  /**
   * A hard cap on each rank stream (`XADD MAXLEN ~`). It can drop entries a slow group has not
   * read yet, so it is off by default: MINID trimming (`trimIntervalMs`) bounds memory without
   * dropping unacked entries. @default undefined (no cap)
   */
  maxLen?: number;
  /** How long `publish` waits for an unreachable Redis before it rejects with `TransportError`. @default DEFAULT_PUBLISH_TIMEOUT_MS (5000) */
  publishTimeoutMs?: number;
  /** The same bound for every other non-blocking call. @default DEFAULT_OPERATION_TIMEOUT_MS (5000) */
  operationTimeoutMs?: number;
  /**
   * How often the streams this transport published to or read from are trimmed (`XTRIM MINID ~`
   * to the oldest entry a group still needs); `0` turns trimming off. @default DEFAULT_TRIM_INTERVAL_MS (60000)
   */
  trimIntervalMs?: number;
  /**
   * The trimming timer caps a stream that has no consumer group (nobody will read its entries
   * with a group, e.g. task lifecycle events with no dashboard running) at about this many
   * entries; `0` leaves such streams alone. @default DEFAULT_UNGROUPED_MAX_LEN (10000)
   */
  ungroupedMaxLen?: number;
}

/** The Redis transport: the {@link Transport} contract plus Redis-only maintenance. */
export interface RedisTransport extends Transport {
  /**
   * Trims the rank streams of `stream` now (`XTRIM MINID ~` to the oldest entry some group still
   * needs; streams without groups are left alone). Returns how many entries were removed. Runs by
   * itself every `trimIntervalMs` for the streams this transport used.
   */
  trim(stream: string, options?: SignalOptions): Promise<number>;
  /** The key names this transport uses (for tooling and tests). */
  readonly keys: KeyLayout;
}

const FEATURES: TransportFeatures = Object.freeze({ persistent: true, distributed: true });
/** Scheduled entries moved per read; more are moved by the next read right away. */
const PROMOTE_LIMIT = 1000;
/**
 * The smallest `max` for which `receive` takes the fast path: below it, the guard script and the
 * second command cost more than converting the entries in Lua saves.
 */
const FAST_PATH_MIN_BATCH = 32;
/** Full READs after the fast path of `receive` met a higher priority before it may start again. */
const FAST_PATH_COOLDOWN_READS = 8;
/** The longest single blocking wait; longer `blockMs` loops. */
const MAX_WAIT_SLICE_MS = 30_000;
/** Messages per publish script call (all calls of one batch are pipelined). */
const PUBLISH_CHUNK = 1000;
/**
 * ioredis waits this long for a socket to close after `disconnect()` before destroying it, on a
 * ref'd timer; a socket that is already gone (Redis down) never closes again, so keep it short.
 */
const DISCONNECT_TIMEOUT_MS = 100;
/** Idle blocking connections kept for reuse. */
const MAX_IDLE_BLOCKING = 16;
/** How many DLQ entries / keys `kvScan` fetches per command. */
const SCAN_COUNT = 500;
/** Cached key lists of the hot paths (publish, receive, ack); cleared when it grows past this. */
const MAX_CACHED_KEY_LISTS = 1000;

/** The key lists `receive` and `ack` use for one (stream, group). Never mutated. */
interface GroupKeys {
  /** The eight sources, in SourceIndex order. */
  readonly sources: readonly string[];
  /** KEYS of the READ script: sources, delayed zset, retry zset, wake stream. */
  readonly read: readonly string[];
  /** Keys of the blocking wait: wake stream, then the sources. */
  readonly wait: readonly string[];
}

interface Listener {
  readonly handler: (message: string) => void;
  active: boolean;
}

function fieldMap(fields: unknown): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  if (!Array.isArray(fields)) return out;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const k = String(fields[i]);
    if (!(k in out)) out[k] = String(fields[i + 1]);
  }
  return out;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isNoGroup(err: unknown): boolean {
  return messageOf(err).includes('NOGROUP');
}

/**
 * A failure worth retrying: a lost or not yet ready connection, a timeout, or Redis saying it is
 * busy loading or failing over. Other Redis replies (WRONGTYPE, syntax) are not.
 */
function isTransient(err: unknown): boolean {
  if (isEventBusError(err)) return isEventBusError(err, 'ERR_TRANSPORT');
  if ((err as { name?: string } | undefined)?.name !== 'ReplyError') return true;
  return /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY)\b/.test(messageOf(err));
}

/** Resolves after `ms` or as soon as one of the signals aborts. */
function pause(ms: number, ...signals: (AbortSignal | undefined)[]): Promise<void> {
  return new Promise((resolve) => {
    const live = signals.filter((s): s is AbortSignal => s !== undefined);
    if (ms <= 0 || live.some((s) => s.aborted)) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      for (const s of live) s.removeEventListener('abort', done);
      resolve();
    }
    for (const s of live) s.addEventListener('abort', done, { once: true });
  });
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** Entry ids to acknowledge per source index, or `undefined` when none of the ids is ours. */
function acksBySource(deliveryIds: readonly string[]): Map<number, string[]> | undefined {
  let bySource: Map<number, string[]> | undefined;
  for (const id of deliveryIds) {
    const d = decodeDeliveryId(id);
    if (!d) continue;
    bySource ??= new Map();
    let list = bySource.get(d.source);
    if (!list) bySource.set(d.source, (list = []));
    list.push(d.entryId);
  }
  return bySource;
}

/** Adds the XACKs (and XDELs of private retry entries) to a pipeline; returns how many commands. */
function queueAcks(p: ChainableCommander, group: string, sources: readonly string[], bySource: Map<number, string[]>): number {
  let n = 0;
  for (const [source, ids] of bySource) {
    const key = sources[source]!;
    p.xack(key, group, ...ids);
    n++;
    // Private retry entries are only ever needed by this group: drop them at once.
    if (source >= RANKS) {
      p.xdel(key, ...ids);
      n++;
    }
  }
  return n;
}

/** Throws the first error of ack replies, except NOGROUP (nothing to acknowledge there). */
function checkAcks(results: ReadonlyArray<[Error | null, unknown]>): void {
  for (const [err] of results) if (err && !isNoGroup(err)) throw err;
}

let uidSeq = 0;
const UID_SALT = randomBytes(4).toString('hex');

/** A unique, roughly time-ordered id for a scheduled entry (no `|`). */
function newUid(): string {
  uidSeq = (uidSeq + 1) % 0xffffff;
  return `${Date.now().toString(36).padStart(9, '0')}${uidSeq.toString(36).padStart(5, '0')}${UID_SALT}`;
}

class RedisStreamsTransport implements RedisTransport {
  readonly name = 'redis';
  readonly features = FEATURES;
  readonly keys: KeyLayout;

  private readonly life = new Lifecycle('redis transport');
  private readonly main: RedisClient;
  private readonly ownsMain: boolean;
  private readonly where: string;
  private readonly hint: string;
  private readonly secrets: string[];
  private readonly maxLen: number;
  private readonly publishTimeoutMs: number;
  private readonly operationTimeoutMs: number;
  private readonly lastErrors = new WeakMap<RedisClient, Error>();
  /** Connections already disconnected: ioredis arms a timer per disconnect() call, so call it once. */
  private readonly dropped = new WeakSet<RedisClient>();
  private readonly errorListeners = new Map<RedisClient, (err: Error) => void>();
  /** Blocking connections in use or idle; idle ones are also in `idle`. */
  private readonly blocking = new Set<RedisClient>();
  private readonly idle: RedisClient[] = [];
  /** (stream, group) pairs this transport created, re-created after NOGROUP (a Redis restart without persistence). */
  private readonly groups = new Set<string>();
  /** Streams published to or read from: trimmed by the timer. */
  private readonly used = new Set<string>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly keyLists = new Map<string, GroupKeys | readonly string[]>();
  /**
   * Per (stream, group, consumer): the 1-based source index to read next with a plain
   * `XREADGROUP` (see `receive`), set when the last read filled its batch from that source after
   * draining every source served before it.
   */
  private readonly fastSources = new Map<string, number>();
  private subscriber: Promise<RedisClient> | undefined;
  private subscriberClient: RedisClient | undefined;
  private readonly trimTimer: ReturnType<typeof setInterval> | undefined;
  private trimming = false;
  private readonly ungroupedMaxLen: number;

  constructor(options: RedisTransportOptions) {
    const {
      url,
      client,
      keyPrefix,
      maxLen,
      publishTimeoutMs,
      operationTimeoutMs,
      trimIntervalMs,
      ungroupedMaxLen,
      ...redisOptions
    } = options;
    this.ungroupedMaxLen = ungroupedMaxLen !== undefined && ungroupedMaxLen >= 0 ? Math.floor(ungroupedMaxLen) : DEFAULT_UNGROUPED_MAX_LEN;
    this.keys = new KeyLayout(keyPrefix ?? DEFAULT_KEY_PREFIX);
    this.maxLen = maxLen !== undefined && maxLen > 0 ? Math.floor(maxLen) : 0;
    this.publishTimeoutMs = publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS;
    this.operationTimeoutMs = operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;
    if (client) {
      this.main = client;
      this.ownsMain = false;
      const o = (isCluster(client) ? {} : client.options) as Partial<RedisOptions>;
      this.where = isCluster(client) ? 'the Redis Cluster passed in' : `${o.path ?? `${o.host ?? 'localhost'}:${o.port ?? 6379}`}`;
      this.hint = 'the client passed in';
      this.secrets = o.password ? [o.password] : [];
    } else {
      const Redis = loadIoredis();
      const plan = planConnection(url, redisOptions, process.env);
      this.main = new Redis(...plan.args);
      this.ownsMain = true;
      this.where = plan.where;
      this.hint = plan.hint;
      this.secrets = plan.secrets;
    }
    this.watch(this.main);
    const every = trimIntervalMs ?? DEFAULT_TRIM_INTERVAL_MS;
    if (every > 0) {
      this.trimTimer = setInterval(() => void this.trimUsed(), every);
      this.trimTimer.unref();
    }
  }

  // ---- connections ---------------------------------------------------------------------------

  /** Records connection errors (for messages) and keeps ioredis from printing them unhandled. */
  private watch(client: RedisClient): void {
    // Every command waiting for a (re)connection listens for 'ready'/'end' until it gives up:
    // during an outage there are legitimately more than ten of them.
    client.setMaxListeners(0);
    const onError = (err: Error) => this.lastErrors.set(client, err);
    client.on('error', onError);
    this.errorListeners.set(client, onError);
  }

  private unwatch(client: RedisClient): void {
    const onError = this.errorListeners.get(client);
    if (onError) client.off('error', onError);
    this.errorListeners.delete(client);
  }

  private unreachable(client: RedisClient): () => TransportError {
    return () => {
      const last = this.lastErrors.get(client);
      const reason = last ? `: ${scrub(last.message, this.secrets)}` : client.status === 'end' ? ': the connection is closed' : '';
      return new TransportError(`[event-bus:redis] Cannot reach Redis at ${this.where}${reason}. Check ${this.hint}.`);
    };
  }

  /** Disconnects a connection the transport opened, once (wakes a command blocked on it). */
  private drop(client: RedisClient): void {
    if (this.dropped.has(client)) return;
    this.dropped.add(client);
    client.disconnect();
  }

  /** A new connection like the main one, for blocking reads or pub/sub. */
  private duplicate(overrides: Partial<RedisOptions>): RedisClient {
    const c = isCluster(this.main)
      ? this.main.duplicate(undefined, { lazyConnect: true, enableOfflineQueue: false, redisOptions: { ...this.main.options.redisOptions, disconnectTimeout: DISCONNECT_TIMEOUT_MS, ...overrides } })
      : this.main.duplicate({ lazyConnect: true, disconnectTimeout: DISCONNECT_TIMEOUT_MS, ...overrides });
    this.watch(c);
    return c;
  }

  /** The cached key lists of a (stream, group). */
  private groupKeys(stream: string, group: string): GroupKeys {
    const id = `g\u0000${stream}\u0000${group}`;
    let k = this.keyLists.get(id) as GroupKeys | undefined;
    if (!k) {
      const sources = this.keys.sources(stream, group);
      k = {
        sources,
        read: [...sources, this.keys.delayed(stream), this.keys.retryDue(stream, group), this.keys.wake(stream)],
        wait: [this.keys.wake(stream), ...sources],
      };
      this.cacheKeys(id, k);
    }
    return k;
  }

  /** The cached KEYS of the publish script for a stream. */
  private publishKeys(stream: string): readonly string[] {
    const id = `p\u0000${stream}`;
    let k = this.keyLists.get(id) as readonly string[] | undefined;
    if (!k) {
      k = [...this.keys.mains(stream), this.keys.delayed(stream), this.keys.wake(stream)];
      this.cacheKeys(id, k);
    }
    return k;
  }

  private cacheKeys(id: string, value: GroupKeys | readonly string[]): void {
    if (this.keyLists.size >= MAX_CACHED_KEY_LISTS) this.keyLists.clear();
    this.keyLists.set(id, value);
  }

  private wrap(what: string, err: unknown): Error {
    if (isEventBusError(err)) return err;
    const e = toError(err);
    const msg = scrub(e.message, this.secrets);
    return new TransportError(`[event-bus:redis] ${what} failed on Redis at ${this.where}: ${msg}`, {
      cause: msg === e.message ? e : new Error(msg),
    });
  }

  /**
   * Runs one non-blocking command (or pipeline, or script) on the main connection: waits for the
   * connection (bounded), bounds the call, and turns failures into `TransportError`s without
   * secrets. With `total`, the bound covers the wait for the connection too.
   */
  private async command<T>(
    what: string,
    fn: (c: RedisClient) => Promise<T>,
    opts: { signal?: AbortSignal | undefined; timeoutMs?: number; readyMs?: number; total?: boolean } = {},
  ): Promise<T> {
    this.life.assertOpen();
    const { signal } = opts;
    if (signal?.aborted) throw signal.reason;
    const timeoutMs = opts.timeoutMs ?? this.operationTimeoutMs;
    const start = Date.now();
    try {
      await whenReady(this.main, start + (opts.readyMs ?? timeoutMs), this.unreachable(this.main), this.life.signal, signal);
      const deadline = opts.total ? Math.max(start + timeoutMs, Date.now() + 1) : Date.now() + timeoutMs;
      return await bounded(
        fn(this.main),
        deadline,
        () => new TransportError(`[event-bus:redis] Redis at ${this.where} did not answer ${what} within ${timeoutMs} ms.`),
        signal,
      );
    } catch (err) {
      if (signal?.aborted && err === signal.reason) throw err;
      if (this.life.closed && !isEventBusError(err)) throw new ClosedError('redis transport');
      throw this.wrap(what, err);
    }
  }

  /** EVALSHA, falling back to EVAL when Redis does not know the script (first use, restart). */
  private async eval(c: RedisClient, s: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    const tail = [keys.length, ...keys, ...args];
    try {
      return await c.call('EVALSHA', [s.sha, ...tail]);
    } catch (err) {
      if (!messageOf(err).includes('NOSCRIPT')) throw err;
      return await c.call('EVAL', [s.source, ...tail]);
    }
  }

  private groupKey(stream: string, group: string): string {
    return `${stream}\u0000${group}`;
  }

  private noGroup(stream: string, group: string): TransportError {
    return new TransportError(
      `[event-bus:redis] Consumer group '${group}' does not exist on stream '${stream}'. Call ensureGroup('${stream}', '${group}') first.`,
    );
  }

  private async createGroup(stream: string, group: string, startAt: 'beginning' | 'end', signal?: AbortSignal): Promise<void> {
    const keys = [...this.keys.sources(stream, group), this.keys.delayed(stream)];
    await this.command('ensureGroup', (c) => this.eval(c, ENSURE_GROUP, keys, [group, startAt === 'beginning' ? '0' : '$', this.maxLen]), { signal });
    this.groups.add(this.groupKey(stream, group));
  }

  /** After NOGROUP: re-creates a group this transport created before (from the beginning, so nothing published since the restart is skipped). */
  private async recoverGroup(stream: string, group: string): Promise<boolean> {
    if (!this.groups.has(this.groupKey(stream, group))) return false;
    await this.createGroup(stream, group, 'beginning');
    return true;
  }

  private toDelivery(stream: string, group: string, keyIndex: number, entryId: string, fields: unknown, deliveries: number): Delivery {
    const source = keyIndex - 1;
    if (source < RANKS && Array.isArray(fields) && fields.length === 2 && fields[0] === 'body') {
      // What `publish` writes: only a body (the hot path; same result as the general case below).
      return {
        deliveryId: encodeDeliveryId(source, entryId),
        stream,
        group,
        body: String(fields[1]),
        priority: source,
        attempt: Math.max(1, deliveries),
        publishedAt: entryIdMs(entryId),
      };
    }
    const f = fieldMap(fields);
    const body = f.body !== undefined ? f.body : JSON.stringify(f);
    const priority = source < RANKS ? source : clampRank(Number(f.priority));
    const stored = Number(f.attempt);
    const base = Number.isFinite(stored) && stored >= 1 ? Math.floor(stored) : 1;
    const published = Number(f.publishedAt);
    return {
      deliveryId: encodeDeliveryId(source, entryId),
      stream,
      group,
      body,
      priority,
      attempt: base + Math.max(1, deliveries) - 1,
      publishedAt: Number.isFinite(published) && f.publishedAt !== '' ? published : entryIdMs(entryId),
    };
  }

  // ---- publishing -----------------------------------------------------------------------------

  async publish(stream: string, messages: readonly OutgoingMessage[], options?: SignalOptions): Promise<string[]> {
    this.life.assertOpen();
    if (messages.length === 0) return [];
    this.used.add(stream);
    const keys = this.publishKeys(stream);
    const chunks: Array<{ script: LuaScript; args: (string | number)[] }> = [];
    for (let i = 0; i < messages.length; i += PUBLISH_CHUNK) {
      const end = Math.min(messages.length, i + PUBLISH_CHUNK);
      let anyDelay = false;
      for (let j = i; j < end && !anyDelay; j++) anyDelay = (messages[j]!.delayMs ?? 0) > 0;
      const args: (string | number)[] = [this.maxLen];
      for (let j = i; j < end; j++) {
        const m = messages[j]!;
        if (!anyDelay) {
          args.push(clampRank(m.priority), m.body);
          continue;
        }
        const delay = m.delayMs !== undefined && m.delayMs > 0 ? Math.ceil(m.delayMs) : 0;
        args.push(clampRank(m.priority), delay, m.body, delay > 0 ? newUid() : '');
      }
      chunks.push({ script: anyDelay ? PUBLISH : PUBLISH_NOW, args });
    }
    const results = await this.command(
      'publish',
      // One write of all chunks: ioredis sends them back to back on one connection (one round trip).
      (c) => Promise.all(chunks.map(({ script, args }) => this.eval(c, script, keys, args))),
      { signal: options?.signal, timeoutMs: this.publishTimeoutMs, total: true },
    );
    return (results as string[][]).flat();
  }

  async ensureGroup(stream: string, group: string, options?: SignalOptions & { startAt?: 'beginning' | 'end' }): Promise<void> {
    this.life.assertOpen();
    await this.createGroup(stream, group, options?.startAt ?? 'end', options?.signal);
  }

  async redeliver(
    stream: string,
    group: string,
    messages: readonly (OutgoingMessage & { attempt?: number })[],
    options?: SignalOptions,
  ): Promise<string[]> {
    this.life.assertOpen();
    const keys = [...this.keys.sources(stream, group), this.keys.retryDue(stream, group), this.keys.wake(stream)];
    const args: (string | number)[] = [group];
    for (const m of messages) {
      const delay = m.delayMs !== undefined && m.delayMs > 0 ? Math.ceil(m.delayMs) : 0;
      const attempt = m.attempt !== undefined && m.attempt >= 1 ? Math.floor(m.attempt) : 1;
      args.push(clampRank(m.priority), delay, m.body, attempt, delay > 0 ? newUid() : '');
    }
    const run = () => this.command('redeliver', (c) => this.eval(c, REDELIVER, keys, args), { signal: options?.signal });
    try {
      return (await run()) as string[];
    } catch (err) {
      if (!isNoGroup(err)) throw err;
      if (!(await this.recoverGroup(stream, group))) throw this.noGroup(stream, group);
      return (await run()) as string[];
    }
  }

  // ---- consuming ------------------------------------------------------------------------------

  async receive(stream: string, options: ReceiveOptions): Promise<Delivery[]> {
    this.life.assertOpen();
    const { group, consumer, signal } = options;
    if (signal?.aborted) return [];
    const max = countOption(options.max, TRANSPORT_DEFAULTS.receiveMax);
    if (max === 0) {
      if (options.ack && options.ack.length > 0) await this.ack(stream, group, options.ack);
      return [];
    }
    // Sent with the first read that reaches Redis (and again with a retry until one does).
    let acks = options.ack && options.ack.length > 0 ? acksBySource(options.ack) : undefined;
    const blockMs = options.blockMs ?? 0;
    const deadline = blockMs > 0 ? Date.now() + blockMs : Date.now();
    this.used.add(stream);
    const keys = this.groupKeys(stream, group);
    const { read: readKeys, wait: waitKeys } = keys;
    const fastId = `${stream}\u0000${group}\u0000${consumer}`;
    let backoff = 50;
    let recoveries = 0;
    let needsGroup = false;
    for (;;) {
      if (this.life.closed || signal?.aborted) return [];
      try {
        if (needsGroup) {
          needsGroup = false;
          if (!(await this.recoverGroup(stream, group))) throw this.noGroup(stream, group);
        }
        const fast = this.fastSources.get(fastId);
        if (fast !== undefined && fast > 0) {
          const out = await this.receivePlain(stream, group, consumer, keys, fast, max, fastId, deadline, acks);
          acks = undefined;
          if (out.length > 0) return out;
        }
        const readArgs = [group, consumer, max, PROMOTE_LIMIT, this.maxLen];
        const pendingAcks = acks;
        const res = (await this.command(
          'receive',
          async (c) => {
            if (!pendingAcks) return this.eval(c, READ, readKeys, readArgs);
            // One round trip: the acks, then the read.
            const p = c.pipeline();
            const n = queueAcks(p, group, keys.sources, pendingAcks);
            p.evalsha(READ.sha, readKeys.length, ...readKeys, ...readArgs);
            const r = (await p.exec()) ?? [];
            checkAcks(r.slice(0, n));
            const [err, reply] = r[n] ?? [new Error('no reply'), null];
            if (!err) return reply;
            if (!messageOf(err).includes('NOSCRIPT')) throw err;
            return this.eval(c, READ, readKeys, readArgs);
          },
          { readyMs: Math.max(250, deadline - Date.now()) },
        )) as [unknown[], number?, string[]?];
        acks = undefined;
        const [flat, waitHint, lastIds] = res;
        if (flat.length > 0) {
          const out: Delivery[] = [];
          for (let i = 0; i + 2 < flat.length; i += 3) {
            out.push(this.toDelivery(stream, group, Number(flat[i]), String(flat[i + 1]), flat[i + 2], 1));
          }
          // A full batch whose last source may hold more, every source before it drained: the
          // next read can be a plain XREADGROUP of that source.
          if (out.length === max && max >= FAST_PATH_MIN_BATCH) this.setFastSource(fastId, Number(flat[flat.length - 3]));
          else if ((this.fastSources.get(fastId) ?? 0) >= 0) this.fastSources.delete(fastId);
          return out;
        }
        const left = deadline - Date.now();
        if (left <= 0) return [];
        if (waitHint === 0) continue;
        let wait = Math.min(left, MAX_WAIT_SLICE_MS);
        if (typeof waitHint === 'number' && waitHint > 0) wait = Math.min(wait, waitHint);
        await this.waitForEntries(waitKeys, lastIds ?? waitKeys.map(() => '$'), Math.max(1, Math.ceil(wait)), signal);
        backoff = 50;
      } catch (err) {
        if (this.life.closed || signal?.aborted) return [];
        if (isNoGroup(err) && recoveries++ < 3) {
          needsGroup = true;
          continue;
        }
        if (!isTransient(err)) throw this.wrap('receive', err);
        const left = deadline - Date.now();
        if (left <= 0) throw this.wrap('receive', err);
        await pause(Math.min(backoff, left), signal, this.life.signal);
        backoff = Math.min(backoff * 2, 1000);
      }
    }
  }

  /** Enables the fast path on `source`, unless it is cooling down (a negative count of READs left). */
  private setFastSource(id: string, source: number): void {
    const current = this.fastSources.get(id);
    if (current !== undefined && current < 0) {
      if (current + 1 < 0) this.fastSources.set(id, current + 1);
      else this.fastSources.delete(id);
      return;
    }
    if (this.fastSources.size >= MAX_CACHED_KEY_LISTS) this.fastSources.clear();
    this.fastSources.set(id, source);
  }

  /**
   * The fast path of `receive` while a backlog drains from one source: one pipeline of the
   * READ_GUARD script and a plain `XREADGROUP` of that source. Redis then returns the entries
   * without converting each one into Lua and back, about a third of the Redis time per entry
   * of the READ script. When the source runs short the fast path ends. When the guard saw
   * entries in a source READ serves first (a higher priority arrived), the entries just read
   * are handed back unprocessed (to the group's retry stream of their rank, which READ serves
   * before the shared one, so their order holds), the fast path pauses for a few reads, and
   * READ serves the higher priority now. Returns [] when it returned nothing (the caller then
   * runs READ at once).
   */
  private async receivePlain(
    stream: string,
    group: string,
    consumer: string,
    keys: GroupKeys,
    source: number,
    max: number,
    fastId: string,
    deadline: number,
    acks: Map<number, string[]> | undefined,
  ): Promise<Delivery[]> {
    const args = [group, source, PROMOTE_LIMIT, this.maxLen];
    const results = await this.command(
      'receive',
      async (c) => {
        const p = c.pipeline();
        const n = acks ? queueAcks(p, group, keys.sources, acks) : 0;
        p.evalsha(READ_GUARD.sha, keys.read.length, ...keys.read, ...args);
        p.xreadgroup('GROUP', group, consumer, 'COUNT', max, 'STREAMS', keys.sources[source - 1]!, '>');
        const all = (await p.exec()) ?? [];
        checkAcks(all.slice(0, n));
        const r = all.slice(n);
        const [guardErr, guard] = r[0] ?? [new Error('no reply')];
        let diverted = guard !== 0;
        if (guardErr && messageOf(guardErr).includes('NOSCRIPT')) {
          // First use on this Redis (or after a restart): EVAL loads it for the next time.
          diverted = (await this.eval(c, READ_GUARD, keys.read, args)) !== 0;
        }
        return { diverted, read: r[1] ?? [new Error('no reply'), null] };
      },
      { readyMs: Math.max(250, deadline - Date.now()) },
    );
    const [readErr, reply] = results.read;
    if (readErr) {
      this.fastSources.delete(fastId);
      throw readErr;
    }
    const entries = (reply as [string, [string, unknown][]][] | null)?.[0]?.[1] ?? [];
    if (results.diverted) {
      this.fastSources.set(fastId, -FAST_PATH_COOLDOWN_READS);
      if (entries.length > 0) await this.handBack(stream, group, source, entries.map(([id]) => id));
      return [];
    }
    if (entries.length < max) this.fastSources.delete(fastId);
    const out: Delivery[] = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const [id, fields] = entries[i]!;
      out[i] = this.toDelivery(stream, group, source, id, fields, 1);
    }
    return out;
  }

  /** Hands entries this consumer read but never returned back to the group, attempt not counted. */
  private async handBack(stream: string, group: string, source: number, ids: readonly string[]): Promise<void> {
    const keys = [...this.keys.sources(stream, group), this.keys.retryDue(stream, group), this.keys.wake(stream)];
    await this.command('receive', async (c) => {
      // Sent back to back on one connection, so they run (and re-queue) in order.
      await Promise.all(ids.map((id) => this.eval(c, NACK, keys, [group, source, id, 0, 0, newUid()])));
    });
  }

  /**
   * Blocks (XREAD BLOCK, which consumes nothing) until one of `keys` gets an entry after `ids`,
   * `waitMs` passes, or the call is aborted or the transport closes (the connection is then
   * dropped, which wakes the wait). Each concurrent wait has its own pooled connection.
   */
  private async waitForEntries(keys: readonly string[], ids: string[], waitMs: number, signal?: AbortSignal): Promise<void> {
    let conn = this.idle.pop();
    if (!conn) {
      conn = this.duplicate({
        enableOfflineQueue: false,
        // A lost connection fails the wait at once; receive retries with a fresh read.
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
      });
      this.blocking.add(conn);
    }
    const c = conn;
    let broken = false;
    const onAbort = () => {
      broken = true;
      this.drop(c);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    this.life.signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (signal?.aborted || this.life.closed) {
        broken = true;
        return;
      }
      await whenReady(c, Date.now() + Math.max(waitMs, 250), this.unreachable(c), this.life.signal, signal);
      await c.call('XREAD', ['COUNT', 1, 'BLOCK', waitMs, 'STREAMS', ...keys, ...ids]);
    } catch (err) {
      broken = true;
      if (signal?.aborted || this.life.closed) return;
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.life.signal.removeEventListener('abort', onAbort);
      if (broken || this.life.closed || this.idle.length >= MAX_IDLE_BLOCKING) {
        this.blocking.delete(c);
        this.drop(c);
      } else {
        this.idle.push(c);
      }
    }
  }

  async ack(stream: string, group: string, deliveryIds: readonly string[], options?: SignalOptions): Promise<void> {
    this.life.assertOpen();
    const bySource = acksBySource(deliveryIds);
    if (!bySource) return;
    const { sources } = this.groupKeys(stream, group);
    await this.command(
      'ack',
      async (c) => {
        const p = c.pipeline();
        const n = queueAcks(p, group, sources, bySource);
        checkAcks(((await p.exec()) ?? []).slice(0, n));
      },
      { signal: options?.signal },
    );
  }

  async nack(stream: string, group: string, deliveryId: string, options?: NackOptions): Promise<void> {
    this.life.assertOpen();
    const d = decodeDeliveryId(deliveryId);
    if (!d) {
      if (options?.signal?.aborted) throw options.signal.reason;
      return;
    }
    const delay = options?.delayMs !== undefined && options.delayMs > 0 ? Math.ceil(options.delayMs) : 0;
    const keys = [...this.keys.sources(stream, group), this.keys.retryDue(stream, group), this.keys.wake(stream)];
    await this.command(
      'nack',
      (c) => this.eval(c, NACK, keys, [group, d.source + 1, d.entryId, delay, options?.countAttempt === false ? 0 : 1, newUid()]),
      { signal: options?.signal },
    );
  }

  async claimStale(stream: string, options: ClaimOptions): Promise<Delivery[]> {
    this.life.assertOpen();
    const { group, consumer } = options;
    const max = countOption(options.max, TRANSPORT_DEFAULTS.claimMax);
    const minIdle = Math.max(0, Math.floor(options.minIdleMs || 0));
    if (max === 0) {
      if (options.signal?.aborted) throw options.signal.reason;
      return [];
    }
    let flat: unknown[];
    try {
      flat = (await this.command('claimStale', (c) => this.eval(c, CLAIM, this.keys.sources(stream, group), [group, consumer, minIdle, max]), {
        signal: options.signal,
      })) as unknown[];
    } catch (err) {
      if (!isNoGroup(err)) throw err;
      // After a restart without persistence nothing is pending: re-create and report none.
      if (await this.recoverGroup(stream, group)) return [];
      throw this.noGroup(stream, group);
    }
    const out: Delivery[] = [];
    for (let i = 0; i + 3 < flat.length; i += 4) {
      out.push(this.toDelivery(stream, group, Number(flat[i]), String(flat[i + 1]), flat[i + 2], Number(flat[i + 3])));
    }
    return out;
  }

  async touch(stream: string, group: string, consumer: string, deliveryIds: readonly string[], options?: SignalOptions): Promise<void> {
    this.life.assertOpen();
    const args: (string | number)[] = [group, consumer];
    for (const id of deliveryIds) {
      const d = decodeDeliveryId(id);
      if (d) args.push(d.source + 1, d.entryId);
    }
    if (args.length === 2) {
      if (options?.signal?.aborted) throw options.signal.reason;
      return;
    }
    await this.command('touch', (c) => this.eval(c, TOUCH, this.keys.sources(stream, group), args), { signal: options?.signal });
  }

  // ---- dead letters ---------------------------------------------------------------------------

  async deadLetter(
    stream: string,
    group: string,
    delivery: Pick<Delivery, 'deliveryId' | 'body' | 'priority'>,
    input: DeadLetterInput,
    options?: SignalOptions,
  ): Promise<string | undefined> {
    this.life.assertOpen();
    const d = decodeDeliveryId(delivery.deliveryId);
    const hasBody = typeof delivery.body === 'string';
    const args: (string | number)[] = [
      group,
      d ? d.source + 1 : 0,
      d ? d.entryId : '',
      stream,
      hasBody ? 1 : 0,
      hasBody ? delivery.body : '',
      clampRank(delivery.priority),
      String(input.error ?? ''),
      input.stack !== undefined ? 1 : 0,
      input.stack ?? '',
      Number.isFinite(input.attempts) ? input.attempts : 0,
      JSON.stringify(input.context ?? {}),
      String(delivery.deliveryId),
    ];
    const keys = [...this.keys.sources(stream, group), this.keys.dlq(input.dlq)];
    const id = await this.command('deadLetter', (c) => this.eval(c, DEAD_LETTER, keys, args), { signal: options?.signal });
    return typeof id === 'string' ? id : undefined;
  }

  private toDeadLetter(id: string, fields: unknown): DeadLetter {
    const f = fieldMap(fields);
    let context: Record<string, string> = {};
    try {
      const parsed: unknown = JSON.parse(f.context ?? '{}');
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        context = Object.fromEntries(Object.entries(parsed as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
      }
    } catch {
      // an entry written by hand: keep an empty context
    }
    const entry: DeadLetter = {
      id,
      stream: f.stream ?? '',
      group: f.group ?? '',
      body: f.body ?? '',
      priority: clampRank(Number(f.priority)),
      error: f.error ?? '',
      attempts: Number(f.attempts) || 0,
      failedAt: Number(f.failedAt) || Number(id.split('-')[0]),
      context,
    };
    if (f.stack !== undefined) entry.stack = f.stack;
    return entry;
  }

  async listDeadLetters(dlq: string, options?: ListDeadLettersOptions): Promise<DeadLetter[]> {
    this.life.assertOpen();
    const limit = countOption(options?.limit, TRANSPORT_DEFAULTS.deadLetterLimit);
    const after = options?.after;
    if (limit === 0 || (after !== undefined && !isEntryId(after))) {
      if (options?.signal?.aborted) throw options.signal.reason;
      return [];
    }
    const rows = (await this.command('listDeadLetters', (c) => c.call('XRANGE', [this.keys.dlq(dlq), after === undefined ? '-' : `(${after}`, '+', 'COUNT', limit]), {
      signal: options?.signal,
    })) as [string, unknown][];
    return rows.map(([id, fields]) => this.toDeadLetter(id, fields));
  }

  async getDeadLetter(dlq: string, id: string, options?: SignalOptions): Promise<DeadLetter | undefined> {
    this.life.assertOpen();
    if (!isEntryId(id)) {
      if (options?.signal?.aborted) throw options.signal.reason;
      return undefined;
    }
    const rows = (await this.command('getDeadLetter', (c) => c.call('XRANGE', [this.keys.dlq(dlq), id, id]), { signal: options?.signal })) as [string, unknown][];
    const row = rows[0];
    return row ? this.toDeadLetter(row[0], row[1]) : undefined;
  }

  async deleteDeadLetters(dlq: string, ids: readonly string[], options?: SignalOptions): Promise<number> {
    this.life.assertOpen();
    const valid = [...new Set(ids.filter(isEntryId))];
    if (valid.length === 0) {
      if (options?.signal?.aborted) throw options.signal.reason;
      return 0;
    }
    return Number(await this.command('deleteDeadLetters', (c) => c.call('XDEL', [this.keys.dlq(dlq), ...valid]), { signal: options?.signal }));
  }

  async countDeadLetters(dlq: string, options?: SignalOptions): Promise<number> {
    this.life.assertOpen();
    return Number(await this.command('countDeadLetters', (c) => c.call('XLEN', [this.keys.dlq(dlq)]), { signal: options?.signal }));
  }

  async purgeDeadLetters(dlq: string, options?: SignalOptions): Promise<number> {
    this.life.assertOpen();
    return Number(await this.command('purgeDeadLetters', (c) => this.eval(c, PURGE_DLQ, [this.keys.dlq(dlq)], []), { signal: options?.signal }));
  }

  // ---- monitoring and maintenance -------------------------------------------------------------

  /** Group records of XINFO GROUPS on the four rank streams, by group name. */
  private async groupsOf(stream: string, signal?: AbortSignal): Promise<{ lengths: number[]; delayed: number; groups: Map<string, Record<string, unknown>[]> }> {
    const mains = this.keys.mains(stream);
    const results = await this.command(
      'info',
      async (c) => {
        const p = c.pipeline();
        for (const k of mains) p.xlen(k);
        p.zcard(this.keys.delayed(stream));
        for (const k of mains) p.call('XINFO', 'GROUPS', k);
        return (await p.exec()) ?? [];
      },
      { signal },
    );
    const lengths = results.slice(0, RANKS).map(([err, v]) => (err ? 0 : Number(v)));
    const delayedRes = results[RANKS];
    const delayed = delayedRes && !delayedRes[0] ? Number(delayedRes[1]) : 0;
    const groups = new Map<string, Record<string, unknown>[]>();
    for (let r = 0; r < RANKS; r++) {
      const [err, rows] = results[RANKS + 1 + r] ?? [null, []];
      if (err || !Array.isArray(rows)) continue;
      for (const row of rows as unknown[][]) {
        const rec: Record<string, unknown> = {};
        for (let i = 0; i + 1 < row.length; i += 2) rec[String(row[i])] = row[i + 1];
        const name = String(rec.name);
        let list = groups.get(name);
        if (!list) groups.set(name, (list = []));
        list.push(rec);
      }
    }
    return { lengths, delayed, groups };
  }

  async info(stream: string, options?: SignalOptions): Promise<StreamInfo> {
    this.life.assertOpen();
    const { lengths, delayed, groups } = await this.groupsOf(stream, options?.signal);
    const names = [...groups.keys()].sort();
    const perGroup = 8 * 3 + 1;
    const results = names.length === 0
      ? []
      : await this.command(
          'info',
          async (c) => {
            const p = c.pipeline();
            for (const g of names) {
              const sources = this.keys.sources(stream, g);
              for (const k of sources) p.call('XINFO', 'GROUPS', k);
              for (const k of sources) p.call('XPENDING', k, g, '-', '+', 1);
              for (const k of sources) p.call('XINFO', 'CONSUMERS', k, g);
              p.zcard(this.keys.retryDue(stream, g));
            }
            return (await p.exec()) ?? [];
          },
          { signal: options?.signal },
        );
    const lagFallbacks: Array<{ index: number; rank: number; key: string; after: string }> = [];
    const infos: GroupInfo[] = names.map((g, gi) => {
      const base = gi * perGroup;
      const sources = this.keys.sources(stream, g);
      let pending = 0;
      let lag = 0;
      const lagByPriority = [0, 0, 0, 0];
      let oldest = 0;
      const consumers = new Set<string>();
      for (let k = 0; k < 8; k++) {
        const [gErr, gRows] = results[base + k] ?? [null, []];
        if (!gErr && Array.isArray(gRows)) {
          for (const row of gRows as unknown[][]) {
            const rec: Record<string, unknown> = {};
            for (let i = 0; i + 1 < row.length; i += 2) rec[String(row[i])] = row[i + 1];
            if (rec.name !== g) continue;
            pending += Number(rec.pending) || 0;
            // Sources 0-3 are the rank streams, 4-7 the group's retry streams of the same ranks.
            if (rec.lag === null || rec.lag === undefined) lagFallbacks.push({ index: gi, rank: k % 4, key: sources[k]!, after: String(rec['last-delivered-id']) });
            else {
              lag += Number(rec.lag) || 0;
              lagByPriority[k % 4]! += Number(rec.lag) || 0;
            }
          }
        }
        const [pErr, pRows] = results[base + 8 + k] ?? [null, []];
        if (!pErr && Array.isArray(pRows) && Array.isArray(pRows[0])) oldest = Math.max(oldest, Number((pRows[0] as unknown[])[2]) || 0);
        const [cErr, cRows] = results[base + 16 + k] ?? [null, []];
        if (!cErr && Array.isArray(cRows)) {
          for (const row of cRows as unknown[][]) if (Array.isArray(row) && row.length > 1) consumers.add(String(row[1]));
        }
      }
      const [zErr, retrying] = results[base + 24] ?? [null, 0];
      return { name: g, pending, lag, lagByPriority, retrying: zErr ? 0 : Number(retrying), consumers: consumers.size, oldestPendingMs: oldest };
    });
    if (lagFallbacks.length > 0) {
      // Redis cannot tell the lag after deletions inside the unread range: count it (bounded).
      const counts = await this.command(
        'info',
        async (c) => {
          const p = c.pipeline();
          for (const f of lagFallbacks) p.call('XRANGE', f.key, `(${f.after}`, '+', 'COUNT', 10_000);
          return (await p.exec()) ?? [];
        },
        { signal: options?.signal },
      );
      lagFallbacks.forEach((f, i) => {
        const [err, rows] = counts[i] ?? [null, []];
        if (!err && Array.isArray(rows)) {
          infos[f.index]!.lag += rows.length;
          infos[f.index]!.lagByPriority[f.rank]! += rows.length;
        }
      });
    }
    return {
      stream,
      length: lengths.reduce((a, b) => a + b, 0),
      lengthByPriority: lengths,
      delayed,
      groups: infos,
    };
  }

  async purge(stream: string, options?: SignalOptions): Promise<number> {
    this.life.assertOpen();
    const { groups } = await this.groupsOf(stream, options?.signal);
    const names = [...groups.keys()];
    const keys = [...this.keys.mains(stream), this.keys.delayed(stream)];
    for (const g of names) keys.push(this.keys.retryDue(stream, g), ...[0, 1, 2, 3].map((r) => this.keys.retry(stream, g, r)));
    return Number(await this.command('purge', (c) => this.eval(c, PURGE, keys, names), { signal: options?.signal }));
  }

  async trim(stream: string, options?: SignalOptions): Promise<number> {
    this.life.assertOpen();
    return Number(
      await this.command('trim', (c) => this.eval(c, TRIM, this.keys.mains(stream), [String(this.ungroupedMaxLen)]), { signal: options?.signal }),
    );
  }

  private async trimUsed(): Promise<void> {
    if (this.trimming || this.life.closed || this.main.status !== 'ready') return;
    this.trimming = true;
    try {
      for (const stream of this.used) {
        if (this.life.closed) break;
        await this.trim(stream).catch(() => {});
      }
    } finally {
      this.trimming = false;
    }
  }

  // ---- key-value ------------------------------------------------------------------------------

  async kvGet(key: string, options?: SignalOptions): Promise<string | null> {
    this.life.assertOpen();
    const v = await this.command('kvGet', (c) => c.get(this.keys.kv(key)), { signal: options?.signal });
    return v ?? null;
  }

  async kvSet(key: string, value: string, options?: KvSetOptions): Promise<boolean> {
    this.life.assertOpen();
    const k = this.keys.kv(key);
    const ttl = options?.ttlMs !== undefined ? Math.max(1, Math.ceil(options.ttlMs)) : undefined;
    const signal = options?.signal;
    if (options?.ifEquals !== undefined) {
      const args = [value, ttl ?? '', options.ifAbsent ? 1 : 0, 1, options.ifEquals];
      return Number(await this.command('kvSet', (c) => this.eval(c, KV_SET, [k], args), { signal })) === 1;
    }
    const args: (string | number)[] = [k, value];
    if (ttl !== undefined) args.push('PX', ttl);
    if (options?.ifAbsent) args.push('NX');
    const res = await this.command('kvSet', (c) => c.call('SET', args), { signal });
    return res === 'OK';
  }

  async kvSetMany(entries: ReadonlyArray<{ key: string; value: string }>, options?: SignalOptions & { ttlMs?: number }): Promise<void> {
    this.life.assertOpen();
    if (entries.length === 0) return;
    const ttl = options?.ttlMs !== undefined ? Math.max(1, Math.ceil(options.ttlMs)) : undefined;
    const results = await this.command(
      'kvSetMany',
      async (c) => {
        // One pipeline: one socket write and one round trip for every key.
        const p = c.pipeline();
        for (const { key, value } of entries) {
          if (ttl !== undefined) p.set(this.keys.kv(key), value, 'PX', ttl);
          else p.set(this.keys.kv(key), value);
        }
        return (await p.exec()) ?? [];
      },
      { signal: options?.signal },
    );
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
  }

  async kvDelete(key: string, options?: SignalOptions & { ifEquals?: string }): Promise<boolean> {
    this.life.assertOpen();
    const k = this.keys.kv(key);
    const signal = options?.signal;
    if (options?.ifEquals !== undefined) {
      const expected = options.ifEquals;
      return Number(await this.command('kvDelete', (c) => this.eval(c, KV_DELETE_IF, [k], [expected]), { signal })) === 1;
    }
    return Number(await this.command('kvDelete', (c) => c.del(k), { signal })) > 0;
  }

  async kvIncr(key: string, options?: SignalOptions & { by?: number; ttlMs?: number }): Promise<number> {
    this.life.assertOpen();
    const by = options?.by ?? 1;
    if (!Number.isSafeInteger(by)) throw new TransportError(`[event-bus:redis] kvIncr '${key}': 'by' must be a whole number, got ${String(by)}.`);
    const ttl = options?.ttlMs !== undefined ? Math.max(1, Math.ceil(options.ttlMs)) : '';
    return Number(await this.command('kvIncr', (c) => this.eval(c, KV_INCR, [this.keys.kv(key)], [by, ttl]), { signal: options?.signal }));
  }

  async kvScan(prefix: string, options?: SignalOptions): Promise<Array<{ key: string; value: string }>> {
    this.life.assertOpen();
    const base = this.keys.kv('');
    const pattern = `${globEscape(this.keys.kv(prefix))}*`;
    return this.command(
      'kvScan',
      async (c) => {
        // On a cluster every key of this system sits on one master; scan them all to find it.
        const nodes: Redis[] = isCluster(c) ? c.nodes('master') : [c];
        const found = new Set<string>();
        for (const node of nodes) {
          let cursor = '0';
          do {
            const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
            cursor = next;
            for (const k of keys) found.add(k);
          } while (cursor !== '0');
        }
        const keys = [...found];
        const out: Array<{ key: string; value: string }> = [];
        for (let i = 0; i < keys.length; i += SCAN_COUNT) {
          const slice = keys.slice(i, i + SCAN_COUNT);
          const values = await c.mget(...slice);
          slice.forEach((k, j) => {
            const v = values[j];
            if (v !== null && v !== undefined) out.push({ key: k.slice(base.length), value: v });
          });
        }
        return out;
      },
      { signal: options?.signal },
    );
  }

  // ---- notifications --------------------------------------------------------------------------

  async notify(channel: string, message: string, options?: SignalOptions): Promise<void> {
    this.life.assertOpen();
    await this.command('notify', (c) => c.publish(this.keys.channel(channel), message), { signal: options?.signal });
  }

  private subscriberConnection(): Promise<RedisClient> {
    if (!this.subscriber) {
      const c = this.duplicate({ enableOfflineQueue: false });
      this.subscriberClient = c;
      c.on('message', (channel: string, message: string) => {
        const set = this.listeners.get(channel);
        if (!set) return;
        for (const l of [...set]) {
          if (!l.active) continue;
          try {
            const r = (l.handler as (m: string) => unknown)(message);
            if (r instanceof Promise) r.catch(() => {});
          } catch {
            // A throwing listener keeps its subscription (contract).
          }
        }
      });
      this.subscriber = Promise.resolve(c);
    }
    return this.subscriber;
  }

  async listen(channel: string, handler: (message: string) => void, options?: SignalOptions): Promise<Unsubscribe> {
    this.life.assertOpen();
    const signal = options?.signal;
    if (signal?.aborted) throw signal.reason;
    const name = this.keys.channel(channel);
    const sub = await this.subscriberConnection();
    const listener: Listener = { handler, active: true };
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener);
    const remove = async () => {
      if (!listener.active) return;
      listener.active = false;
      const current = this.listeners.get(name);
      if (!current?.delete(listener) || current.size > 0) return;
      this.listeners.delete(name);
      if (!this.life.closed && sub.status === 'ready') await sub.unsubscribe(name).catch(() => {});
    };
    try {
      const deadline = Date.now() + this.operationTimeoutMs;
      await whenReady(sub, deadline, this.unreachable(sub), this.life.signal, signal);
      await bounded(sub.subscribe(name), deadline, () => new TransportError(`[event-bus:redis] Redis at ${this.where} did not confirm the subscription to '${channel}' within ${this.operationTimeoutMs} ms.`), signal);
    } catch (err) {
      await remove();
      if (signal?.aborted && err === signal.reason) throw err;
      throw this.wrap('listen', err);
    }
    return remove;
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  close(): Promise<void> {
    return this.life.close(async () => {
      if (this.trimTimer !== undefined) clearInterval(this.trimTimer);
      for (const set of this.listeners.values()) for (const l of set) l.active = false;
      this.listeners.clear();
      const blocking = [...this.blocking];
      this.blocking.clear();
      this.idle.length = 0;
      await runAll([
        // Dropping a blocking connection wakes the receive waiting on it (it resolves []).
        ...blocking.map((c) => () => this.drop(c)),
        () => {
          if (this.subscriberClient) this.drop(this.subscriberClient);
        },
        async () => {
          if (this.ownsMain) await closeConnection(this.main, () => this.drop(this.main));
        },
        // A client passed in stays open: only take back the listener added to it.
        () => {
          if (!this.ownsMain) this.unwatch(this.main);
        },
      ]);
    });
  }

  /** `await using transport = redisTransport()` closes it. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Creates the Redis Streams {@link Transport}. Many processes on many machines share it: each
 * message goes to one member of each consumer group, pending deliveries survive a crash and are
 * claimed after `claimIdleMs`, retries and delays are scheduled in Redis (Lua, atomic), and
 * priorities are served highest first. Keys live under the `{keyPrefix}` hash tag, so it also
 * runs on Redis Cluster. Needs Redis >= 7.0 and the `ioredis` package.
 *
 * Contract notes for this adapter (see `docs/redis.md`):
 * - Connections are opened lazily, on the first call. Blocking reads use their own pooled
 *   connections (one per concurrent `receive` that waits) and `listen` one subscriber connection.
 * - `publish` rejects with `TransportError` when Redis cannot be reached within
 *   `publishTimeoutMs`; other calls within `operationTimeoutMs`. `receive` retries lost
 *   connections until its `blockMs` ends, then rejects with `TransportError`; call it again.
 * - After Redis lost its data (restart without persistence), a group created through this
 *   transport is re-created from the beginning of its (new) streams on the next `receive`.
 * - Messages are never deleted from the shared streams when one group is done with them: the
 *   trimming timer (`trimIntervalMs`) removes entries every group has acked.
 * - A stream entry written by another program without a `body` field is delivered with the JSON
 *   of its fields as body (the core dead-letters what it cannot decode).
 *
 * @example
 * ```ts
 * import { createEventSystem } from '@procur/event-bus';
 * import { redisTransport } from '@procur/event-bus/redis';
 *
 * const bus = await createEventSystem({ transport: redisTransport({ url: 'redis://127.0.0.1:6379' }) });
 * ```
 *
 * @throws `MissingPeerError` (code `ERR_MISSING_PEER`) when `ioredis` is not installed;
 *   `ConfigError` for an invalid `keyPrefix` or `PROCUR_EVENT_REDIS_*` setting.
 */
export function redisTransport(options: RedisTransportOptions = {}): RedisTransport {
  return new RedisStreamsTransport(options);
}
