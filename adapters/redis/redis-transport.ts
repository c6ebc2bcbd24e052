/**
 * The Redis Streams {@link Transport}: shared by many processes on many machines, persistent when
 * Redis is. See `docs/redis.md` for the design and key layout. This file holds the options, the
 * factory and the object that puts the roles together; each role lives in its own file:
 * `commands.ts` (connection and command wrapper), `publish.ts`, `receive.ts` (with its fast path
 * and guard), `dead-letters.ts`, `admin.ts` (info, purge, trimming timer), `kv.ts` (key-value) and
 * `pubsub.ts` (notify/listen); the Lua scripts are `lua/*.lua`.
 *
 * @module
 */

import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { ConfigError, consoleLogger, type ClaimOptions, type DeadLetter, type DeadLetterInput, type Delivery, type KvSetOptions, type ListDeadLettersOptions, type Logger, type NackOptions, type OutgoingMessage, type ReceiveOptions, type SignalOptions, type StreamInfo, type Transport, type TransportFeatures, type Unsubscribe } from '@procur/event-bus';
import { runAll } from '@procur/event-bus/adapter-kit';
import { RedisAdmin } from './admin.js';
import { RedisCommands } from './commands.js';
import { closeConnection, hasConsumerGroups, isCluster, loadIoredis, loadIoredisCluster, planConnection } from './connection.js';
import { RedisDeadLetters } from './dead-letters.js';
import { GroupRegistry } from './groups.js';
import { DEFAULT_KEY_PREFIX, KeyLayout } from './keys.js';
import { RedisKeyValue } from './kv.js';
import { RedisPublisher } from './publish.js';
import { RedisSignals } from './pubsub.js';
import { RedisReceiver } from './receive.js';

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
   * `redis://[[user]:password@]host[:port][/db]`, `rediss://...` (TLS), `unix:///path/to/redis.sock`
   * or an absolute socket path; another form throws `ConfigError`, and a `db` the server does
   * not have fails the first call with `TransportError`. A Redis Cluster is given as a list of
   * seed URLs separated by commas (`redis://10.0.0.1:7000,redis://10.0.0.2:7000`; the
   * credentials of the first URL that has them apply to every node; database 0 only); the
   * transport then opens an ioredis `Cluster`. `PROCUR_EVENT_REDIS_URL` takes the same list. When
   * neither `url`, `client` nor `host`/`port`/`path` is given, the `PROCUR_EVENT_REDIS_*` settings
   * are read (`loadConfig(process.env)`).
   */
  url?: string;
  /**
   * An ioredis client (or Cluster client) to use instead of opening one. It stays open on
   * `close()`; the extra connections the transport opens for blocking reads and pub/sub
   * (duplicates of it) are closed. Do not set ioredis's own `keyPrefix` on it. A client without
   * consumer groups (an in-memory mock) throws `ConfigError`: use `memoryTransport()` instead.
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
  /**
   * Where the transport reports what it dropped or moved aside: keys of this system that hold
   * the wrong type, values it cannot use (see `docs/redis.md`, "Hostile contents").
   * @default consoleLogger
   */
  logger?: Logger;
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

