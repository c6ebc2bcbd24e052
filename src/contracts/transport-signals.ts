/**
 * The signals role of the transport: fire-and-forget notifications on named channels (task
 * results without polling, the live dashboard). Checked by `describeSignals` (from `./testing`).
 *
 * @module
 */

import type { SignalOptions, TransportPart } from './transport.js';

/** A function that stops a `listen` subscription. Idempotent. */
export type Unsubscribe = () => Promise<void>;

/**
 * Notifications to every current listener of a channel, in every process. Nothing is kept: a
 * message sent while nobody listens is lost. Declared by `features.signals` (default `true`).
 */
export interface Signals extends TransportPart {
  /** Sends `message` to every current listener of `channel`, in every process (fire and forget). */
  notify(channel: string, message: string, options?: SignalOptions): Promise<void>;
  /**
   * Calls `handler` for each message sent to `channel` from now on. Resolves once the
   * subscription is active. A handler that throws does not stop the subscription.
   */
  listen(channel: string, handler: (message: string) => void, options?: SignalOptions): Promise<Unsubscribe>;
}
