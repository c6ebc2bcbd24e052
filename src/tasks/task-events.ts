/**
 * The wire text of task lifecycle events, built directly: a worker writes three of them per task
 * (received, started, succeeded), and building an envelope object and then `JSON.stringify`-ing
 * it was a measurable share of a no-op task's client CPU. The text is the same JSON, key for key
 * and in the same order, as `encodeEnvelope` of the envelope `TaskRuntime.emit` used to build
 * (docs/wire-format.md), so every reader (consumers of `task.*` events, the dashboard feed, the
 * monitor) sees no difference.
 *
 * @module
 * @internal
 */
import { ENVELOPE_VERSION, type EventEnvelope } from '../events/envelope.js';
import type { TaskMessage } from './message.js';
import type { TaskEventType } from './names.js';

/** The task fields of a lifecycle event. @internal */
export type TaskEventSubject = Pick<TaskMessage, 'id' | 'task' | 'queue' | 'correlationId' | 'priority'>;

/** The envelope of a task lifecycle event, as `TaskRuntime.emit` records it. @internal */
export function taskEventEnvelope(
  id: string,
  type: TaskEventType,
  msg: TaskEventSubject,
  extra: Record<string, unknown>,
  occurredAt: string,
  source: string | undefined,
): EventEnvelope {
  return {
    id,
    type,
    data: { taskId: msg.id, name: msg.task, queue: msg.queue, ...extra },
    priority: msg.priority,
    correlationId: msg.correlationId,
    causationId: msg.id,
    occurredAt,
    version: ENVELOPE_VERSION,
    ...(source ? { source } : {}),
  };
}

const RESERVED = new Set(['taskId', 'name', 'queue']);

/**
 * The JSON text of {@link taskEventEnvelope} (same keys, same order), or `undefined` when a
 * field is not a plain string or an extra value is not a string, finite number or boolean (the
 * caller then encodes the envelope object).
 *
 * @internal
 */
export function encodeTaskEvent(
  id: string,
  type: TaskEventType,
  msg: TaskEventSubject,
  extra: Record<string, unknown>,
  occurredAt: string,
  source: string | undefined,
): string | undefined {
  if (typeof msg.id !== 'string' || typeof msg.task !== 'string' || typeof msg.queue !== 'string') return undefined;
  if (typeof msg.priority !== 'string' || typeof msg.correlationId !== 'string') return undefined;
  let data = `{"taskId":${JSON.stringify(msg.id)},"name":${JSON.stringify(msg.task)},"queue":${JSON.stringify(msg.queue)}`;
  for (const key in extra) {
    if (!Object.hasOwn(extra, key)) continue;
    const v = extra[key];
    if (v === undefined) continue;
    if (RESERVED.has(key)) return undefined;
    const t = typeof v;
    if (t === 'string' || t === 'boolean' || (t === 'number' && Number.isFinite(v))) data += `,${JSON.stringify(key)}:${JSON.stringify(v)}`;
    else return undefined;
  }
  const src = source ? `,"source":${JSON.stringify(source)}` : '';
  return (
    `{"id":${JSON.stringify(id)},"type":${JSON.stringify(type)},"data":${data}},"priority":${JSON.stringify(msg.priority)},` +
    `"correlationId":${JSON.stringify(msg.correlationId)},"causationId":${JSON.stringify(msg.id)},"occurredAt":${JSON.stringify(occurredAt)},` +
    `"version":${ENVELOPE_VERSION}${src}}`
  );
}
