/**
 * Small helpers shared by the role files of the Redis transport: reply parsing, error
 * classification, pauses and unique ids.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';
import { isEventBusError } from '@procur/event-bus';

/** The fields of a stream entry (`[k, v, k, v, ...]`) as an object; the first of repeated fields wins. */
export function fieldMap(fields: unknown): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  if (!Array.isArray(fields)) return out;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const k = String(fields[i]);
    if (!(k in out)) out[k] = String(fields[i + 1]);
  }
  return out;
}

/** The message of an error or any thrown value. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Redis answered NOGROUP: the consumer group does not exist (on some key). */
export function isNoGroup(err: unknown): boolean {
  return messageOf(err).includes('NOGROUP');
}

/** A command met a key of this system that holds another type (replaced by another program or a bug). */
export function isWrongType(err: unknown): boolean {
  return messageOf(err).includes('WRONGTYPE');
}

/** The key types a call expects, for {@link REPAIR} after a WRONGTYPE error. */
export interface KeyTypes {
  readonly keys: readonly string[];
  /** Per key: 'stream', 'zset' or 'string'. */
  readonly types: readonly string[];
  /** The group to re-create on a dropped source stream ('' = none). */
  readonly group: string;
  /** How many of the first keys are sources of `group` (re-created when dropped). */
  readonly sources: number;
}

/**
 * A failure worth retrying: a lost or not yet ready connection, a timeout, or Redis saying it is
 * busy loading or failing over. Other Redis replies (WRONGTYPE, syntax) are not.
 */
export function isTransient(err: unknown): boolean {
  if (isEventBusError(err)) return isEventBusError(err, 'ERR_TRANSPORT');
  if ((err as { name?: string } | undefined)?.name !== 'ReplyError') return true;
  return /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY)\b/.test(messageOf(err));
}

/** Resolves after `ms` or as soon as one of the signals aborts. */
export function pause(ms: number, ...signals: (AbortSignal | undefined)[]): Promise<void> {
  return new Promise((resolve) => {
    const live = signals.filter((s): s is AbortSignal => s !== undefined);
    if (ms <= 0 || live.some((s) => s.aborted)) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      for (const s of live) s.removeEventListener('abort', done);
      resolve();
    }
    for (const s of live) s.addEventListener('abort', done, { once: true });
  });
}

/** `text` with the glob characters of SCAN MATCH escaped. */
export function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

let uidSeq = 0;
const UID_SALT = randomBytes(4).toString('hex');

/** A unique, roughly time-ordered id for a scheduled entry (no `|`). */
export function newUid(): string {
  uidSeq = (uidSeq + 1) % 0xffffff;
  return `${Date.now().toString(36).padStart(9, '0')}${uidSeq.toString(36).padStart(5, '0')}${UID_SALT}`;
}
