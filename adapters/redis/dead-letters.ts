/**
 * Dead letters on the Redis transport (one role): moving a delivery to a DLQ stream
 * atomically, and listing, reading, deleting, counting and purging DLQ entries.
 *
 * A DLQ is one stream per source stream, `{p:<stream>}:dlq:<dlq>`, in the slot of the stream the
 * delivery came from (so the move is one script on one node of a cluster), plus the set
 * `{p}:dlq-streams:<dlq>` naming those streams. The DLQ view merges them: an entry's id is
 * `<entry id>@<stream>`, pages are ordered by (entry id, stream). Entries of the layout before
 * per-stream hash tags (`{p}:dlq:<dlq>`, plain entry ids) are still listed, read, deleted,
 * counted and purged.
 *
 * @module
 */

import { type DeadLetter, type DeadLetterInput, type Delivery, type ListDeadLettersOptions, type SignalOptions } from '@procur/event-bus';
import { TRANSPORT_DEFAULTS, clampRank, countOption } from '@procur/event-bus/adapter-kit';
import type { RedisCommands } from './commands.js';
import { decodeDeliveryId, isEntryId } from './keys.js';
import { DEAD_LETTER, PURGE_DLQ } from './scripts.js';
import { fieldMap, type KeyTypes } from './shared.js';

/** One stream holding entries of a DLQ: `stream` is `''` for the key of the old layout. */
interface DlqSource {
  stream: string;
  key: string;
}

/** Splits a DLQ entry id (`<entry id>@<stream>`, or a plain entry id of the old layout). */
function parseDlqId(id: string): { entryId: string; stream: string } | undefined {
  if (typeof id !== 'string') return undefined;
  const at = id.indexOf('@');
  const entryId = at < 0 ? id : id.slice(0, at);
  const stream = at < 0 ? '' : id.slice(at + 1);
  if (!isEntryId(entryId) || (at >= 0 && stream === '')) return undefined;
  return { entryId, stream };
}

/** Orders two stream entry ids (`<ms>-<seq>`) numerically. */
function compareEntryIds(a: string, b: string): number {
  const [am, as] = a.split('-');
  const [bm, bs] = b.split('-');
  if (am!.length !== bm!.length) return am!.length - bm!.length;
  if (am !== bm) return am! < bm! ? -1 : 1;
  if (as!.length !== bs!.length) return as!.length - bs!.length;
  return as === bs ? 0 : as! < bs! ? -1 : 1;
}

/** The dead-letter verbs of the Redis transport. */
export class RedisDeadLetters {
  constructor(private readonly ctx: RedisCommands) {}

  /** A DLQ key of another type is dropped (logged) by the call that meets it, like every key of ours. */
  private dlqTypes(key: string): KeyTypes {
    return { keys: [key], types: ['stream'], group: '', sources: 0 };
  }

  /** The streams holding entries of `dlq`: each stream named in its registry, and the old-layout key. */
  private async sources(dlq: string, signal?: AbortSignal): Promise<DlqSource[]> {
    const members = (await this.ctx.command('listDeadLetters', (c) => c.smembers(this.ctx.keys.dlqStreams(dlq)), { signal })) as string[];
    const out: DlqSource[] = [{ stream: '', key: `${this.ctx.keys.tag}:dlq:${dlq}` }];
    for (const stream of [...members].sort()) out.push({ stream, key: this.ctx.keys.dlq(stream, dlq) });
    return out;
  }

  private sourceOf(dlq: string, stream: string): DlqSource {
    return { stream, key: stream === '' ? `${this.ctx.keys.tag}:dlq:${dlq}` : this.ctx.keys.dlq(stream, dlq) };
  }

  async deadLetter(
    stream: string,
    group: string,
    delivery: Pick<Delivery, 'deliveryId' | 'body' | 'priority'>,
    input: DeadLetterInput,
    options?: SignalOptions,
  ): Promise<string | undefined> {
    this.ctx.life.assertOpen();
    const d = decodeDeliveryId(delivery.deliveryId);
    const hasBody = typeof delivery.body === 'string';
    const args: (string | number)[] = [
      group,
      d ? d.source + 1 : 0,
      d ? d.entryId : '',
      stream,
      hasBody ? 1 : 0,
      hasBody ? delivery.body : '',
      clampRank(delivery.priority),
      String(input.error ?? ''),
      input.stack !== undefined ? 1 : 0,
      input.stack ?? '',
      Number.isFinite(input.attempts) ? input.attempts : 0,
      JSON.stringify(input.context ?? {}),
      String(delivery.deliveryId),
    ];
    const keys = [...this.ctx.keys.sources(stream, group), this.ctx.keys.dlq(stream, input.dlq)];
    // The registry names the stream before (or while) its first entry is written, so the DLQ view
    // never misses an entry; it sits in another slot, hence its own command, sent concurrently.
    const [, id] = await Promise.all([
      this.ctx.command('deadLetter', (c) => c.sadd(this.ctx.keys.dlqStreams(input.dlq), stream), { signal: options?.signal }),
      this.ctx.command('deadLetter', (c) => this.ctx.eval(c, DEAD_LETTER, keys, args), {
        signal: options?.signal,
        repair: { keys, types: Array<string>(9).fill('stream'), group, sources: 8 },
      }),
    ]);
    return typeof id === 'string' ? `${id}@${stream}` : undefined;
  }

