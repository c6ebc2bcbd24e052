/**
 * The key-value role of the PostgreSQL transport: one table of keys with an optional expiry.
 * Compare-and-set and counters are single statements (`INSERT ... ON CONFLICT`, conditional
 * `UPDATE`), so they are atomic across processes; expired rows read as absent and are swept in
 * bounded batches by the maintenance timer.
 *
 * @internal
 * @module
 */

import { TransportError, type KvDeleteOptions, type KvEntry, type KvIncrOptions, type KvSetManyOptions, type KvSetOptions, type SignalOptions } from '@procur/event-bus';
import { throwIfAborted } from '@procur/event-bus/adapter-kit';
import { abortable } from './connection.js';
import type { PgWriteBatch } from './batch.js';
import type { PgConnection } from './connection.js';
import { decodeText, encodeText } from './text.js';

/** The expiry of a write: `clock_timestamp() + $n ms`, or none. */
const EXPIRY = (n: number) => `CASE WHEN $${n}::float8 IS NULL THEN NULL ELSE clock_timestamp() + $${n}::float8 * interval '1 millisecond' END`;
const LIVE = `(expires_at IS NULL OR expires_at > clock_timestamp())`;

/** The key-value verbs of one PostgreSQL transport. */
export class PgKeyValue {
  private readonly q: (name: string) => string;
  /** The last write of each key in flight from this process. */
  private readonly tails = new Map<string, Promise<unknown>>();
  /**
   * What a notification must wait for: writes not sent as a statement of their own and not yet
   * in the write batch (a batched write counts as done for this once it joined the batch: a
   * notification joins the same batch or a later one).
   */
  private readonly gates = new Set<Promise<unknown>>();

  /**
   * Settles once every write this process has sent so far is done, or queued in the write batch
   * ahead of what is queued next: a notification sent after a write must not overtake it (a
   * waiter woken by it reads the key), as on one Redis connection.
   */
  writesSettled(): Promise<void> | undefined {
    if (this.gates.size === 0) return undefined;
    return Promise.allSettled([...this.gates]).then(() => undefined);
  }

  /**
   * Runs a write after this process's earlier writes of the same keys: pool connections would
   * otherwise reorder them (a task's RUNNING state landing after its SUCCESS), where one Redis
   * connection keeps the order in which they were sent. `batched` writes only queue into the
   * write batch (which keeps their order itself) once the earlier writes are done.
   */
  private ordered<T>(keys: readonly string[], fn: () => Promise<T>, batched = false): Promise<T> {
    const before: Promise<unknown>[] = [];
    for (const k of keys) {
      const t = this.tails.get(k);
      if (t) before.push(t);
    }
    let gate: Promise<unknown> | undefined;
    let run: Promise<T>;
    if (before.length === 0) {
      run = fn();
    } else if (batched) {
      let queued!: () => void;
      gate = new Promise<void>((r) => (queued = r));
      run = Promise.allSettled(before).then(() => {
        try {
          return fn();
        } finally {
          queued();
        }
      });
    } else {
      run = Promise.allSettled(before).then(fn);
    }
    const tail = run.catch(() => undefined);
    if (!batched) gate = tail;
    if (gate) {
      const g = gate;
      this.gates.add(g);
      void g.then(() => this.gates.delete(g));
    }
    for (const k of keys) this.tails.set(k, tail);
    void tail.then(() => {
      for (const k of keys) if (this.tails.get(k) === tail) this.tails.delete(k);
    });
    return run;
  }

  constructor(
    private readonly c: PgConnection,
    private readonly batch: number,
    private readonly writes: PgWriteBatch,
  ) {
    this.q = (name) => `procur_${c.names.tag}_kv_${name}`;
  }

  private get table(): string {
    return this.c.names.t('kv');
  }

  private enter(options: SignalOptions | undefined): void {
    this.c.life.assertOpen();
    throwIfAborted(options?.signal);
  }

  async kvGet(key: string, options?: SignalOptions): Promise<string | null> {
    this.enter(options);
    const res = await this.c.query<{ value: string }>(
      'kvGet',
      { name: this.q('get'), text: `SELECT value FROM ${this.table} WHERE key = $1 AND ${LIVE}`, values: [encodeText(key)] },
      options?.signal,
    );
    const row = res.rows[0];
    return row ? decodeText(row.value) : null;
  }

