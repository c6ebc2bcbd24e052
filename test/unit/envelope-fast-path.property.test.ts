/**
 * `decodeEnvelope` checks what the library writes in one go and only looks for the field to
 * blame when that fails: for any object, it returns and throws exactly what the field-by-field
 * checks (the reference below, the decoder before the fast path) do. Seeded and bounded.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError, decodeEnvelope } from '../../src/index.js';

const SEED = 20261204;

/** The field-by-field decoder (the checks of `decodeEnvelope`, one field at a time). */
function reference(text: string): Record<string, unknown> {
  const o = JSON.parse(text) as Record<string, unknown>;
  const field = (key: string, kind: 'string' | 'number', required: boolean) => {
    const v = o[key];
    if (v === undefined || v === null) {
      if (required) throw new DecodeError(`[event-bus] Cannot decode event: field '${key}' is missing`);
      return;
    }
    if (typeof v !== kind) throw new DecodeError(`[event-bus] Cannot decode event: field '${key}' must be a ${kind}`);
  };
  field('version', 'number', true);
  if (o.version !== 1) {
    throw new DecodeError(`[event-bus] Cannot decode event: unknown envelope version ${String(o.version)} (this library reads version 1)`);
  }
  field('id', 'string', true);
  field('type', 'string', true);
  field('occurredAt', 'string', true);
  for (const k of ['correlationId', 'causationId', 'userId', 'organizationId', 'source']) field(k, 'string', false);
  if (!('data' in o)) throw new DecodeError("[event-bus] Cannot decode event: field 'data' is missing");
  if (o.priority === undefined) o.priority = 'normal';
  else if (!(typeof o.priority === 'string' && ['low', 'normal', 'high', 'critical'].includes(o.priority))) {
    throw new DecodeError(`[event-bus] Cannot decode event: unknown priority ${JSON.stringify(o.priority)}`);
  }
  if (o.correlationId === undefined || o.correlationId === null) o.correlationId = o.id;
  if (o.metadata !== undefined && (typeof o.metadata !== 'object' || o.metadata === null)) {
    throw new DecodeError("[event-bus] Cannot decode event: field 'metadata' must be an object");
  }
  if (o.traceparent !== undefined && typeof o.traceparent !== 'string') delete o.traceparent;
  if (o.tracestate !== undefined && typeof o.tracestate !== 'string') delete o.tracestate;
  return o;
}

const KEYS = ['id', 'type', 'data', 'priority', 'correlationId', 'causationId', 'userId', 'organizationId', 'source', 'occurredAt', 'version', 'metadata', 'traceparent', 'tracestate'] as const;

/** A value a field may hold instead (`undefined`: the field left out). */
const oddValue = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.string(),
  fc.integer({ min: -1, max: 3 }),
  fc.boolean(),
  fc.dictionary(fc.string(), fc.integer()),
  fc.array(fc.integer()),
  fc.constantFrom('low', 'normal', 'high', 'critical', 'urgent', 'toString'),
);

/** An envelope as the library writes it (optional fields present or not), with up to three fields replaced. */
const objectArb = fc
  .tuple(
    fc.record(
      {
        id: fc.string(),
        type: fc.string(),
        data: fc.jsonValue(),
        priority: fc.constantFrom('low', 'normal', 'high', 'critical'),
        correlationId: fc.string(),
        causationId: fc.string(),
        userId: fc.string(),
        organizationId: fc.string(),
        source: fc.string(),
        occurredAt: fc.string(),
        version: fc.constant(1),
        metadata: fc.dictionary(fc.string(), fc.jsonValue()),
        traceparent: fc.string(),
        tracestate: fc.string(),
      },
      { requiredKeys: ['id', 'type', 'data', 'priority', 'correlationId', 'occurredAt', 'version'] },
    ),
    fc.array(fc.tuple(fc.constantFrom(...KEYS), oddValue), { maxLength: 3 }),
  )
  .map(([base, changes]) => {
    const o: Record<string, unknown> = { ...base };
    for (const [k, v] of changes) {
      if (v === undefined) delete o[k];
      else o[k] = v;
    }
    return o;
  });

function outcome(f: () => Record<string, unknown>): { ok: Record<string, unknown>; keys: string[] } | { error: string } {
  try {
    const ok = f();
    return { ok, keys: Object.keys(ok) };
  } catch (err) {
    expect(err).toBeInstanceOf(DecodeError);
    return { error: (err as Error).message };
  }
}

describe('decodeEnvelope fast path', () => {
  it('decodes and refuses exactly as the field-by-field checks, for any object', () => {
    fc.assert(
      fc.property(objectArb, (o) => {
        const text = JSON.stringify(o);
        expect(outcome(() => decodeEnvelope(text) as unknown as Record<string, unknown>)).toStrictEqual(outcome(() => reference(text)));
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });
});
