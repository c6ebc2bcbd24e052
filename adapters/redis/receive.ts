/**
 * Receiving on the Redis transport (one role): the READ script, its fast path (a plain
 * XREADGROUP guarded by a script), blocking waits on pooled connections, and ack, nack, claim
 * and touch of deliveries.
 *
 * @module
 */

import type { ChainableCommander } from 'ioredis';
import { type ClaimOptions, type Delivery, type NackOptions, type ReceiveOptions, type SignalOptions } from '@procur/event-bus';
import { TRANSPORT_DEFAULTS, clampRank, countOption } from '@procur/event-bus/adapter-kit';
import type { RedisCommands } from './commands.js';
import { isCluster, whenReady, type RedisClient } from './connection.js';
import type { GroupRegistry } from './groups.js';
import { RANKS, decodeDeliveryId, encodeDeliveryId, entryIdMs, isEntryId } from './keys.js';
import { CLAIM, NACK, READ, READ_GUARD, TOUCH } from './scripts.js';
import { fieldMap, isNoGroup, isTransient, isWrongType, messageOf, newUid, pause, type KeyTypes } from './shared.js';

/** Scheduled entries moved per read; more are moved by the next read right away. */
export const PROMOTE_LIMIT = 1000;
/**
 * The smallest `max` for which `receive` takes the fast path: below it, the guard script and the
 * second command cost more than converting the entries in Lua saves.
 */
const FAST_PATH_MIN_BATCH = 32;
/** Full READs after the fast path of `receive` met a higher priority before it may start again. */
const FAST_PATH_COOLDOWN_READS = 8;
/** The longest single blocking wait; longer `blockMs` loops. */
const MAX_WAIT_SLICE_MS = 30_000;
/** Idle blocking connections kept for reuse. */
const MAX_IDLE_BLOCKING = 16;
/** Cached key lists of the hot paths (receive, ack); cleared when it grows past this. */
const MAX_CACHED_KEY_LISTS = 1000;

/** The reply of the READ script: [source, id, fields]... flat, the wait hint, the last ids. */
type ReadReply = [unknown[], number?, string[]?];

/** The key lists `receive` and `ack` use for one (stream, group). Never mutated. */
interface GroupKeys {
  /** The eight sources, in SourceIndex order. */
  readonly sources: readonly string[];
  /** KEYS of the READ script: sources, delayed zset, retry zset, wake stream. */
  readonly read: readonly string[];
  /** Keys of the blocking wait: wake stream, then the sources. */
  readonly wait: readonly string[];
  /** The key types of `read` (see `readTypes`). */
  readonly readTypes: KeyTypes;
}

/**
 * The milliseconds part of a stream entry id, as `entryIdMs` (keys.ts) returns it, without a
 * substring: digits summed up to the dash (exact up to 15 digits; longer ones go the slow way).
 * Per delivery read.
 */
function entryMs(entryId: string): number {
  let ms = 0;
  const n = entryId.length;
  for (let i = 0; i < n && i < 16; i++) {
    const c = entryId.charCodeAt(i) - 48;
    if (c === -3) return i > 0 ? ms : entryIdMs(entryId); // '-'
    if (c < 0 || c > 9) break;
    ms = ms * 10 + c;
  }
  return entryIdMs(entryId);
}

