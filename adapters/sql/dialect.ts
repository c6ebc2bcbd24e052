/**
 * The few things SQLite and Postgres do differently, gathered in one strategy object so the
 * store itself ({@link createSqlStore}) is written once.
 *
 * @module
 */

import type { Kysely } from 'kysely';
import type { StoreFeatures } from '@procur/event-bus';
import type { SqlColumnTypes, StoreTables } from './schema.js';

/**
 * The dialect strategy of {@link createSqlStore}. Each SQL adapter (`sqliteStore`,
 * `postgresStore`) provides one.
 */
export interface SqlDialectStrategy {
  /** Adapter name, used as the store's `name` and in error messages (`[event-bus:<name>]`). */
  readonly name: string;
  /** What the store can do. */
  readonly features: StoreFeatures;
  /** The most bind parameters one statement may carry (SQLite 32766, Postgres 65535). */
  readonly maxParameters: number;
  /** Column types of the schema. */
  readonly types: SqlColumnTypes;
  /** Encodes a JSON text for a JSON column (both dialects take JSON text). */
  encodeJson(json: string): string;
  /** Decodes a JSON column value as the driver returns it. */
  decodeJson(value: unknown): unknown;
  /**
   * Encodes a string for a text column, reversibly (Postgres: text cannot hold NUL, so NUL and
   * the escape character are escaped). Equal strings encode equally, so equality queries on
   * encoded values work. @default identity
   */
  encodeText?(value: string): string;
  /** Reverses {@link SqlDialectStrategy.encodeText}. @default identity */
  decodeText?(value: string): string;
  /**
   * The array type of each `events` column (Postgres: `text`, `jsonb`, `timestamptz`,
   * `integer`). When given, `append` sends one array per column
   * (`insert ... select * from unnest($1::text[], ...)`): 14 parameters whatever the batch size,
   * which the server parses and plans in a fraction of the time a multi-row `VALUES` list of
   * 14 parameters per row takes. Without it, appends use the multi-row `VALUES` insert.
   */
  readonly eventColumnArrayTypes?: Readonly<Record<string, string>>;
  /** Decodes a time column value as the driver returns it into ISO 8601 UTC. */
  decodeTime(value: unknown): string;
  /**
   * Runs `fn` in a write transaction that cannot deadlock with other writers of the same
   * database (SQLite: `BEGIN IMMEDIATE` under a per-database mutex; Postgres: a transaction).
   */
  writeTransaction<T>(db: Kysely<StoreTables>, fn: (trx: Kysely<StoreTables>) => Promise<T>): Promise<T>;
  /** Runs one writing statement (SQLite: under the per-database mutex; Postgres: as is). */
  write<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Called first inside the migration transaction: takes the cross-process migration lock
   * (Postgres: `pg_advisory_xact_lock`; SQLite: already held by `BEGIN IMMEDIATE`) and creates
   * what the tables live in (Postgres: the schema).
   */
  beginMigration(trx: Kysely<StoreTables>): Promise<void>;
  /** p50 and p95 (linear interpolation, as `percentile_cont`) of `processed` durations of events that occurred at or after `since`. */
  percentiles(db: Kysely<StoreTables>, since: string): Promise<{ p50: number; p95: number }>;
  /**
   * Whether `append(events, { transaction })` also takes a driver client with a
   * `query(text, values)` method (a pg `Client` or pooled client inside `BEGIN`), besides a kysely
   * instance. @default false
   */
  readonly acceptsClientTransactions?: boolean;
  /** A hint appended to connection errors (e.g. which variable to check). Never a secret. */
  connectionHint?: string;
}
