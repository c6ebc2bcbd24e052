import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  DecodeError,
  EventRegistry,
  EventType,
  EventValidationError,
  backoffDelay,
  decodeEnvelope,
  defineEvent,
  encodeEnvelope,
  eventSchemas,
  newEventId,
  priorityFromRank,
  priorityRank,
} from '../../src/index.js';
import { createTestSystem, waitForEvent } from '../../src/testing/index.js';

describe('event ids', () => {
  it('are UUIDv7 and sort by creation time', () => {
    const ids = Array.from({ length: 1000 }, () => newEventId());
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(1000);
  });
});

describe('catalog', () => {
  it('has the seed catalog: 4 request, 5 vendor, 6 negotiation, 5 contract, 4 notification, 2 integration, 2 system', () => {
    const values = Object.values(EventType);
    const count = (prefix: string) => values.filter((v) => v.startsWith(prefix)).length;
    expect([count('request.'), count('vendor.'), count('negotiation.'), count('contract.'), count('notification.'), count('integration.'), count('system.')]).toEqual([4, 5, 6, 5, 4, 2, 2]);
    expect(Object.keys(eventSchemas).sort()).toEqual([...values].sort());
  });
});

describe('envelope codec', () => {
  const env = {
    id: newEventId(),
    type: 'request.created',
    data: { requestId: 'r1', description: 'x' },
    priority: 'high' as const,
    correlationId: 'c1',
    occurredAt: new Date().toISOString(),
    version: 1,
  };

  it('round trips', () => {
    expect(decodeEnvelope(encodeEnvelope(env))).toEqual(env);
  });

  it.each([
    ['not json', 'nope{', /not JSON/],
    ['an array', '[1]', /JSON object/],
    ['an unknown version', JSON.stringify({ ...env, version: 9 }), /unknown envelope version 9/],
    ['no id', JSON.stringify({ ...env, id: undefined }), /'id' is missing/],
    ['no data', JSON.stringify({ ...env, data: undefined }), /'data' is missing/],
    ['a bad priority', JSON.stringify({ ...env, priority: 'urgent' }), /unknown priority/],
    ['a numeric type', JSON.stringify({ ...env, type: 5 }), /'type' must be a string/],
  ])('refuses %s with a DecodeError', (_name, text, message) => {
    expect(() => decodeEnvelope(text)).toThrow(DecodeError);
    expect(() => decodeEnvelope(text)).toThrow(message);
  });

  it('defaults priority and correlation id for foreign producers', () => {
    const e = decodeEnvelope(JSON.stringify({ id: 'a', type: 't', data: 1, occurredAt: 'x', version: 1 }));
    expect(e.priority).toBe('normal');
    expect(e.correlationId).toBe('a');
  });

  it('maps priorities to ranks and back', () => {
    expect(['low', 'normal', 'high', 'critical'].map((p) => priorityRank(p as never))).toEqual([0, 1, 2, 3]);
    expect(priorityFromRank(9)).toBe('critical');
    expect(priorityFromRank(-1)).toBe('low');
  });
});

describe('registry and defineEvent', () => {
  it('validates catalog payloads and names the failing fields', () => {
    const r = new EventRegistry();
    expect(r.validate(EventType.REQUEST_CREATED, { requestId: 'r', description: 'd', budgetMax: 5, extra: 1 })).toEqual({
      requestId: 'r',
      description: 'd',
      budgetMax: 5,
      extra: 1,
    });
    try {
      r.validate(EventType.REQUEST_CREATED, { requestId: '', budgetMax: -1 });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(EventValidationError);
      const paths = (err as EventValidationError).issues.map((i) => i.path).sort();
      expect(paths).toEqual(['data.budgetMax', 'data.description', 'data.requestId']);
      expect((err as Error).message).toContain("'request.created'");
    }
  });

  it('refuses unknown types unless allowed', () => {
    expect(() => new EventRegistry().validate('nope.type', {})).toThrow(/unknown event type 'nope.type'/);
    expect(new EventRegistry([], true).validate('nope.type', { a: 1 })).toEqual({ a: 1 });
  });

  it('registers custom types, process wide and per system', () => {
    const def = defineEvent('test.custom-global', z.object({ n: z.number() }));
    expect(new EventRegistry().validate(def.type, { n: 1 })).toEqual({ n: 1 });
    expect(() => new EventRegistry().validate(def.type, { n: 'x' })).toThrow(/data\.n/);
    const local = { type: 'test.local', schema: z.object({ s: z.string() }) };
    expect(new EventRegistry([local]).has('test.local')).toBe(true);
    expect(new EventRegistry().has('test.local')).toBe(false);
  });

  it('refuses malformed type names', () => {
    expect(() => defineEvent('', z.any())).toThrow(EventValidationError);
    expect(() => defineEvent('has space', z.any())).toThrow(/letters, digits/);
  });
});

