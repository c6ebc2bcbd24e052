import { hasListeners } from './hooks.js';
import { isoNow } from './clock.js';
import type { SystemContext } from './context.js';
import type { OutgoingMessage, SignalOptions } from './contracts/transport.js';
import { EventValidationError, TransportError, type ValidationIssue } from './errors.js';
import { boundedStoreCall } from './outbox.js';
import { producerSpan, tracePublish, type TraceSpan } from './tracing.js';
import { publishInTransaction } from './transactional-publish.js';
import { EventType, eventSchemas, type EventDataInput } from './events/catalog.js';
import { encodeJson } from './events/json.js';
import { ValueMessage, snapshotJson, takesValues, type JsonValue, type Snapshot } from './events/in-process.js';
import { eventTypeName } from './events/registry.js';
import type { CheckedEventRef, EventRef, NamedFields, PublishData } from './events/types.js';
import {
  ENVELOPE_VERSION,
  isEventPriority,
  newEventId,
  priorityRank,
  type EventEnvelope,
  type EventPriority,
} from './events/envelope.js';

/** Envelope fields a publisher may set besides `type` and `data`. */
export interface EnvelopeOptions {
  /** Delivery priority. @default 'normal' */
  priority?: EventPriority;
  /** Ties related events together. @default a new id (the event's own id) */
  correlationId?: string;
  /** The id of the event that caused this one. */
  causationId?: string;
  /** The acting user (numbers are stored as strings). */
  userId?: string | number;
  /** The organisation. */
  organizationId?: string;
  /** The publishing service. @default the system's `source` option */
  source?: string;
  /** Free-form context. */
  metadata?: Record<string, unknown>;
}

/**
 * An event to publish, typed by its event type: `data` must match the type's schema (its named
 * fields; a misspelled type or field is a compile error).
 *
 * `type` is a catalog type (`EventType.*`), a definition made by `defineEvent` or its `.type`, a
 * name declared in {@link EventTypeRegistry}, or a `string` known only at run time (then `data`
 * is `unknown` and only the run-time validation checks it).
 *
 * @typeParam R - the event type reference; inferred from `type`.
 */
export type PublishInput<R extends EventRef = string> = EnvelopeOptions & {
  /** The event type: a catalog type, a `defineEvent` definition or its `.type`, or a name. */
  type: CheckedEventRef<R>;
  /** The payload; validated against the type's schema. */
  data: PublishData<R>;
  /** Use this id instead of a generated UUIDv7 (idempotent re-publishing). */
  id?: string;
  /** When the event happened. @default now */
  occurredAt?: Date | string;
};

/** What the publisher reads of an input before it knows it is well formed. */
type RawInput = EnvelopeOptions & { type?: unknown; data?: unknown; id?: unknown; occurredAt?: unknown };

/** Options of `publish` and `publishMany`. */
export interface PublishOptions extends SignalOptions {
  /**
   * The application's open transaction (Postgres: a kysely `Transaction` or a `pg` client inside
   * `BEGIN`). The events are written to the store's outbox inside it, so they exist if and only if
   * the transaction commits; they are not handed to the transport now. The outbox relay publishes
   * them after the commit (call `bus.outbox.runOnce({ graceMs: 0 })` after committing to publish
   * at once). Needs event sourcing on. With the PostgreSQL transport and a `pg` client, the events
   * go onto the transport in that same transaction instead (stored as published; no relay).
   */
  transaction?: unknown;
}

/** `'NEGOTIATION_ROUND_STARTED'` -> `'NegotiationRoundStarted'` (names the publisher helpers). */
export type PascalCase<S extends string> = S extends `${infer H}_${infer T}`
  ? `${Capitalize<Lowercase<H>>}${PascalCase<T>}`
  : Capitalize<Lowercase<S>>;

/**
 * The input of a catalog helper such as `publishRequestCreated`: the payload's named fields plus
 * envelope fields. Any other field is refused (at compile time, and at run time with an
 * `EventValidationError` naming it), so a misspelled field never lands in the payload.
 */
export type HelperInput<T extends EventType> = NamedFields<EventDataInput<T>> & EnvelopeOptions;

/**
 * One helper per catalog type: `publish` + the PascalCase type key, e.g.
 * `publishNegotiationStarted({ negotiationId, requestId, vendorId, userId, correlationId })`.
 * Envelope fields (`priority`, `correlationId`, `causationId`, `userId`, `organizationId`,
 * `source`, `metadata`) go on the envelope; every other field is the payload.
 */