  private toDeadLetter(id: string, fields: unknown): DeadLetter {
    const f = fieldMap(fields);
    let context: Record<string, string> = {};
    try {
      const parsed: unknown = JSON.parse(f.context ?? '{}');
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        context = Object.fromEntries(Object.entries(parsed as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
      }
    } catch {
      // an entry written by hand: keep an empty context
    }
    const entry: DeadLetter = {
      id,
      stream: f.stream ?? '',
      group: f.group ?? '',
      body: f.body ?? '',
      priority: clampRank(Number(f.priority)),
      error: f.error ?? '',
      attempts: Number(f.attempts) || 0,
      failedAt: Number(f.failedAt) || Number(id.split('-')[0]),
      context,
    };
    if (f.stack !== undefined) entry.stack = f.stack;
    return entry;
  }

  private idOf(source: DlqSource, entryId: string): string {
    return source.stream === '' ? entryId : `${entryId}@${source.stream}`;
  }

  async listDeadLetters(dlq: string, options?: ListDeadLettersOptions): Promise<DeadLetter[]> {
    this.ctx.life.assertOpen();
    const limit = countOption(options?.limit, TRANSPORT_DEFAULTS.deadLetterLimit);
    const after = options?.after === undefined ? undefined : parseDlqId(options.after);
    if (limit === 0 || (options?.after !== undefined && after === undefined)) {
      if (options?.signal?.aborted) throw options.signal.reason;
      return [];
    }
    const signal = options?.signal;
    const sources = await this.sources(dlq, signal);
    // Each source read from the cursor on (inclusive where its name sorts after the cursor's
    // stream, so equal entry ids of two streams are both seen), then merged by (entry id, stream).
    const pages = await Promise.all(
      sources.map(async (source) => {
        const start = after === undefined ? '-' : source.stream > after.stream ? after.entryId : `(${after.entryId}`;
        const rows = (await this.ctx.command('listDeadLetters', (c) => c.call('XRANGE', [source.key, start, '+', 'COUNT', limit]), {
          signal,
          repair: this.dlqTypes(source.key),
        })) as [string, unknown][];
        return rows.map(([entryId, fields]) => ({ entryId, stream: source.stream, entry: this.toDeadLetter(this.idOf(source, entryId), fields) }));
      }),
    );
    const all = pages.flat();
    all.sort((a, b) => compareEntryIds(a.entryId, b.entryId) || (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0));
    return all.slice(0, limit).map((r) => r.entry);
  }

  async getDeadLetter(dlq: string, id: string, options?: SignalOptions): Promise<DeadLetter | undefined> {
    this.ctx.life.assertOpen();
    const parsed = parseDlqId(id);
    if (!parsed) {
      if (options?.signal?.aborted) throw options.signal.reason;
      return undefined;
    }
    const source = this.sourceOf(dlq, parsed.stream);
    const rows = (await this.ctx.command('getDeadLetter', (c) => c.call('XRANGE', [source.key, parsed.entryId, parsed.entryId]), {
      signal: options?.signal,
      repair: this.dlqTypes(source.key),
    })) as [string, unknown][];
    const row = rows[0];
    return row ? this.toDeadLetter(this.idOf(source, row[0]), row[1]) : undefined;
  }

  async deleteDeadLetters(dlq: string, ids: readonly string[], options?: SignalOptions): Promise<number> {
    this.ctx.life.assertOpen();
    const byStream = new Map<string, Set<string>>();
    for (const id of ids) {
      const parsed = parseDlqId(id);
      if (!parsed) continue;
      let set = byStream.get(parsed.stream);
      if (!set) byStream.set(parsed.stream, (set = new Set()));
      set.add(parsed.entryId);
    }
    if (byStream.size === 0) {
      if (options?.signal?.aborted) throw options.signal.reason;
      return 0;
    }
    const counts = await Promise.all(
      [...byStream].map(async ([stream, entryIds]) => {
        const source = this.sourceOf(dlq, stream);
        return Number(await this.ctx.command('deleteDeadLetters', (c) => c.call('XDEL', [source.key, ...entryIds]), { signal: options?.signal, repair: this.dlqTypes(source.key) }));
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  async countDeadLetters(dlq: string, options?: SignalOptions): Promise<number> {
    this.ctx.life.assertOpen();
    const sources = await this.sources(dlq, options?.signal);
    const counts = await Promise.all(
      sources.map(async (s) => Number(await this.ctx.command('countDeadLetters', (c) => c.call('XLEN', [s.key]), { signal: options?.signal, repair: this.dlqTypes(s.key) }))),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  async purgeDeadLetters(dlq: string, options?: SignalOptions): Promise<number> {
    this.ctx.life.assertOpen();
    const sources = await this.sources(dlq, options?.signal);
    const counts = await Promise.all(
      sources.map(async (s) => Number(await this.ctx.command('purgeDeadLetters', (c) => this.ctx.eval(c, PURGE_DLQ, [s.key], []), { signal: options?.signal, repair: this.dlqTypes(s.key) }))),
    );
    return counts.reduce((a, b) => a + b, 0);
  }
}
