/**
 * Consumer groups of the Redis transport: creating a group on the eight streams of a
 * (stream, group), and re-creating one this transport created after Redis lost its data.
 *
 * @module
 */

import { TransportError } from '@procur/event-bus';
import type { RedisCommands } from './commands.js';
import { ENSURE_GROUP } from './scripts.js';

/** The consumer groups this transport created, and how it (re-)creates them. */
export class GroupRegistry {
  /** (stream, group) pairs this transport created, re-created after NOGROUP (a Redis restart without persistence). */
  private readonly created = new Set<string>();

  constructor(private readonly ctx: RedisCommands) {}

  groupKey(stream: string, group: string): string {
    return `${stream}\u0000${group}`;
  }

  noGroup(stream: string, group: string): TransportError {
    return new TransportError(
      `[event-bus:redis] Consumer group '${group}' does not exist on stream '${stream}'. Call ensureGroup('${stream}', '${group}') first.`,
    );
  }

  async createGroup(stream: string, group: string, startAt: 'beginning' | 'end', signal?: AbortSignal): Promise<void> {
    const keys = [...this.ctx.keys.sources(stream, group), this.ctx.keys.delayed(stream)];
    await this.ctx.command('ensureGroup', (c) => this.ctx.eval(c, ENSURE_GROUP, keys, [group, startAt === 'beginning' ? '0' : '$', this.ctx.maxLen]), {
      signal,
      repair: { keys, types: [...Array<string>(8).fill('stream'), 'zset'], group, sources: 8 },
    });
    this.created.add(this.groupKey(stream, group));
  }

  /** After NOGROUP: re-creates a group this transport created before (from the beginning, so nothing published since the restart is skipped). */
  async recoverGroup(stream: string, group: string): Promise<boolean> {
    if (!this.created.has(this.groupKey(stream, group))) return false;
    await this.createGroup(stream, group, 'beginning');
    return true;
  }
}