export type PublishHelpers = {
  [K in keyof typeof EventType as `publish${PascalCase<K & string>}`]: (
    input: HelperInput<(typeof EventType)[K]>,
    options?: PublishOptions,
  ) => Promise<string>;
};

const ENVELOPE_KEYS = ['priority', 'correlationId', 'causationId', 'userId', 'organizationId', 'source', 'metadata'] as const;

function pascal(key: string): string {
  return key
    .toLowerCase()
    .split('_')
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('');
}

/** `[i].`, the error-path prefix of the i-th event of a batch (cached: one string per index, not per event). */
const BATCH_PREFIXES: string[] = [];
function batchPrefix(i: number): string {
  if (i >= 4096) return `[${i}].`;
  return (BATCH_PREFIXES[i] ??= `[${i}].`);
}

/** `issues` with one more (the list is made on the first issue: a valid event allocates none). */
function withIssue(issues: ValidationIssue[] | undefined, path: string, message: string): ValidationIssue[] {
  const list = issues ?? [];
  list.push({ path, message });
  return list;
}

function optionalString(issues: ValidationIssue[] | undefined, prefix: string, name: string, value: unknown): ValidationIssue[] | undefined {
  // The path is built only for an issue: a batch would otherwise make five strings per event.
  if (value !== undefined && (typeof value !== 'string' || value.length === 0 || value.length > 512)) {
    return withIssue(issues, `${prefix}${name}`, 'must be a non-empty string of at most 512 characters');
  }
  return issues;
}

/** The `data` and `metadata` an envelope held before it became its own snapshot (when it has metadata). */
class PayloadFields {
  constructor(
    readonly data: unknown,
    readonly metadata: Record<string, unknown>,
  ) {}
}

/**
 * What an envelope held before {@link snapshotInPlace}: its `data`, or a {@link PayloadFields}
 * when it has metadata, or undefined when the envelope was snapshotted as a copy (unchanged).
 */
type Given = unknown;

/**
 * The envelope as published (the caller's payload objects, not the snapshot's) for a `published`
 * listener, from one that became its own snapshot: a new object, so what the listener does to it
 * changes nothing the transport holds.
 */
function withPayload(env: EventEnvelope, given: Given): EventEnvelope {
  // A published payload is never undefined (the publisher refuses it): undefined means unchanged.
  if (given === undefined) return env;
  if (given instanceof PayloadFields) return { ...env, data: given.data, metadata: given.metadata };
  return { ...env, data: given };
}

/** A bound of the UTF-8 bytes of `"key":"value",` (every code unit counted as a 6-byte escape). */
function stringBytes(key: string, value: string): number {
  return 6 + 6 * (key.length + value.length);
}

/** True when JSON would write `v` as the walk of a snapshot sees it from the top: no `toJSON` of its own, no function. */
function plainJsonCandidate(v: unknown): boolean {
  const kind = typeof v;
  if (kind === 'string' || kind === 'number' || kind === 'boolean' || v === null) return true;
  return kind === 'object' && typeof (v as { toJSON?: unknown }).toJSON !== 'function';
}

/**
 * Makes an envelope this publisher built its own JSON snapshot: every field the publisher set is
 * already what JSON reads back (strings and the version number), so only `data` and `metadata`
 * are snapshotted, and the envelope keeps its key order (that of the encoded event). Returns a
 * bound of the encoded size, or undefined, leaving `env` as it was, when `data` or `metadata` is
 * not a plain candidate (a `toJSON` of its own, which the encoder calls with its key) or not
 * JSON at all: the caller snapshots the whole envelope then, which calls `toJSON` exactly as the
 * encoder does and throws the error naming the field within the envelope (`[2].data.a.b`).
 */
function snapshotInPlace(env: EventEnvelope): number | undefined {
  const { data, metadata } = env;
  if (!plainJsonCandidate(data) || (metadata !== undefined && !plainJsonCandidate(metadata))) return undefined;
  let d: Snapshot;
  let m: Snapshot | undefined;
  try {
    d = snapshotJson(data, env.type);
    m = metadata === undefined ? undefined : snapshotJson(metadata, env.type);
  } catch {
    // Not JSON: the snapshot of the whole envelope throws the error naming the field in it.
    return undefined;
  }
  // Braces, data and version, then the strings.
  let bytes = 2 + 4 + 6 * 4 + d.maxBytes + 4 + 6 * 7 + 32;
  bytes += stringBytes('id', env.id) + stringBytes('type', env.type) + stringBytes('priority', env.priority);
  bytes += stringBytes('correlationId', env.correlationId) + stringBytes('occurredAt', env.occurredAt);
  if (env.causationId !== undefined) bytes += stringBytes('causationId', env.causationId);
  if (env.userId !== undefined) bytes += stringBytes('userId', env.userId);
  if (env.organizationId !== undefined) bytes += stringBytes('organizationId', env.organizationId);
  if (env.source !== undefined) bytes += stringBytes('source', env.source);
  env.data = d.value;
  if (m !== undefined) {
    bytes += 4 + 6 * 8 + m.maxBytes;
    env.metadata = m.value as Record<string, unknown>;
  }
  return bytes;
}

