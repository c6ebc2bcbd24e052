/**
 * The memory adapter's {@link TransportAdmin} role: the state of a stream for the monitor, and
 * purging its backlog, over the shared stream state.
 *
 * @module
 */

import type { SignalOptions, StreamInfo, TransportAdmin, TransportPart } from '../../src/contracts/transport.js';
import { PRIORITY_LEVELS } from '../../src/events/envelope.js';
import { Fifo, Handout, entryMessage, readyCount, type Message, type Scheduled, type StreamCore } from './memory-stream-state.js';

/** The verbs of {@link TransportAdmin}. */
export type AdminVerbs = Omit<TransportAdmin, keyof TransportPart>;

/** The admin verbs of one memory transport. */
export function memoryAdmin(core: StreamCore, enter: (options: SignalOptions | undefined) => void): AdminVerbs {
  const { clock, streams, heap, heapPush, arm, promoteDue } = core;
  const verbs: AdminVerbs = {
    async info(stream: string, options?: SignalOptions): Promise<StreamInfo> {
      enter(options);
      promoteDue();
      const s = streams.get(stream);
      if (!s) return { stream, length: 0, lengthByPriority: new Array<number>(PRIORITY_LEVELS).fill(0), delayed: 0, groups: [] };
      const now = clock.now();
      return {
        stream,
        length: s.log.length,
        lengthByPriority: [...s.lengthByPriority],
        delayed: s.delayed,
        groups: [...s.groups.values()].map((g) => {
          // Claims keep their place in the list, so the oldest delivery is looked for.
          let oldest = Infinity;
          for (const p of g.pending.values()) oldest = Math.min(oldest, Handout.deliveredAt(p));
          return {
            name: g.name,
            pending: g.pending.size,
            lag: readyCount(g),
            lagByPriority: g.ready.map((q) => q.length),
            retrying: g.retrying,
            consumers: g.consumers.size,
            oldestPendingMs: oldest === Infinity ? 0 : Math.max(0, now - oldest),
          };
        }),
      };
    },

    async purge(stream, options) {
      enter(options);
      promoteDue();
      const s = streams.get(stream);
      if (!s) return 0;
      const removed = new Set<Message>();
      for (const g of s.groups.values()) {
        for (const q of g.ready) {
          for (const r of q) removed.add(entryMessage(r));
          q.clear();
        }
      }
      // Delayed publishes and scheduled redeliveries of this stream.
      const kept: Scheduled[] = [];
      for (const item of heap) {
        if (item.stream !== s) {
          kept.push(item);
          continue;
        }
        removed.add(item.msg);
        if (item.group) item.group.retrying--;
        else s.delayed--;
      }
      if (kept.length !== heap.length) {
        heap.length = 0;
        for (const item of kept) heapPush(item);
        arm();
      }
      // The log keeps what some group has been handed (pending, or processed by another group).
      const log = new Fifo<Message>();
      s.lengthByPriority.fill(0);
      for (const msg of s.log) {
        if (msg.handed) {
          log.push(msg);
          s.lengthByPriority[msg.priority]!++;
        } else {
          removed.add(msg);
        }
      }
      s.log = log;
      return removed.size;
    },

  };
  return verbs;
}
