/**
 * The names and states of the task system, in one place: lifecycle states (Celery's names),
 * which are final, their order, the lifecycle event types and the state each one stands for,
 * and the key and channel names under a namespace. No run-time imports, so every entry of the
 * package (the dashboard's included) reads these facts from this one file.
 *
 * @module
 */
import type { TaskInfo } from './message.js';
import type { DedupeRecord } from './dedupe.js';
import type { TaskLogRecord, TaskProgressRecord, TaskProgressUpdate } from './progress.js';

/** The lifecycle states of a task (Celery's names). */
export type TaskState = 'PENDING' | 'RECEIVED' | 'STARTED' | 'RETRY' | 'SUCCESS' | 'FAILURE' | 'REVOKED' | 'EXPIRED';

/** Every task state, in lifecycle order (within one attempt). */
export const TASK_STATES: readonly TaskState[] = Object.freeze(['PENDING', 'RECEIVED', 'STARTED', 'RETRY', 'SUCCESS', 'FAILURE', 'REVOKED', 'EXPIRED'] as const);

/**
 * The states after which a task never changes again. `EXPIRED`: its `expiresAt` passed before an
 * attempt started, so a worker dropped it (it never ran, or never ran again).
 */
export const FINAL_TASK_STATES: ReadonlySet<TaskState> = new Set<TaskState>(['SUCCESS', 'FAILURE', 'REVOKED', 'EXPIRED']);

/** True for a known task state. */
export function isTaskState(value: unknown): value is TaskState {
  return typeof value === 'string' && (TASK_STATES as readonly string[]).includes(value);
}

/** The task lifecycle event types, published on `<namespace>:task-events` and stored. */
export const TaskEventType = {
  SENT: 'task.sent',
  RECEIVED: 'task.received',
  STARTED: 'task.started',
  SUCCEEDED: 'task.succeeded',
  FAILED: 'task.failed',
  RETRIED: 'task.retried',
  REVOKED: 'task.revoked',
  EXPIRED: 'task.expired',
} as const;

/** One of the {@link TaskEventType} values. */
export type TaskEventType = (typeof TaskEventType)[keyof typeof TaskEventType];

/** The task state each lifecycle event type records (for timelines built from stored events). */
export const TASK_EVENT_STATES: Readonly<Record<TaskEventType, TaskState>> = Object.freeze({
  [TaskEventType.SENT]: 'PENDING',
  [TaskEventType.RECEIVED]: 'RECEIVED',
  [TaskEventType.STARTED]: 'STARTED',
  [TaskEventType.RETRIED]: 'RETRY',
  [TaskEventType.SUCCEEDED]: 'SUCCESS',
  [TaskEventType.FAILED]: 'FAILURE',
  [TaskEventType.REVOKED]: 'REVOKED',
  [TaskEventType.EXPIRED]: 'EXPIRED',
});

/** Key and channel names of the task system under a namespace. @internal */
export function taskKeys(namespace: string) {
  return {
    /** The queue's stream. */
    stream: (queue: string) => `${namespace}:tasks:${queue}`,
    /** A task's state (JSON {@link TaskInfo}), kept `taskResultTtlMs`. */
    state: (id: string) => `${namespace}:task:${id}`,
    /** What every state key starts with. */
    statePrefix: `${namespace}:task:`,
    revoked: (id: string) => `${namespace}:revoked:${id}`,
    revokedPrefix: `${namespace}:revoked:`,
    worker: (id: string) => `${namespace}:worker:${id}`,
    workerPrefix: `${namespace}:worker:`,
    rate: (queue: string, window: number) => `${namespace}:rate:${queue}:${window}`,
    /** Final states (one {@link TaskInfo} or an array), for `get()` in every process. */
    doneChannel: `${namespace}:task-done`,
    /** Every other state change (sent, started, retry), for watchers such as the dashboard. */
    stateChannel: `${namespace}:task-state`,
    revokeChannel: `${namespace}:task-revoke`,
    /** A task's progress (JSON {@link TaskProgressRecord}), kept `taskResultTtlMs`. */
    progress: (id: string) => `${namespace}:task-progress:${id}`,
    /** A task's log lines (JSON {@link TaskLogRecord}), kept `taskResultTtlMs`. */
    logs: (id: string) => `${namespace}:task-logs:${id}`,
    /** Progress and log updates ({@link TaskProgressUpdate}), for watchers such as the dashboard. */
    progressChannel: `${namespace}:task-progress`,
    /** Set while a queue is paused (no TTL; `bus.tasks.resume` deletes it). */
    paused: (queue: string) => `${namespace}:paused:${queue}`,
    pausedPrefix: `${namespace}:paused:`,
    /** Pause and resume of a queue (the queue name as JSON `{ queue, paused }`), so workers react at once. */
    pauseChannel: `${namespace}:queue-pause`,
    /** The task id holding a dedupe key of a task name ({@link DedupeRecord}). */
    dedupe: (task: string, key: string) => `${namespace}:dedupe:${task}:${key}`,
    eventsStream: `${namespace}:task-events`,
    group: 'workers',
  };
}

/** The key and channel names of one namespace. @internal */
export type TaskKeys = ReturnType<typeof taskKeys>;

/**
 * Parses a message of the state channels or a state key: one task state, or an array of them
 * (states written in the same turn). Keeps only well-formed entries; `[]` for anything else.
 *
 * @internal
 */
export function parseTaskStates(text: string): TaskInfo[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return [];
  }
  const list = Array.isArray(v) ? v : [v];
  return list.filter(
    (i): i is TaskInfo => typeof i === 'object' && i !== null && typeof (i as TaskInfo).id === 'string' && isTaskState((i as TaskInfo).state),
  );
}
