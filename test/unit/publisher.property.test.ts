/**
 * Property-based tests of the publisher's inputs (issue 10): whatever a caller passes to
 * `publish`, `publishMany` or a catalog helper, the call resolves with ids or rejects with an
 * `EventBusError` (never a raw `TypeError`), and every event it accepted reaches a consumer's
 * handler (none is dead-lettered for a shape the publisher let through). Seeded and bounded.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { EventType, defineEvent, isEventBusError, type EventSystem } from '../../src/index.js';
import { createTestSystem, waitUntil } from '../../src/testing/index.js';

const SEED = 20261202;
const PROTO_NAMES = ['toString', '__proto__', 'constructor', 'valueOf', 'hasOwnProperty'];
const Custom = defineEvent('prop.custom', z.object({ n: z.number(), s: z.string().optional() }));

const nastyString = fc.oneof(fc.string(), fc.constantFrom(...PROTO_NAMES, '', '\u0000', ' '));
/** Any value, BigInts, Maps, Dates, typed arrays, null prototypes, sparse arrays and circular objects included. */
const anyValue = fc.oneof(
  fc.anything({
    withBigInt: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withTypedArray: true,
    withSparseArray: true,
    withNullPrototype: true,
    withBoxedValues: true,
    withObjectString: true,
  }),
  fc.constant(undefined),
  fc.jsonValue(),
  fc.letrec((tie) => ({ node: fc.record({ v: fc.integer(), next: fc.option(tie('node'), { maxDepth: 3 }) }) })).node.map((o) => {
    (o as Record<string, unknown>).self = o;
    return o;
  }),
);

const typeArb = fc.oneof(fc.constantFrom(...Object.values(EventType), Custom.type), nastyString, anyValue);

/** A payload that is often valid for the chosen catalog type, with arbitrary values mixed in. */
const dataArb = fc.oneof(
  anyValue,
  fc.dictionary(
    fc.oneof(fc.constantFrom('requestId', 'description', 'budgetMax', 'contractId', 'negotiationId', 'n', 's', 'message', ...PROTO_NAMES), fc.string()),
    fc.oneof(fc.string({ minLength: 1 }), fc.double(), fc.integer(), anyValue),
  ),
);

/** Inputs the publisher should accept, with arbitrary extra payload fields and envelope options. */
const validArb = fc
  .tuple(
    fc.constantFrom(
      { type: EventType.REQUEST_CREATED, data: { requestId: 'r1', description: 'd' } },
      { type: EventType.NEGOTIATION_OFFER_RECEIVED, data: { negotiationId: 'n1', amount: 10, currency: 'EUR' } },
      { type: EventType.CONTRACT_ACTIVATED, data: { contractId: 'c1' } },
      { type: EventType.NOTIFICATION_WEBHOOK, data: { url: 'https://example.com/h', payload: { a: 1 } } },
      { type: Custom.type, data: { n: 1 } },
    ),
    fc.dictionary(nastyString, fc.jsonValue(), { maxKeys: 4 }),
    fc.record(
      {
        priority: fc.constantFrom('low', 'normal', 'high', 'critical'),
        correlationId: fc.string({ minLength: 1, maxLength: 40 }),
        userId: fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.integer()),
        metadata: fc.dictionary(nastyString, fc.jsonValue()),
        occurredAt: fc.date({ noInvalidDate: true, min: new Date(0), max: new Date(4e12) }),
      },
      { requiredKeys: [] },
    ),
  )
  .map(([base, extra, envelope]) => ({ ...envelope, type: base.type, data: { ...extra, ...base.data } }));

const inputArb = fc.record(
  {
    type: typeArb,
    data: dataArb,
    priority: fc.oneof(fc.constantFrom('low', 'normal', 'high', 'critical'), nastyString, anyValue),
    correlationId: fc.oneof(nastyString, anyValue),
    causationId: fc.oneof(nastyString, anyValue),
    userId: fc.oneof(nastyString, fc.integer(), fc.double(), anyValue),
    organizationId: fc.oneof(nastyString, anyValue),
    source: fc.oneof(nastyString, anyValue),
    metadata: fc.oneof(fc.dictionary(nastyString, anyValue), anyValue),
    id: fc.oneof(nastyString, anyValue),
    occurredAt: fc.oneof(fc.date(), fc.string(), fc.constantFrom('2026-01-01T00:00:00Z', 'Infinity', ''), anyValue),
  },
  { requiredKeys: [] },
);

function expectTyped(err: unknown): void {
  if (!isEventBusError(err)) throw new Error(`not an EventBusError: ${String((err as Error)?.stack ?? err)}`);
}

describe.each([
  ['validating', {}],
  ['accepting unknown types', { allowUnknownTypes: true }],
  ['with validation off', { validate: false }],
] as const)('publisher inputs (property), %s', (_name, options) => {
  let bus: EventSystem;
  let handled = 0;
  let dead = 0;
  let accepted = 0;

  beforeAll(async () => {
    bus = await createTestSystem({ ...options, config: { dlqMaxRetries: 0 } });
    await bus.consumer('prop').registerHandler('*', () => void handled++).start({ blockMs: 20 });
    bus.on('dead-lettered', (p) => {
      dead++;
      console.error('dead-lettered an accepted event:', p.body.slice(0, 300), p.error.message);
    });
  });
  afterAll(() => bus.close());

  async function attempt(call: () => Promise<string[]>): Promise<void> {
    let ids: string[];
    try {
      ids = await call();
    } catch (err) {
      expectTyped(err);
      return;
    }
    expect(Array.isArray(ids)).toBe(true);
    for (const id of ids) expect(typeof id).toBe('string');
    accepted += ids.length;
  }

  it('publish resolves with an id or rejects with an EventBusError; accepted events are handled', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(validArb, inputArb, anyValue), async (input) => {
        await attempt(async () => [await bus.publisher.publish(input as never)]);
        await waitUntil(() => handled + dead >= accepted, 10_000);
        expect(dead).toBe(0);
      }),
      { seed: SEED, numRuns: 400 },
    );
    expect(accepted).toBeGreaterThan(0);
  });

  it('publishMany: all or nothing, typed errors only', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.array(fc.oneof(validArb, validArb, inputArb, anyValue), { maxLength: 5 }), anyValue), async (inputs) => {
        await attempt(() => bus.publisher.publishMany(inputs as never));
        await waitUntil(() => handled + dead >= accepted, 10_000);
        expect(dead).toBe(0);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('catalog helpers: typed errors only', async () => {
    const helpers = Object.keys(EventType).map((k) => `publish${k.toLowerCase().split('_').map((p) => p[0]!.toUpperCase() + p.slice(1)).join('')}`);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...helpers), fc.oneof(dataArb, inputArb, validArb.map((v) => ({ ...v.data, correlationId: 'c' }))), async (helper, input) => {
        const fn = (bus.publisher as unknown as Record<string, (i: unknown) => Promise<string>>)[helper];
        expect(typeof fn).toBe('function');
        await attempt(async () => [await fn!(input)]);
        await waitUntil(() => handled + dead >= accepted, 10_000);
        expect(dead).toBe(0);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});
