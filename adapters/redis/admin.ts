/**
 * Monitoring and maintenance on the Redis transport (one role): `info`, `purge` (in bounded
 * batches) and the MINID trimming of used streams, by hand or on a timer.
 *
 * @module
 */

import type { GroupInfo, SignalOptions, StreamInfo } from '@procur/event-bus';
import type { RedisCommands } from './commands.js';
import { RANKS } from './keys.js';
import { PURGE_STREAM, PURGE_ZSET, TRIM } from './scripts.js';

/** Entries one `purge` batch script looks at, at most (one script call never walks more). */
export const PURGE_BATCH = 1000;

/** Most entries one trim script call removes from one stream (`XTRIM ... LIMIT`). */
const TRIM_BATCH = 10_000;
/** Most trim script calls of one `trim()` (TRIM_BATCH x 1,000 entries per stream). */
const TRIM_MAX_ROUNDS = 1_000;

/** `info`, `purge` and `trim` of the Redis transport, and its trimming timer. */
export class RedisAdmin {
  private readonly trimTimer: ReturnType<typeof setInterval> | undefined;
  private trimming = false;

  constructor(
    private readonly ctx: RedisCommands,
    private readonly ungroupedMaxLen: number,
    trimIntervalMs: number,
    private readonly purgeBatch: number = PURGE_BATCH,
  ) {
    if (trimIntervalMs > 0) {
      this.trimTimer = setInterval(() => void this.trimUsed(), trimIntervalMs);
      this.trimTimer.unref();
    }
  }

  /** Stops the trimming timer (at close). */
  stop(): void {
    if (this.trimTimer !== undefined) clearInterval(this.trimTimer);
  }

  /** Group records of XINFO GROUPS on the four rank streams, by group name. */
  private async groupsOf(stream: string, signal?: AbortSignal): Promise<{ lengths: number[]; delayed: number; groups: Map<string, Record<string, unknown>[]> }> {
    const mains = this.ctx.keys.mains(stream);
    const results = await this.ctx.command(
      'info',
      async (c) => {
        const p = c.pipeline();
        for (const k of mains) p.xlen(k);
        p.zcard(this.ctx.keys.delayed(stream));
        for (const k of mains) p.call('XINFO', 'GROUPS', k);
        return (await p.exec()) ?? [];
      },
      { signal },
    );
    const lengths = results.slice(0, RANKS).map(([err, v]) => (err ? 0 : Number(v)));
    const delayedRes = results[RANKS];
    const delayed = delayedRes && !delayedRes[0] ? Number(delayedRes[1]) : 0;
    const groups = new Map<string, Record<string, unknown>[]>();
    for (let r = 0; r < RANKS; r++) {
      const [err, rows] = results[RANKS + 1 + r] ?? [null, []];
      if (err || !Array.isArray(rows)) continue;
      for (const row of rows as unknown[][]) {
        const rec: Record<string, unknown> = {};
        for (let i = 0; i + 1 < row.length; i += 2) rec[String(row[i])] = row[i + 1];
        const name = String(rec.name);
        let list = groups.get(name);
        if (!list) groups.set(name, (list = []));
        list.push(rec);
      }
    }
    return { lengths, delayed, groups };
  }