/** Opens (or takes) the main connection and resolves the options every role shares. */
function commandsFor(options: RedisTransportOptions): RedisCommands {
  const { url, client, keyPrefix, maxLen, publishTimeoutMs, operationTimeoutMs, trimIntervalMs: _t, ungroupedMaxLen: _u, logger, ...redisOptions } = options;
  const shared = {
    keys: new KeyLayout(keyPrefix ?? DEFAULT_KEY_PREFIX),
    maxLen: maxLen !== undefined && maxLen > 0 ? Math.floor(maxLen) : 0,
    publishTimeoutMs: publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS,
    operationTimeoutMs: operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS,
    logger: logger ?? consoleLogger,
  };
  if (client) {
    if (!hasConsumerGroups(client)) {
      throw new ConfigError(
        'client',
        "[event-bus:redis] the client passed in has no Redis Streams consumer groups (XGROUP, XREADGROUP, XAUTOCLAIM are missing: an in-memory mock such as ioredis-mock?). The Redis transport needs an ioredis client of a real Redis >= 7.0; for unit tests use memoryTransport() from '@procur/event-bus' instead.",
      );
    }
    const o = (isCluster(client) ? {} : client.options) as Partial<RedisOptions>;
    return new RedisCommands({
      ...shared,
      main: client,
      ownsMain: false,
      where: isCluster(client) ? 'the Redis Cluster passed in' : `${o.path ?? `${o.host ?? 'localhost'}:${o.port ?? 6379}`}`,
      hint: 'the client passed in',
      secrets: o.password ? [o.password] : [],
    });
  }
  const Redis = loadIoredis();
  const plan = planConnection(url, redisOptions, process.env);
  const main = plan.cluster ? new (loadIoredisCluster())(...plan.cluster) : new Redis(...plan.args);
  return new RedisCommands({ ...shared, main, ownsMain: true, where: plan.where, hint: plan.hint, secrets: plan.secrets });
}

/** The roles put together behind the one {@link RedisTransport} object. */
class RedisStreamsTransport implements RedisTransport {
  readonly name = 'redis';
  readonly features = FEATURES;
  readonly keys: KeyLayout;

  private readonly ctx: RedisCommands;
  private readonly publisher: RedisPublisher;
  private readonly receiver: RedisReceiver;
  private readonly deadLetters: RedisDeadLetters;
  private readonly admin: RedisAdmin;
  private readonly kv: RedisKeyValue;
  private readonly signals: RedisSignals;

  constructor(options: RedisTransportOptions) {
    const { trimIntervalMs, ungroupedMaxLen } = options;
    this.ctx = commandsFor(options);
    this.keys = this.ctx.keys;
    const groups = new GroupRegistry(this.ctx);
    this.publisher = new RedisPublisher(this.ctx, groups);
    this.receiver = new RedisReceiver(this.ctx, groups);
    this.deadLetters = new RedisDeadLetters(this.ctx);
    this.admin = new RedisAdmin(
      this.ctx,
      ungroupedMaxLen !== undefined && ungroupedMaxLen >= 0 ? Math.floor(ungroupedMaxLen) : DEFAULT_UNGROUPED_MAX_LEN,
      trimIntervalMs ?? DEFAULT_TRIM_INTERVAL_MS,
    );
    this.kv = new RedisKeyValue(this.ctx);
    this.signals = new RedisSignals(this.ctx);
  }

  // ---- messages -------------------------------------------------------------------------------

  publish(stream: string, messages: readonly OutgoingMessage[], options?: SignalOptions): Promise<string[]> {
    return this.publisher.publish(stream, messages, options);
  }

  redeliver(stream: string, group: string, messages: readonly (OutgoingMessage & { attempt?: number })[], options?: SignalOptions): Promise<string[]> {
    return this.publisher.redeliver(stream, group, messages, options);
  }

  ensureGroup(stream: string, group: string, options?: SignalOptions & { startAt?: 'beginning' | 'end' }): Promise<void> {
    return this.receiver.ensureGroup(stream, group, options);
  }

  receive(stream: string, options: ReceiveOptions): Promise<Delivery[]> {
    return this.receiver.receive(stream, options);
  }

  ack(stream: string, group: string, deliveryIds: readonly string[], options?: SignalOptions): Promise<void> {
    return this.receiver.ack(stream, group, deliveryIds, options);
  }

  nack(stream: string, group: string, deliveryId: string, options?: NackOptions): Promise<void> {
    return this.receiver.nack(stream, group, deliveryId, options);
  }

  claimStale(stream: string, options: ClaimOptions): Promise<Delivery[]> {
    return this.receiver.claimStale(stream, options);
  }

  touch(stream: string, group: string, consumer: string, deliveryIds: readonly string[], options?: SignalOptions): Promise<void> {
    return this.receiver.touch(stream, group, consumer, deliveryIds, options);
  }

  // ---- dead letters ---------------------------------------------------------------------------

