/**
 * Deduplication of sends (`applyAsync(args, { dedupeKey, dedupeTtlMs? })`). The first send of a
 * key records its task id under `<ns>:dedupe:<task>:<key>` with the key-value part's
 * set-if-absent (atomic across processes); while that task is not finished, and within
 * `dedupeTtlMs` of its send when given, a send with the same key gets that task's handle and
 * sends nothing. The worker frees the key when the task reaches a final state (keeping it for
 * what is left of `dedupeTtlMs`); a send that finds the key held by a finished task (a revoke,
 * or a release that failed) takes the key over.
 *
 * @module
 */
import type { TaskRuntime } from './runtime.js';
import { FINAL_TASK_STATES, type TaskInfo } from './message.js';

/** What a dedupe key holds (JSON). */
export interface DedupeRecord {
  /** The task holding the key. */
  id: string;
  /** Its name. */
  name: string;
  /** Its queue. */
  queue: string;
  /** When it was sent (ms since the epoch). */
  sentAt: number;
  /** The end of its `dedupeTtlMs` window (ms since the epoch), when it was sent with one. */
  until?: number;
}

/** The outcome of {@link claimDedupe}: the key is ours (its stored text), or another task holds it. */
export type DedupeClaim = { claimed: string } | { existing: DedupeRecord };

/** Compare-and-set rounds before a send gives up taking over a key others keep changing. */
const CLAIM_ROUNDS = 5;

function parseRecord(raw: string): DedupeRecord | undefined {
  try {
    const o = JSON.parse(raw) as DedupeRecord;
    if (typeof o !== 'object' || o === null || typeof o.id !== 'string' || typeof o.name !== 'string' || typeof o.queue !== 'string') return undefined;
    return o;
  } catch {
    return undefined;
  }
}

/**
 * Claims `key` for the task about to be sent, or finds the task that holds it.
 *
 * @param keyTtlMs how long the key lives at most (a task that never finishes, or a message
 *   purged from its queue, frees it then).
 * @internal
 */
export async function claimDedupe(
  runtime: TaskRuntime,
  task: { id: string; name: string; queue: string },
  dedupeKey: string,
  dedupeTtlMs: number | undefined,
  keyTtlMs: number,
): Promise<DedupeClaim> {
  const { transport, clock } = runtime.ctx;
  const key = runtime.keys.dedupe(task.name, dedupeKey);
  const now = clock.now();
  const record: DedupeRecord = { id: task.id, name: task.name, queue: task.queue, sentAt: now, ...(dedupeTtlMs !== undefined ? { until: now + dedupeTtlMs } : {}) };
  const text = JSON.stringify(record);
  const ttlMs = Math.max(keyTtlMs, dedupeTtlMs ?? 0);
  let last: DedupeRecord | undefined;
  for (let round = 0; round < CLAIM_ROUNDS; round++) {
    if (await transport.kvSet(key, text, { ifAbsent: true, ttlMs })) return { claimed: text };
    const raw = await transport.kvGet(key);
    if (raw === null) continue; // freed in between
    const held = parseRecord(raw);
    if (held) {
      last = held;
      if (held.id === task.id) return { existing: held };
      if (held.until !== undefined && now < held.until) return { existing: held };
      const state = await runtime.states.read(held.id);
      if (!state || !FINAL_TASK_STATES.has(state.state)) return { existing: held };
    }
    // Held by a finished task (or unreadable): take it over, unless another send did first.
    if (await transport.kvSet(key, text, { ifEquals: raw, ttlMs })) return { claimed: text };
  }
  // Others kept taking it over: the latest holder is the task to join.
  if (last) return { existing: last };
  const raw = await transport.kvGet(key);
  const held = raw === null ? undefined : parseRecord(raw);
  return held ? { existing: held } : { existing: record };
}

/** Frees a key {@link claimDedupe} took, if it is still unchanged (the send failed). @internal */
export function unclaimDedupe(runtime: TaskRuntime, name: string, dedupeKey: string, text: string): Promise<boolean> {
  return runtime.ctx.transport.kvDelete(runtime.keys.dedupe(name, dedupeKey), { ifEquals: text });
}

/**
 * Frees the dedupe key of a finished task: deleted, or, within its `dedupeTtlMs` window, kept
 * only for what is left of it. Only when the key still names this task. Best effort (a failure
 * is logged; the next send with the key sees the task finished and takes the key over).
 *
 * @internal
 */
export async function releaseDedupe(runtime: Pick<TaskRuntime, 'ctx' | 'keys'>, info: Pick<TaskInfo, 'id' | 'name' | 'dedupeKey'>): Promise<void> {
  if (info.dedupeKey === undefined) return;
  const { transport, clock, logger } = runtime.ctx;
  const key = runtime.keys.dedupe(info.name, info.dedupeKey);
  try {
    const raw = await transport.kvGet(key);
    if (raw === null) return;
    const held = parseRecord(raw);
    if (!held || held.id !== info.id) return;
    const left = held.until === undefined ? 0 : held.until - clock.now();
    if (left > 0) await transport.kvSet(key, raw, { ifEquals: raw, ttlMs: left });
    else await transport.kvDelete(key, { ifEquals: raw });
  } catch (err) {
    logger.warn('could not free a dedupe key', { taskId: info.id, task: info.name, error: (err as Error).message });
  }
}
