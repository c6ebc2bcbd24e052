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

interface SubjectText {
  /** `{"taskId":..,"name":..,"queue":..` (the start of `data`). */
  data: string;
  /** `,"priority":..,"correlationId":..,"causationId":..` (what follows `data`). */
  tail: string;
}

/** The task's part of its lifecycle event text, or `undefined` when a field is not a plain string. */
function subjectText(msg: TaskEventSubject): SubjectText | undefined {
  if (typeof msg.id !== 'string' || typeof msg.task !== 'string' || typeof msg.queue !== 'string') return undefined;
  if (typeof msg.priority !== 'string' || typeof msg.correlationId !== 'string') return undefined;
  const id = quoted(msg.id);
  return {
    data: `{"taskId":${id},"name":${quoted(msg.task)},"queue":${quoted(msg.queue)}`,
    tail: `,"priority":${quoted(msg.priority)},"correlationId":${quoted(msg.correlationId)},"causationId":${id}`,
  };
}

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
  const subject = subjectText(msg);
  if (subject === undefined) return undefined;
  let data = subject.data;
  for (const key in extra) {
    if (!Object.hasOwn(extra, key)) continue;
    const v = extra[key];
    if (v === undefined) continue;
    if (RESERVED.has(key)) return undefined;
    const t = typeof v;
    if (t === 'number') {
      if (!Number.isFinite(v)) return undefined;
      // A finite number's JSON is its String() (exponents and -0 included).
      data += `,${quoted(key)}:${String(v)}`;
    } else if (t === 'string') data += `,${quoted(key)}:${quoted(v as string)}`;
    else if (t === 'boolean') data += `,${quoted(key)}:${v ? 'true' : 'false'}`;
    else return undefined;
  }
  const src = source ? `,"source":${quoted(source)}` : '';
  return `{"id":${quoted(id)},"type":${quoted(type)},"data":${data}}${subject.tail},"occurredAt":${quoted(occurredAt)},"version":${ENVELOPE_VERSION}${src}}`;
}

/** Strings met again and again (keys, types, a worker's id, the source) and their JSON. */
const QUOTED = new Map<string, string>();
/** Characters a JSON string can hold as they are (no escape), in a string short enough to scan. */
const PLAIN = /^[\w .:@#/+-]{0,200}$/;

/**
 * `JSON.stringify(s)`: without escaping for plain ids and timestamps (the common case), cached
 * for short repeated strings.
 */
function quoted(s: string): string {
  if (PLAIN.test(s)) return `"${s}"`;
  let q = QUOTED.get(s);
  if (q === undefined) {
    q = JSON.stringify(s);
    if (s.length <= 64) {
      if (QUOTED.size >= 1000) QUOTED.clear();
      QUOTED.set(s, q);
    }
  }
  return q;
}
