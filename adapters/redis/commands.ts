/**
 * The command wrapper of the Redis transport (one role): the main connection and its
 * duplicates, bounded calls that turn failures into `TransportError`s without secrets, scripts
 * by `EVALSHA` with an `EVAL` fallback, the repair of keys of the wrong type, and the check of
 * the selected database. Every other role file talks to Redis through it.
 *
 * @module
 */

import type { RedisOptions } from 'ioredis';
import { ClosedError, TransportError, isEventBusError, toError, type Logger } from '@procur/event-bus';
import { Lifecycle } from '@procur/event-bus/adapter-kit';
import { bounded, isCluster, scrub, wantedDb, whenReady, type RedisClient } from './connection.js';
import type { KeyLayout } from './keys.js';
import { REPAIR, type LuaScript } from './scripts.js';
import { isWrongType, messageOf, type KeyTypes } from './shared.js';

/**
 * ioredis waits this long for a socket to close after `disconnect()` before destroying it, on a
 * ref'd timer; a socket that is already gone (Redis down) never closes again, so keep it short.
 */
const DISCONNECT_TIMEOUT_MS = 100;

/** What {@link RedisCommands} needs: the connection and the resolved options. */
export interface RedisCommandsOptions {
  readonly main: RedisClient;
  readonly ownsMain: boolean;
  readonly where: string;
  readonly hint: string;
  readonly secrets: string[];
  readonly keys: KeyLayout;
  readonly maxLen: number;
  readonly publishTimeoutMs: number;
  readonly operationTimeoutMs: number;
  readonly logger: Logger;
}

/** The connection and command wrapper every role of the transport shares. */
export class RedisCommands {
  readonly life = new Lifecycle('redis transport');
  readonly main: RedisClient;
  readonly ownsMain: boolean;
  readonly where: string;
  readonly hint: string;
  readonly secrets: string[];
  readonly keys: KeyLayout;
  readonly maxLen: number;
  readonly publishTimeoutMs: number;
  readonly operationTimeoutMs: number;
  readonly logger: Logger;
  readonly lastErrors = new WeakMap<RedisClient, Error>();
  /** Connections already disconnected: ioredis arms a timer per disconnect() call, so call it once. */
  readonly dropped = new WeakSet<RedisClient>();
  private readonly errorListeners = new Map<RedisClient, (err: Error) => void>();
  /** Streams published to or read from: trimmed by the timer. */
  readonly used = new Set<string>();
  /** The check that the connection uses the database it asked for (once; see `checkDb`); null once passed. */
  private dbCheck: Promise<void> | undefined | null;
  /** The main socket's writes are held until the check phase (see `coalesceWrites`). */
  private corked = false;
  /** The socket {@link coalesceWrites} corked, until it is uncorked. */
  private corkedSocket: { uncork?: () => void } | undefined;

  constructor(o: RedisCommandsOptions) {
    this.main = o.main;
    this.ownsMain = o.ownsMain;
    this.where = o.where;
    this.hint = o.hint;
    this.secrets = o.secrets;
    this.keys = o.keys;
    this.maxLen = o.maxLen;
    this.publishTimeoutMs = o.publishTimeoutMs;
    this.operationTimeoutMs = o.operationTimeoutMs;
    this.logger = o.logger;
    this.watch(this.main);
  }

  /** Records connection errors (for messages) and keeps ioredis from printing them unhandled. */
  watch(client: RedisClient): void {
    // Every command waiting for a (re)connection listens for 'ready'/'end' until it gives up:
    // during an outage there are legitimately more than ten of them.
    client.setMaxListeners(0);
    const onError = (err: Error) => this.lastErrors.set(client, err);
    client.on('error', onError);
    this.errorListeners.set(client, onError);
  }

  unwatch(client: RedisClient): void {
    const onError = this.errorListeners.get(client);
    if (onError) client.off('error', onError);
    this.errorListeners.delete(client);
  }

