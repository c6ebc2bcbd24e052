/**
 * The connection side of the PostgreSQL transport: the pool (created or borrowed), bounded
 * queries with typed errors, migrations, and the one listening connection that carries
 * `LISTEN`/`NOTIFY` (wake-ups of blocked receives and the signals role), reconnected with
 * backoff when it drops.
 *
 * @internal
 * @module
 */

import { ClosedError, MissingPeerError, TransportError, isEventBusError, toError, type Logger } from '@procur/event-bus';
import { Lifecycle } from '@procur/event-bus/adapter-kit';
import { TRANSPORT_MIGRATIONS, TRANSPORT_SCHEMA_VERSION, TRANSPORT_VERSION_ROW, type PgNames } from './schema.js';
import { textArray } from './wire.js';

/** A query as pg takes it: text and values, optionally a prepared statement name. */
export interface PgQuery {
  name?: string;
  text: string;
  values?: unknown[];
}

/** What the transport uses of a pg query result. */
export interface PgResult<R = Record<string, unknown>> {
  rows: R[];
  rowCount: number | null;
}

/** A pg client (pooled or not), structurally. */
export interface PgClientLike {
  query(query: PgQuery): Promise<PgResult>;
  query(text: string, values?: unknown[]): Promise<PgResult>;
  on?(event: string, listener: (...args: any[]) => void): unknown;
  removeListener?(event: string, listener: (...args: any[]) => void): unknown;
  release?(err?: Error | boolean): void;
  end?(): Promise<void>;
}

/** A pg `Pool` (or anything shaped like it). `new pg.Pool()` fits. */
export interface PgPoolLike {
  connect(): Promise<PgClientLike>;
  query(query: PgQuery): Promise<PgResult>;
  end(): Promise<void>;
  on?(event: 'error', listener: (err: Error) => void): unknown;
  removeListener?(event: 'error', listener: (err: Error) => void): unknown;
}

interface PgModule {
  Pool: new (config: Record<string, unknown>) => PgPoolLike;
  Client: new (config: Record<string, unknown>) => PgClientLike & { connect(): Promise<void> };
}

let peer: Promise<PgModule> | undefined;

/** Loads pg once; a missing package becomes a `MissingPeerError`. */
export function loadPg(): Promise<PgModule> {
  peer ??= import('pg').then(
    (mod) => {
      const m = mod as unknown as Partial<PgModule> & { default?: PgModule };
      return (m.Pool ? m : m.default) as PgModule;
    },
    (err: unknown) => {
      peer = undefined;
      const code = (err as { code?: unknown } | null)?.code;
      if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && /['"/]pg['"/]/.test(String((err as Error).message))) {
        throw new MissingPeerError('pg', '@procur/event-bus/postgres', { cause: err });
      }
      throw new TransportError(`[event-bus:postgres] Cannot load pg: ${toError(err).message}`, { cause: err });
    },
  );
  return peer;
}

/** Removes credentials that a driver message might echo (`scheme://user:secret@host`, `password=`). */
export function redact(message: string, secrets: readonly string[] = []): string {
  let out = message.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]*:)[^@\s]*@/gi, '$1***@').replace(/(password=)[^\s&]+/gi, '$1***');
  for (const s of secrets) if (s.length > 0) out = out.split(s).join('***');
  return out;
}

/** `postgres://user:secret@host:5432/db` -> `host:5432/db` (for messages). */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  } catch {
    return 'the configured server';
  }
}

/** The password of a connection string, to mask it should a driver echo it. */
export function passwordOf(url: string | undefined): string[] {
  if (!url) return [];
  try {
    const p = decodeURIComponent(new URL(url).password);
    return p ? [p] : [];
  } catch {
    return [];
  }
}

const ignore = (): void => undefined;

/** Connection-level failures (the server is down, refused, reset, or we cannot log in). */
export function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (/^E[A-Z]+$/.test(code) || code.startsWith('08') || code.startsWith('57P') || code === '3D000' || code.startsWith('28'))) return true;
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(String((err as Error | null)?.message ?? ''));
}

/** Marks a call that outlived the transport's `operationTimeoutMs`. */
class TimedOut {}

