import { decodeTaskMessage, type DeadLetterEntry, type TaskMessage } from '@procur/event-bus';

/** A dead letter as people see it (the dashboard's DLQ view and `procur-bus dlq list`). */
export interface DeadLetterView {
  /** The entry id. */
  id: string;
  /** What the entry holds: an event, a task message, or a message neither can decode. */
  kind: 'event' | 'task' | 'undecodable';
  /** The event type, the task name, or `'(undecodable)'`. */
  type: string;
  /** The event id, for an event. */
  eventId?: string;
  /** The task id, for a task. */
  taskId?: string;
  /** The task's queue, for a task. */
  queue?: string;
  /** The correlation id, when the message has one. */
  correlationId?: string;
  /** The last error message. */
  error: string;
  /** Attempts made. */
  attempts: number;
  /** When it was dead-lettered (ISO 8601). */
  failedAt: string;
  /** The consumer group (or task queue group) that failed it. */
  group: string;
  /** The stream it came from. */
  stream: string;
  /** Extra context kept with the entry. */
  context: Record<string, string>;
  /** The event's data, the task's arguments, or the raw body, shortened to 240 characters. */
  preview: string;
}

function preview(value: unknown): string {
  try {
    return (JSON.stringify(value) ?? String(value)).slice(0, 240);
  } catch {
    return String(value).slice(0, 240);
  }
}

/**
 * Decodes a dead letter for display, the one way the dashboard and the CLI both use: an event
 * envelope, else a task message (its name, id and queue), else the task named in the entry's
 * context, else `'(undecodable)'` with the raw body as preview.
 *
 * @internal
 */
export function describeDeadLetter(e: DeadLetterEntry): DeadLetterView & { task?: TaskMessage } {
  const base = { id: e.id, error: e.error, attempts: e.attempts, failedAt: e.failedAt.toISOString(), group: e.group, stream: e.stream, context: e.context };
  if (e.event) {
    return { ...base, kind: 'event', type: e.event.type, eventId: e.event.id, correlationId: e.event.correlationId, preview: preview(e.event.data) };
  }
  let task: TaskMessage | undefined;
  try {
    task = decodeTaskMessage(e.body);
  } catch {
    task = undefined;
  }
  if (task) {
    return { ...base, kind: 'task', type: task.task, taskId: task.id, queue: task.queue, correlationId: task.correlationId, preview: preview(task.args), task };
  }
  if (e.context.task) {
    return { ...base, kind: 'task', type: e.context.task, ...(e.context.taskId ? { taskId: e.context.taskId } : {}), preview: e.body.slice(0, 240) };
  }
  return { ...base, kind: 'undecodable', type: '(undecodable)', preview: e.body.slice(0, 240) };
}
