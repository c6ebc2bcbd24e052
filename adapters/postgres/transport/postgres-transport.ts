/**
 * The PostgreSQL {@link Transport}: every role of the transport contracts on PostgreSQL alone,
 * for teams that run no Redis. See docs/postgres-transport.md for the design, the schema and
 * tuning. The roles live in their own files: `streams.ts` (streams, dead letters, admin,
 * trimming), `kv.ts`, `signals.ts`; `batch.ts` the group commit of the small writes of all three
 * (acks, key writes, publishes and notifications issued in one event-loop turn go out as one
 * statement); `connection.ts` holds the pool, bounded queries, migrations and the listening
 * connection; `schema.ts` the tables, functions and migrations.
 *
 * @module
 */

import {
  ConfigError,
  consoleLogger,
  type ClaimOptions,
  type DeadLetter,
  type DeadLetterInput,
  type Delivery,
  type EnsureGroupOptions,
  type KvDeleteOptions,
  type KvEntry,
  type KvIncrOptions,
  type KvSetManyOptions,
  type KvSetOptions,
  type ListDeadLettersOptions,
  type Logger,
  type NackOptions,
  type OutgoingMessage,
  type ReceiveOptions,
  type RedeliverMessage,
  type SignalOptions,
  type StreamInfo,
  type Transport,
  type TransportFeatures,
  type Unsubscribe,
} from '@procur/event-bus';
import { runAll } from '@procur/event-bus/adapter-kit';
import { PgWriteBatch } from './batch.js';
import { PgConnection, describeUrl, loadPg, passwordOf, type PgClientLike, type PgPoolLike } from './connection.js';
import { PgKeyValue } from './kv.js';
import { pgNames } from './schema.js';
import { PgSignals } from './signals.js';
import { PgStreams } from './streams.js';

/** Connections of a pool the transport creates. */
export const DEFAULT_PG_TRANSPORT_POOL_SIZE = 10;
/** Default bound of every call, in ms. */
export const DEFAULT_PG_OPERATION_TIMEOUT_MS = 5000;
/** Default fallback poll of a blocked receive (for notifications missed while reconnecting), in ms. */
export const DEFAULT_PG_POLL_INTERVAL_MS = 2000;
/** Default interval of the maintenance timer (trimming, expired keys), in ms. */
export const DEFAULT_PG_TRIM_INTERVAL_MS = 10_000;
/** Default cap of a stream without consumer groups. */
export const DEFAULT_PG_UNGROUPED_MAX_LEN = 10_000;
/** Rows one maintenance statement deletes at most. */
export const PG_TRIM_BATCH = 5000;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The environment variables read, in order, when no `connectionString` or `pool` is given. */
const URL_VARIABLES = ['PROCUR_EVENT_DATABASE_URL', 'DATABASE_URL'] as const;

/** Options of {@link postgresTransport}. */
export interface PostgresTransportOptions {
  /**
   * `postgres://user:password@host:5432/db`. Ignored when `pool` is given.
   * @default process.env.PROCUR_EVENT_DATABASE_URL, then process.env.DATABASE_URL
   */
  connectionString?: string;
  /**
   * A pg `Pool` you created. The transport borrows connections from it, holds one of them for
   * `LISTEN` while something listens or waits, and leaves the pool open on close.
   */
  pool?: PgPoolLike;
  /** The schema of the tables, created when missing. @default 'public' */
  schema?: string;
  /** Prefix of the table, function and index names. @default 'procur_' */
  tablePrefix?: string;
  /** Connections of the pool the transport creates (not used with `pool`). @default DEFAULT_PG_TRANSPORT_POOL_SIZE (10) */
  poolSize?: number;
  /** The longest one call may take before it rejects with `TransportError`, in ms. @default DEFAULT_PG_OPERATION_TIMEOUT_MS (5000) */
  operationTimeoutMs?: number;
  /**
   * A blocked `receive` wakes on `NOTIFY` at once; it also re-reads this often, in case a
   * notification was missed (the listening connection was down). @default DEFAULT_PG_POLL_INTERVAL_MS (2000)
   */
  pollIntervalMs?: number;
  /**
   * How often the streams this transport used are trimmed (messages every group is done with are
   * deleted in batches of {@link PG_TRIM_BATCH}) and expired keys swept; `0` turns it off.
   * @default DEFAULT_PG_TRIM_INTERVAL_MS (10000)
   */
  trimIntervalMs?: number;
  /** A stream without consumer groups keeps about this many messages; `0` keeps all. @default DEFAULT_PG_UNGROUPED_MAX_LEN (10000) */
  ungroupedMaxLen?: number;
  /** Where the transport reports a lost listening connection. @default consoleLogger */
  logger?: Logger;
  /**
   * Whether a `receive` waits for its commit to reach the disk. `false` commits it with
   * `synchronous_commit` off (for that transaction only): a worker no longer waits for an fsync
   * per read, and a PostgreSQL crash can lose the receives of its last moments (up to three
   * `wal_writer_delay`s, 0.6 s by default). A lost receive only makes its deliveries ready again
   * (delivered again, attempt not counted) and undoes the acks it carried (the `ack` option):
   * those messages are redelivered, as at-least-once delivery allows. Publishes, key writes,
   * notifications and `ack()` stay durable when they resolve, and each of them makes every
   * receive committed before it durable too. @default true
   */
  synchronousReceive?: boolean;
}

