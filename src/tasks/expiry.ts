/**
 * Expiry of tasks (`applyAsync(args, { expiresAt | expiresInMs })`): the send checks the options
 * and stamps `expiresAt` on the message; a worker that receives the message at or after that
 * time drops it before any attempt starts (its first or a retry), records the final state
 * `EXPIRED` and `get()` rejects with `TaskExpiredError`.
 *
 * @module
 */
import { isoNow } from '../clock.js';
import type { InFlight } from '../delivery-loop.js';
import type { ValidationIssue } from '../errors.js';
import type { TaskInfo, TaskMessage } from './message.js';
import { TaskEventType, type TaskRuntime } from './runtime.js';

/** The latest time a `Date` can hold (ms since the epoch). */
const MAX_DATE_MS = 8.64e15;

/**
 * Checks `expiresAt` / `expiresInMs` of a send and returns the expiry time (ms since the epoch),
 * pushing what is wrong onto `issues`.
 *
 * @internal
 */
export function expiryOf(options: { expiresAt?: unknown; expiresInMs?: unknown }, now: number, runAt: number, issues: ValidationIssue[], describe: (v: unknown) => string): number | undefined {
  const { expiresAt, expiresInMs } = options;
  if (expiresAt === undefined && expiresInMs === undefined) return undefined;
  if (expiresAt !== undefined && expiresInMs !== undefined) {
    issues.push({ path: 'expiresAt', message: 'pass either expiresAt or expiresInMs, not both' });
    return undefined;
  }
  let at: number;
  let path: string;
  if (expiresAt !== undefined) {
    path = 'expiresAt';
    if (!(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime())) {
      issues.push({ path, message: `must be a valid Date, got ${describe(expiresAt)}` });
      return undefined;
    }
    at = expiresAt.getTime();
  } else {
    path = 'expiresInMs';
    if (typeof expiresInMs !== 'number' || !Number.isFinite(expiresInMs) || expiresInMs <= 0 || now + expiresInMs > MAX_DATE_MS) {
      issues.push({ path, message: `must be a finite number of milliseconds > 0, got ${describe(expiresInMs)}` });
      return undefined;
    }
    at = now + expiresInMs;
  }
  if (at <= now) {
    issues.push({ path, message: `is in the past (${new Date(at).toISOString()}): the task could never run; give a later time` });
    return undefined;
  }
  if (at <= runAt) {
    issues.push({ path, message: `(${new Date(at).toISOString()}) is not after the task's ETA (${new Date(runAt).toISOString()}): the task could never run` });
    return undefined;
  }
  return at;
}

/** True when the message's `expiresAt` has passed. @internal */
export function isExpired(msg: TaskMessage, now: number): boolean {
  return msg.expiresAt !== undefined && Date.parse(msg.expiresAt) <= now;
}

/**
 * Drops an expired task a worker received: records `EXPIRED` (which frees its dedupe key and
 * wakes `get()`), emits `task.expired`, and acks the delivery.
 *
 * @internal
 */
export async function expireDelivery(runtime: TaskRuntime, f: InFlight, msg: TaskMessage, worker: string, ack: (deliveryId: string) => void): Promise<void> {
  const { ctx } = runtime;
  const d = f.delivery;
  const expiresAt = msg.expiresAt as string;
  const info: TaskInfo = {
    id: msg.id,
    name: msg.task,
    queue: msg.queue,
    state: 'EXPIRED',
    attempt: Math.max(0, d.attempt - 1),
    correlationId: msg.correlationId,
    args: msg.args,
    worker,
    updatedAt: isoNow(ctx.clock),
    expiresAt,
    error: { name: 'TaskExpiredError', message: `expired at ${expiresAt} before an attempt started` },
    ...(msg.dedupeKey !== undefined ? { dedupeKey: msg.dedupeKey } : {}),
  };
  try {
    await runtime.states.write(info);
  } catch (err) {
    ctx.logger.warn('could not record a task state', { taskId: msg.id, state: 'EXPIRED', error: (err as Error).message });
  }
  runtime.emit(TaskEventType.EXPIRED, msg, { attempt: info.attempt, expiresAt, worker });
  ctx.logger.info('dropped an expired task', { taskId: msg.id, task: msg.task, queue: msg.queue, expiresAt });
  ack(d.deliveryId);
}