/**
 * Publishes events: validates them, writes them to the event store (the audit trail and outbox),
 * hands them to the transport, then marks them published.
 *
 * If the store write succeeds and the transport is down, `publish` still resolves when the store is
 * persistent (`store.features.persistent`: SQLite file, Postgres): the event waits in the store's
 * outbox and the relay publishes it when the transport is back. With a store that does not persist
 * (memory, `':memory:'` SQLite) or without event sourcing there is no durable outbox, and a
 * transport failure rejects with `TransportError` (the event stays in the store, unpublished, and
 * the relay may still publish it while the process lives). A store failure rejects with
 * `StoreError` (within `storeTimeoutMs`) before anything reaches the transport.
 */
export class Publisher {
  /** @internal */
  constructor(private readonly ctx: SystemContext) {
    for (const [key, type] of Object.entries(EventType)) {
      const name = `publish${pascal(key)}`;
      (this as unknown as Record<string, unknown>)[name] = (input: Record<string, unknown>, options?: PublishOptions) =>
        this.publishRaw([this.fromHelper(type, input)], options, false).then(([id]) => id as string);
    }
  }

  /**
   * Publishes one event and returns its id.
   *
   * @throws {@link EventValidationError} when the payload fails its schema, the type is unknown,
   *   an envelope field is malformed or the encoded event is larger than `maxEventBytes`;
   *   nothing is stored or published then.
   * @throws {@link TransportError} when the transport fails and no persistent store keeps the event.
   * @throws `StoreError` when the event store fails or does not answer within `storeTimeoutMs`.
   * @example
   * ```ts
   * const id = await bus.publisher.publish({
   *   type: EventType.VENDOR_ENRICHMENT_STARTED,
   *   data: { vendorId: 'salesforce', category: 'crm' },
   *   priority: EventPriority.HIGH,
   * });
   * ```
   */
  async publish<const R extends EventRef>(input: PublishInput<R>, options?: PublishOptions): Promise<string> {
    const [id] = await this.publishRaw([input as RawInput], options, false);
    return id as string;
  }

  /**
   * Publishes several events in one round trip to the store and one to the transport. All are
   * validated first: if any is invalid, none is stored or published.
   *
   * Each input is typed by its own `type`, as in {@link Publisher.publish}.
   *
   * @returns the event ids, in input order.
   * @throws {@link EventValidationError} naming the failing event by index (`[2].data.amount`).
   */
  async publishMany<const R extends readonly EventRef[]>(
    inputs: { readonly [I in keyof R]: PublishInput<R[I]> },
    options?: PublishOptions,
  ): Promise<string[]> {
    return this.publishRaw(inputs as unknown as readonly RawInput[], options, true);
  }

  private publishRaw(inputs: readonly RawInput[], options: PublishOptions | undefined, many: boolean): Promise<string[]> {
    return this.ctx.tracing === undefined ? this.publishNow(inputs, options, many) : tracePublish(this.ctx, (spans) => this.publishNow(inputs, options, many, spans));
  }

