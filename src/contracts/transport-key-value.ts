/**
 * The key-value role of the transport: a small store with TTL and set-if-absent (task results
 * and status, revocations, worker heartbeats, the scheduler's leader lock, rate limits). Checked
 * by `describeKeyValue` (from `./testing`).
 *
 * @module
 */

import type { SignalOptions, TransportPart } from './transport.js';

/** Options of {@link KeyValue.kvSet}. */
export interface KvSetOptions extends SignalOptions {
  /** Expire after this many ms. @default no expiry */
  ttlMs?: number;
  /** Only set when the key does not exist (a lock). */
  ifAbsent?: boolean;
  /** Only set when the key currently holds exactly this value (renew a lock you hold). */
  ifEquals?: string;
}

/** One key and its value. */
export interface KvEntry {
  /** The key. */
  key: string;
  /** Its value. */
  value: string;
}

/** Options of {@link KeyValue.kvSetMany}. */
export interface KvSetManyOptions extends SignalOptions {
  /** Every key expires after this many ms. @default no expiry */
  ttlMs?: number;
}

/** Options of {@link KeyValue.kvDelete}. */
export interface KvDeleteOptions extends SignalOptions {
  /** Only delete when the key holds exactly this value (release a lock you hold). */
  ifEquals?: string;
}

/** Options of {@link KeyValue.kvIncr}. */
export interface KvIncrOptions extends SignalOptions {
  /** What to add (may be negative). @default 1 */
  by?: number;
  /** The expiry given to the key when this call creates it. @default no expiry */
  ttlMs?: number;
}

/**
 * Key-value with TTL, compare-and-set and counters, shared by every process of the system.
 * A plain write clears a previous expiry. Declared by `features.keyValue` (default `true`).
 */
export interface KeyValue extends TransportPart {
  /** Reads a key, or `null` when missing or expired. */
  kvGet(key: string, options?: SignalOptions): Promise<string | null>;
  /**
   * Writes a key. With `ifAbsent` or `ifEquals` it is a compare-and-set and returns whether it
   * wrote; otherwise it always writes and returns `true`.
   */
  kvSet(key: string, value: string, options?: KvSetOptions): Promise<boolean>;
  /**
   * Writes several keys unconditionally in one round trip, each expiring after `ttlMs` when
   * given (task results of many tasks at once). Not atomic across keys.
   */
  kvSetMany(entries: ReadonlyArray<KvEntry>, options?: KvSetManyOptions): Promise<void>;
  /** Deletes a key (only if it holds `ifEquals`, when given). Returns whether it deleted. */
  kvDelete(key: string, options?: KvDeleteOptions): Promise<boolean>;
  /**
   * Adds `by` (default 1, may be negative) to an integer counter and returns the new value,
   * atomically across processes. A missing or expired key starts at 0; `ttlMs` sets the expiry
   * when the key is created (an existing key keeps its expiry). Rate limits, fencing tokens.
   */
  kvIncr(key: string, options?: KvIncrOptions): Promise<number>;
  /** Every live key starting with `prefix`, with its value. Meant for small sets (worker registry). */
  kvScan(prefix: string, options?: SignalOptions): Promise<KvEntry[]>;
}