/** Settings of {@link PgConnection}. */
export interface PgConnectionSettings {
  readonly names: PgNames;
  /** The pool to borrow from, or a factory of the pool this transport owns. */
  readonly pool: PgPoolLike | (() => Promise<PgPoolLike>);
  /** Whether `close()` ends the pool. */
  readonly ownsPool: boolean;
  /** Opens the dedicated listening connection (a pg Client, or a client taken from the user's pool). */
  readonly openListener: () => Promise<PgClientLike>;
  readonly operationTimeoutMs: number;
  /** Where the server is, for messages (never with a password). */
  readonly where: string;
  /** What to check, for messages. */
  readonly hint: string;
  readonly secrets: readonly string[];
  readonly logger: Logger;
}

/** A notification handler of the listening connection. */
type NotificationHandler = (payload: string) => void;

/**
 * The pool, bounded queries, migrations and the listening connection of one transport.
 * Every error leaves as `TransportError` (or `ClosedError` after close) with what to check.
 */
export class PgConnection {
  readonly life = new Lifecycle('postgres transport');
  readonly names: PgNames;
  private poolPromise: Promise<PgPoolLike> | undefined;
  private migrated: Promise<void> | undefined;
  private binary: Promise<boolean> | undefined;
  private readonly channels = new Map<string, Set<NotificationHandler>>();
  /** The LISTEN of each channel, once sent (re-sent by the reconnect). */
  private readonly listens = new Map<string, Promise<void>>();
  private listener: PgClientLike | undefined;
  private listenerReady: Promise<PgClientLike> | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectDelay = 100;
  /** Called after the listening connection was (re)established: notifications may have been missed. */
  onReconnect: (() => void) | undefined;

  constructor(private readonly s: PgConnectionSettings) {
    this.names = s.names;
  }

  get logger(): Logger {
    return this.s.logger;
  }

  /** The bound of every call, in ms (`operationTimeoutMs`). */
  get timeoutMs(): number {
    return this.s.operationTimeoutMs;
  }

  /** The error of `op` not finishing within `operationTimeoutMs`. */
  timedOut(op: string): unknown {
    return this.wrap(op, new TimedOut());
  }

  private pool(): Promise<PgPoolLike> {
    if (!this.poolPromise) {
      const p = this.s.pool;
      this.poolPromise = (typeof p === 'function' ? p() : Promise.resolve(p)).then(
        (pool) => pool,
        (err: unknown) => {
          this.poolPromise = undefined;
          throw err;
        },
      );
    }
    return this.poolPromise;
  }

  /** The error a failed call leaves with. */
  wrap(op: string, err: unknown): unknown {
    if (isEventBusError(err)) return err;
    if (this.life.closed) return new ClosedError('postgres transport');
    if (err instanceof TimedOut) {
      return new TransportError(
        `[event-bus:postgres] ${op} did not finish within ${this.s.operationTimeoutMs} ms (operationTimeoutMs): PostgreSQL at ${this.s.where} is not answering. ${this.s.hint}`,
      );
    }
    const message = redact(toError(err).message, this.s.secrets);
    if (isConnectionError(err)) {
      return new TransportError(`[event-bus:postgres] Cannot reach PostgreSQL at ${this.s.where} (${op}): ${message}. ${this.s.hint}`, { cause: err });
    }
    return new TransportError(`[event-bus:postgres] ${op} failed: ${message}`, { cause: err });
  }

  /**
   * Runs `fn` (after the migrations) within `operationTimeoutMs`, rejecting with the signal's
   * reason when it aborts, and with a typed error otherwise. The work itself cannot be taken back:
   * its late outcome is dropped.
   */
  async run<T>(op: string, signal: AbortSignal | undefined, fn: (pool: PgPoolLike) => Promise<T>, migrate = true): Promise<T> {
    try {
      return await this.bounded(signal, fn, migrate);
    } catch (err) {
      if (signal?.aborted && err === signal.reason) throw err;
      throw this.wrap(op, err);
    }
  }

  /**
   * {@link run} without the wrapping: the raw failure, for a caller that wraps it once per
   * operation (the write batch of several callers). Throws `ClosedError` when closed, unless
   * `requireOpen` is false (work accepted before close, sent while closing).
   */
  bounded<T>(signal: AbortSignal | undefined, fn: (pool: PgPoolLike) => Promise<T>, migrate = true, requireOpen = true): Promise<T> {
    if (requireOpen) this.life.assertOpen();
    if (signal?.aborted) return Promise.reject(signal.reason);
    const work = (async () => {
      const pool = await this.pool();
      if (migrate) await this.ensureMigrated(pool);
      return fn(pool);
    })();
    return race(work, signal, this.s.operationTimeoutMs);
  }

