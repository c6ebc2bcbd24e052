/**
 * The memory adapter's {@link KeyValue} role: keys with TTL, compare-and-set and counters, in the
 * memory of one process. Expired keys are dropped when read and swept every so many writes.
 *
 * @module
 */

import type { KeyValue, KvSetOptions, SignalOptions, TransportPart } from '../../src/contracts/transport.js';
import type { Clock } from '../../src/clock.js';
import { TransportError } from '../../src/errors.js';

/** Expired keys are swept every this many writes (reads also drop the expired keys they meet). */
const KV_SWEEP_EVERY = 1024;

interface KvEntry {
  readonly value: string;
  /** `Infinity` when the key does not expire. */
  readonly expiresAt: number;
}

/** The verbs of {@link KeyValue}, and `clear` for close. */
export type KeyValueVerbs = Omit<KeyValue, keyof TransportPart> & { clear(): void };

/** The key-value verbs of one memory transport. */
export function memoryKeyValue(clock: Clock, enter: (options: SignalOptions | undefined) => void): KeyValueVerbs {
  const kv = new Map<string, KvEntry>();
  let kvWrites = 0;

  function kvLive(key: string, now: number): KvEntry | undefined {
    const e = kv.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= now) {
      kv.delete(key);
      return undefined;
    }
    return e;
  }

  function sweepKv(now: number): void {
    for (const [key, e] of kv) if (e.expiresAt <= now) kv.delete(key);
  }


  const verbs: KeyValueVerbs = {
    async kvGet(key, options) {
      enter(options);
      return kvLive(key, clock.now())?.value ?? null;
    },

    async kvSet(key: string, value: string, options?: KvSetOptions): Promise<boolean> {
      enter(options);
      const now = clock.now();
      if (++kvWrites % KV_SWEEP_EVERY === 0) sweepKv(now);
      const current = kvLive(key, now);
      if (options?.ifAbsent && current !== undefined) return false;
      if (options?.ifEquals !== undefined && current?.value !== options.ifEquals) return false;
      const ttl = options?.ttlMs;
      kv.set(key, { value, expiresAt: ttl === undefined ? Infinity : now + ttl });
      return true;
    },

    async kvSetMany(entries, options) {
      enter(options);
      const now = clock.now();
      const ttl = options?.ttlMs;
      for (const { key, value } of entries) kv.set(key, { value, expiresAt: ttl === undefined ? Infinity : now + ttl });
      if ((kvWrites += entries.length) % KV_SWEEP_EVERY < entries.length) sweepKv(now);
    },

    async kvDelete(key, options) {
      enter(options);
      const current = kvLive(key, clock.now());
      if (current === undefined) return false;
      if (options?.ifEquals !== undefined && current.value !== options.ifEquals) return false;
      kv.delete(key);
      return true;
    },

    async kvIncr(key, options) {
      enter(options);
      const now = clock.now();
      const by = options?.by ?? 1;
      if (!Number.isInteger(by)) throw new TransportError(`[event-bus:memory] kvIncr '${key}': 'by' must be a whole number`);
      const current = kvLive(key, now);
      if (current === undefined) {
        const ttl = options?.ttlMs;
        kv.set(key, { value: String(by), expiresAt: ttl === undefined ? Infinity : now + ttl });
        return by;
      }
      const n = Number(current.value);
      if (!Number.isInteger(n)) throw new TransportError(`[event-bus:memory] kvIncr '${key}': the key does not hold an integer`);
      kv.set(key, { value: String(n + by), expiresAt: current.expiresAt });
      return n + by;
    },

    async kvScan(prefix, options) {
      enter(options);
      const now = clock.now();
      const out: Array<{ key: string; value: string }> = [];
      for (const [key, e] of kv) {
        if (e.expiresAt <= now) kv.delete(key);
        else if (key.startsWith(prefix)) out.push({ key, value: e.value });
      }
      return out;
    },


    clear() {
      kv.clear();
    },
  };
  return verbs;
}