  private async publishNow(inputs: readonly RawInput[], options: PublishOptions | undefined, many: boolean, spans?: TraceSpan[]): Promise<string[]> {
    const { ctx } = this;
    if (!Array.isArray(inputs)) {
      throw new EventValidationError(undefined, [{ path: '', message: 'publishMany expects an array of events' }]);
    }
    if (inputs.length === 0) return [];
    const now = isoNow(ctx.clock);
    const envelopes: EventEnvelope[] = new Array(inputs.length);
    const messages: OutgoingMessage[] = new Array(inputs.length);
    // An in-process transport takes JSON snapshots and encodes only what it is asked for.
    const values = takesValues(ctx.transport);
    // When no store or span takes the envelopes, each one becomes its own snapshot; the payloads
    // it held are kept, and `published` listeners get envelopes rebuilt with them.
    const inPlace = values && spans === undefined && !ctx.config.eventSourcingEnabled && options?.transaction === undefined;
    const given: Given[] | undefined = inPlace ? new Array(inputs.length) : undefined;
    for (let i = 0; i < inputs.length; i++) {
      const prefix = many && inputs.length > 1 ? batchPrefix(i) : '';
      const env = this.envelope(inputs[i] as RawInput, now, prefix);
      if (spans) spans.push(producerSpan(ctx, env));
      // The snapshot and a bound of its encoded size (locals, not an object per event).
      let value: JsonValue | undefined;
      let maxBytes = 0;
      if (given !== undefined) {
        const data = env.data;
        const metadata = env.metadata;
        const bound = snapshotInPlace(env);
        if (bound !== undefined) {
          value = env as unknown as JsonValue;
          maxBytes = bound;
          given[i] = metadata === undefined ? data : new PayloadFields(data, metadata);
        } else {
          given[i] = undefined;
        }
      }
      if (values && value === undefined) {
        // Circular data, a BigInt or a throwing toJSON: an EventValidationError naming the field.
        const snap = snapshotJson(env, env.type, prefix);
        value = snap.value;
        maxBytes = snap.maxBytes;
      }
      let body = value !== undefined ? undefined : encodeJson(env, env.type, prefix);
      // UTF-16 length x3 (a snapshot's bound) bounds the UTF-8 size, so most events skip the byte count.
      if ((value !== undefined ? maxBytes : (body as string).length * 3) > ctx.config.maxEventBytes) {
        body ??= JSON.stringify(value);
        const bytes = Buffer.byteLength(body);
        if (bytes > ctx.config.maxEventBytes) {
          throw new EventValidationError(env.type, [
            {
              path: 'data',
              message: `the encoded event is ${bytes} bytes; the limit is ${ctx.config.maxEventBytes} (maxEventBytes, PROCUR_EVENT_MAX_EVENT_BYTES). Store large payloads elsewhere and publish a reference.`,
            },
          ]);
        }
      }
      envelopes[i] = env;
      messages[i] = value !== undefined ? new ValueMessage(value, priorityRank(env.priority), body) : { body: body as string, priority: priorityRank(env.priority) };
    }

    const sourcing = ctx.config.eventSourcingEnabled;
    const ids = envelopes.map((e) => e.id);
    if (options?.transaction !== undefined) {
      if (!sourcing) {
        throw new EventValidationError(undefined, [
          { path: 'transaction', message: 'publishing in a transaction needs event sourcing (PROCUR_EVENT_EVENT_SOURCING_ENABLED=true)' },
        ]);
      }
      if (await publishInTransaction(ctx, options.transaction, envelopes, messages, options)) {
        for (const event of envelopes) ctx.hooks.emit('published', { event, deferred: false });
        return ids;
      }
      // The outbox relay publishes these once the application's transaction has committed.
      await ctx.store.append(envelopes, { transaction: options.transaction, ...(options.signal ? { signal: options.signal } : {}) });
      for (const event of envelopes) ctx.hooks.emit('published', { event, deferred: true });
      return ids;
    }
    if (sourcing) await boundedStoreCall(ctx, 'append', options, (o) => ctx.store.append(envelopes, o));
    // The outbox keeps events only as long as the store does: memory (and ':memory:' SQLite) is gone at exit.
    const durableOutbox = sourcing && ctx.store.features.persistent;
    let deferred = false;
    try {
      await ctx.transport.publish(ctx.config.eventStreamName, messages, options);
    } catch (err) {
      if (!durableOutbox) {
        throw err instanceof TransportError
          ? err
          : new TransportError(
              `[event-bus] Could not publish ${envelopes.length} event(s) to '${ctx.config.eventStreamName}': ${(err as Error).message}`,
              { cause: err },
            );
      }
      deferred = true;
      ctx.logger.warn('transport unavailable; events kept in the store outbox and will be re-published', {
        count: envelopes.length,
        stream: ctx.config.eventStreamName,
        error: (err as Error).message,
      });
    }
    if (sourcing && !deferred) {
      try {
        await boundedStoreCall(ctx, 'markPublished', options, (o) => ctx.store.markPublished(ids, o));
      } catch (err) {
        // The transport has the events; the relay may publish them once more (at-least-once).
        ctx.logger.warn('could not mark events published; the outbox relay may publish them again', {
          error: (err as Error).message,
        });
      }
    }
    if (hasListeners(ctx.hooks, 'published')) {
      for (let i = 0; i < envelopes.length; i++) {
        const env = envelopes[i] as EventEnvelope;
        ctx.hooks.emit('published', { event: given === undefined ? env : withPayload(env, given[i]), deferred });
      }
    }
    return ids;
  }