/** The PostgreSQL transport: the {@link Transport} contract plus its maintenance and migrations. */
export interface PostgresTransport extends Transport {
  /** Creates or upgrades the transport's tables now (idempotent, safe concurrently; also run on first use). */
  migrate(options?: SignalOptions): Promise<void>;
  /** Trims one stream's log now (what every group is done with); returns how many messages were removed. */
  trim(stream: string, options?: SignalOptions): Promise<number>;
  /**
   * Publishes in the application's own transaction: `client` is a pg client after `BEGIN`, on the
   * database of this transport. The messages exist, and are delivered, only if it commits. The
   * transaction must be `READ COMMITTED` (the default). Used by `publish(input, { transaction })`.
   */
  publishWithin(client: unknown, stream: string, messages: readonly OutgoingMessage[]): Promise<string[]>;
  /** The schema the tables live in. */
  readonly schema: string;
}

const FEATURES: TransportFeatures = Object.freeze({ persistent: true, distributed: true });
const ignore = (): void => undefined;

class PgTransport implements PostgresTransport {
  readonly name = 'postgres';
  readonly features = FEATURES;
  readonly schema: string;
  private readonly c: PgConnection;
  private readonly streams: PgStreams;
  private readonly kv: PgKeyValue;
  private readonly signals: PgSignals;
  private readonly writes: PgWriteBatch;
  private readonly detach: () => void;

  constructor(options: PostgresTransportOptions) {
    const schema = options.schema ?? 'public';
    const prefix = options.tablePrefix ?? 'procur_';
    if (!IDENTIFIER.test(schema) || schema.length > 63) {
      throw new ConfigError('schema', `[event-bus:postgres] postgresTransport({ schema }) must be letters, digits and '_' (not starting with a digit), got ${JSON.stringify(schema)}`);
    }
    if (prefix !== '' && (!IDENTIFIER.test(prefix) || prefix.length > 32)) {
      throw new ConfigError('tablePrefix', `[event-bus:postgres] postgresTransport({ tablePrefix }) must be letters, digits and '_' (at most 32), got ${JSON.stringify(prefix)}`);
    }
    const count = (name: string, value: number | undefined, fallback: number, min: number): number => {
      if (value === undefined) return fallback;
      if (!Number.isFinite(value) || value < min) {
        throw new ConfigError(name, `[event-bus:postgres] postgresTransport({ ${name} }) must be a number >= ${min}, got ${String(value)}`);
      }
      return Math.floor(value);
    };
    const operationTimeoutMs = count('operationTimeoutMs', options.operationTimeoutMs, DEFAULT_PG_OPERATION_TIMEOUT_MS, 1);
    const poolSize = count('poolSize', options.poolSize, DEFAULT_PG_TRANSPORT_POOL_SIZE, 1);
    const logger = options.logger ?? consoleLogger;
    this.schema = schema;
    const names = pgNames(schema, prefix);

    let pool: PgPoolLike | (() => Promise<PgPoolLike>);
    let openListener: () => Promise<PgClientLike>;
    let where: string;
    let hint: string;
    let secrets: string[] = [];
    const userPool = options.pool;
    if (userPool) {
      // An idle client of the user's pool that loses its connection must not crash the process.
      userPool.on?.('error', ignore);
      this.detach = () => userPool.removeListener?.('error', ignore);
      pool = userPool;
      openListener = async () => {
        const client = await userPool.connect();
        client.on?.('error', ignore);
        return client;
      };
      where = 'the pool passed in';
      hint = "Check the pool's connection settings.";
    } else {
      let url = options.connectionString;
      let source = 'the connectionString given to postgresTransport()';
      for (const variable of URL_VARIABLES) {
        if (url) break;
        url = process.env[variable] || undefined;
        source = variable;
      }
      if (!url) {
        throw new ConfigError(
          'PROCUR_EVENT_DATABASE_URL',
          '[event-bus:postgres] no PostgreSQL connection: pass connectionString or pool to postgresTransport(), or set PROCUR_EVENT_DATABASE_URL (or DATABASE_URL).',
        );
      }
      const connectionString = url;
      where = describeUrl(connectionString);
      hint = `Check ${source}.`;
      secrets = passwordOf(connectionString);
      let created: PgPoolLike | undefined;
      this.detach = () => undefined;
      pool = async () => {
        const pg = await loadPg();
        created = new pg.Pool({ connectionString, max: poolSize, connectionTimeoutMillis: operationTimeoutMs, application_name: 'procur-event-bus' });
        // An idle client that loses its connection emits 'error' on the pool: the next query reports it instead.
        created.on?.('error', ignore);
        return created;
      };
      openListener = async () => {
        const pg = await loadPg();
        const client = new pg.Client({ connectionString, connectionTimeoutMillis: operationTimeoutMs, application_name: 'procur-event-bus-listen' });
        client.on?.('error', ignore);
        await client.connect();
        return client;
      };
    }
    this.c = new PgConnection({
      names,
      pool,
      ownsPool: !userPool,
      openListener,
      operationTimeoutMs,
      where,
      hint,
      secrets,
      logger,
    });
    this.writes = new PgWriteBatch(this.c);
    this.streams = new PgStreams(this.c, {
      pollIntervalMs: count('pollIntervalMs', options.pollIntervalMs, DEFAULT_PG_POLL_INTERVAL_MS, 1),
      trimIntervalMs: count('trimIntervalMs', options.trimIntervalMs, DEFAULT_PG_TRIM_INTERVAL_MS, 0),
      ungroupedMaxLen: count('ungroupedMaxLen', options.ungroupedMaxLen, DEFAULT_PG_UNGROUPED_MAX_LEN, 0),
      trimBatch: PG_TRIM_BATCH,
      synchronousReceive: options.synchronousReceive ?? true,
    }, this.writes);
    this.kv = new PgKeyValue(this.c, PG_TRIM_BATCH, this.writes);
    this.signals = new PgSignals(this.c, this.writes, () => this.kv.writesSettled());
    this.streams.sweep = () => runAll([() => this.kv.sweep(), () => this.signals.sweep()]);
  }

