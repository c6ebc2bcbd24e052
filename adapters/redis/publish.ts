/**
 * Publishing on the Redis transport (one role): batches to the shared rank streams or the
 * delayed set, and redeliveries to one group's retry streams.
 *
 * @module
 */

import { type OutgoingMessage, type SignalOptions } from '@procur/event-bus';
import { clampRank } from '@procur/event-bus/adapter-kit';
import type { RedisCommands } from './commands.js';
import type { GroupRegistry } from './groups.js';
import { PUBLISH, PUBLISH_NOW, REDELIVER, type LuaScript } from './scripts.js';
import { isNoGroup, newUid } from './shared.js';

/** Messages per publish script call (all calls of one batch are pipelined). */
const PUBLISH_CHUNK = 1000;
/** Cached key lists of the publish path; cleared when it grows past this. */
const MAX_CACHED_KEY_LISTS = 1000;

/** `publish` and `redeliver` of the Redis transport. */
export class RedisPublisher {
  private readonly keyLists = new Map<string, readonly string[]>();

  constructor(
    private readonly ctx: RedisCommands,
    private readonly groups: GroupRegistry,
  ) {}

  /** The cached KEYS of the publish script for a stream. */
  private publishKeys(stream: string): readonly string[] {
    const id = `p\u0000${stream}`;
    let k = this.keyLists.get(id);
    if (!k) {
      k = [...this.ctx.keys.mains(stream), this.ctx.keys.delayed(stream), this.ctx.keys.wake(stream)];
      if (this.keyLists.size >= MAX_CACHED_KEY_LISTS) this.keyLists.clear();
      this.keyLists.set(id, k);
    }
    return k;
  }

  async publish(stream: string, messages: readonly OutgoingMessage[], options?: SignalOptions): Promise<string[]> {
    this.ctx.life.assertOpen();
    if (messages.length === 0) return [];
    this.ctx.used.add(stream);
    const keys = this.publishKeys(stream);
    const chunks: Array<{ script: LuaScript; args: (string | number)[] }> = [];
    for (let i = 0; i < messages.length; i += PUBLISH_CHUNK) {
      const end = Math.min(messages.length, i + PUBLISH_CHUNK);
      let anyDelay = false;
      for (let j = i; j < end && !anyDelay; j++) anyDelay = (messages[j]!.delayMs ?? 0) > 0;
      const args: (string | number)[] = [this.ctx.maxLen];
      for (let j = i; j < end; j++) {
        const m = messages[j]!;
        if (!anyDelay) {
          args.push(clampRank(m.priority), m.body);
          continue;
        }
        const delay = m.delayMs !== undefined && m.delayMs > 0 ? Math.ceil(m.delayMs) : 0;
        args.push(clampRank(m.priority), delay, m.body, delay > 0 ? newUid() : '');
      }
      chunks.push({ script: anyDelay ? PUBLISH : PUBLISH_NOW, args });
    }
    const results = await this.ctx.command(
      'publish',
      // One write of all chunks: ioredis sends them back to back on one connection (one round trip).
      (c) => Promise.all(chunks.map(({ script, args }) => this.ctx.eval(c, script, keys, args))),
      {
        signal: options?.signal,
        timeoutMs: this.ctx.publishTimeoutMs,
        total: true,
        repair: { keys, types: ['stream', 'stream', 'stream', 'stream', 'zset', 'stream'], group: '', sources: 0 },
      },
    );
    return (results as string[][]).flat();
  }

  async redeliver(
    stream: string,
    group: string,
    messages: readonly (OutgoingMessage & { attempt?: number })[],
    options?: SignalOptions,
  ): Promise<string[]> {
    this.ctx.life.assertOpen();
    const keys = [...this.ctx.keys.sources(stream, group), this.ctx.keys.retryDue(stream, group), this.ctx.keys.wake(stream)];
    const args: (string | number)[] = [group];
    for (const m of messages) {
      const delay = m.delayMs !== undefined && m.delayMs > 0 ? Math.ceil(m.delayMs) : 0;
      const attempt = m.attempt !== undefined && m.attempt >= 1 ? Math.floor(m.attempt) : 1;
      args.push(clampRank(m.priority), delay, m.body, attempt, delay > 0 ? newUid() : '');
    }
    const run = () => this.ctx.command('redeliver', (c) => this.ctx.eval(c, REDELIVER, keys, args), { signal: options?.signal, repair: this.ctx.retryTypes(keys, group) });
    try {
      return (await run()) as string[];
    } catch (err) {
      if (!isNoGroup(err)) throw err;
      if (!(await this.groups.recoverGroup(stream, group))) throw this.groups.noGroup(stream, group);
      return (await run()) as string[];
    }
  }
}