  async kvSet(key: string, value: string, options?: KvSetOptions): Promise<boolean> {
    this.enter(options);
    if (options?.ifEquals === undefined && !options?.ifAbsent) {
      // A plain write joins the write batch of this turn.
      const entry = [encodeText(key), encodeText(value), options?.ttlMs ?? null] as const;
      await abortable(this.ordered([key], () => this.writes.kv('kvSet', [entry]), true), options?.signal);
      return true;
    }
    return this.ordered([key], async () => {
      const ttl = options?.ttlMs ?? null;
      const k = encodeText(key);
      const v = encodeText(value);
      if (options?.ifEquals !== undefined) {
        if (options.ifAbsent) return false;
        const res = await this.c.query(
          'kvSet',
          {
            name: this.q('set_eq'),
            text: `UPDATE ${this.table} SET value = $2, expires_at = ${EXPIRY(3)} WHERE key = $1 AND value = $4 AND ${LIVE}`,
            values: [k, v, ttl, encodeText(options.ifEquals)],
          },
          options.signal,
        );
        return (res.rowCount ?? 0) > 0;
      }
      if (options?.ifAbsent) {
        // A live row wins; an expired one is taken over, as if it were absent.
        const res = await this.c.query(
          'kvSet',
          {
            name: this.q('set_nx'),
            text: `INSERT INTO ${this.table} AS kv (key, value, expires_at) VALUES ($1, $2, ${EXPIRY(3)})
              ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
              WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= clock_timestamp()`,
            values: [k, v, ttl],
          },
          options.signal,
        );
        return (res.rowCount ?? 0) > 0;
      }
      return true;
    });
  }

  async kvSetMany(entries: ReadonlyArray<KvEntry>, options?: KvSetManyOptions): Promise<void> {
    this.enter(options);
    if (entries.length === 0) return;
    // One row per key: the batch keeps the last value of a key.
    const ttl = options?.ttlMs ?? null;
    const rows = entries.map(({ key, value }) => [encodeText(key), encodeText(value), ttl] as const);
    await abortable(this.ordered(entries.map((e) => e.key), () => this.writes.kv('kvSetMany', rows), true), options?.signal);
  }

  async kvDelete(key: string, options?: KvDeleteOptions): Promise<boolean> {
    this.enter(options);
    return this.ordered([key], async () => {
      const res = await this.c.query(
        'kvDelete',
        {
          name: this.q('del'),
          text: `DELETE FROM ${this.table} WHERE key = $1 AND ${LIVE} AND ($2::text IS NULL OR value = $2::text)`,
          values: [encodeText(key), options?.ifEquals === undefined ? null : encodeText(options.ifEquals)],
        },
        options?.signal,
      );
      return (res.rowCount ?? 0) > 0;
    });
  }

  async kvIncr(key: string, options?: KvIncrOptions): Promise<number> {
    this.enter(options);
    return this.ordered([key], async () => {
      const by = options?.by ?? 1;
      if (!Number.isSafeInteger(by)) throw new TransportError(`[event-bus:postgres] kvIncr '${key}': 'by' must be a whole number`);
      try {
        const res = await this.c.run('kvIncr', options?.signal, (pool) =>
          pool.query({
            name: this.q('incr'),
            text: `INSERT INTO ${this.table} AS kv (key, value, expires_at) VALUES ($1, $2::bigint::text, ${EXPIRY(3)})
              ON CONFLICT (key) DO UPDATE SET
                value = CASE WHEN kv.expires_at IS NOT NULL AND kv.expires_at <= clock_timestamp() THEN excluded.value
                  ELSE (kv.value::bigint + $2::bigint)::text END,
                expires_at = CASE WHEN kv.expires_at IS NOT NULL AND kv.expires_at <= clock_timestamp() THEN excluded.expires_at
                  ELSE kv.expires_at END
              RETURNING value`,
            values: [encodeText(key), String(by), options?.ttlMs ?? null],
          }),
        );
        return Number((res.rows[0] as { value: string }).value);
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause;
        if (cause?.code === '22P02' || cause?.code === '22003') {
          throw new TransportError(`[event-bus:postgres] kvIncr '${key}': the key does not hold an integer`, { cause: err });
        }
        throw err;
      }
    });
  }

  async kvScan(prefix: string, options?: SignalOptions): Promise<KvEntry[]> {
    this.enter(options);
    // A range on the "C"-collated key uses the primary key index; starts_with keeps it exact.
    const res = await this.c.query<{ key: string; value: string }>(
      'kvScan',
      {
        name: this.q('scan'),
        text: `SELECT key, value FROM ${this.table}
          WHERE key >= $1 AND key < ($1 || chr(1114111)) AND starts_with(key, $1) AND ${LIVE}`,
        values: [encodeText(prefix)],
      },
      options?.signal,
    );
    return res.rows.map((r) => ({ key: decodeText(r.key), value: decodeText(r.value) }));
  }

  /** Deletes expired keys, in bounded batches (maintenance). */
  async sweep(): Promise<number> {
    let total = 0;
    for (let round = 0; round < 20; round++) {
      const res = await this.c.query('sweep', {
        name: this.q('sweep'),
        text: `DELETE FROM ${this.table} WHERE key = ANY (ARRAY(
          SELECT key FROM ${this.table} WHERE expires_at <= clock_timestamp() LIMIT $1 FOR UPDATE SKIP LOCKED))
          AND expires_at <= clock_timestamp()`,
        values: [this.batch],
      });
      const n = res.rowCount ?? 0;
      total += n;
      if (n < this.batch) break;
    }
    return total;
  }
}