  migrate(options?: SignalOptions): Promise<void> {
    return this.c.migrate(options?.signal);
  }

  trim(stream: string, options?: SignalOptions): Promise<number> {
    return this.streams.trim(stream, options);
  }

  publishWithin(client: unknown, stream: string, messages: readonly OutgoingMessage[]): Promise<string[]> {
    return this.streams.publishWithin(client as PgClientLike, stream, messages);
  }

  // ---- messages -------------------------------------------------------------------------------

  publish(stream: string, messages: readonly OutgoingMessage[], options?: SignalOptions): Promise<string[]> {
    return this.streams.publish(stream, messages, options);
  }

  redeliver(stream: string, group: string, messages: readonly RedeliverMessage[], options?: SignalOptions): Promise<string[]> {
    return this.streams.redeliver(stream, group, messages, options);
  }

  ensureGroup(stream: string, group: string, options?: EnsureGroupOptions): Promise<void> {
    return this.streams.ensureGroup(stream, group, options);
  }

  receive(stream: string, options: ReceiveOptions): Promise<Delivery[]> {
    return this.streams.receive(stream, options);
  }

  ack(stream: string, group: string, deliveryIds: readonly string[], options?: SignalOptions): Promise<void> {
    return this.streams.ack(stream, group, deliveryIds, options);
  }

  nack(stream: string, group: string, deliveryId: string, options?: NackOptions): Promise<void> {
    return this.streams.nack(stream, group, deliveryId, options);
  }

  claimStale(stream: string, options: ClaimOptions): Promise<Delivery[]> {
    return this.streams.claimStale(stream, options);
  }

  touch(stream: string, group: string, consumer: string, deliveryIds: readonly string[], options?: SignalOptions): Promise<void> {
    return this.streams.touch(stream, group, consumer, deliveryIds, options);
  }

  // ---- dead letters ---------------------------------------------------------------------------

  deadLetter(
    stream: string,
    group: string,
    delivery: Pick<Delivery, 'deliveryId' | 'body' | 'priority'>,
    input: DeadLetterInput,
    options?: SignalOptions,
  ): Promise<string | undefined> {
    return this.streams.deadLetter(stream, group, delivery, input, options);
  }

  listDeadLetters(dlq: string, options?: ListDeadLettersOptions): Promise<DeadLetter[]> {
    return this.streams.listDeadLetters(dlq, options);
  }

