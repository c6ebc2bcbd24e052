/**
 * The Lua scripts of the Redis transport. Each lives in its own file under `lua/`, named by its
 * purpose and the number of keys it takes (`receive-11.lua`; `-n` when the caller decides), with
 * `lua/prelude.lua` (shared functions) put in front of it. Each runs atomically on the server;
 * every key it touches is passed in `KEYS` and shares the `{keyPrefix}` hash tag, so they also
 * run on Redis Cluster. Time comes from the server (`TIME`), so clocks of client machines never
 * matter for delays. No script walks an unbounded range: `purge` runs `purge-stream-1.lua` in
 * bounded batches.
 *
 * Scheduled entries (delayed publishes, delayed redeliveries) are sorted-set members
 * `<uid>|<rank>|<publishedAt>|<attempt>|<body>`, scored by their due time in ms.
 *
 * @module
 */

import { createHash } from 'node:crypto';
import { luaSource } from './lua/index.js';

/** A Lua script and its SHA1, for `EVALSHA` with an `EVAL` fallback on `NOSCRIPT`. */
export interface LuaScript {
  /** The script's purpose, for error messages. */
  readonly name: string;
  /** The file under `lua/` it comes from. */
  readonly file: string;
  /** The Lua source (prelude and script). */
  readonly source: string;
  /** SHA1 of `source`. */
  readonly sha: string;
}

const PRELUDE = luaSource('prelude.lua');

function script(name: string, file: string): LuaScript {
  const source = `${PRELUDE}\n${luaSource(file)}`;
  return { name, file, source, sha: createHash('sha1').update(source).digest('hex') };
}

/** Appends a batch, with delays (`lua/publish-6.lua`). */
export const PUBLISH = script('publish', 'publish-6.lua');
/** Appends a batch without delays, the tightest loop (`lua/publish-now-6.lua`). */
export const PUBLISH_NOW = script('publish', 'publish-now-6.lua');
/** Creates a group on its eight streams (`lua/ensure-group-9.lua`). */
export const ENSURE_GROUP = script('ensureGroup', 'ensure-group-9.lua');
/** Promotes due entries and reads, highest rank first (`lua/receive-11.lua`). */
export const READ = script('receive', 'receive-11.lua');
/** The check that goes with the fast path of `receive` (`lua/receive-guard-11.lua`). */
export const READ_GUARD = script('receive', 'receive-guard-11.lua');
/** Hands a pending delivery back to its group (`lua/nack-10.lua`). */
export const NACK = script('nack', 'nack-10.lua');
/** Takes over idle pending deliveries (`lua/claim-stale-8.lua`). */
export const CLAIM = script('claimStale', 'claim-stale-8.lua');
/** Resets the idle time of deliveries the consumer owns (`lua/touch-8.lua`). */
export const TOUCH = script('touch', 'touch-8.lua');
/** Moves a delivery to a DLQ stream (`lua/dead-letter-9.lua`). */
export const DEAD_LETTER = script('deadLetter', 'dead-letter-9.lua');
/** Delivers messages to one group only (`lua/redeliver-10.lua`). */
export const REDELIVER = script('redeliver', 'redeliver-10.lua');
/** Trims the rank streams to what some group still needs (`lua/trim-4.lua`). */
export const TRIM = script('trim', 'trim-4.lua');
/** One bounded batch of `purge` on one stream (`lua/purge-stream-1.lua`). */
export const PURGE_STREAM = script('purge', 'purge-stream-1.lua');
/** Empties a delayed or retry set for `purge` (`lua/purge-zset-1.lua`). */
export const PURGE_ZSET = script('purge', 'purge-zset-1.lua');
/** Drops keys of the wrong type after a WRONGTYPE error (`lua/repair-n.lua`). */
export const REPAIR = script('repair', 'repair-n.lua');
/** Deletes a DLQ stream (`lua/purge-dead-letters-1.lua`). */
export const PURGE_DLQ = script('purgeDeadLetters', 'purge-dead-letters-1.lua');
/** Compare-and-set of a key-value entry (`lua/kv-set-1.lua`). */
export const KV_SET = script('kvSet', 'kv-set-1.lua');
/** Deletes a key only when it holds a value (`lua/kv-delete-if-1.lua`). */
export const KV_DELETE_IF = script('kvDelete', 'kv-delete-if-1.lua');
/** Atomic counter with a TTL on creation (`lua/kv-incr-1.lua`). */
export const KV_INCR = script('kvIncr', 'kv-incr-1.lua');
