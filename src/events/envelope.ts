import { DecodeError, type EventValidationError } from '../errors.js';
import { encodeJson } from './json.js';
import { uuidv7Fast } from './uuid7.js';

/**
 * Event priorities. A consumer or queue with a backlog is served highest priority first.
 *
 * @example
 * ```ts
 * await bus.publisher.publish({ type, data, priority: EventPriority.HIGH });
 * ```
 */
export const EventPriority = {
  LOW: 'low',
  NORMAL: 'normal',
  HIGH: 'high',
  CRITICAL: 'critical',
} as const;

/** One of the {@link EventPriority} values. */
export type EventPriority = (typeof EventPriority)[keyof typeof EventPriority];

const PRIORITY_RANK: Record<EventPriority, number> = { low: 0, normal: 1, high: 2, critical: 3 };
const RANK_PRIORITY: EventPriority[] = ['low', 'normal', 'high', 'critical'];

/** The number of priority levels a transport must order by (ranks `0` to `PRIORITY_LEVELS - 1`). */
export const PRIORITY_LEVELS = 4;

/** Converts a priority to the transport's rank: `low` 0 ... `critical` 3. */
export function priorityRank(priority: EventPriority): number {
  return PRIORITY_RANK[priority];
}

/** Converts a transport rank back to a priority (clamped to the known levels). */
export function priorityFromRank(rank: number): EventPriority {
  const r = Math.max(0, Math.min(PRIORITY_LEVELS - 1, Math.trunc(rank)));
  return RANK_PRIORITY[r] ?? 'normal';
}

/**
 * The rank a transport stores for an `OutgoingMessage.priority`: a missing or `NaN` priority is
 * `1` (normal); anything else is truncated and clamped to `0`-`3`. Adapters call this so every
 * transport treats odd priorities alike.
 */
export function clampRank(rank: number | undefined): number {
  if (rank === undefined || Number.isNaN(rank)) return PRIORITY_RANK.normal;
  const r = Math.trunc(rank);
  return r < 0 ? 0 : r >= PRIORITY_LEVELS ? PRIORITY_LEVELS - 1 : r;
}

/** True when `value` is one of the {@link EventPriority} values. */
export function isEventPriority(value: unknown): value is EventPriority {
  return typeof value === 'string' && Object.hasOwn(PRIORITY_RANK, value);
}

/** The version of the envelope format this library writes. */
export const ENVELOPE_VERSION = 1;

/**
 * An event as it travels and is stored. See `docs/wire-format.md` for the JSON form.
 *
 * @typeParam TData - the payload type.
 */
export interface EventEnvelope<TData = unknown> {
  /** Time-sortable unique id (UUIDv7), set by the publisher. */
  id: string;
  /** The event type, e.g. `'negotiation.started'`. */
  type: string;
  /** The payload, validated against the type's schema. */
  data: TData;
  /** Delivery priority. */
  priority: EventPriority;
  /** Ties related events together (one business flow). Generated when not given. */
  correlationId: string;
  /** The id of the event that caused this one, if any. */
  causationId?: string;
  /** The acting user, if any. */
  userId?: string;
  /** The organisation the event belongs to, if any. */
  organizationId?: string;
  /** The service that published the event. */
  source?: string;
  /** When the event happened (ISO 8601, UTC). */
  occurredAt: string;
  /** Envelope format version ({@link ENVELOPE_VERSION}). */
  version: number;
  /** Free-form string-keyed context (replay flags, tracing ids). */
  metadata?: Record<string, unknown>;
  /**
   * W3C trace context of the publish (`00-<trace id>-<span id>-<flags>`), written when tracing
   * is on (docs/tracing.md). Optional; a malformed value is ignored (a new trace starts).
   */
  traceparent?: string;
  /** W3C `tracestate` that goes with {@link EventEnvelope.traceparent}. */
  tracestate?: string;
}

/** Generates a new time-sortable event id (UUIDv7; strictly increasing within a process). */
export function newEventId(): string {
  return uuidv7Fast();
}

/**
 * Encodes an envelope to its wire form (JSON). The inverse of {@link decodeEnvelope}.
 *
 * @throws {@link EventValidationError} naming the field when the data or metadata cannot be JSON
 *   (`data.a.b: circular reference`, `data.n: BigInt is not JSON`).
 */