  async info(stream: string, options?: SignalOptions): Promise<StreamInfo> {
    this.ctx.life.assertOpen();
    const { lengths, delayed, groups } = await this.groupsOf(stream, options?.signal);
    const names = [...groups.keys()].sort();
    const perGroup = 8 * 3 + 1;
    const results = names.length === 0
      ? []
      : await this.ctx.command(
          'info',
          async (c) => {
            const p = c.pipeline();
            for (const g of names) {
              const sources = this.ctx.keys.sources(stream, g);
              for (const k of sources) p.call('XINFO', 'GROUPS', k);
              for (const k of sources) p.call('XPENDING', k, g, '-', '+', 1);
              for (const k of sources) p.call('XINFO', 'CONSUMERS', k, g);
              p.zcard(this.ctx.keys.retryDue(stream, g));
            }
            return (await p.exec()) ?? [];
          },
          { signal: options?.signal },
        );
    const lagFallbacks: Array<{ index: number; rank: number; key: string; after: string }> = [];
    const infos: GroupInfo[] = names.map((g, gi) => {
      const base = gi * perGroup;
      const sources = this.ctx.keys.sources(stream, g);
      let pending = 0;
      let lag = 0;
      const lagByPriority = [0, 0, 0, 0];
      let oldest = 0;
      const consumers = new Set<string>();
      for (let k = 0; k < 8; k++) {
        const [gErr, gRows] = results[base + k] ?? [null, []];
        if (!gErr && Array.isArray(gRows)) {
          for (const row of gRows as unknown[][]) {
            const rec: Record<string, unknown> = {};
            for (let i = 0; i + 1 < row.length; i += 2) rec[String(row[i])] = row[i + 1];
            if (rec.name !== g) continue;
            pending += Number(rec.pending) || 0;
            // Sources 0-3 are the rank streams, 4-7 the group's retry streams of the same ranks.
            if (rec.lag === null || rec.lag === undefined) lagFallbacks.push({ index: gi, rank: k % 4, key: sources[k]!, after: String(rec['last-delivered-id']) });
            else {
              lag += Number(rec.lag) || 0;
              lagByPriority[k % 4]! += Number(rec.lag) || 0;
            }
          }
        }
        const [pErr, pRows] = results[base + 8 + k] ?? [null, []];
        if (!pErr && Array.isArray(pRows) && Array.isArray(pRows[0])) oldest = Math.max(oldest, Number((pRows[0] as unknown[])[2]) || 0);
        const [cErr, cRows] = results[base + 16 + k] ?? [null, []];
        if (!cErr && Array.isArray(cRows)) {
          for (const row of cRows as unknown[][]) if (Array.isArray(row) && row.length > 1) consumers.add(String(row[1]));
        }
      }
      const [zErr, retrying] = results[base + 24] ?? [null, 0];
      return { name: g, pending, lag, lagByPriority, retrying: zErr ? 0 : Number(retrying), consumers: consumers.size, oldestPendingMs: oldest };
    });
    if (lagFallbacks.length > 0) {
      // Redis cannot tell the lag after deletions inside the unread range: count it (bounded).
      const counts = await this.ctx.command(
        'info',
        async (c) => {
          const p = c.pipeline();
          for (const f of lagFallbacks) p.call('XRANGE', f.key, `(${f.after}`, '+', 'COUNT', 10_000);
          return (await p.exec()) ?? [];
        },
        { signal: options?.signal },
      );
      lagFallbacks.forEach((f, i) => {
        const [err, rows] = counts[i] ?? [null, []];
        if (!err && Array.isArray(rows)) {
          infos[f.index]!.lag += rows.length;
          infos[f.index]!.lagByPriority[f.rank]! += rows.length;
        }
      });
    }
    return {
      stream,
      length: lengths.reduce((a, b) => a + b, 0),
      lengthByPriority: lengths,
      delayed,
      groups: infos,
    };
  }

  /**
   * Deletes what no group has been handed yet (see the contract), in bounded steps: the delayed
   * set and each group's retry set are unlinked (O(1) on the main thread), and each stream is
   * walked by `purge-stream-1.lua` at most `purgeBatch` entries per call, so a large backlog never
   * blocks Redis for long. Entries published while it runs are kept. Returns how many messages
   * were removed.
   */
  async purge(stream: string, options?: SignalOptions): Promise<number> {
    this.ctx.life.assertOpen();
    const signal = options?.signal;
    const { groups } = await this.groupsOf(stream, signal);
    const names = [...groups.keys()];
    const sets = [this.ctx.keys.delayed(stream), ...names.map((g) => this.ctx.keys.retryDue(stream, g))];
    const streams = [...this.ctx.keys.mains(stream)];
    for (const g of names) streams.push(...[0, 1, 2, 3].map((r) => this.ctx.keys.retry(stream, g, r)));
    let removed = 0;
    for (const key of sets) {
      removed += Number(
        await this.ctx.command('purge', (c) => this.ctx.eval(c, PURGE_ZSET, [key], []), {
          signal,
          repair: { keys: [key], types: ['zset'], group: '', sources: 0 },
        }),
      );
    }
    for (const key of streams) {
      let cursor = '';
      let end = '';
      do {
        const [n, next, last] = (await this.ctx.command('purge', (c) => this.ctx.eval(c, PURGE_STREAM, [key], [cursor, end, this.purgeBatch]), {
          signal,
          repair: { keys: [key], types: ['stream'], group: '', sources: 0 },
        })) as [number, string, string];
        removed += Number(n);
        cursor = String(next);
        end = String(last);
      } while (cursor !== '');
    }
    return removed;
  }

  async trim(stream: string, options?: SignalOptions): Promise<number> {
    this.ctx.life.assertOpen();
    const args = [String(this.ungroupedMaxLen), String(TRIM_BATCH)];
    // Each call removes at most TRIM_BATCH entries per stream (one short script); repeat while
    // entries go, so trimming keeps up with any publish rate (a bare `XTRIM ~` stops at 10,000).
    let total = 0;
    for (let round = 0; round < TRIM_MAX_ROUNDS; round++) {
      const n = Number(
        await this.ctx.command('trim', (c) => this.ctx.eval(c, TRIM, this.ctx.keys.mains(stream), args), { signal: options?.signal }),
      );
      total += n;
      if (n === 0 || this.ctx.life.closed) break;
    }
    return total;
  }

  private async trimUsed(): Promise<void> {
    if (this.trimming || this.ctx.life.closed || this.ctx.main.status !== 'ready') return;
    this.trimming = true;
    try {
      for (const stream of this.ctx.used) {
        if (this.ctx.life.closed) break;
        await this.trim(stream).catch(() => {});
      }
    } finally {
      this.trimming = false;
    }
  }
}