/** The refusal `fn` throws: must be an EventValidationError (never a raw TypeError). */
async function refusal(fn: () => unknown): Promise<EventValidationError> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a refusal').toBeInstanceOf(EventValidationError);
  return caught as EventValidationError;
}

describe('data JSON cannot hold (issue 10, hole 8)', () => {
  const circular = () => {
    const a: Record<string, unknown> = { x: 1 };
    const b: Record<string, unknown> = { a };
    a.b = b;
    return { requestId: 'r1', description: 'd', a };
  };

  it('encodeEnvelope names a circular field and a BigInt', async () => {
    const env = { id: 'e', type: 'request.created', priority: 'normal' as const, correlationId: 'e', occurredAt: 'x', version: 1 };
    const e1 = await refusal(() => encodeEnvelope({ ...env, data: circular() }));
    expect(e1.issues).toEqual([{ path: 'data.a.b.a', message: 'circular reference' }]);
    const e2 = await refusal(() => encodeEnvelope({ ...env, data: { list: [1, { n: 10n }] } }));
    expect(e2.issues[0]?.path).toBe('data.list[1].n');
    expect(e2.message).toMatch(/data\.list\[1\]\.n: BigInt is not JSON/);
  });

  it('publish, publishMany and the catalog helpers refuse with EventValidationError naming the path', async () => {
    const bus = await createTestSystem();
    try {
      const e1 = await refusal(() => bus.publisher.publish({ type: EventType.REQUEST_CREATED, data: circular() }));
      expect(e1.message).toContain('data.a.b.a: circular reference');
      const e2 = await refusal(() =>
        bus.publisher.publish({ type: EventType.REQUEST_CREATED, data: { requestId: 'r', description: 'd', n: 1n } as never }),
      );
      expect(e2.issues).toEqual([{ path: 'data.n', message: expect.stringMatching(/^BigInt is not JSON/) }]);
      const e3 = await refusal(() =>
        bus.publisher.publishMany([
          { type: EventType.REQUEST_CREATED, data: { requestId: 'r', description: 'd' } },
          { type: EventType.REQUEST_CREATED, data: { requestId: 'r', description: 'd' }, metadata: { big: 2n } },
        ]),
      );
      expect(e3.issues[0]?.path).toBe('[1].metadata.big');
      const e4 = await refusal(() => bus.publisher.publishRequestUpdated({ requestId: 'r', changes: circular() }));
      expect(e4.issues[0]?.path).toBe('data.changes.a.b.a');
      const e5 = await refusal(() =>
        bus.publisher.publish({ type: EventType.REQUEST_CREATED, data: { requestId: 'r', description: 'd', bad: { toJSON: () => { throw new Error('nope'); } } } as never }),
      );
      expect(e5.issues[0]).toEqual({ path: 'data.bad', message: 'toJSON() threw: nope' });
      // Nothing was stored or published.
      expect((await bus.store.query({})).events.length).toBe(0);
    } finally {
      await bus.close();
    }
  });

  it('task args: send and sendMany refuse with EventValidationError naming the path', async () => {
    const bus = await createTestSystem();
    try {
      const task = bus.tasks.define('test.json-args', {}, async () => 1);
      const a: Record<string, unknown> = {};
      a.self = a;
      const e1 = await refusal(() => task.delay(a));
      expect(e1.issues).toEqual([{ path: 'args.self', message: 'circular reference' }]);
      expect(e1.subject).toBe('test.json-args');
      const e2 = await refusal(() => bus.tasks.sendMany('test.json-args', [{ n: 1 }, { n: 2n }]));
      expect(e2.issues[0]?.path).toBe('[1].args.n');
    } finally {
      await bus.close();
    }
  });
});