  /** One statement on the pool. */
  async query<R = Record<string, unknown>>(op: string, q: PgQuery, signal?: AbortSignal): Promise<PgResult<R>> {
    return this.run(op, signal, (pool) => pool.query(q) as Promise<PgResult<R>>);
  }

  /** Creates or upgrades the transport's tables (idempotent, safe concurrently). */
  migrate(signal?: AbortSignal): Promise<void> {
    return this.run('migrate', signal, (pool) => this.ensureMigrated(pool), false);
  }

  /**
   * Whether the pool sends a `Buffer` parameter in the binary format, as node-postgres does
   * (wire.ts): checked once with a round trip of a binary `text[]`. A driver that sends it as
   * text (pg-native, a pool-like wrapper) gets pg's array literals instead.
   */
  binaryArrays(pool: PgPoolLike): Promise<boolean> {
    if (!this.binary) {
      const sample = ['a"b\\c{,}', 'é🎉'];
      const attempt = pool.query({ text: 'SELECT $1::text[] AS a', values: [textArray(sample)] }).then(
        (res) => {
          const got = (res.rows[0] as { a?: unknown } | undefined)?.a;
          return Array.isArray(got) && got.length === sample.length && got.every((v, i) => v === sample[i]);
        },
        (err: unknown) => {
          // The server is not reachable: ask again next time (plain arrays meanwhile).
          if (isConnectionError(err) && this.binary === attempt) this.binary = undefined;
          return false;
        },
      );
      this.binary = attempt;
    }
    return this.binary;
  }

  private ensureMigrated(pool: PgPoolLike): Promise<void> {
    if (!this.migrated) {
      const attempt = applyMigrations(pool, this.names).catch((err: unknown) => {
        if (this.migrated === attempt) this.migrated = undefined;
        throw err;
      });
      this.migrated = attempt;
    }
    return this.migrated;
  }

  // ---- the listening connection ---------------------------------------------------------------

  /** Subscribes `handler` to a PostgreSQL channel; resolves once `LISTEN` is active. */
  async subscribe(channel: string, handler: NotificationHandler, signal?: AbortSignal): Promise<() => Promise<void>> {
    let set = this.channels.get(channel);
    if (!set) {
      set = new Set();
      this.channels.set(channel, set);
    }
    set.add(handler);
    let active = this.listens.get(channel);
    if (!active) {
      // Every subscriber of the channel waits for the one LISTEN (a second one returning before
      // it is active could miss a notification).
      active = this.run('listen', undefined, async () => {
        const client = await this.listening();
        if (client === this.listener) await client.query(`LISTEN ${quoteChannel(channel)}`);
      });
      this.listens.set(channel, active);
      active.catch(() => {
        if (this.listens.get(channel) === active) this.listens.delete(channel);
      });
    }
    try {
      await (signal ? abortable(active, signal) : active);
    } catch (err) {
      set.delete(handler);
      if (set.size === 0) this.channels.delete(channel);
      throw err;
    }
    return async () => {
      const current = this.channels.get(channel);
      if (!current?.delete(handler) || current.size > 0) return;
      this.channels.delete(channel);
      this.listens.delete(channel);
      const client = this.listener;
      if (client && !this.life.closed) await client.query(`UNLISTEN ${quoteChannel(channel)}`).catch(ignore);
    };
  }

  /** Whether a channel is listened to (its LISTEN may still be in flight). */
  isListening(channel: string): boolean {
    return this.channels.has(channel);
  }

  private listening(): Promise<PgClientLike> {
    if (this.listener) return Promise.resolve(this.listener);
    this.listenerReady ??= this.openListening().finally(() => {
      this.listenerReady = undefined;
    });
    return this.listenerReady;
  }

