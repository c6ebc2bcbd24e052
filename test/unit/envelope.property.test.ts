/**
 * Property-based tests of the envelope decoder (issue 10): whatever text arrives on a stream,
 * `decodeEnvelope` returns an envelope with the fields a consumer relies on or throws
 * `DecodeError`; a consumer hands every entry to a handler or to the dead letter queue, and
 * never crashes or stops. Seeded and bounded.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError, EventType, decodeEnvelope, encodeEnvelope, isEventBusError, type EventEnvelope } from '../../src/index.js';
import { createTestSystem, waitUntil } from '../../src/testing/index.js';

const SEED = 20261202;
const PRIORITIES = ['low', 'normal', 'high', 'critical'] as const;

/** A well-formed envelope with arbitrary (JSON) data. */
const envelopeArb: fc.Arbitrary<EventEnvelope> = fc.record(
  {
    id: fc.string({ minLength: 1 }),
    type: fc.string({ minLength: 1 }),
    data: fc.jsonValue(),
    priority: fc.constantFrom(...PRIORITIES),
    correlationId: fc.string({ minLength: 1 }),
    causationId: fc.string(),
    userId: fc.string(),
    organizationId: fc.string(),
    source: fc.string(),
    occurredAt: fc.string(),
    version: fc.constant(1),
    metadata: fc.dictionary(fc.string(), fc.jsonValue()),
  },
  { requiredKeys: ['id', 'type', 'data', 'priority', 'correlationId', 'occurredAt', 'version'] },
) as fc.Arbitrary<EventEnvelope>;

const FIELDS = ['id', 'type', 'data', 'priority', 'correlationId', 'causationId', 'userId', 'organizationId', 'source', 'occurredAt', 'version', 'metadata', '__proto__', 'constructor', 'toString'];

/** Strings that trip lookups on plain objects and byte-level handling. */
const nastyString = fc.oneof(fc.string(), fc.constantFrom('toString', '__proto__', 'constructor', 'valueOf', 'hasOwnProperty', '', '\u0000', '\u001b[2J'));

/** An envelope with some fields replaced by arbitrary JSON values or removed. */
const mangledArb = fc
  .tuple(envelopeArb, fc.dictionary(fc.constantFrom(...FIELDS), fc.option(fc.oneof(fc.jsonValue(), nastyString), { nil: undefined })))
  .map(([env, patch]) => JSON.stringify({ ...env, ...patch }));

/** An envelope with exactly one field replaced (most likely to reach past the first check). */
const oneFieldArb = fc
  .tuple(envelopeArb, fc.constantFrom(...FIELDS), fc.oneof(nastyString, fc.jsonValue()))
  .map(([env, key, value]) => JSON.stringify({ ...env, [key]: value }));

/** Any text: JSON of any shape, mangled envelopes, and arbitrary strings. */
const textArb = fc.oneof(oneFieldArb, oneFieldArb, mangledArb, fc.json(), fc.string(), fc.string({ unit: 'binary' }), envelopeArb.map((e) => JSON.stringify(e)));

function checkDecoded(e: EventEnvelope): void {
  expect(typeof e.id).toBe('string');
  expect(typeof e.type).toBe('string');
  expect(typeof e.occurredAt).toBe('string');
  expect(typeof e.correlationId).toBe('string');
  expect(PRIORITIES).toContain(e.priority);
  expect(e.version).toBe(1);
  expect('data' in e).toBe(true);
  for (const k of ['causationId', 'userId', 'organizationId', 'source'] as const) {
    expect(e[k] === undefined || e[k] === null || typeof e[k] === 'string').toBe(true);
  }
  if (e.metadata !== undefined) expect(typeof e.metadata === 'object' && e.metadata !== null).toBe(true);
}

describe('decodeEnvelope (property)', () => {
  it('returns a usable envelope or throws DecodeError, for any text', () => {
    fc.assert(
      fc.property(textArb, (text) => {
        let e: EventEnvelope;
        try {
          e = decodeEnvelope(text);
        } catch (err) {
          expect(err).toBeInstanceOf(DecodeError);
          expect(isEventBusError(err, 'ERR_DECODE')).toBe(true);
          return;
        }
        checkDecoded(e);
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('round trips every well-formed envelope', () => {
    fc.assert(
      fc.property(envelopeArb, (env) => {
        const decoded = decodeEnvelope(encodeEnvelope(env));
        expect(decoded).toEqual(JSON.parse(JSON.stringify(env)));
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it('a consumer hands every stream entry to its handler or to the DLQ, and keeps going', async () => {
    const bus = await createTestSystem({ allowUnknownTypes: true, config: { dlqMaxRetries: 0 } });
    try {
      let handled = 0;
      await bus
        .consumer('prop')
        .registerHandler('*', () => void handled++)
        .start({ blockMs: 20 });
      let dead = 0;
      bus.on('dead-lettered', () => void dead++);
      let sent = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(fc.oneof(textArb, mangledArb.map((t) => t.replace('"type":', '"type":"x","t":'))), { minLength: 1, maxLength: 20 }), async (bodies) => {
          await bus.transport.publish(bus.config.eventStreamName, bodies.map((body) => ({ body, priority: 1 })));
          sent += bodies.length;
          await waitUntil(() => handled + dead === sent, 10_000);
        }),
        { seed: SEED, numRuns: 40 },
      );
      expect(handled + dead).toBe(sent);
      expect(handled).toBeGreaterThan(0);
      expect(dead).toBeGreaterThan(0);
      // Still consuming after all of that.
      const before = handled;
      await bus.publisher.publish({ type: EventType.CONTRACT_ACTIVATED, data: { contractId: 'c' } });
      await waitUntil(() => handled === before + 1, 10_000);
    } finally {
      await bus.close();
    }
  });
});