export function encodeEnvelope(envelope: EventEnvelope): string {
  return encodeJson(envelope, typeof envelope?.type === 'string' ? envelope.type : undefined);
}

/** True for a string, `undefined` or `null` (an optional string field that passes {@link field}). */
function optionalString(v: unknown): boolean {
  return v === undefined || v === null || typeof v === 'string';
}

function field(o: Record<string, unknown>, key: string, kind: 'string' | 'number', required: boolean): void {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) throw new DecodeError(`[event-bus] Cannot decode event: field '${key}' is missing`);
    return;
  }
  if (typeof v !== kind) throw new DecodeError(`[event-bus] Cannot decode event: field '${key}' must be a ${kind}`);
}

/**
 * Decodes a wire message into an envelope, checking the fields a consumer relies on.
 *
 * @throws {@link DecodeError} when the text is not JSON, has an unknown `version`, or lacks
 *   `id`, `type`, `occurredAt` or `data`.
 */
export function decodeEnvelope(text: string): EventEnvelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new DecodeError(`[event-bus] Cannot decode event: not JSON (${(err as Error).message})`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new DecodeError('[event-bus] Cannot decode event: expected a JSON object');
  }
  const o = parsed as Record<string, unknown>;
  // What this library writes passes these checks: test it in one go (one read per field), and
  // only look for the field to blame when it fails. Per event on the consume path.
  if (
    o.version === ENVELOPE_VERSION &&
    typeof o.id === 'string' &&
    typeof o.type === 'string' &&
    typeof o.occurredAt === 'string' &&
    typeof o.correlationId === 'string' &&
    'data' in o &&
    (o.priority === 'normal' || o.priority === 'high' || o.priority === 'low' || o.priority === 'critical') &&
    optionalString(o.causationId) &&
    optionalString(o.userId) &&
    optionalString(o.organizationId) &&
    optionalString(o.source) &&
    (o.metadata === undefined || (typeof o.metadata === 'object' && o.metadata !== null)) &&
    (o.traceparent === undefined || typeof o.traceparent === 'string') &&
    (o.tracestate === undefined || typeof o.tracestate === 'string')
  ) {
    return o as unknown as EventEnvelope;
  }
  field(o, 'version', 'number', true);
  if (o.version !== ENVELOPE_VERSION) {
    throw new DecodeError(
      `[event-bus] Cannot decode event: unknown envelope version ${String(o.version)} (this library reads version ${ENVELOPE_VERSION})`,
    );
  }
  field(o, 'id', 'string', true);
  field(o, 'type', 'string', true);
  field(o, 'occurredAt', 'string', true);
  field(o, 'correlationId', 'string', false);
  field(o, 'causationId', 'string', false);
  field(o, 'userId', 'string', false);
  field(o, 'organizationId', 'string', false);
  field(o, 'source', 'string', false);
  if (!('data' in o)) throw new DecodeError("[event-bus] Cannot decode event: field 'data' is missing");
  if (o.priority === undefined) o.priority = 'normal';
  else if (!isEventPriority(o.priority)) {
    throw new DecodeError(`[event-bus] Cannot decode event: unknown priority ${JSON.stringify(o.priority)}`);
  }
  if (o.correlationId === undefined || o.correlationId === null) o.correlationId = o.id;
  if (o.metadata !== undefined && (typeof o.metadata !== 'object' || o.metadata === null)) {
    throw new DecodeError("[event-bus] Cannot decode event: field 'metadata' must be an object");
  }
  dropBadTraceContext(o);
  return o as unknown as EventEnvelope;
}

/**
 * Trace context is advisory (W3C): a `traceparent` or `tracestate` that is not a string is
 * removed rather than failing the message; a malformed string is ignored by the tracer.
 *
 * @internal
 */
export function dropBadTraceContext(o: Record<string, unknown>): void {
  if (o.traceparent !== undefined && typeof o.traceparent !== 'string') delete o.traceparent;
  if (o.tracestate !== undefined && typeof o.tracestate !== 'string') delete o.tracestate;
}
