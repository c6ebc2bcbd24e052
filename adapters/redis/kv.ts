/**
 * Key-value on the Redis transport (one role): `<p>:kv:<key>` strings with TTL,
 * set-if-absent, compare-and-set, counters and prefix scans. The keys carry no hash tag, so on a
 * cluster they spread over the masters; every command and script touches one key, and the
 * multi-key verbs (`kvSetMany`, `kvScan`) send one pipeline per node.
 *
 * @module
 */

import { TransportError, type KvSetOptions, type SignalOptions } from '@procur/event-bus';
import type { Redis } from 'ioredis';
import type { RedisCommands } from './commands.js';
import { isCluster } from './connection.js';
import { byNode } from './slots.js';
import { KV_DELETE_IF, KV_INCR, KV_SET } from './scripts.js';
import { globEscape, isWrongType } from './shared.js';

/** How many keys `kvScan` fetches per command. */
const SCAN_COUNT = 500;

/** The key-value verbs of the Redis transport. */
export class RedisKeyValue {
  constructor(private readonly ctx: RedisCommands) {}

  async kvGet(key: string, options?: SignalOptions): Promise<string | null> {
    this.ctx.life.assertOpen();
    const k = this.ctx.keys.kv(key);
    const v = await this.ctx.command(
      'kvGet',
      (c) =>
        c.get(k).catch((err: unknown) => {
          if (!isWrongType(err)) throw err;
          // Another type under a key-value name holds no value: read as absent (kvSet overwrites it).
          this.ctx.logger.error(`[event-bus:redis] kvGet: the key '${k}' holds no value (another type was written there); read as absent.`, { key: k });
          return null;
        }),
      { signal: options?.signal },
    );
    return v ?? null;
  }

  async kvSet(key: string, value: string, options?: KvSetOptions): Promise<boolean> {
    this.ctx.life.assertOpen();
    const k = this.ctx.keys.kv(key);
    const ttl = options?.ttlMs !== undefined ? Math.max(1, Math.ceil(options.ttlMs)) : undefined;
    const signal = options?.signal;
    if (options?.ifEquals !== undefined) {
      const args = [value, ttl ?? '', options.ifAbsent ? 1 : 0, 1, options.ifEquals];
      const wrote = Number(await this.ctx.command('kvSet', (c) => this.ctx.eval(c, KV_SET, [k], args), { signal }));
      if (wrote === 2) this.ctx.logger.error(`[event-bus:redis] kvSet: overwrote the key '${k}', which held another type (no value).`, { key: k });
      return wrote >= 1;
    }
    const args: (string | number)[] = [k, value];
    if (ttl !== undefined) args.push('PX', ttl);
    if (options?.ifAbsent) args.push('NX');
    const res = await this.ctx.command('kvSet', (c) => c.call('SET', args), { signal });
    if (res === 'OK') return true;
    if (!options?.ifAbsent) return false;
    // SET NX also refuses a key of another type, which holds no value: a lock that could never be
    // taken again. Only then does the compare-and-set script write over it (and say so).
    const type = await this.ctx.command('kvSet', (c) => c.type(k), { signal });
    if (type === 'none' || type === 'string') return false;
    const wrote = Number(await this.ctx.command('kvSet', (c) => this.ctx.eval(c, KV_SET, [k], [value, ttl ?? '', 1, 0, '']), { signal }));
    if (wrote === 2) this.ctx.logger.error(`[event-bus:redis] kvSet: overwrote the key '${k}', which held another type (no value).`, { key: k });
    return wrote >= 1;
  }

  async kvSetMany(entries: ReadonlyArray<{ key: string; value: string }>, options?: SignalOptions & { ttlMs?: number }): Promise<void> {
    this.ctx.life.assertOpen();
    if (entries.length === 0) return;
    const ttl = options?.ttlMs !== undefined ? Math.max(1, Math.ceil(options.ttlMs)) : undefined;
    const results = await this.ctx.command(
      'kvSetMany',
      async (c) => {
        // One pipeline per node (one on a single Redis): one socket write and one round trip each.
        const groups = byNode(c, entries, (e) => this.ctx.keys.kv(e.key));
        const replies = await Promise.all(
          groups.map(async (group) => {
            const p = c.pipeline();
            for (const { key, value } of group) {
              if (ttl !== undefined) p.set(this.ctx.keys.kv(key), value, 'PX', ttl);
              else p.set(this.ctx.keys.kv(key), value);
            }
            return (await p.exec()) ?? [];
          }),
        );
        return replies.flat();
      },
      { signal: options?.signal },
    );
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
  }

  async kvDelete(key: string, options?: SignalOptions & { ifEquals?: string }): Promise<boolean> {
    this.ctx.life.assertOpen();
    const k = this.ctx.keys.kv(key);
    const signal = options?.signal;
    if (options?.ifEquals !== undefined) {
      const expected = options.ifEquals;
      return Number(await this.ctx.command('kvDelete', (c) => this.ctx.eval(c, KV_DELETE_IF, [k], [expected]), { signal })) === 1;
    }
    return Number(await this.ctx.command('kvDelete', (c) => c.del(k), { signal })) > 0;
  }

  async kvIncr(key: string, options?: SignalOptions & { by?: number; ttlMs?: number }): Promise<number> {
    this.ctx.life.assertOpen();
    const by = options?.by ?? 1;
    if (!Number.isSafeInteger(by)) throw new TransportError(`[event-bus:redis] kvIncr '${key}': 'by' must be a whole number, got ${String(by)}.`);
    const ttl = options?.ttlMs !== undefined ? Math.max(1, Math.ceil(options.ttlMs)) : '';
    const k = this.ctx.keys.kv(key);
    const [value, dropped] = (await this.ctx.command('kvIncr', (c) => this.ctx.eval(c, KV_INCR, [k], [by, ttl]), { signal: options?.signal })) as [number, number];
    if (Number(dropped) === 1) this.ctx.logger.error(`[event-bus:redis] kvIncr: the key '${k}' held no counter (not an integer, or another type); counted from 0.`, { key: k });
    return Number(value);
  }

  async kvScan(prefix: string, options?: SignalOptions): Promise<Array<{ key: string; value: string }>> {
    this.ctx.life.assertOpen();
    const base = this.ctx.keys.kv('');
    const pattern = `${globEscape(this.ctx.keys.kv(prefix))}*`;
    return this.ctx.command(
      'kvScan',
      async (c) => {
        // On a cluster the keys spread over every master: scan each, and read what it holds from
        // it (MGET on one node would be cross-slot, so a pipeline of GETs there).
        const nodes: Redis[] = isCluster(c) ? c.nodes('master') : [c];
        const out: Array<{ key: string; value: string }> = [];
        const seen = new Set<string>();
        for (const node of nodes) {
          const found: string[] = [];
          let cursor = '0';
          do {
            const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
            cursor = next;
            for (const k of keys) if (!seen.has(k)) (seen.add(k), found.push(k));
          } while (cursor !== '0');
          for (let i = 0; i < found.length; i += SCAN_COUNT) {
            const slice = found.slice(i, i + SCAN_COUNT);
            let values: (string | null)[];
            if (node === c) values = await c.mget(...slice);
            else {
              const p = node.pipeline();
              for (const k of slice) p.get(k);
              values = ((await p.exec()) ?? []).map(([err, v]) => (err ? null : (v as string | null)));
            }
            slice.forEach((k, j) => {
              const v = values[j];
              if (v !== null && v !== undefined) out.push({ key: k.slice(base.length), value: v });
            });
          }
        }
        return out;
      },
      { signal: options?.signal },
    );
  }
}
