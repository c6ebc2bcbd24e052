/**
 * OpenTelemetry tracing, loaded only when `@opentelemetry/api` is installed.
 *
 * The core never imports the API statically: {@link loadTracing} imports it once, at system
 * creation, behind a guard. Without the package (or with `tracing: false`) the system's
 * `ctx.tracing` is `undefined` and every hook is one property check. With the package but no
 * registered tracer provider, the API's no-op tracer makes non-recording spans and no trace
 * context is written to messages.
 *
 * Spans follow the OpenTelemetry messaging semantic conventions: `publish <stream>` and
 * `send <queue>` (PRODUCER, `messaging.operation.type` `send`), `process <stream>` and
 * `run <queue>` (CONSUMER, `process`, the producer's context as parent; a batch links to each
 * event's context instead), and `retry` / `dead_letter` (CLIENT, `settle`) as children of the
 * processing span. The trace context travels as W3C `traceparent` / `tracestate` fields of the
 * event envelope and of the task message (docs/wire-format.md, docs/tracing.md).
 *
 * @module
 */
import type * as OtelApi from '@opentelemetry/api';
import type { SystemContext } from './context.js';
import type { InFlight } from './delivery-loop.js';
import { decodeEnvelope, type EventEnvelope } from './events/envelope.js';
import { decodeTaskMessage, type TaskMessage } from './tasks/message.js';

/** The package name imported lazily (a variable, so no bundler pulls it in). */
const OTEL_API = '@opentelemetry/api';
/** The tracer (instrumentation scope) name. */
export const TRACER_NAME = '@procur/event-bus';
/** `messaging.system` of every span. */
export const MESSAGING_SYSTEM = 'procur';

/** The W3C trace context fields a message may carry (envelope and task message). */
export interface TraceCarrier {
  /** W3C `traceparent`: `00-<trace id>-<parent span id>-<flags>`. */
  traceparent?: string;
  /** W3C `tracestate`: vendor entries, passed on as received. */
  tracestate?: string;
}

/** What describes one message operation (attributes of its span). @internal */
export interface MessageSpec {
  /** `messaging.destination.name`: the stream or queue. */
  destination: string;
  /** `messaging.message.id`. */
  id: string;
  /** `messaging.message.conversation_id`: the correlation id. */
  correlationId?: string;
  /** `messaging.consumer.group.name`. */
  group?: string;
  /** `messaging.client.id`: the consumer member or worker id. */
  client?: string;
  /** Further attributes (`procur.*`). */
  attributes?: Record<string, string | number | boolean>;
}

/** A started span the caller ends. @internal */
export interface TraceSpan {
  /** Ends the span; an error marks it failed (status ERROR, `error.type`, an exception event). */
  end(error?: unknown): void;
}

/**
 * The tracing hooks of one system. Only present when the API loaded; none of its types refer to
 * the API, so declarations never import it.
 *
 * @internal
 */
export interface Tracing {
  /**
   * False while no tracer provider is registered (the API's no-op provider): the hooks then skip
   * all tracing work, so an installed but unused API costs one check per message.
   */
  live(): boolean;
  /**
   * Starts a PRODUCER span for one outgoing message and writes its context into `carrier`
   * (only when the span context is valid: with no provider registered nothing is written).
   */
  produce(operation: 'publish' | 'send', spec: MessageSpec, carrier: TraceCarrier): TraceSpan;
  /**
   * Runs `fn` in a CONSUMER `process` span whose parent is the context `carrier` holds (a new
   * trace without one). `key` names the processing for {@link Tracing.settle} and {@link Tracing.fail}.
   * The span ends when `fn` returns, or when its promise settles.
   */
  process<T>(key: object, operation: 'process' | 'run', spec: MessageSpec, carrier: TraceCarrier, fn: () => T): T;
  /**
   * Runs `fn` in one CONSUMER `process` span for a batch, linked to each message's context.
   */
  processBatch<T>(key: object, spec: MessageSpec & { count: number }, carriers: readonly TraceCarrier[], fn: () => T): T;
  /** Records a settlement (`retry`, `dead_letter`) of the processing `key` as a CLIENT `settle` child span. */
  settle(key: object, operation: 'retry' | 'dead_letter', destination: string, error: unknown, attributes?: Record<string, string | number | boolean>): void;
  /** Marks the processing `key` failed (the span ends with status ERROR). */
  fail(key: object, error: unknown): void;
}

type Api = typeof OtelApi;
type Importer = (specifier: string) => Promise<unknown>;

