/**
 * The memory adapter's {@link DeadLetters} role: dead letter queues beside the streams (moving a
 * pending delivery is one synchronous step on the shared stream state).
 *
 * @module
 */

import type { DeadLetter, DeadLetterInput, DeadLetters, Delivery, ListDeadLettersOptions, SignalOptions, TransportPart } from '../../src/contracts/transport.js';
import { TRANSPORT_DEFAULTS, countOption } from '../../src/contracts/transport-defaults.js';
import { clampRank } from '../../src/events/envelope.js';
import { Handout, bodyOf, type StreamCore } from './memory-stream-state.js';

/** The verbs of {@link DeadLetters}, and `clear` for close. */
export type DeadLetterVerbs = Omit<DeadLetters, keyof TransportPart> & { clear(): void };

function copyDeadLetter(e: DeadLetter): DeadLetter {
  return { ...e, context: { ...e.context } };
}

/** The dead-letter verbs of one memory transport. */
export function memoryDeadLetters(core: StreamCore, enter: (options: SignalOptions | undefined) => void): DeadLetterVerbs {
  const { clock, streams } = core;
  const dlqs = new Map<string, Map<string, DeadLetter>>();
  let dlqSeq = 0;
  const verbs: DeadLetterVerbs = {
    async deadLetter(
      stream: string,
      group: string,
      delivery: Pick<Delivery, 'deliveryId' | 'body' | 'priority'>,
      input: DeadLetterInput,
      options?: SignalOptions,
    ): Promise<string | undefined> {
      enter(options);
      const g = streams.get(stream)?.groups.get(group);
      const p = g?.pending.get(delivery.deliveryId);
      let body: string;
      let priority: number;
      if (g && p) {
        g.pending.delete(delivery.deliveryId);
        const msg = Handout.message(p);
        body = bodyOf(msg);
        priority = msg.priority;
      } else if (typeof delivery.body === 'string') {
        body = delivery.body;
        priority = clampRank(delivery.priority);
      } else {
        return undefined;
      }
      const entry: DeadLetter = {
        id: String(++dlqSeq),
        stream,
        group,
        body,
        priority,
        error: input.error,
        attempts: input.attempts,
        failedAt: clock.now(),
        context: { ...input.context },
      };
      if (input.stack !== undefined) entry.stack = input.stack;
      let q = dlqs.get(input.dlq);
      if (!q) {
        q = new Map();
        dlqs.set(input.dlq, q);
      }
      q.set(entry.id, entry);
      return entry.id;
    },

    async listDeadLetters(dlq: string, options?: ListDeadLettersOptions): Promise<DeadLetter[]> {
      enter(options);
      const q = dlqs.get(dlq);
      const limit = countOption(options?.limit, TRANSPORT_DEFAULTS.deadLetterLimit);
      if (!q || limit === 0) return [];
      // Ids are increasing integers and the map keeps insertion order, so the cursor is numeric.
      const after = options?.after === undefined ? -Infinity : Number(options.after);
      if (Number.isNaN(after)) return [];
      const out: DeadLetter[] = [];
      for (const e of q.values()) {
        if (Number(e.id) <= after) continue;
        out.push(copyDeadLetter(e));
        if (out.length >= limit) break;
      }
      return out;
    },

    async getDeadLetter(dlq, id, options) {
      enter(options);
      const e = dlqs.get(dlq)?.get(id);
      return e ? copyDeadLetter(e) : undefined;
    },

    async deleteDeadLetters(dlq, ids, options) {
      enter(options);
      const q = dlqs.get(dlq);
      if (!q) return 0;
      let n = 0;
      for (const id of ids) if (q.delete(id)) n++;
      return n;
    },

    async countDeadLetters(dlq, options) {
      enter(options);
      return dlqs.get(dlq)?.size ?? 0;
    },

    async purgeDeadLetters(dlq, options) {
      enter(options);
      const n = dlqs.get(dlq)?.size ?? 0;
      dlqs.delete(dlq);
      return n;
    },


    clear() {
      dlqs.clear();
    },
  };
  return verbs;
}