  private fromHelper(type: EventType, input: Record<string, unknown>): RawInput {
    if (typeof input !== 'object' || input === null) {
      throw new EventValidationError(type, [{ path: '', message: 'expected an object of payload and envelope fields' }]);
    }
    const fields: [string, unknown][] = [];
    const out: Record<string, unknown> = { type };
    for (const [k, v] of Object.entries(input)) {
      if ((ENVELOPE_KEYS as readonly string[]).includes(k)) out[k] = v;
      else fields.push([k, v]);
    }
    if (this.ctx.validate) {
      // A helper mixes payload and envelope fields: a misspelled one (budgetMaxx, correlationID)
      // would land in the payload silently, so only the schema's named fields are taken.
      const known = Object.keys(eventSchemas[type].shape);
      const unknown = fields.map(([k]) => k).filter((k) => !known.includes(k));
      if (unknown.length > 0) {
        throw new EventValidationError(
          type,
          unknown.map((k) => ({
            path: k,
            message: `unknown field; '${type}' has ${known.join(', ')}, and the envelope fields ${ENVELOPE_KEYS.join(', ')} (publish({ type, data }) keeps extra payload fields)`,
          })),
        );
      }
    }
    // fromEntries defines own properties: a `__proto__` field stays a field, never the prototype.
    out.data = Object.fromEntries(fields);
    return out as RawInput;
  }

  private envelope(input: RawInput, now: string, prefix: string): EventEnvelope {
    const { ctx } = this;
    if (typeof input !== 'object' || input === null) {
      throw new EventValidationError(undefined, [{ path: prefix.replace(/\.$/, ''), message: 'expected an event object' }]);
    }
    let issues: ValidationIssue[] | undefined;
    const type = eventTypeName(input.type);
    if (typeof type !== 'string' || type.length === 0) {
      throw new EventValidationError(undefined, [
        { path: `${prefix}type`, message: 'must be a non-empty string or a definition made by defineEvent' },
      ]);
    }
    let data: unknown = input.data;
    if (ctx.validate) {
      try {
        data = ctx.registry.validate(type, input.data);
      } catch (err) {
        if (err instanceof EventValidationError && prefix) {
          throw new EventValidationError(
            type,
            err.issues.map((i) => ({ ...i, path: `${prefix}${i.path}` })),
          );
        }
        throw err;
      }
    }
    if (data === undefined) {
      // JSON has no undefined: the event would arrive without `data` and be dead-lettered.
      issues = withIssue(issues, `${prefix}data`, 'is required (use null for an event without a payload)');
    }
    const priority = input.priority ?? 'normal';
    if (!isEventPriority(priority)) {
      issues = withIssue(issues, `${prefix}priority`, "must be one of 'low', 'normal', 'high', 'critical'");
    }
    issues = optionalString(issues, prefix, 'correlationId', input.correlationId);
    issues = optionalString(issues, prefix, 'causationId', input.causationId);
    issues = optionalString(issues, prefix, 'organizationId', input.organizationId);
    issues = optionalString(issues, prefix, 'source', input.source);
    issues = optionalString(issues, prefix, 'id', input.id);
    if (input.userId !== undefined && typeof input.userId !== 'string' && typeof input.userId !== 'number') {
      issues = withIssue(issues, `${prefix}userId`, 'must be a string or a number');
    }
    if (input.metadata !== undefined && (typeof input.metadata !== 'object' || input.metadata === null || Array.isArray(input.metadata))) {
      issues = withIssue(issues, `${prefix}metadata`, 'must be an object');
    }
    let occurredAt = now;
    if (input.occurredAt !== undefined) {
      const at = input.occurredAt;
      const d = at instanceof Date ? at : typeof at === 'string' || typeof at === 'number' ? new Date(at) : new Date(NaN);
      if (Number.isNaN(d.getTime())) issues = withIssue(issues, `${prefix}occurredAt`, 'must be a valid date');
      else occurredAt = d.toISOString();
    }
    if (issues !== undefined) throw new EventValidationError(type, issues);

    const id = (input.id as string | undefined) ?? newEventId();
    const env: EventEnvelope = {
      id,
      type,
      data,
      priority,
      correlationId: input.correlationId ?? id,
      occurredAt,
      version: ENVELOPE_VERSION,
    };
    if (input.causationId !== undefined) env.causationId = input.causationId;
    if (input.userId !== undefined) env.userId = String(input.userId);
    if (input.organizationId !== undefined) env.organizationId = input.organizationId;
    const source = input.source ?? ctx.source;
    if (source !== undefined) env.source = source;
    if (input.metadata !== undefined) env.metadata = input.metadata;
    return env;
  }
}

/** The publisher with its catalog helpers (`publishRequestCreated`, ...). */
export type EventPublisher = Publisher & PublishHelpers;