/** Entry ids to acknowledge per source index, or `undefined` when none of the ids is ours. */
function acksBySource(deliveryIds: readonly string[]): Map<number, string[]> | undefined {
  let bySource: Map<number, string[]> | undefined;
  // Runs of one source (the usual case: a backlog of one priority) go to one list without a lookup.
  let lastSource = -1;
  let lastList: string[] | undefined;
  for (const id of deliveryIds) {
    let source: number;
    let entryId: string;
    const c0 = typeof id === 'string' ? id.charCodeAt(0) - 48 : -1;
    if (c0 >= 0 && c0 < RANKS && id.charCodeAt(1) === 58 && isEntryId((entryId = id.slice(2)))) {
      // `<rank>:<entry id>`, what shared-stream deliveries carry: decoded as decodeDeliveryId does.
      source = c0;
    } else {
      const d = decodeDeliveryId(id);
      if (!d) continue;
      source = d.source;
      entryId = d.entryId;
    }
    if (source !== lastSource) {
      bySource ??= new Map();
      let list = bySource.get(source);
      if (!list) bySource.set(source, (list = []));
      lastSource = source;
      lastList = list;
    }
    (lastList as string[]).push(entryId);
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

/** `ensureGroup`, `receive`, `ack`, `nack`, `claimStale` and `touch` of the Redis transport. */
export class RedisReceiver {
  private readonly keyLists = new Map<string, GroupKeys>();
  /** Blocking connections in use or idle; idle ones are also in `idle`. */
  private readonly blocking = new Set<RedisClient>();
  private readonly idle: RedisClient[] = [];
  /** `CLIENT ID` of each blocking connection (for `CLIENT UNBLOCK`), learnt with its first wait. */
  private readonly clientIds = new WeakMap<RedisClient, number>();
  /**
   * Per (stream, group, consumer): the 1-based source index to read next with a plain
   * `XREADGROUP` (see `receive`), set when the last read filled its batch from that source after
   * draining every source served before it.
   */
  private readonly fastSources = new Map<string, number>();

  constructor(
    private readonly ctx: RedisCommands,
    private readonly groups: GroupRegistry,
  ) {}

  /** Takes every blocking connection out of use (at close); the caller drops them. */
  takeBlocking(): RedisClient[] {
    const all = [...this.blocking];
    this.blocking.clear();
    this.idle.length = 0;
    return all;
  }

  /** The cached key lists of a (stream, group). */
  private groupKeys(stream: string, group: string): GroupKeys {
    const id = `g\u0000${stream}\u0000${group}`;
    let k = this.keyLists.get(id);
    if (!k) {
      const sources = this.ctx.keys.sources(stream, group);
      const read = [...sources, this.ctx.keys.delayed(stream), this.ctx.keys.retryDue(stream, group), this.ctx.keys.wake(stream)];
      k = {
        sources,
        read,
        wait: [this.ctx.keys.wake(stream), ...sources],
        readTypes: { keys: read, types: [...Array<string>(8).fill('stream'), 'zset', 'zset', 'stream'], group, sources: 8 },
      };
      if (this.keyLists.size >= MAX_CACHED_KEY_LISTS) this.keyLists.clear();
      this.keyLists.set(id, k);
    }
    return k;
  }

  /** The key types of the READ script's KEYS (also those of NACK/REDELIVER and CLAIM, which are prefixes or subsets). */
  readTypes(stream: string, group: string): KeyTypes {
    return this.groupKeys(stream, group).readTypes;
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
        publishedAt: entryMs(entryId),
      };
    }
    const f = fieldMap(fields);
    const body = f.body !== undefined ? f.body : JSON.stringify(f);
    const priority = source < RANKS ? source : clampRank(Number(f.priority));
    // Only the library's retry streams carry an attempt; on a shared stream a field named
    // `attempt` was written by another program and is ignored (docs/wire-format.md).
    const stored = source >= RANKS ? Number(f.attempt) : 1;
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

  async ensureGroup(stream: string, group: string, options?: SignalOptions & { startAt?: 'beginning' | 'end' }): Promise<void> {
    this.ctx.life.assertOpen();
    await this.groups.createGroup(stream, group, options?.startAt ?? 'beginning', options?.signal);
  }

  async receive(stream: string, options: ReceiveOptions): Promise<Delivery[]> {
    this.ctx.life.assertOpen();
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
    this.ctx.used.add(stream);
    const keys = this.groupKeys(stream, group);
    const { read: readKeys, wait: waitKeys } = keys;
    const fastId = `${stream}\u0000${group}\u0000${consumer}`;
    let backoff = 50;
    let recoveries = 0;
    let needsGroup = false;
    const readArgs = [group, consumer, max, PROMOTE_LIMIT, this.ctx.maxLen];
    /** The reply of a READ sent right behind a blocking wait (see `waitForEntries`). */
    let waited: ReadReply | undefined;
    for (;;) {
      // Deliveries a READ behind an aborted wait returned are this consumer's: hand them over.
      if ((this.ctx.life.closed || signal?.aborted) && !(waited && waited[0].length > 0)) return [];
      try {
        if (needsGroup) {
          needsGroup = false;
          if (!(await this.groups.recoverGroup(stream, group))) throw this.groups.noGroup(stream, group);
        }
        let res = waited;
        waited = undefined;
        if (res === undefined) {
          const fast = this.fastSources.get(fastId);
          if (fast !== undefined && fast > 0) {
            const out = await this.receivePlain(stream, group, consumer, keys, fast, max, fastId, deadline, acks);
            acks = undefined;
            if (out.length > 0) return out;
          }
          res = await this.read(stream, group, keys, readArgs, acks, deadline);
          acks = undefined;
        }
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
        waited = await this.waitForEntries(waitKeys, lastIds ?? waitKeys.map(() => '$'), Math.max(1, Math.ceil(wait)), signal, { keys: readKeys, args: readArgs });
        backoff = 50;
      } catch (err) {
        if (this.ctx.life.closed || signal?.aborted) return [];
        if (isNoGroup(err) && recoveries++ < 3) {
          needsGroup = true;
          continue;
        }
        // The blocking wait met a key of the wrong type (the reads repair their own).
        if (isWrongType(err) && recoveries++ < 3) {
          await this.ctx.repair('receive', this.readTypes(stream, group)).catch(() => false);
          continue;
        }
        if (!isTransient(err)) throw this.ctx.wrap('receive', err);
        const left = deadline - Date.now();
        if (left <= 0) throw this.ctx.wrap('receive', err);
        await pause(Math.min(backoff, left), signal, this.ctx.life.signal);
        backoff = Math.min(backoff * 2, 1000);
      }
    }
  }

  /** One READ script call on the main connection, with the acks in front of it in its round trip. */
  private async read(
    stream: string,
    group: string,
    keys: GroupKeys,
    readArgs: readonly (string | number)[],
    pendingAcks: Map<number, string[]> | undefined,
    deadline: number,
  ): Promise<ReadReply> {
    const readKeys = keys.read;
    return (await this.ctx.command(
      'receive',
      async (c) => {
        // On the wire at once (see `flushWrites`): the caller handles what the last read
        // returned while this one runs.
        if (!pendingAcks) {
          const reply = this.ctx.eval(c, READ, readKeys, readArgs);
          this.ctx.flushWrites();
          return reply;
        }
        // One round trip: the acks, then the read.
        const p = c.pipeline();
        const n = queueAcks(p, group, keys.sources, pendingAcks);
        p.evalsha(READ.sha, readKeys.length, ...readKeys, ...readArgs);
        const sent = p.exec();
        this.ctx.flushWrites();
        const r = (await sent) ?? [];
        checkAcks(r.slice(0, n));
        const [err, reply] = r[n] ?? [new Error('no reply'), null];
        if (!err) return reply;
        if (!messageOf(err).includes('NOSCRIPT')) throw err;
        return this.ctx.eval(c, READ, readKeys, readArgs);
      },
      { readyMs: Math.max(250, deadline - Date.now()), repair: this.readTypes(stream, group) },
    )) as ReadReply;
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
    const args = [group, source, PROMOTE_LIMIT, this.ctx.maxLen];
    const results = await this.ctx.command(
      'receive',
      async (c) => {
        const p = c.pipeline();
        const n = acks ? queueAcks(p, group, keys.sources, acks) : 0;
        p.evalsha(READ_GUARD.sha, keys.read.length, ...keys.read, ...args);
        p.xreadgroup('GROUP', group, consumer, 'COUNT', max, 'STREAMS', keys.sources[source - 1]!, '>');
        const sent = p.exec();
        this.ctx.flushWrites();
        const all = (await sent) ?? [];
        checkAcks(all.slice(0, n));
        const r = all.slice(n);
        const [guardErr, guard] = r[0] ?? [new Error('no reply')];
        let diverted = guard !== 0;
        if (guardErr && messageOf(guardErr).includes('NOSCRIPT')) {
          // First use on this Redis (or after a restart): EVAL loads it for the next time.
          diverted = (await this.ctx.eval(c, READ_GUARD, keys.read, args)) !== 0;
        }
        const read = r[1] ?? [new Error('no reply'), null];
        if (read[0] && isWrongType(read[0])) throw read[0];
        return { diverted, read };
      },
      { readyMs: Math.max(250, deadline - Date.now()), repair: this.readTypes(stream, group) },
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
    const keys = [...this.ctx.keys.sources(stream, group), this.ctx.keys.retryDue(stream, group), this.ctx.keys.wake(stream)];
    await this.ctx.command('receive', async (c) => {
      // Sent back to back on one connection, so they run (and re-queue) in order.
      await Promise.all(ids.map((id) => this.ctx.eval(c, NACK, keys, [group, source, id, 0, 0, newUid()])));
    }, { repair: this.ctx.retryTypes(keys, group) });
  }

  /**
   * Blocks (XREAD BLOCK, which consumes nothing) until one of `keys` gets an entry after `ids`,
   * `waitMs` passes, or the call is aborted or the transport closes. Each concurrent wait has its
   * own pooled connection.
   *
   * With `then` (on one Redis, not a Cluster), the READ script is sent right behind the wait on
   * the same connection: Redis runs it as soon as the wait ends, so an entry that arrives is
   * delivered in the wait's round trip instead of one more. Its reply is returned. An abort then
   * unblocks the wait (`CLIENT UNBLOCK` from the main connection) instead of dropping the
   * connection, so what that READ took is returned to the caller, never left pending unseen.
   * Without `then`, or when the wait cannot be unblocked, an abort drops the connection.
   */
  private async waitForEntries(
    keys: readonly string[],
    ids: string[],
    waitMs: number,
    signal?: AbortSignal,
    then?: { keys: readonly string[]; args: readonly (string | number)[] },
  ): Promise<ReadReply | undefined> {
    let conn = this.idle.pop();
    if (!conn) {
      conn = this.ctx.duplicate({
        enableOfflineQueue: false,
        // A lost connection fails the wait at once; receive retries with a fresh read.
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
      });
      this.blocking.add(conn);
    }
    const c = conn;
    const chained = then !== undefined && !isCluster(c) && !isCluster(this.ctx.main);
    let broken = false;
    /** Set once the wait and the READ behind it are on the wire. */
    let sent = false;
    const onAbort = () => {
      const id = this.clientIds.get(c);
      // The connection's id is on its way (its first wait): unblocked once it is known, below.
      if (chained && sent && id === undefined && !this.ctx.life.closed) return;
      if (chained && sent && id !== undefined && this.ctx.main.status === 'ready' && !this.ctx.life.closed) {
        // Ends the wait as a timeout would: the READ behind it runs, its reply comes back.
        this.ctx.main.call('CLIENT', ['UNBLOCK', id]).catch(() => {
          broken = true;
          this.ctx.drop(c);
        });
        return;
      }
      broken = true;
      this.ctx.drop(c);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    this.ctx.life.signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (signal?.aborted || this.ctx.life.closed) {
        broken = true;
        return undefined;
      }
      await whenReady(c, Date.now() + Math.max(waitMs, 250), this.ctx.unreachable(c), this.ctx.life.signal, signal);
      if (!chained) {
        await c.call('XREAD', ['COUNT', 1, 'BLOCK', waitMs, 'STREAMS', ...keys, ...ids]);
        return undefined;
      }
      // Written back to back: the id (once per connection), the wait, the READ.
      const idReply = this.clientIds.has(c) ? undefined : c.call('CLIENT', ['ID']);
      const wait = c.call('XREAD', ['COUNT', 1, 'BLOCK', waitMs, 'STREAMS', ...keys, ...ids]);
      const read = c.call('EVALSHA', [READ.sha, then.keys.length, ...then.keys, ...then.args]);
      wait.catch(() => {});
      read.catch(() => {});
      sent = true;
      if (idReply) {
        this.clientIds.set(c, Number(await idReply));
        if (signal?.aborted || this.ctx.life.closed) onAbort();
      }
      await wait;
      try {
        return (await read) as ReadReply;
      } catch (err) {
        // The script cache was flushed (a restarted Redis): the caller's READ loads it again.
        if (messageOf(err).includes('NOSCRIPT')) return undefined;
        throw err;
      }
    } catch (err) {
      broken = true;
      if (signal?.aborted || this.ctx.life.closed) return undefined;
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.ctx.life.signal.removeEventListener('abort', onAbort);
      if (broken || this.ctx.life.closed || this.idle.length >= MAX_IDLE_BLOCKING) {
        this.blocking.delete(c);
        this.clientIds.delete(c);
        this.ctx.drop(c);
      } else {
        this.idle.push(c);
      }
    }
  }

  async ack(stream: string, group: string, deliveryIds: readonly string[], options?: SignalOptions): Promise<void> {
    this.ctx.life.assertOpen();
    const bySource = acksBySource(deliveryIds);
    if (!bySource) return;
    const { sources } = this.groupKeys(stream, group);
    await this.ctx.command(
      'ack',
      async (c) => {
        const p = c.pipeline();
        const n = queueAcks(p, group, sources, bySource);
        checkAcks(((await p.exec()) ?? []).slice(0, n));
      },
      { signal: options?.signal, repair: { keys: sources, types: Array<string>(8).fill('stream'), group, sources: 8 } },
    );
  }

  async nack(stream: string, group: string, deliveryId: string, options?: NackOptions): Promise<void> {
    this.ctx.life.assertOpen();
    const d = decodeDeliveryId(deliveryId);
    if (!d) {
      if (options?.signal?.aborted) throw options.signal.reason;
      return;
    }
    const delay = options?.delayMs !== undefined && options.delayMs > 0 ? Math.ceil(options.delayMs) : 0;
    const keys = [...this.ctx.keys.sources(stream, group), this.ctx.keys.retryDue(stream, group), this.ctx.keys.wake(stream)];
    await this.ctx.command(
      'nack',
      (c) => this.ctx.eval(c, NACK, keys, [group, d.source + 1, d.entryId, delay, options?.countAttempt === false ? 0 : 1, newUid()]),
      { signal: options?.signal, repair: this.ctx.retryTypes(keys, group) },
    );
  }

  async claimStale(stream: string, options: ClaimOptions): Promise<Delivery[]> {
    this.ctx.life.assertOpen();
    const { group, consumer } = options;
    const max = countOption(options.max, TRANSPORT_DEFAULTS.claimMax);
    const minIdle = Math.max(0, Math.floor(options.minIdleMs || 0));
    if (max === 0) {
      if (options.signal?.aborted) throw options.signal.reason;
      return [];
    }
    let flat: unknown[];
    try {
      const sources = this.ctx.keys.sources(stream, group);
      flat = (await this.ctx.command('claimStale', (c) => this.ctx.eval(c, CLAIM, sources, [group, consumer, minIdle, max]), {
        signal: options.signal,
        repair: { keys: sources, types: Array<string>(8).fill('stream'), group, sources: 8 },
      })) as unknown[];
    } catch (err) {
      if (!isNoGroup(err)) throw err;
      // After a restart without persistence nothing is pending: re-create and report none.
      if (await this.groups.recoverGroup(stream, group)) return [];
      throw this.groups.noGroup(stream, group);
    }
    const out: Delivery[] = [];
    for (let i = 0; i + 3 < flat.length; i += 4) {
      out.push(this.toDelivery(stream, group, Number(flat[i]), String(flat[i + 1]), flat[i + 2], Number(flat[i + 3])));
    }
    return out;
  }

  async touch(stream: string, group: string, consumer: string, deliveryIds: readonly string[], options?: SignalOptions): Promise<void> {
    this.ctx.life.assertOpen();
    const args: (string | number)[] = [group, consumer];
    for (const id of deliveryIds) {
      const d = decodeDeliveryId(id);
      if (d) args.push(d.source + 1, d.entryId);
    }
    if (args.length === 2) {
      if (options?.signal?.aborted) throw options.signal.reason;
      return;
    }
    await this.ctx.command('touch', (c) => this.ctx.eval(c, TOUCH, this.ctx.keys.sources(stream, group), args), { signal: options?.signal });
  }
}