  unreachable(client: RedisClient): () => TransportError {
    return () => {
      const last = this.lastErrors.get(client);
      const reason = last ? `: ${scrub(last.message, this.secrets)}` : client.status === 'end' ? ': the connection is closed' : '';
      return new TransportError(`[event-bus:redis] Cannot reach Redis at ${this.where}${reason}. Check ${this.hint}.`);
    };
  }

  /** Disconnects a connection the transport opened, once (wakes a command blocked on it). */
  drop(client: RedisClient): void {
    if (this.dropped.has(client)) return;
    this.dropped.add(client);
    client.disconnect();
  }

  /** A new connection like the main one, for blocking reads or pub/sub. */
  duplicate(overrides: Partial<RedisOptions>): RedisClient {
    const c = isCluster(this.main)
      ? this.main.duplicate(undefined, { lazyConnect: true, enableOfflineQueue: false, redisOptions: { ...this.main.options.redisOptions, disconnectTimeout: DISCONNECT_TIMEOUT_MS, ...overrides } })
      : this.main.duplicate({ lazyConnect: true, disconnectTimeout: DISCONNECT_TIMEOUT_MS, ...overrides });
    this.watch(c);
    return c;
  }

  wrap(what: string, err: unknown): Error {
    if (isEventBusError(err)) return err;
    const e = toError(err);
    const msg = scrub(e.message, this.secrets);
    return new TransportError(`[event-bus:redis] ${what} failed on Redis at ${this.where}: ${msg}`, {
      cause: msg === e.message ? e : new Error(msg),
    });
  }

  /**
   * Holds the main connection's writes until the check phase of this event-loop turn
   * (`socket.cork()`, then `uncork()` from `setImmediate`): what the roles send in one turn
   * (a worker's acks, task states, notifications, lifecycle events and its next read) leaves in
   * one write instead of one system call per command. Only on a connection the transport opened
   * (a caller's own client is left as it is) and not on a Cluster (no single socket).
   */
  private coalesceWrites(): void {
    if (this.corked || !this.ownsMain) return;
    const socket = (this.main as { stream?: { cork?: () => void; uncork?: () => void; writable?: boolean } }).stream;
    if (!socket || typeof socket.cork !== 'function' || typeof socket.uncork !== 'function' || socket.writable === false) return;
    this.corked = true;
    this.corkedSocket = socket;
    socket.cork();
    setImmediate(() => {
      // Already sent by `flushWrites` (then a later turn may have corked again: its own timer uncorks it).
      if (this.corkedSocket !== socket || !this.corked) return;
      this.corked = false;
      this.corkedSocket = undefined;
      socket.uncork?.();
    });
  }

  /**
   * Sends what {@link coalesceWrites} holds now, instead of at the check phase. For a read of a
   * backlog: the caller handles the batch in hand from the check phase, and the next read should
   * be on the wire (Redis working on it) meanwhile, not behind that work.
   */
  flushWrites(): void {
    const socket = this.corkedSocket;
    if (!this.corked || !socket) return;
    this.corked = false;
    this.corkedSocket = undefined;
    socket.uncork?.();
  }

  /**
   * Runs one non-blocking command (or pipeline, or script) on the main connection: waits for the
   * connection (bounded), bounds the call, and turns failures into `TransportError`s without
   * secrets. With `total`, the bound covers the wait for the connection too.
   */
  async command<T>(
    what: string,
    fn: (c: RedisClient) => Promise<T>,
    opts: { signal?: AbortSignal | undefined; timeoutMs?: number; readyMs?: number; total?: boolean; repair?: KeyTypes } = {},
  ): Promise<T> {
    this.life.assertOpen();
    const { signal } = opts;
    if (signal?.aborted) throw signal.reason;
    const timeoutMs = opts.timeoutMs ?? this.operationTimeoutMs;
    const start = Date.now();
    try {
      await whenReady(this.main, start + (opts.readyMs ?? timeoutMs), this.unreachable(this.main), this.life.signal, signal);
      if (this.dbCheck !== null) await this.checkDb();
      const deadline = opts.total ? Math.max(start + timeoutMs, Date.now() + 1) : Date.now() + timeoutMs;
      const run = (): Promise<T> => {
        this.coalesceWrites();
        return bounded(
          fn(this.main),
          deadline,
          () => new TransportError(`[event-bus:redis] Redis at ${this.where} did not answer ${what} within ${timeoutMs} ms.`),
          signal,
        );
      };
      try {
        return await run();
      } catch (err) {
        // A key of ours holds another type: drop it (logged) and run the call once more.
        if (!opts.repair || !isWrongType(err) || !(await this.repair(what, opts.repair))) throw err;
        return await run();
      }
    } catch (err) {
      if (signal?.aborted && err === signal.reason) throw err;
      if (this.life.closed && !isEventBusError(err)) throw new ClosedError('redis transport');
      throw this.wrap(what, err);
    }
  }

