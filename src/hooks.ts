import mitt, { type Emitter } from 'mitt';
import type { EventEnvelope } from './events/envelope.js';

/** Payloads of the local lifecycle hooks, keyed by hook name (see `bus.on`). */
export interface BusHooks {
  /** An event was accepted: stored (when event sourcing is on) and handed to the transport. */
  published: { event: EventEnvelope; deferred: boolean };
  /** A handler finished an event successfully. */
  handled: { event: EventEnvelope; group: string; consumer: string; attempt: number; durationMs: number };
  /** A handler failed. `retryInMs` is set when the event will be delivered again. */
  failed: {
    event: EventEnvelope;
    group: string;
    consumer: string;
    attempt: number;
    error: Error;
    durationMs: number;
    retryInMs: number | undefined;
  };
  /** An event (or an undecodable message) was moved to the dead letter queue. */
  'dead-lettered': {
    event: EventEnvelope | undefined;
    body: string;
    group: string;
    error: Error;
    attempts: number;
    dlqId: string | undefined;
  };
  // Index signature required by mitt's Record<EventType, unknown> constraint.
  [hook: string | symbol]: unknown;
}

/** The name of a lifecycle hook. */
export type BusHookName = 'published' | 'handled' | 'failed' | 'dead-lettered';

/** The emitter behind `bus.on`. */
export type HookEmitter = Emitter<BusHooks>;

/** Creates the emitter behind `bus.on`. */
export function createHookEmitter(): HookEmitter {
  return mitt<BusHooks>();
}

/** True when a hook has listeners (skip building its payload on hot paths otherwise). */
export function hasListeners(hooks: HookEmitter, hook: BusHookName): boolean {
  const list = hooks.all.get(hook) as unknown[] | undefined;
  return list !== undefined && list.length > 0;
}