  private async openListening(): Promise<PgClientLike> {
    await this.pool();
    const client = await this.s.openListener();
    const onNotification = (msg: { channel: string; payload?: string }) => {
      const set = this.channels.get(msg.channel);
      if (!set) return;
      for (const h of [...set]) {
        try {
          h(msg.payload ?? '');
        } catch {
          // A throwing handler keeps its subscription.
        }
      }
    };
    const onLost = (err?: unknown) => {
      if (this.listener !== client) return;
      this.listener = undefined;
      client.removeListener?.('notification', onNotification);
      drop(client, err);
      if (this.life.closed) return;
      this.logger.warn('postgres transport: the listening connection was lost; reconnecting', {
        error: err === undefined ? 'connection ended' : redact(toError(err).message, this.s.secrets),
      });
      this.scheduleReconnect();
    };
    client.on?.('notification', onNotification);
    // An 'error' without a listener would crash the process: the connection is re-opened instead.
    client.on?.('error', onLost);
    client.on?.('end', () => onLost());
    if (this.life.closed) {
      drop(client);
      throw new ClosedError('postgres transport');
    }
    for (const channel of this.channels.keys()) await client.query(`LISTEN ${quoteChannel(channel)}`);
    this.listener = client;
    this.reconnectDelay = 100;
    return client;
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer || this.life.closed) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, 5000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.life.closed || this.channels.size === 0) return;
      this.listening().then(
        () => this.onReconnect?.(),
        () => this.scheduleReconnect(),
      );
    }, delay);
    this.reconnectTimer.unref();
  }

  /** Closes the listening connection and, when the transport created it, the pool. */
  async shutdown(): Promise<void> {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.channels.clear();
    this.listens.clear();
    await this.listenerReady?.catch(ignore);
    const client = this.listener;
    this.listener = undefined;
    if (client) drop(client);
    if (this.s.ownsPool && this.poolPromise) {
      const pool = await this.poolPromise.catch(() => undefined);
      await pool?.end().catch(ignore);
    }
  }
}

/** `promise`, or the signal's reason as soon as it aborts (the work itself goes on). */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Ends a listening client: a pooled one is released as broken (the pool discards it), a plain one ended. */
function drop(client: PgClientLike, err?: unknown): void {
  if (typeof client.release === 'function') {
    try {
      client.release(err instanceof Error ? err : true);
    } catch {
      // Released already.
    }
    return;
  }
  void client.end?.().catch(ignore);
}

/** Channels are identifiers: ours are `[a-z0-9_]`, quoted anyway. */
function quoteChannel(channel: string): string {
  return `"${channel.replace(/"/g, '""')}"`;
}

function race<T>(promise: Promise<T>, signal: AbortSignal | undefined, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => finish(() => reject(signal!.reason));
    const timer = setTimeout(() => finish(() => reject(new TimedOut())), timeoutMs);
    const finish = (settle: () => void) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      settle();
    };
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => finish(() => resolve(v)),
      (e: unknown) => finish(() => reject(e)),
    );
  });
}

/**
 * Applies the transport's migrations in one transaction under the event store's migration lock
 * (same schema and prefix: the store and the transport never migrate at once), recording the
 * version in row 2 of `<prefix>schema_version`. Refuses a schema newer than this code.
 */
async function applyMigrations(pool: PgPoolLike, n: PgNames): Promise<void> {
  const client = await pool.connect();
  client.on?.('error', ignore);
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', ['procur-event-store', `${n.schemaName}.${n.prefix}`]);
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [n.schemaName]);
    if (exists.rows.length === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS ${n.schema}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${n.t('schema_version')} (id integer PRIMARY KEY, version integer NOT NULL, updated_at timestamptz NOT NULL)`,
    );
    const row = await client.query(`SELECT version FROM ${n.t('schema_version')} WHERE id = $1`, [TRANSPORT_VERSION_ROW]);
    const current = row.rows.length > 0 ? Number((row.rows[0] as { version: unknown }).version) : 0;
    if (current > TRANSPORT_SCHEMA_VERSION) {
      throw new TransportError(
        `[event-bus:postgres] The database holds transport schema version ${current} in ${n.schemaName}, newer than this code (version ${TRANSPORT_SCHEMA_VERSION}). ` +
          'Upgrade @procur/event-bus in this service, or point it at another schema or table prefix.',
      );
    }
    if (current < TRANSPORT_SCHEMA_VERSION) {
      for (let v = current; v < TRANSPORT_SCHEMA_VERSION; v++) await client.query(TRANSPORT_MIGRATIONS[v]!(n));
      await client.query(
        `INSERT INTO ${n.t('schema_version')} (id, version, updated_at) VALUES ($1, $2, now()) ON CONFLICT (id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
        [TRANSPORT_VERSION_ROW, TRANSPORT_SCHEMA_VERSION],
      );
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch((e: unknown) => {
      broken = toError(e);
    });
    throw err;
  } finally {
    client.removeListener?.('error', ignore);
    client.release?.(broken ?? false);
  }
}
