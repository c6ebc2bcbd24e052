/**
 * Dead letters on the Redis transport (one role): moving a delivery to a DLQ stream
 * atomically, and listing, reading, deleting, counting and purging DLQ entries.
 *
 * @module
 */

import { type DeadLetter, type DeadLetterInput, type Delivery, type ListDeadLettersOptions, type SignalOptions } from '@procur/event-bus';
import { TRANSPORT_DEFAULTS, clampRank, countOption } from '@procur/event-bus/adapter-kit';
import type { RedisCommands } from './commands.js';
import { decodeDeliveryId, isEntryId } from './keys.js';
import { DEAD_LETTER, PURGE_DLQ } from './scripts.js';
import { fieldMap, type KeyTypes } from './shared.js';

/** The dead-letter verbs of the Redis transport. */
export class RedisDeadLetters {
  constructor(private readonly ctx: RedisCommands) {}

  /** A DLQ key of another type is dropped (logged) by the call that meets it, like every key of ours. */
  private dlqTypes(dlq: string): KeyTypes {
    return { keys: [this.ctx.keys.dlq(dlq)], types: ['stream'], group: '', sources: 0 };
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
    const keys = [...this.ctx.keys.sources(stream, group), this.ctx.keys.dlq(input.dlq)];
    const id = await this.ctx.command('deadLetter', (c) => this.ctx.eval(c, DEAD_LETTER, keys, args), {
      signal: options?.signal,
      repair: { keys, types: Array<string>(9).fill('stream'), group, sources: 8 },
    });
    return typeof id === 'string' ? id : undefined;
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

  async listDeadLetters(dlq: string, options?: ListDeadLettersOptions): Promise<DeadLetter[]> {
    this.ctx.life.assertOpen();
    const limit = countOption(options?.limit, TRANSPORT_DEFAULTS.deadLetterLimit);
    const after = options?.after;
    if (limit === 0 || (after !== undefined && !isEntryId(after))) {
      if (options?.signal?.aborted) throw options.signal.reason;
      return [];
    }
    const rows = (await this.ctx.command('listDeadLetters', (c) => c.call('XRANGE', [this.ctx.keys.dlq(dlq), after === undefined ? '-' : `(${after}`, '+', 'COUNT', limit]), {
      signal: options?.signal,
      repair: this.dlqTypes(dlq),
    })) as [string, unknown][];
    return rows.map(([id, fields]) => this.toDeadLetter(id, fields));
  }

  async getDeadLetter(dlq: string, id: string, options?: SignalOptions): Promise<DeadLetter | undefined> {
    this.ctx.life.assertOpen();
    if (!isEntryId(id)) {
      if (options?.signal?.aborted) throw options.signal.reason;
      return undefined;
    }
    const rows = (await this.ctx.command('getDeadLetter', (c) => c.call('XRANGE', [this.ctx.keys.dlq(dlq), id, id]), { signal: options?.signal, repair: this.dlqTypes(dlq) })) as [string, unknown][];
    const row = rows[0];
    return row ? this.toDeadLetter(row[0], row[1]) : undefined;
  }

  async deleteDeadLetters(dlq: string, ids: readonly string[], options?: SignalOptions): Promise<number> {
    this.ctx.life.assertOpen();
    const valid = [...new Set(ids.filter(isEntryId))];
    if (valid.length === 0) {
      if (options?.signal?.aborted) throw options.signal.reason;
      return 0;
    }
    return Number(await this.ctx.command('deleteDeadLetters', (c) => c.call('XDEL', [this.ctx.keys.dlq(dlq), ...valid]), { signal: options?.signal, repair: this.dlqTypes(dlq) }));
  }

  async countDeadLetters(dlq: string, options?: SignalOptions): Promise<number> {
    this.ctx.life.assertOpen();
    return Number(await this.ctx.command('countDeadLetters', (c) => c.call('XLEN', [this.ctx.keys.dlq(dlq)]), { signal: options?.signal, repair: this.dlqTypes(dlq) }));
  }

  async purgeDeadLetters(dlq: string, options?: SignalOptions): Promise<number> {
    this.ctx.life.assertOpen();
    return Number(await this.ctx.command('purgeDeadLetters', (c) => this.ctx.eval(c, PURGE_DLQ, [this.ctx.keys.dlq(dlq)], []), { signal: options?.signal, repair: this.dlqTypes(dlq) }));
  }
}
