/**
 * The memory adapter's {@link MessageStreams} role: publish, consumer groups, receive, ack, nack,
 * redeliver, claim and touch, over the shared stream state (`memory-stream-state.ts`).
 *
 * @module
 */

import type {
  ClaimOptions,
  Delivery,
  MessageStreams,
  NackOptions,
  OutgoingMessage,
  ReceiveOptions,
  SignalOptions,
  TransportPart,
} from '../../src/contracts/transport.js';
import { TRANSPORT_DEFAULTS, countOption } from '../../src/contracts/transport-defaults.js';
import { PRIORITY_LEVELS } from '../../src/events/envelope.js';
import type { Lifecycle } from '../../src/lifecycle.js';
import { PendingList } from './memory-pending.js';
import { Fifo, Handout, MAX_TIMER_MS, handOut, readyCount, type GroupState, type ReadyEntry, type StreamCore, type Waiter } from './memory-stream-state.js';

/**
 * Ready messages of one group at which `publish` resolves only after a turn of the event loop
 * (backpressure for a publisher that never yields). The messages are visible at once either way.
 */
export const PUBLISH_BACKPRESSURE = 4096;

/** The verbs of {@link MessageStreams} (the adapter adds name, features and close). */
export type StreamVerbs = Omit<MessageStreams, keyof TransportPart>;

