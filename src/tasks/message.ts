import { DecodeError } from '../errors.js';
import { dropBadTraceContext, isEventPriority, type EventPriority } from '../events/envelope.js';
import type { TaskState } from './names.js';

export { FINAL_TASK_STATES, taskKeys, type TaskKeys, type TaskState } from './names.js';

/** The task message format version. */
export const TASK_MESSAGE_VERSION = 1;

/** A task invocation as it travels on a queue (JSON). See `docs/wire-format.md`. */
export interface TaskMessage {
  /** Always `'task'`: tells task messages from events. */
  kind: 'task';
  /** Format version ({@link TASK_MESSAGE_VERSION}). */
  version: number;
  /** The task id (UUIDv7 unless given). */
  id: string;
  /** The task name. */
  task: string;
  /** The queue it was sent to. */
  queue: string;
  /** The arguments (any JSON). */
  args: unknown;
  /** Ties the task to a business flow. */
  correlationId: string;
  /** Priority within the queue. */
  priority: EventPriority;
  /** When it was sent (ISO 8601). */
  createdAt: string;
  /**
   * Earliest run time (ISO 8601), for ETA and countdown tasks. A worker that receives the message
   * earlier (another program wrote it without a transport delay, or clocks differ) hands it back
   * for redelivery at this time, without counting an attempt.
   */
  eta?: string;
  /** Retries allowed after the first attempt; overrides the worker's definition when set. */
  maxRetries?: number;
  /** The flow this task is a step of (`bus.tasks.chain` / `group` / `chord`): its id and the step's path. */
  flow?: { id: string; node: string };
  /**
   * Latest start time (ISO 8601), from `expiresAt` / `expiresInMs`: a worker that receives the
   * message at or after it drops it (state `EXPIRED`) instead of starting an attempt.
   */
  expiresAt?: string;
  /** The `dedupeKey` it was sent with: the worker frees the key when the task finishes. */
  dedupeKey?: string;
  /** W3C trace context of the send, written when tracing is on (docs/tracing.md). Optional; a malformed value is ignored. */
  traceparent?: string;
  /** W3C `tracestate` that goes with {@link TaskMessage.traceparent}. */
  tracestate?: string;
}


/** What is known about a task: its state, result or error, and timing. */
export interface TaskInfo {
  /** The task id. */
  id: string;
  /** The task name. */
  name: string;
  /** Its queue. */
  queue: string;
  /** The current state; `PENDING` when nothing is known yet. */
  state: TaskState;
  /** The attempt the state belongs to, from 1 (0 while pending). */
  attempt: number;
  /** The correlation id. */
  correlationId?: string;
  /** The arguments. */
  args?: unknown;
  /** The result of a `SUCCESS`. */
  result?: unknown;
  /** The error of a `FAILURE` or `RETRY`. */
  error?: { name: string; message: string; stack?: string };
  /** When the retry is due (ISO 8601), for `RETRY`. */
  retryAt?: string;
  /** The worker that ran it. */
  worker?: string;
  /** When the state was written (ISO 8601). */
  updatedAt: string;
  /** How long the last attempt ran, in ms. */
  runtimeMs?: number;
  /** The `dedupeKey` it was sent with, when it had one. */
  dedupeKey?: string;
  /** When it expired (ISO 8601), for `EXPIRED`. */
  expiresAt?: string;
}

/** Decodes a task message. @throws {@link DecodeError} naming the bad field. */
export function decodeTaskMessage(text: string): TaskMessage {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new DecodeError(`[event-bus] Cannot decode task: not JSON (${(err as Error).message})`, { cause: err });
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new DecodeError('[event-bus] Cannot decode task: expected a JSON object');
  if (o.kind !== 'task') throw new DecodeError("[event-bus] Cannot decode task: field 'kind' must be 'task'");
  if (o.version !== TASK_MESSAGE_VERSION) {
    throw new DecodeError(`[event-bus] Cannot decode task: unknown version ${String(o.version)} (this library reads ${TASK_MESSAGE_VERSION})`);
  }
  for (const f of ['id', 'task', 'queue', 'createdAt'] as const) {
    if (typeof o[f] !== 'string' || (o[f] as string).length === 0) {
      throw new DecodeError(`[event-bus] Cannot decode task: field '${f}' must be a non-empty string`);
    }
  }
  if (o.priority === undefined) o.priority = 'normal';
  else if (!isEventPriority(o.priority)) throw new DecodeError(`[event-bus] Cannot decode task: unknown priority ${JSON.stringify(o.priority)}`);
  if (typeof o.correlationId !== 'string') o.correlationId = o.id;
  if (o.eta !== undefined && (typeof o.eta !== 'string' || Number.isNaN(Date.parse(o.eta)))) {
    throw new DecodeError("[event-bus] Cannot decode task: field 'eta' must be an ISO 8601 date-time string");
  }
  if (o.maxRetries !== undefined && (!Number.isInteger(o.maxRetries) || (o.maxRetries as number) < 0)) {
    throw new DecodeError("[event-bus] Cannot decode task: field 'maxRetries' must be a whole number >= 0");
  }
  if (o.flow !== undefined) {
    const f = o.flow as { id?: unknown; node?: unknown } | null;
    if (typeof f !== 'object' || f === null || typeof f.id !== 'string' || typeof f.node !== 'string') {
      throw new DecodeError("[event-bus] Cannot decode task: field 'flow' must be an object { id: string, node: string }");
    }
  }
  if (o.expiresAt !== undefined && (typeof o.expiresAt !== 'string' || Number.isNaN(Date.parse(o.expiresAt)))) {
    throw new DecodeError("[event-bus] Cannot decode task: field 'expiresAt' must be an ISO 8601 date-time string");
  }
  if (o.dedupeKey !== undefined && (typeof o.dedupeKey !== 'string' || o.dedupeKey.length === 0)) {
    throw new DecodeError("[event-bus] Cannot decode task: field 'dedupeKey' must be a non-empty string");
  }
  dropBadTraceContext(o);
  return o as unknown as TaskMessage;
}