  getDeadLetter(dlq: string, id: string, options?: SignalOptions): Promise<DeadLetter | undefined> {
    return this.streams.getDeadLetter(dlq, id, options);
  }

  deleteDeadLetters(dlq: string, ids: readonly string[], options?: SignalOptions): Promise<number> {
    return this.streams.deleteDeadLetters(dlq, ids, options);
  }

  countDeadLetters(dlq: string, options?: SignalOptions): Promise<number> {
    return this.streams.countDeadLetters(dlq, options);
  }

  purgeDeadLetters(dlq: string, options?: SignalOptions): Promise<number> {
    return this.streams.purgeDeadLetters(dlq, options);
  }

  // ---- admin ----------------------------------------------------------------------------------

  info(stream: string, options?: SignalOptions): Promise<StreamInfo> {
    return this.streams.info(stream, options);
  }

  purge(stream: string, options?: SignalOptions): Promise<number> {
    return this.streams.purge(stream, options);
  }

  // ---- key-value ------------------------------------------------------------------------------

  kvGet(key: string, options?: SignalOptions): Promise<string | null> {
    return this.kv.kvGet(key, options);
  }

  kvSet(key: string, value: string, options?: KvSetOptions): Promise<boolean> {
    return this.kv.kvSet(key, value, options);
  }

  kvSetMany(entries: ReadonlyArray<KvEntry>, options?: KvSetManyOptions): Promise<void> {
    return this.kv.kvSetMany(entries, options);
  }

  kvDelete(key: string, options?: KvDeleteOptions): Promise<boolean> {
    return this.kv.kvDelete(key, options);
  }

  kvIncr(key: string, options?: KvIncrOptions): Promise<number> {
    return this.kv.kvIncr(key, options);
  }

  kvScan(prefix: string, options?: SignalOptions): Promise<KvEntry[]> {
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
    return this.c.life.close(async () => {
      // Writes accepted before close still go out before the pool ends.
      await runAll([() => this.streams.stop(), () => this.writes.drain(), () => this.c.shutdown(), () => this.detach()]);
    });
  }

  /** `await using transport = postgresTransport()` closes it. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Creates the PostgreSQL {@link Transport}: message streams with consumer groups, priorities,
 * delays, claims, dead letters, key-value and signals on PostgreSQL alone (pg, the optional peer
 * the store uses too), so `createEventSystem({ transport: postgresTransport(...), store:
 * postgresStore(...) })` runs every capability on one database. It passes the same conformance
 * suites as the memory and Redis transports.
 *
 * Contract notes for this adapter (see docs/postgres-transport.md):
 * - One row per (message, group) holds that group's state of the message; receivers take rows
 *   with `FOR UPDATE SKIP LOCKED` in one short statement (no transaction is held while handlers
 *   run); an ack deletes the row. A blocked `receive` waits in the process and is woken by
 *   `NOTIFY` (with a fallback poll every `pollIntervalMs`).
 * - Tables are created or upgraded on first use (and by `migrate()` / `procur-bus migrate`),
 *   under the event store's migration lock and version table.
 * - Messages every group is done with are deleted in bounded batches by a maintenance timer
 *   (`trimIntervalMs`), which also sweeps expired keys.
 * - Acks, plain key writes, publishes and notifications issued in one turn of the event loop
 *   share one statement and one commit (in the order issued; a notification never overtakes a
 *   write issued before it).
 * - Every call is bounded by `operationTimeoutMs`; a server that is down becomes a
 *   `TransportError` naming what to check (never the password), and the same transport works
 *   again when it is back. The listening connection reconnects by itself.
 * - Delivery ids are fresh after a `nack`, kept by a claim. Delays are limited to about 24.8
 *   days.
 *
 * @example
 * ```ts
 * import { createEventSystem } from '@procur/event-bus';
 * import { postgresStore, postgresTransport } from '@procur/event-bus/postgres';
 *
 * const url = process.env.DATABASE_URL;
 * const bus = await createEventSystem({
 *   transport: postgresTransport({ connectionString: url }),
 *   store: postgresStore({ connectionString: url }),
 * });
 * ```
 *
 * @throws `ConfigError` when no `pool`, `connectionString`, `PROCUR_EVENT_DATABASE_URL` or
 *   `DATABASE_URL` is given, `schema` / `tablePrefix` is not a plain identifier, or a count
 *   option is out of range.
 * @throws `MissingPeerError` (on first use) when pg is not installed.
 */
export function postgresTransport(options: PostgresTransportOptions = {}): PostgresTransport {
  return new PgTransport(options);
}
