/**
 * The Redis key layout of the transport. Every key of one stream (its rank streams, retry
 * streams, delayed and retry sets, wake key and dead letters) starts with that stream's hash tag
 * `{<keyPrefix>:<stream>}`, so one stream (one task queue, one event-stream partition) lives in
 * one Redis Cluster slot and every multi-key Lua script touches one slot, while different streams
 * spread over the masters. Key-value entries carry no tag (each hashes by its own name); the DLQ
 * registry and the pub/sub channels sit under `{<keyPrefix>}`. See `docs/redis.md` for the layout.
 *
 * @module
 */

import { ConfigError } from '@procur/event-bus';

/** The default `keyPrefix`: keys look like `{procur:procur:events}:stream:1`. */
export const DEFAULT_KEY_PREFIX = 'procur';

/** Priority ranks the transport keeps apart (`0` low ... `3` critical). */
export const RANKS = 4;

/**
 * Index of a delivery source among the eight stream keys of a (stream, group): `0`-`3` are the
 * shared rank streams, `4`-`7` the group's private retry streams of rank `0`-`3`.
 */
export type SourceIndex = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7;

/** A group name as it appears inside a key: `:` and `%` escaped so key names never collide. */
function escapeGroup(group: string): string {
  return group.replace(/%/g, '%25').replace(/:/g, '%3A');
}

/** A stream name inside its hash tag: `%`, `{` and `}` escaped, so the tag ends where the name does. */
function escapeStream(stream: string): string {
  return stream.replace(/%/g, '%25').replace(/\{/g, '%7B').replace(/\}/g, '%7D');
}

/**
 * Builds the key names of one system (one `keyPrefix`).
 *
 * Names are unambiguous: the part after a stream name is a single rank digit or an escaped group
 * name (which holds no `:`), so two different (stream, group, rank) never map to one key.
 */
export class KeyLayout {
  /** The hash tag of the keys that belong to no one stream (DLQ registry, channels), e.g. `{procur}`. */
  readonly tag: string;

  /** Hash tags of recent streams: they are computed on every call of the hot paths. */
  private readonly tags = new Map<string, string>();

  /**
   * @param prefix - the `keyPrefix` option; must be non-empty and hold no `{` or `}`.
   * @throws `ConfigError` for an invalid prefix.
   */
  constructor(readonly prefix: string = DEFAULT_KEY_PREFIX) {
    if (typeof prefix !== 'string' || prefix.length === 0 || /[{}]/.test(prefix)) {
      throw new ConfigError(
        'keyPrefix',
        `[event-bus:redis] expected a non-empty string without '{' or '}' (it starts every Redis Cluster hash tag), got ${JSON.stringify(prefix)}.`,
      );
    }
    this.tag = `{${prefix}}`;
  }

  /**
   * The hash tag of one stream, `{<prefix>:<stream>}`: every key of the stream starts with it, so
   * they share one Redis Cluster slot.
   */
  streamTag(stream: string): string {
    let tag = this.tags.get(stream);
    if (tag === undefined) {
      tag = `{${this.prefix}:${escapeStream(stream)}}`;
      if (this.tags.size >= 4096) this.tags.clear();
      this.tags.set(stream, tag);
    }
    return tag;
  }

  /** The shared stream of one priority rank: `{p:<stream>}:stream:<rank>`. */
  main(stream: string, rank: number): string {
    return `${this.streamTag(stream)}:stream:${rank}`;
  }

  /** The sorted set of delayed publishes (score = due time, ms): `{p:<stream>}:delayed`. */
  delayed(stream: string): string {
    return `${this.streamTag(stream)}:delayed`;
  }

  /** A tiny stream (MAXLEN 1) appended to whenever a delay is scheduled, to wake blocked readers. */
  wake(stream: string): string {
    return `${this.streamTag(stream)}:wake`;
  }

  /** The private retry stream of one group and rank: `{p:<stream>}:retry:<group>:<rank>`. */
  retry(stream: string, group: string, rank: number): string {
    return `${this.streamTag(stream)}:retry:${escapeGroup(group)}:${rank}`;
  }

  /** The sorted set of delayed redeliveries to one group: `{p:<stream>}:retry-due:<group>`. */
  retryDue(stream: string, group: string): string {
    return `${this.streamTag(stream)}:retry-due:${escapeGroup(group)}`;
  }

  /**
   * The dead letters of one DLQ that came from one stream: `{p:<stream>}:dlq:<dlq>` (in the
   * stream's slot, so moving a delivery there is one script on one node).
   */
  dlq(stream: string, name: string): string {
    return `${this.streamTag(stream)}:dlq:${name}`;
  }

  /** The set of streams that have dead letters in one DLQ: `{p}:dlq-streams:<dlq>`. */
  dlqStreams(name: string): string {
    return `${this.tag}:dlq-streams:${name}`;
  }

  /**
   * A key-value entry: `<p>:kv:<key>`, without a hash tag, so entries (task results, locks,
   * heartbeats) spread over the masters; every key-value command and script touches one key.
   */
  kv(key: string): string {
    return `${this.prefix}:kv:${key}`;
  }

  /** The pub/sub channel of `notify`/`listen`: `{p}:ch:<channel>`. */
  channel(name: string): string {
    return `${this.tag}:ch:${name}`;
  }

  /** The four shared rank streams, rank 0 first. */
  mains(stream: string): string[] {
    const tag = this.streamTag(stream);
    return [`${tag}:stream:0`, `${tag}:stream:1`, `${tag}:stream:2`, `${tag}:stream:3`];
  }

  /** The eight keys a (stream, group) reads, in {@link SourceIndex} order. */
  sources(stream: string, group: string): string[] {
    return [...this.mains(stream), ...[0, 1, 2, 3].map((r) => this.retry(stream, group, r))];
  }
}

/** Encodes a delivery id: `<rank>:<entry id>` for a shared stream, `r<rank>:<entry id>` for a retry stream. */
export function encodeDeliveryId(source: number, entryId: string): string {
  return source >= RANKS ? `r${source - RANKS}:${entryId}` : `${source}:${entryId}`;
}

/**
 * Decodes a delivery id (`r?<rank>:<ms>-<seq>`), or `undefined` when it is not one of ours
 * (ignored, like an unknown id). Parsed by hand: it runs once per acked delivery.
 */
export function decodeDeliveryId(deliveryId: string): { source: SourceIndex; entryId: string } | undefined {
  if (typeof deliveryId !== 'string') return undefined;
  const retry = deliveryId.charCodeAt(0) === 114; // 'r'
  const at = retry ? 1 : 0;
  const rank = deliveryId.charCodeAt(at) - 48;
  if (!(rank >= 0 && rank < RANKS) || deliveryId.charCodeAt(at + 1) !== 58) return undefined; // ':'
  const entryId = deliveryId.slice(at + 2);
  if (!isEntryId(entryId)) return undefined;
  return { source: (retry ? rank + RANKS : rank) as SourceIndex, entryId };
}

/** True when `id` looks like a Redis stream entry id (`<ms>-<seq>`, 1 to 20 digits each). */
export function isEntryId(id: string): boolean {
  if (typeof id !== 'string') return false;
  const dash = id.indexOf('-');
  const tail = id.length - dash - 1;
  if (dash < 1 || dash > 20 || tail < 1 || tail > 20) return false;
  for (let i = 0; i < id.length; i++) {
    if (i === dash) continue;
    const c = id.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** The time part (ms) of a stream entry id. */
export function entryIdMs(entryId: string): number {
  const dash = entryId.indexOf('-');
  return Number(dash < 0 ? entryId : entryId.slice(0, dash));
}