  /**
   * Drops the keys of `spec` that hold the wrong type (see {@link REPAIR}) and logs each one.
   * Returns whether it dropped any (else the WRONGTYPE came from elsewhere and stands).
   */
  async repair(what: string, spec: KeyTypes): Promise<boolean> {
    const args: (string | number)[] = [spec.group];
    spec.keys.forEach((_, i) => args.push(spec.types[i]!, i < spec.sources && spec.group !== '' ? 1 : 0));
    const dropped = (await this.eval(this.main, REPAIR, spec.keys, args)) as string[];
    for (let i = 0; i + 1 < dropped.length; i += 2) {
      this.logger.error(
        `[event-bus:redis] ${what}: dropped the key '${dropped[i]}', which held a ${dropped[i + 1]} where the transport keeps a ${spec.types[spec.keys.indexOf(dropped[i]!)]}; it was written by another program or a bug, and its content is lost.`,
        { key: dropped[i], found: dropped[i + 1] },
      );
    }
    return dropped.length > 0;
  }

  /** The key types of the NACK / REDELIVER KEYS: 8 sources, retry zset, wake stream. */
  retryTypes(keys: readonly string[], group: string): KeyTypes {
    return { keys, types: [...Array<string>(8).fill('stream'), 'zset', 'stream'], group, sources: 8 };
  }

  /**
   * ioredis only emits an error when the SELECT of its `db` fails (a database the server does not
   * have) and then runs every command in database 0. So before the first command, ask Redis which
   * database the connection uses; a mismatch fails this and every later call with
   * `TransportError` naming the database. Passes at once when no database (0) was asked for.
   */
  async checkDb(): Promise<void> {
    const db = wantedDb(this.main);
    if (db === 0) {
      this.dbCheck = null;
      return;
    }
    this.dbCheck ??= (async () => {
      let info: string;
      try {
        info = String(await this.main.call('CLIENT', 'INFO'));
      } catch (err) {
        this.dbCheck = undefined; // a lost connection: ask again next time
        throw err;
      }
      const using = /(?:^|\s)db=(\d+)/.exec(info)?.[1];
      if (using === undefined || Number(using) === db) {
        this.dbCheck = null;
        return;
      }
      const last = this.lastErrors.get(this.main);
      const why = last && /DB index|SELECT/i.test(last.message) ? ` (${scrub(last.message, this.secrets)})` : '';
      throw new TransportError(
        `[event-bus:redis] Redis at ${this.where} has no database ${db}: selecting it failed${why}, and keys would land in database ${using}. Use a database the server has (redis.conf 'databases', 16 by default) in ${this.hint}.`,
      );
    })();
    await this.dbCheck;
  }

  /** EVALSHA, falling back to EVAL when Redis does not know the script (first use, restart). */
  async eval(c: RedisClient, s: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    const tail = [keys.length, ...keys, ...args];
    try {
      return await c.call('EVALSHA', [s.sha, ...tail]);
    } catch (err) {
      if (!messageOf(err).includes('NOSCRIPT')) throw err;
      return await c.call('EVAL', [s.source, ...tail]);
    }
  }
}