/** The message-streams verbs of one memory transport. */
export function memoryStreams(core: StreamCore, life: Lifecycle, enter: (options: SignalOptions | undefined) => void): StreamVerbs {
  const { clock, streams, streamOf, requireGroup, nextMessageId, newMessage, appendVisible, take, finish, drain, schedule, promoteDue } = core;
  const verbs: StreamVerbs = {
    async publish(stream: string, messages: readonly OutgoingMessage[], options?: SignalOptions): Promise<string[]> {
      enter(options);
      promoteDue();
      const s = streamOf(stream);
      const now = clock.now();
      const ids = new Array<string>(messages.length);
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i]!;
        const msg = newMessage(m, now);
        ids[i] = nextMessageId();
        const delay = m.delayMs;
        if (delay !== undefined && delay > 0) {
          s.delayed++;
          schedule({ due: now + delay, stream: s, group: undefined, msg, attempt: 1 });
        } else {
          appendVisible(s, msg);
        }
      }
      // Wake receivers after the whole batch is in, so they are served by priority.
      let behind = false;
      for (const g of s.groupList) {
        drain(g);
        if (!behind && readyCount(g) >= PUBLISH_BACKPRESSURE) behind = true;
      }
      // A publisher that never leaves the microtask queue (a loop of awaited publishes) would
      // otherwise starve every consumer that yields to the event loop, and the backlog would
      // grow without bound: when a group is this far behind, publish resolves a turn later.
      if (behind) await new Promise<void>((resolve) => setImmediate(resolve));
      return ids;
    },

    async ensureGroup(stream, group, options) {
      enter(options);
      const s = streamOf(stream);
      if (s.groups.has(group)) return;
      // Messages already due belong to the stream's past: a group starting at the end must not get them.
      promoteDue();
      const g: GroupState = {
        name: group,
        stream: s,
        ready: Array.from({ length: PRIORITY_LEVELS }, () => new Fifo<ReadyEntry>()),
        pending: new PendingList(),
        consumers: new Set(),
        retrying: 0,
        waiters: [],
      };
      if (options?.startAt !== 'end') {
        for (const msg of s.log) g.ready[msg.priority]!.push(msg);
      }
      s.groups.set(group, g);
      s.groupList.push(g);
    },

    async receive(stream: string, options: ReceiveOptions): Promise<Delivery[]> {
      life.assertOpen();
      const { signal } = options;
      // An aborted receive takes nothing: a message handed to a caller that left would sit pending.
      if (signal?.aborted) return [];
      const g = requireGroup(stream, options.group);
      if (options.ack) for (const id of options.ack) g.pending.delete(id);
      promoteDue();
      g.consumers.add(options.consumer);
      const max = countOption(options.max, TRANSPORT_DEFAULTS.receiveMax);
      if (max === 0) return [];
      const got = take(g, options.consumer, max, clock.now());
      const blockMs = options.blockMs ?? 0;
      if (got.length > 0 || !(blockMs > 0)) return got;
      return new Promise<Delivery[]>((resolve) => {
        const w: Waiter = { consumer: options.consumer, max, resolve, timer: undefined, signal, onAbort: undefined, done: false };
        const leave = () => {
          const i = g.waiters.indexOf(w);
          if (i >= 0) g.waiters.splice(i, 1);
          finish(w, []);
        };
        if (Number.isFinite(blockMs)) w.timer = setTimeout(leave, Math.min(blockMs, MAX_TIMER_MS));
        if (signal) {
          w.onAbort = leave;
          signal.addEventListener('abort', leave, { once: true });
        }
        g.waiters.push(w);
      });
    },

    async ack(stream, group, deliveryIds, options) {
      enter(options);
      const g = streams.get(stream)?.groups.get(group);
      if (!g) return;
      for (const id of deliveryIds) g.pending.delete(id);
    },

    async nack(stream: string, group: string, deliveryId: string, options?: NackOptions): Promise<void> {
      enter(options);
      const g = streams.get(stream)?.groups.get(group);
      const p = g?.pending.get(deliveryId);
      if (!g || !p) return;
      // Synchronous from here: the delivery leaves pending and is queued in one step.
      g.pending.delete(deliveryId);
      const msg = Handout.message(p);
      const attempt = Handout.attemptOf(p) + (options?.countAttempt === false ? 0 : 1);
      const delay = options?.delayMs;
      if (delay !== undefined && delay > 0) {
        g.retrying++;
        schedule({ due: clock.now() + delay, stream: g.stream, group: g, msg, attempt });
      } else {
        g.ready[msg.priority]!.push({ msg, attempt });
        drain(g);
      }
    },

    async claimStale(stream: string, options: ClaimOptions): Promise<Delivery[]> {
      enter(options);
      const g = requireGroup(stream, options.group);
      g.consumers.add(options.consumer);
      const max = countOption(options.max, TRANSPORT_DEFAULTS.claimMax);
      const minIdle = Math.max(0, options.minIdleMs || 0);
      const now = clock.now();
      const found: Array<[string, Handout]> = [];
      for (const entry of g.pending.entries()) {
        if (found.length >= max) break;
        if (now - Handout.activeAt(entry[1]) >= minIdle) found.push(entry);
      }
      // The id is the list's, not the delivery's field: a consumer (the partitioned transport) may rewrite that.
      const out: Delivery[] = [];
      for (const [id, p] of found) {
        const claimed = handOut(id, g, Handout.message(p), Handout.attemptOf(p) + 1, options.consumer, now);
        g.pending.replace(id, claimed);
        out.push(claimed);
      }
      return out;
    },

    async touch(stream, group, consumer, deliveryIds, options) {
      enter(options);
      const g = streams.get(stream)?.groups.get(group);
      if (!g) return;
      const now = clock.now();
      for (const id of deliveryIds) {
        const p = g.pending.get(id);
        if (p && Handout.owner(p) === consumer) Handout.touch(p, now);
      }
    },


    async redeliver(stream, group, messages, options) {
      enter(options);
      const g = requireGroup(stream, group);
      const now = clock.now();
      const ids = new Array<string>(messages.length);
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i]!;
        const msg = newMessage(m, now);
        ids[i] = nextMessageId();
        const attempt = m.attempt !== undefined && m.attempt >= 1 ? Math.floor(m.attempt) : 1;
        const delay = m.delayMs;
        if (delay !== undefined && delay > 0) {
          g.retrying++;
          schedule({ due: now + delay, stream: g.stream, group: g, msg, attempt });
        } else {
          g.ready[msg.priority]!.push({ msg, attempt });
        }
      }
      drain(g);
      return ids;
    },

  };
  return verbs;
}
