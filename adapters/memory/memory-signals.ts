/**
 * The memory adapter's {@link Signals} role: notifications to the listeners of a channel in
 * this process, delivered asynchronously like a network pub/sub.
 *
 * @module
 */

import type { SignalOptions, Signals, TransportPart, Unsubscribe } from '../../src/contracts/transport.js';

interface Subscription {
  readonly handler: (message: string) => void;
  active: boolean;
}

/** The verbs of {@link Signals}, and `clear` for close. */
export type SignalVerbs = Omit<Signals, keyof TransportPart> & { clear(): void };

/** The signal verbs of one memory transport. */
export function memorySignals(enter: (options: SignalOptions | undefined) => void): SignalVerbs {
  const channels = new Map<string, Set<Subscription>>();
  const verbs: SignalVerbs = {
    async notify(channel, message, options) {
      enter(options);
      const subs = channels.get(channel);
      if (!subs) return;
      for (const sub of subs) {
        // Asynchronous like a network pub/sub: the publisher never runs listener code inline.
        queueMicrotask(() => {
          if (!sub.active) return;
          try {
            const result = (sub.handler as (m: string) => unknown)(message);
            if (result instanceof Promise) result.catch(() => {});
          } catch {
            // A throwing listener keeps its subscription (contract); its error is its own business.
          }
        });
      }
    },

    async listen(channel: string, handler: (message: string) => void, options?: SignalOptions): Promise<Unsubscribe> {
      enter(options);
      const sub: Subscription = { handler, active: true };
      let subs = channels.get(channel);
      if (!subs) {
        subs = new Set();
        channels.set(channel, subs);
      }
      subs.add(sub);
      return async () => {
        sub.active = false;
        const set = channels.get(channel);
        if (set?.delete(sub) && set.size === 0) channels.delete(channel);
      };
    },


    clear() {
      for (const subs of channels.values()) for (const sub of subs) sub.active = false;
      channels.clear();
    },
  };
  return verbs;
}