  deadLetter(
    stream: string,
    group: string,
    delivery: Pick<Delivery, 'deliveryId' | 'body' | 'priority'>,
    input: DeadLetterInput,
    options?: SignalOptions,
  ): Promise<string | undefined> {
    return this.deadLetters.deadLetter(stream, group, delivery, input, options);
  }

  listDeadLetters(dlq: string, options?: ListDeadLettersOptions): Promise<DeadLetter[]> {
    return this.deadLetters.listDeadLetters(dlq, options);
  }

  getDeadLetter(dlq: string, id: string, options?: SignalOptions): Promise<DeadLetter | undefined> {
    return this.deadLetters.getDeadLetter(dlq, id, options);
  }

  deleteDeadLetters(dlq: string, ids: readonly string[], options?: SignalOptions): Promise<number> {
    return this.deadLetters.deleteDeadLetters(dlq, ids, options);
  }

  countDeadLetters(dlq: string, options?: SignalOptions): Promise<number> {
    return this.deadLetters.countDeadLetters(dlq, options);
  }

  purgeDeadLetters(dlq: string, options?: SignalOptions): Promise<number> {
    return this.deadLetters.purgeDeadLetters(dlq, options);
  }

  // ---- monitoring and maintenance -------------------------------------------------------------

  info(stream: string, options?: SignalOptions): Promise<StreamInfo> {
    return this.admin.info(stream, options);
  }

  purge(stream: string, options?: SignalOptions): Promise<number> {
    return this.admin.purge(stream, options);
  }

  trim(stream: string, options?: SignalOptions): Promise<number> {
    return this.admin.trim(stream, options);
  }

  // ---- key-value ------------------------------------------------------------------------------

  kvGet(key: string, options?: SignalOptions): Promise<string | null> {
    return this.kv.kvGet(key, options);
  }

  kvSet(key: string, value: string, options?: KvSetOptions): Promise<boolean> {
    return this.kv.kvSet(key, value, options);
  }

  kvSetMany(entries: ReadonlyArray<{ key: string; value: string }>, options?: SignalOptions & { ttlMs?: number }): Promise<void> {
    return this.kv.kvSetMany(entries, options);
  }

  kvDelete(key: string, options?: SignalOptions & { ifEquals?: string }): Promise<boolean> {
    return this.kv.kvDelete(key, options);
  }

  kvIncr(key: string, options?: SignalOptions & { by?: number; ttlMs?: number }): Promise<number> {
    return this.kv.kvIncr(key, options);
  }

  kvScan(prefix: string, options?: SignalOptions): Promise<Array<{ key: string; value: string }>> {
    return this.kv.kvScan(prefix, options);
  }

  // ---- signals --------------------------------------------------------------------------------

  notify(channel: string, message: string, options?: SignalOptions): Promise<void> {
    return this.signals.notify(channel, message, options);
  }

  listen(channel: string, handler: (message: string) => void, options?: SignalOptions): Promise<Unsubscribe> {
    return this.signals.listen(channel, handler, options);
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  close(): Promise<void> {
    const ctx = this.ctx;
    return ctx.life.close(async () => {
      this.admin.stop();
      const subscriber = this.signals.shutdown();
      const blocking = this.receiver.takeBlocking();
      await runAll([
        // Dropping a blocking connection wakes the receive waiting on it (it resolves []).
        ...blocking.map((c) => () => ctx.drop(c)),
        () => {
          if (subscriber) ctx.drop(subscriber);
        },
        async () => {
          if (ctx.ownsMain) await closeConnection(ctx.main, () => ctx.drop(ctx.main));
        },
        // A client passed in stays open: only take back the listener added to it.
        () => {
          if (!ctx.ownsMain) ctx.unwatch(ctx.main);
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
 *   `ConfigError` for an invalid `keyPrefix`, `url` (another scheme) or `PROCUR_EVENT_REDIS_*`
 *   setting, or a `client` without consumer groups.
 */
export function redisTransport(options: RedisTransportOptions = {}): RedisTransport {
  return new RedisStreamsTransport(options);
}
