/**
 * The in-process {@link Transport}: streams, consumer groups, delays, priorities, a dead letter
 * queue, key-value and notifications, all in the memory of one process. For tests, demos and
 * single-process deployments; nothing survives a restart and nothing is shared between processes.
 *
 * One file per role: `memory-streams.ts`, `memory-dead-letters.ts`, `memory-key-value.ts`,
 * `memory-signals.ts`, `memory-admin.ts`, over the stream state of `memory-stream-state.ts`.
 *
 * @module
 */

import type { Transport, TransportFeatures } from '../../src/contracts/transport.js';
import { systemClock, type Clock } from '../../src/clock.js';
import { ConfigError } from '../../src/errors.js';
import { IN_PROCESS_VALUES, type InProcessMark } from '../../src/events/in-process.js';
import { Lifecycle } from '../../src/lifecycle.js';
import { memoryAdmin } from './memory-admin.js';
import { memoryDeadLetters } from './memory-dead-letters.js';
import { memoryKeyValue } from './memory-key-value.js';
import { memorySignals } from './memory-signals.js';
import { createStreamCore, enterWith } from './memory-stream-state.js';
import { memoryStreams } from './memory-streams.js';

/** How many messages a memory stream keeps for new groups to read (they start at the beginning). */
export const DEFAULT_MEMORY_MAX_LEN = 10_000;

/** Options of {@link memoryTransport}. */
export interface MemoryTransportOptions {
  /**
   * The source of time for delays, idle times, `publishedAt` and key expiry. Timers still run on
   * real time; a fake clock is read again whenever the transport is called, so advancing it and
   * then calling `receive` or `info` makes due messages visible. @default systemClock
   */
  clock?: Clock;
  /**
   * How many of the latest messages each stream keeps (Redis `MAXLEN`): what a new group (unless
   * `startAt: 'end'`) reads, and what `info().length` counts. It does not bound a group's
   * backlog: messages a group has not read yet are kept until it reads them or they are purged.
   * A non-negative integer or `Infinity`. @default DEFAULT_MEMORY_MAX_LEN (10,000)
   */
  maxLen?: number;
}


const FEATURES: TransportFeatures = Object.freeze({
  persistent: false,
  distributed: false,
  streams: true,
  deadLetters: true,
  keyValue: true,
  signals: true,
  admin: true,
});

/**
 * Creates an in-process {@link Transport}. It implements the whole contract (consumer groups,
 * pending lists, delays, priorities, dead letters, key-value with TTL, notifications) in memory,
 * so the core runs without infrastructure; it passes the same conformance suite as the Redis
 * adapter (`describeTransport` from `@procur/event-bus/testing`).
 *
 * Contract notes for this adapter:
 * - Not persistent, not distributed (`features`): each call of `memoryTransport()` is its own
 *   world, and everything is lost on `close()` or exit.
 * - Delivery is in priority order (rank 3 first), FIFO within a rank. A blocked `receive` is woken
 *   the moment a message becomes ready for its group (publish, `nack`, a delay ending).
 * - `receive`, `claimStale` and `redeliver` reject with a `TransportError` when the group does not
 *   exist; `ack`, `nack`, `touch` ignore unknown groups like unknown ids.
 * - Priorities outside `0`-`3` are clamped; a missing or `NaN` priority is `1`.
 * - Delivery ids are the group's sequence numbers: fresh for each delivery (a stale id from an
 *   earlier delivery of the same message is ignored), kept when a delivery is claimed (as Redis
 *   does), and unique within a group only (as the contract says; Redis ids are too).
 * - `touch` only refreshes deliveries owned by the given consumer.
 * - One timer, re-armed to the earliest due delay, is unref'd; a blocked `receive` holds a ref'd
 *   timer of at most `blockMs` (it is an operation the caller awaits). `close()` clears them all.
 *
 * @example
 * ```ts
 * import { memoryTransport } from '@procur/event-bus';
 *
 * const transport = memoryTransport();
 * await transport.ensureGroup('orders', 'billing');
 * await transport.publish('orders', [{ body: '{"id":1}', priority: 2 }]);
 * const [delivery] = await transport.receive('orders', { group: 'billing', consumer: 'w1', blockMs: 1000 });
 * if (delivery) await transport.ack('orders', 'billing', [delivery.deliveryId]);
 * await transport.close();
 * ```
 *
 * @throws `ConfigError` (code `ERR_CONFIG`) when `maxLen` is not a non-negative integer or `Infinity`.
 */
export function memoryTransport(options: MemoryTransportOptions = {}): Transport {
  const clock = options.clock ?? systemClock;
  const maxLen = options.maxLen ?? DEFAULT_MEMORY_MAX_LEN;
  if (!(maxLen === Infinity || (Number.isInteger(maxLen) && maxLen >= 0))) {
    throw new ConfigError('maxLen', `[event-bus:memory] expected a non-negative integer or Infinity, got ${String(maxLen)}.`);
  }

  const life = new Lifecycle('memory transport');
  const enter = enterWith(life);
  const core = createStreamCore(clock, maxLen, life);
  const deadLetters = memoryDeadLetters(core, enter);
  const keyValue = memoryKeyValue(clock, enter);
  const signals = memorySignals(enter);
  const { clear: clearDeadLetters, ...deadLetterVerbs } = deadLetters;
  const { clear: clearKeyValue, ...keyValueVerbs } = keyValue;
  const { clear: clearSignals, ...signalVerbs } = signals;
  const transport: Transport & InProcessMark = {
    name: 'memory',
    features: FEATURES,
    // Published events travel as JSON snapshots, not text (src/events/in-process.ts).
    [IN_PROCESS_VALUES]: true,
    ...memoryStreams(core, life, enter),
    ...deadLetterVerbs,
    ...memoryAdmin(core, enter),
    ...keyValueVerbs,
    ...signalVerbs,
    close(): Promise<void> {
      return life.close(async () => {
        core.close();
        clearSignals();
        clearDeadLetters();
        clearKeyValue();
      });
    },
  };
  return transport;
}