describe('typed event API at run time (issue 16, item 1)', () => {
  it('a defineEvent definition works in publish, publishMany, registerHandler and waitForEvent', async () => {
    const Paid = defineEvent('test.typed.paid', z.object({ invoiceId: z.string(), amount: z.number() }));
    const bus = await createTestSystem();
    try {
      const seen: number[] = [];
      await bus.consumer('c').registerHandler(Paid, (e) => void seen.push(e.data.amount)).start();
      const handled = waitForEvent(bus, Paid, { predicate: (e) => e.data.amount === 2 });
      const id = await bus.publisher.publish({ type: Paid, data: { invoiceId: 'i', amount: 1 } });
      await bus.publisher.publishMany([{ type: Paid, data: { invoiceId: 'i', amount: 2 } }]);
      const event = await handled;
      expect(event.type).toBe('test.typed.paid');
      expect(seen).toEqual([1, 2]);
      expect((await bus.store.getEvent(id))?.type).toBe('test.typed.paid');
      // @ts-expect-error: amount must be a number (and at run time too)
      const e = await refusal(() => bus.publisher.publish({ type: Paid, data: { invoiceId: 'i', amount: 'x' } }));
      expect(e.issues[0]?.path).toBe('data.amount');
    } finally {
      await bus.close();
    }
  });

  it('catalog helpers refuse unknown fields, naming them; publish and consumers keep extra fields', async () => {
    const bus = await createTestSystem();
    try {
      const e = await refusal(() =>
        // @ts-expect-error: budgetMaxx and correlationID are not fields of request.created
        bus.publisher.publishRequestCreated({ requestId: 'r', description: 'd', budgetMaxx: 5, correlationID: 'c' }),
      );
      expect(e.issues.map((i) => i.path)).toEqual(['budgetMaxx', 'correlationID']);
      expect(e.message).toMatch(/budgetMaxx: unknown field; 'request.created' has requestId, description, budgetMax, category/);
      expect((await bus.store.query({})).events).toHaveLength(0);

      const got: unknown[] = [];
      await bus.consumer('c').registerHandler(EventType.REQUEST_CREATED, (ev) => void got.push(ev.data)).start();
      const handled = waitForEvent(bus, EventType.REQUEST_CREATED);
      const data = { requestId: 'r', description: 'd', fromOtherProducer: true };
      await bus.publisher.publish({ type: EventType.REQUEST_CREATED, data });
      await handled;
      expect(got).toEqual([data]);
      expect(typeof (await bus.publisher.publishRequestCreated({ requestId: 'r', description: 'd', budgetMax: 5, priority: 'high' }))).toBe('string');
    } finally {
      await bus.close();
    }
  });

  it('refuses a type that is neither a string nor a definition', async () => {
    const bus = await createTestSystem();
    try {
      const e = await refusal(() => bus.publisher.publish({ type: { name: 'x' }, data: {} } as never));
      expect(e.issues[0]?.message).toMatch(/definition made by defineEvent/);
      expect(() => bus.consumer('c').registerHandler({} as never, () => {})).toThrow(EventValidationError);
    } finally {
      await bus.close();
    }
  });
});

describe('odd envelope values', () => {
  it('occurredAt that is not a Date, string or number is an EventValidationError, not a TypeError', async () => {
    const bus = await createTestSystem();
    try {
      for (const occurredAt of [Object.create(null), Symbol('x'), { valueOf: () => { throw new Error('no'); } }]) {
        const e = await refusal(() => bus.publisher.publish({ type: EventType.CONTRACT_ACTIVATED, data: { contractId: 'c' }, occurredAt } as never));
        expect(e.issues).toEqual([{ path: 'occurredAt', message: 'must be a valid date' }]);
      }
    } finally {
      await bus.close();
    }
  });
});