/**
 * Loads tracing: imports `@opentelemetry/api` when `enabled` and the package can be resolved.
 * Returns `undefined` when it is off or not installed (nothing else is loaded then).
 *
 * @param enabled - the system's `tracing` option. @default true
 * @param importer - how to import the API (tests pass a failing one).
 * @internal
 */
export async function loadTracing(enabled: boolean | undefined, importer: Importer = (s) => import(s)): Promise<Tracing | undefined> {
  if (enabled === false) return undefined;
  let mod: unknown;
  try {
    mod = await importer(OTEL_API);
  } catch {
    return undefined;
  }
  const api = pickApi(mod);
  return api ? new OtelTracing(api) : undefined;
}

function pickApi(mod: unknown): Api | undefined {
  const m = mod as Partial<Api> & { default?: Partial<Api> };
  if (m && typeof m.trace?.getTracer === 'function' && m.context) return m as Api;
  if (m?.default && typeof m.default.trace?.getTracer === 'function' && m.default.context) return m.default as Api;
  return undefined;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * Parses a W3C `traceparent` (and `tracestate`) into a span context, or `undefined` when it is
 * missing or malformed (then a new trace starts: a bad header never fails a message).
 *
 * @internal
 */
export function parseTraceparent(
  traceparent: unknown,
  tracestate?: unknown,
): { traceId: string; spanId: string; traceFlags: number; tracestate?: string } | undefined {
  if (typeof traceparent !== 'string' || traceparent.length > 512) return undefined;
  const m = TRACEPARENT.exec(traceparent.trim());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  const out: { traceId: string; spanId: string; traceFlags: number; tracestate?: string } = {
    traceId,
    spanId,
    traceFlags: parseInt(flags, 16) & 0xff,
  };
  if (typeof tracestate === 'string' && tracestate.length > 0 && tracestate.length <= 512) out.tracestate = tracestate;
  return out;
}

/** Formats a span context as a W3C `traceparent`. @internal */
export function formatTraceparent(traceId: string, spanId: string, traceFlags: number): string {
  return `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

const NOOP_SPAN: TraceSpan = { end() {} };

class OtelTracing implements Tracing {
  private readonly tracer: OtelApi.Tracer;
  private readonly spans = new WeakMap<object, OtelApi.Span>();
  /** The API's no-op provider: what the global proxy delegates to while none is registered. */
  private readonly noop: unknown;

  constructor(private readonly api: Api) {
    this.tracer = api.trace.getTracer(TRACER_NAME);
    const Proxy = (api as { ProxyTracerProvider?: new () => { getDelegate?: () => unknown } }).ProxyTracerProvider;
    this.noop = typeof Proxy === 'function' ? new Proxy().getDelegate?.() : undefined;
  }

  live(): boolean {
    if (this.noop === undefined) return true;
    const p = this.api.trace.getTracerProvider() as { getDelegate?: () => unknown };
    // A provider that is not the API's proxy (or a proxy of another copy of the API): assume live.
    return typeof p.getDelegate !== 'function' || p.getDelegate() !== this.noop;
  }

  produce(operation: 'publish' | 'send', spec: MessageSpec, carrier: TraceCarrier): TraceSpan {
    const { api } = this;
    const span = this.tracer.startSpan(`${operation} ${spec.destination}`, {
      kind: api.SpanKind.PRODUCER,
      attributes: this.attributes(operation, 'send', spec),
    });
    const sc = span.spanContext();
    if (!api.isSpanContextValid(sc)) {
      span.end();
      return NOOP_SPAN;
    }
    carrier.traceparent = formatTraceparent(sc.traceId, sc.spanId, sc.traceFlags);
    const state = sc.traceState?.serialize();
    if (state) carrier.tracestate = state;
    if (!span.isRecording()) {
      span.end();
      return NOOP_SPAN;
    }
    return { end: (error?: unknown) => this.finish(span, error) };
  }

  process<T>(key: object, operation: 'process' | 'run', spec: MessageSpec, carrier: TraceCarrier, fn: () => T): T {
    const { api } = this;
    const parent = this.extract(carrier);
    const span = this.tracer.startSpan(
      `${operation} ${spec.destination}`,
      { kind: api.SpanKind.CONSUMER, attributes: this.attributes(operation, 'process', spec) },
      parent ?? api.ROOT_CONTEXT,
    );
    // No provider (or dropped by the sampler) and no incoming context: nothing to record or pass on.
    if (!span.isRecording() && parent === undefined) return fn();
    return this.run(key, span, fn);
  }

  processBatch<T>(key: object, spec: MessageSpec & { count: number }, carriers: readonly TraceCarrier[], fn: () => T): T {
    const { api } = this;
    const links: OtelApi.Link[] = [];
    for (const c of carriers) {
      const parent = this.extract(c);
      if (parent) links.push({ context: api.trace.getSpanContext(parent) as OtelApi.SpanContext });
    }
    const attributes = this.attributes('process', 'process', spec);
    attributes['messaging.batch.message_count'] = spec.count;
    const span = this.tracer.startSpan(`process ${spec.destination}`, { kind: api.SpanKind.CONSUMER, attributes, links }, api.ROOT_CONTEXT);
    if (!span.isRecording()) return fn();
    return this.run(key, span, fn);
  }

  settle(key: object, operation: 'retry' | 'dead_letter', destination: string, error: unknown, attributes: Record<string, string | number | boolean> = {}): void {
    const parent = this.spans.get(key);
    if (!parent?.isRecording()) return;
    const { api } = this;
    const span = this.tracer.startSpan(
      `${operation} ${destination}`,
      {
        kind: api.SpanKind.CLIENT,
        attributes: {
          'messaging.system': MESSAGING_SYSTEM,
          'messaging.destination.name': destination,
          'messaging.operation.type': 'settle',
          'messaging.operation.name': operation,
          ...attributes,
          ...(error instanceof Error ? { 'error.type': error.name || 'Error' } : {}),
        },
      },
      api.trace.setSpan(api.context.active(), parent),
    );
    span.end();
    this.fail(key, error);
  }

  fail(key: object, error: unknown): void {
    const span = this.spans.get(key);
    if (!span) return;
    this.mark(span, error);
  }

  private run<T>(key: object, span: OtelApi.Span, fn: () => T): T {
    const { api } = this;
    this.spans.set(key, span);
    const done = (error?: unknown) => {
      this.spans.delete(key);
      this.finish(span, error);
    };
    let out: T;
    try {
      out = api.context.with(api.trace.setSpan(api.context.active(), span), fn);
    } catch (err) {
      done(err);
      throw err;
    }
    if (out !== null && typeof out === 'object' && typeof (out as { then?: unknown }).then === 'function') {
      (out as unknown as Promise<unknown>).then(
        () => done(),
        (err: unknown) => done(err),
      );
    } else done();
    return out;
  }

  private extract(carrier: TraceCarrier): OtelApi.Context | undefined {
    const parsed = parseTraceparent(carrier.traceparent, carrier.tracestate);
    if (!parsed) return undefined;
    const { api } = this;
    const sc: OtelApi.SpanContext = { traceId: parsed.traceId, spanId: parsed.spanId, traceFlags: parsed.traceFlags, isRemote: true };
    if (parsed.tracestate !== undefined && typeof api.createTraceState === 'function') {
      try {
        sc.traceState = api.createTraceState(parsed.tracestate);
      } catch {
        // A malformed tracestate is dropped; the traceparent still holds.
      }
    }
    return api.trace.setSpanContext(api.ROOT_CONTEXT, sc);
  }

  private attributes(operation: string, type: string, spec: MessageSpec): OtelApi.Attributes {
    const a: OtelApi.Attributes = {
      'messaging.system': MESSAGING_SYSTEM,
      'messaging.destination.name': spec.destination,
      'messaging.operation.type': type,
      'messaging.operation.name': operation,
    };
    if (spec.id) a['messaging.message.id'] = spec.id;
    if (spec.correlationId !== undefined) a['messaging.message.conversation_id'] = spec.correlationId;
    if (spec.group !== undefined) a['messaging.consumer.group.name'] = spec.group;
    if (spec.client !== undefined) a['messaging.client.id'] = spec.client;
    if (spec.attributes) Object.assign(a, spec.attributes);
    return a;
  }

  private mark(span: OtelApi.Span, error: unknown): void {
    if (error === undefined || !span.isRecording()) return;
    const err = error instanceof Error ? error : new Error(String(error));
    span.recordException(err);
    span.setAttribute('error.type', err.name || 'Error');
    span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: err.message });
  }

  private finish(span: OtelApi.Span, error?: unknown): void {
    this.mark(span, error);
    span.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Hooks called from the publisher, the task sender, the consumer and the worker (one line each).

/** Runs a publish with a list its producer spans go into; ends them with its outcome. @internal */
export async function tracePublish<T>(ctx: SystemContext, publish: (spans?: TraceSpan[]) => Promise<T>): Promise<T> {
  if (!(ctx.tracing as Tracing).live()) return publish();
  const spans: TraceSpan[] = [];
  try {
    const out = await publish(spans);
    for (const s of spans) s.end();
    return out;
  } catch (err) {
    for (const s of spans) s.end(err);
    throw err;
  }
}

/** The PRODUCER span of one event (writes `traceparent`/`tracestate` into the envelope). @internal */
export function producerSpan(ctx: SystemContext, env: EventEnvelope): TraceSpan {
  return (ctx.tracing as Tracing).produce(
    'publish',
    { destination: ctx.config.eventStreamName, id: env.id, correlationId: env.correlationId, attributes: { 'procur.event.type': env.type } },
    env,
  );
}

/** The PRODUCER span of one task message (writes its trace context into the message). @internal */
export function taskSendSpan(ctx: SystemContext, msg: TaskMessage): TraceSpan {
  return (ctx.tracing as Tracing).produce(
    'send',
    { destination: msg.queue, id: msg.id, correlationId: msg.correlationId, attributes: { 'procur.task.name': msg.task } },
    msg,
  );
}

/** What a traced consumer processor needs of its consumer. @internal */
export interface TracedConsumer {
  readonly stream: string;
  readonly group: string;
  readonly memberName: string;
  /** True when a batch handler takes this type (it traces the batch itself). */
  isBatchType(type: string): boolean;
}

/**
 * The delivery processor of a consumer: `handle` as is without tracing; with it, the delivery is
 * decoded first and handled (`handle(f, event)`) inside a `process <stream>` CONSUMER span whose
 * parent is the publisher's context. An undecodable delivery is handled untraced (it is
 * dead-lettered).
 *
 * @internal
 */
export function traceConsumer(
  ctx: SystemContext,
  consumer: TracedConsumer,
  handle: (f: InFlight, event?: EventEnvelope) => Promise<void> | undefined,
): (f: InFlight) => Promise<void> | undefined {
  const tracing = ctx.tracing;
  if (tracing === undefined) return (f) => handle(f);
  return (f) => {
    if (!tracing.live()) return handle(f);
    let event: EventEnvelope;
    try {
      event = decodeEnvelope(f.delivery.body);
    } catch {
      return handle(f);
    }
    if (consumer.isBatchType(event.type)) return handle(f, event);
    return tracing.process(
      f,
      'process',
      {
        destination: consumer.stream,
        id: event.id,
        correlationId: event.correlationId,
        group: consumer.group,
        client: consumer.memberName,
        attributes: { 'procur.event.type': event.type, 'procur.attempt': f.delivery.attempt },
      },
      event,
      () => handle(f, event),
    );
  };
}

/**
 * The delivery processor of a worker queue: `run` as is without tracing; with it, the task is
 * decoded first and run inside a `run <queue>` CONSUMER span whose parent is the sender's context.
 *
 * @internal
 */
export function traceWorker(
  ctx: SystemContext,
  queue: string,
  group: string,
  worker: string,
  run: (f: InFlight, msg?: TaskMessage) => Promise<void>,
): (f: InFlight) => Promise<void> {
  const tracing = ctx.tracing;
  if (tracing === undefined) return (f) => run(f);
  return (f) => {
    if (!tracing.live()) return run(f);
    let msg: TaskMessage;
    try {
      msg = decodeTaskMessage(f.delivery.body);
    } catch {
      return run(f);
    }
    return tracing.process(
      f,
      'run',
      {
        destination: queue,
        id: msg.id,
        correlationId: msg.correlationId,
        group,
        client: worker,
        attributes: { 'procur.task.name': msg.task, 'procur.attempt': f.delivery.attempt },
      },
      msg,
      () => run(f, msg),
    );
  };
}

/** Records a retry or dead-letter of a delivery being processed (no-op without tracing). @internal */
export function traceSettle(
  ctx: SystemContext,
  f: InFlight,
  operation: 'retry' | 'dead_letter',
  destination: string,
  error: unknown,
  attempt: number,
  delayMs?: number,
): void {
  ctx.tracing?.settle(f, operation, destination, error, {
    'procur.attempt': attempt,
    ...(delayMs !== undefined ? { 'procur.retry.delay_ms': delayMs } : {}),
  });
}

/** Ends every span of `spans` (if any) with the outcome. @internal */
export function endSpans(spans: readonly TraceSpan[] | undefined, error?: unknown): void {
  if (spans) for (const s of spans) s.end(error);
}
