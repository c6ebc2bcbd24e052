/**
 * Signals on the Redis transport (one role): `notify` / `listen` over Redis pub/sub, on one
 * subscriber connection shared by every listener.
 *
 * @module
 */

import { TransportError, type SignalOptions, type Unsubscribe } from '@procur/event-bus';
import type { RedisCommands } from './commands.js';
import { bounded, whenReady, type RedisClient } from './connection.js';

interface Listener {
  readonly handler: (message: string) => void;
  active: boolean;
}

/** `notify` and `listen` of the Redis transport. */
export class RedisSignals {
  private readonly listeners = new Map<string, Set<Listener>>();
  private subscriber: Promise<RedisClient> | undefined;
  private subscriberClient: RedisClient | undefined;

  constructor(private readonly ctx: RedisCommands) {}

  /** Deactivates every listener and returns the subscriber connection, if any (at close). */
  shutdown(): RedisClient | undefined {
    for (const set of this.listeners.values()) for (const l of set) l.active = false;
    this.listeners.clear();
    return this.subscriberClient;
  }

  async notify(channel: string, message: string, options?: SignalOptions): Promise<void> {
    this.ctx.life.assertOpen();
    await this.ctx.command('notify', (c) => c.publish(this.ctx.keys.channel(channel), message), { signal: options?.signal });
  }

  private subscriberConnection(): Promise<RedisClient> {
    if (!this.subscriber) {
      const c = this.ctx.duplicate({ enableOfflineQueue: false });
      this.subscriberClient = c;
      c.on('message', (channel: string, message: string) => {
        const set = this.listeners.get(channel);
        if (!set) return;
        for (const l of [...set]) {
          if (!l.active) continue;
          try {
            const r = (l.handler as (m: string) => unknown)(message);
            if (r instanceof Promise) r.catch(() => {});
          } catch {
            // A throwing listener keeps its subscription (contract).
          }
        }
      });
      this.subscriber = Promise.resolve(c);
    }
    return this.subscriber;
  }

  async listen(channel: string, handler: (message: string) => void, options?: SignalOptions): Promise<Unsubscribe> {
    this.ctx.life.assertOpen();
    const signal = options?.signal;
    if (signal?.aborted) throw signal.reason;
    const name = this.ctx.keys.channel(channel);
    const sub = await this.subscriberConnection();
    const listener: Listener = { handler, active: true };
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener);
    const remove = async () => {
      if (!listener.active) return;
      listener.active = false;
      const current = this.listeners.get(name);
      if (!current?.delete(listener) || current.size > 0) return;
      this.listeners.delete(name);
      if (!this.ctx.life.closed && sub.status === 'ready') await sub.unsubscribe(name).catch(() => {});
    };
    try {
      const deadline = Date.now() + this.ctx.operationTimeoutMs;
      await whenReady(sub, deadline, this.ctx.unreachable(sub), this.ctx.life.signal, signal);
      await bounded(sub.subscribe(name), deadline, () => new TransportError(`[event-bus:redis] Redis at ${this.ctx.where} did not confirm the subscription to '${channel}' within ${this.ctx.operationTimeoutMs} ms.`), signal);
    } catch (err) {
      await remove();
      if (signal?.aborted && err === signal.reason) throw err;
      throw this.ctx.wrap('listen', err);
    }
    return remove;
  }
}