describe('events without data', () => {
  it('publish refuses data: undefined (the event would arrive without data and be dead-lettered); null is fine', async () => {
    const bus = await createTestSystem({ allowUnknownTypes: true });
    try {
      const e = await refusal(() => bus.publisher.publish({ type: 'any.type' as string, data: undefined }));
      expect(e.issues).toEqual([{ path: 'data', message: 'is required (use null for an event without a payload)' }]);
      await refusal(() => bus.publisher.publishMany([{ type: 'any.type' as string, data: 1 }, { type: 'any.type' } as never]));
      expect(typeof (await bus.publisher.publish({ type: 'any.type' as string, data: null }))).toBe('string');
    } finally {
      await bus.close();
    }
  });
});

describe('event types named like Object.prototype members (issue 10, hole 9)', () => {
  const names = ['__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', '__defineGetter__'];

  it.each(names)('%s is an unknown type, refused with EventValidationError', async (name) => {
    const r = new EventRegistry();
    expect(r.has(name)).toBe(false);
    expect(r.schemaOf(name)).toBeUndefined();
    const e = await refusal(() => r.validate(name, {}));
    expect(e.message).toContain(`unknown event type '${name}'`);
    const bus = await createTestSystem();
    try {
      await refusal(() => bus.publisher.publish({ type: name, data: {} }));
      expect(() => bus.consumer('c').registerHandler(name, () => {})).toThrow(EventValidationError);
    } finally {
      await bus.close();
    }
  });

  it.each(names.filter((n) => !n.startsWith('_')))('%s can be defined, published and handled', async (name) => {
    const def = { type: name, schema: z.object({ n: z.number() }) };
    const bus = await createTestSystem({ events: [def] });
    try {
      const seen: unknown[] = [];
      await bus.consumer('c').registerHandler(name, (e) => void seen.push(e.data)).start();
      const handled = waitForEvent(bus, name);
      await bus.publisher.publish({ type: name, data: { n: 1 } });
      await handled;
      expect(seen).toEqual([{ n: 1 }]);
      await refusal(() => bus.publisher.publish({ type: name, data: { n: 'x' } }));
    } finally {
      await bus.close();
    }
  });

  it('defineEvent process wide works for toString too', async () => {
    const def = defineEvent('toString', z.object({ s: z.string() }));
    expect(new EventRegistry().validate(def.type, { s: 'a' })).toEqual({ s: 'a' });
  });

  it('a priority named like a prototype member is refused', async () => {
    const env = { id: 'e', type: 't', data: 1, correlationId: 'e', occurredAt: 'x', version: 1 };
    for (const p of ['toString', 'constructor', '__proto__']) {
      expect(() => decodeEnvelope(JSON.stringify({ ...env, priority: p }))).toThrow(DecodeError);
    }
    const bus = await createTestSystem();
    try {
      await refusal(() => bus.publisher.publish({ type: EventType.CONTRACT_ACTIVATED, data: { contractId: 'c' }, priority: 'toString' as never }));
    } finally {
      await bus.close();
    }
  });

  it('a catalog helper given an own __proto__ field neither pollutes the payload nor takes it', async () => {
    const bus = await createTestSystem({ validate: false });
    try {
      const published = waitForEvent(bus, EventType.CONTRACT_ACTIVATED, { hook: 'published' });
      await bus.publisher.publishContractActivated(JSON.parse('{"contractId":"c","__proto__":{"polluted":true}}'));
      const event = await published;
      expect(Object.getPrototypeOf(event.data)).toBe(Object.prototype);
      expect((event.data as Record<string, unknown>).polluted).toBeUndefined();
    } finally {
      await bus.close();
    }
    const validating = await createTestSystem();
    try {
      const e = await refusal(() => validating.publisher.publishContractActivated(JSON.parse('{"contractId":"c","__proto__":{"polluted":true}}')));
      expect(e.issues.map((i) => i.path)).toEqual(['__proto__']);
    } finally {
      await bus.close();
    }
  });
});

describe('backoff', () => {
  it('doubles from the first delay and caps at the max', () => {
    const o = { delayMs: 100, maxDelayMs: 1000 };
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(o, a))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay({ type: 'fixed', delayMs: 50 }, 7)).toBe(50);
  });

  it('spreads delays with jitter inside the band', () => {
    const o = { delayMs: 1000, jitter: 0.5, maxDelayMs: 10_000 };
    expect(backoffDelay(o, 1, () => 0)).toBe(500);
    expect(backoffDelay(o, 1, () => 1)).toBe(1500);
  });
});
