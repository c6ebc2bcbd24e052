/**
 * The publisher's in-place snapshot (src/publisher.ts): on the in-process path with no store or
 * span, each envelope becomes its own JSON snapshot and only its `data` and `metadata` are walked. What the transport holds must be exactly what the encoded path
 * writes (same text, keys in the same order), refusals must be the same errors, the size bound
 * must never let an oversized event through, and a `published` listener (even one that subscribes
 * while a batch is published) gets the caller's payload objects in an envelope of its own. Seeded
 * and bounded.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { memoryTransport } from '../../adapters/memory/memory-transport.js';
import type { OutgoingMessage, Transport } from '../../src/contracts/transport.js';
import { IN_PROCESS_VALUES } from '../../src/events/in-process.js';
import { createEventSystem, silentLogger, type EventEnvelope, type EventSystem } from '../../src/index.js';

const SEED = 20261204;
const TYPE: string = 'inplace.checked';

class Point {
  constructor(
    public x: number,
    public y: number,
  ) {}
}

/** Values JSON treats specially (dropped, replaced, unboxed, refused), beside plain JSON. */
const oddLeaf = fc.oneof(
  fc.constant(undefined),
  fc.constant(Number.NaN),
  fc.constant(-0),
  fc.constant(Infinity),
  fc.constant(() => 1),
  fc.constant(Symbol('s')),
  fc.date({ noInvalidDate: false }),
  fc.integer().map((n) => new Point(n, n + 1)),
  // eslint-disable-next-line no-new-wrappers
  fc.string().map((s) => new String(s)),
  // eslint-disable-next-line no-new-wrappers
  fc.double().map((n) => new Number(n)),
  fc.constant(new Map([[1, 2]])),
  fc.constant({ toJSON: (key: string) => `key:${key}` }),
  fc.constant(10n),
  fc.constant({
    toJSON() {
      throw new Error('no');
    },
  }),
  fc.constantFrom('\u0000', '\ud800', '"\\', '\u2028', 'é€😀'),
);

const keyArb = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('__proto__', 'constructor', 'toJSON', '0', '10'));

const { value: anyValue } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.jsonValue({ maxDepth: 1 }),
    oddLeaf,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(keyArb, tie('value'), { maxKeys: 4 }),
  ),
}));

/** A circular payload, at the top or nested. */
const circular = fc.boolean().map((nested) => {
  const o: Record<string, unknown> = { a: 1 };
  if (nested) o.inner = { back: o };
  else o.self = o;
  return o;
});

const dataArb = fc.oneof({ weight: 6, arbitrary: anyValue }, { weight: 1, arbitrary: circular });
const metadataArb = fc.option(fc.oneof(fc.dictionary(keyArb, anyValue, { maxKeys: 3 }), fc.constant({ toJSON: () => ({ replaced: true }) })), {
  nil: undefined,
});

interface Captured {
  bus: EventSystem;
  bodies: string[];
}

/** A bus whose transport records the body of every message it is given (`m.body` encodes a snapshot). */
async function capturing(inProcess: boolean, maxEventBytes?: number): Promise<Captured> {
  const transport = memoryTransport() as Transport & { [IN_PROCESS_VALUES]?: boolean };
  if (!inProcess) delete transport[IN_PROCESS_VALUES];
  const bodies: string[] = [];
  const publish = transport.publish.bind(transport);
  transport.publish = (stream: string, messages: readonly OutgoingMessage[], options?: { signal?: AbortSignal }) => {
    for (const m of messages) bodies.push(m.body);
    return publish(stream, messages, options);
  };
  const bus = await createEventSystem({
    transport,
    logger: silentLogger,
    env: {},
    validate: false,
    outbox: false,
    builtins: false,
    taskEvents: false,
    config: { eventSourcingEnabled: false, ...(maxEventBytes !== undefined ? { maxEventBytes } : {}) },
  });
  return { bus, bodies };
}

/** The outcome of one publish: the body the transport got, or the error's name and issues. */
async function outcome(c: Captured, input: Record<string, unknown>, many: boolean): Promise<unknown> {
  try {
    if (many) await c.bus.publisher.publishMany([{ type: TYPE, data: null, id: 'first' }, input as never]);
    else await c.bus.publisher.publish(input as never);
    return { body: c.bodies.at(-1) };
  } catch (err) {
    return { error: (err as Error).name, issues: (err as { issues?: unknown }).issues };
  }
}

describe('publisher: an envelope as its own snapshot', () => {
  it('holds what the encoded path writes, refuses what it refuses, and bounds the size', async () => {
    const inPlace = await capturing(true);
    const encoded = await capturing(false);
    try {
      await fc.assert(
        fc.asyncProperty(dataArb, metadataArb, fc.boolean(), fc.boolean(), async (data, metadata, many, withSource) => {
          const input: Record<string, unknown> = { type: TYPE, data, id: 'evt-1', occurredAt: '2026-12-04T00:00:00.000Z', correlationId: 'c-1' };
          if (metadata !== undefined) input.metadata = metadata;
          if (withSource) Object.assign(input, { source: 'svc', causationId: 'cause', userId: 7, organizationId: 'org' });
          const got = await outcome(inPlace, input, many);
          expect(got).toEqual(await outcome(encoded, input, many));
          const body = (got as { body?: string }).body;
          if (body === undefined) return;
          // The bound decides whether the exact size is counted: an event one byte over the limit is refused.
          const bytes = Buffer.byteLength(body);
          if (bytes <= 256) return;
          const tight = await capturing(true, bytes - 1);
          const exact = await capturing(true, bytes);
          try {
            expect(await outcome(tight, input, false)).toMatchObject({ error: 'EventValidationError' });
            expect(await outcome(exact, input, false)).toEqual({ body });
          } finally {
            await tight.bus.close();
            await exact.bus.close();
          }
        }),
        { seed: SEED, numRuns: 150 },
      );
    } finally {
      await inPlace.bus.close();
      await encoded.bus.close();
    }
  });

  it('leaves the caller the payload objects it passed, and a handler gets a copy of them', async () => {
    const { bus } = await capturing(true);
    try {
      const got: EventEnvelope[] = [];
      await bus.consumer('copy').registerHandler(TYPE, (e) => void got.push(e)).start({ blockMs: 50 });
      const data = { items: ['x'], when: new Date(0) };
      const metadata = { origin: 'test', nested: { n: 1 } };
      const input = { type: TYPE, data, metadata };
      await bus.publisher.publish(input);
      expect(input.data).toBe(data);
      expect(input.metadata).toBe(metadata);
      expect(data.when).toBeInstanceOf(Date);
      await expect.poll(() => got.length).toBe(1);
      const [event] = got as [EventEnvelope];
      expect(event.data).toEqual({ items: ['x'], when: new Date(0).toISOString() });
      expect(event.metadata).toEqual(metadata);
      expect(event.metadata).not.toBe(metadata);
      expect((event.metadata as typeof metadata).nested).not.toBe(metadata.nested);
    } finally {
      await bus.close();
    }
  });

  it('gives a published listener the caller\'s payloads in an envelope of its own', async () => {
    const { bus } = await capturing(true);
    try {
      const heard: EventEnvelope[] = [];
      bus.on('published', ({ event }) => {
        heard.push(event);
        // A listener that vandalises its envelope and the payload it was given.
        event.type = 'vandalised';
        (event.data as { n: number }).n = 99;
        (event.metadata as Record<string, unknown>).by = 'listener';
      });
      const got: EventEnvelope[] = [];
      await bus.consumer('heard').registerHandler(TYPE, (e) => void got.push(e)).start({ blockMs: 50 });
      const data = { n: 1 };
      const metadata = { m: true };
      const [id] = await bus.publisher.publishMany([{ type: TYPE, data, metadata }]);
      expect(heard).toHaveLength(1);
      expect(heard[0]?.id).toBe(id);
      expect(heard[0]?.data).toBe(data);
      expect(heard[0]?.metadata).toBe(metadata);
      await expect.poll(() => got.length).toBe(1);
      expect(got[0]?.type).toBe(TYPE);
      expect(got[0]?.data).toEqual({ n: 1 });
      expect(got[0]?.metadata).toEqual({ m: true });
    } finally {
      await bus.close();
    }
  });

  it('gives a published listener that subscribes during the publish the caller\'s payloads, not the snapshot', async () => {
    const transport = memoryTransport();
    const publish = transport.publish.bind(transport);
    const heard: EventEnvelope[] = [];
    let bus: EventSystem | undefined;
    transport.publish = async (stream, messages, options) => {
      // A listener arrives after the batch was snapshotted and before the publisher emits.
      bus?.on('published', ({ event }) => void heard.push(event));
      return publish(stream, messages, options);
    };
    bus = await createEventSystem({ transport, logger: silentLogger, env: {}, validate: false, outbox: false, builtins: false, taskEvents: false, config: { eventSourcingEnabled: false } });
    try {
      const got: EventEnvelope[] = [];
      await bus.consumer('late').registerHandler(TYPE, (e) => void got.push(e)).start({ blockMs: 50 });
      const first = { n: 1, at: new Date(0) };
      const second = { n: 2 };
      const metadata = { m: true };
      const ids = await bus.publisher.publishMany([
        { type: TYPE, data: first, metadata },
        { type: TYPE, data: second, priority: 'high' },
      ]);
      expect(heard.map((e) => e.id)).toEqual(ids);
      expect(heard[0]?.data).toBe(first);
      expect(heard[0]?.metadata).toBe(metadata);
      expect(heard[1]?.data).toBe(second);
      expect(heard[1]?.priority).toBe('high');
      expect(Object.keys(heard[0] as object)).toEqual(['id', 'type', 'data', 'priority', 'correlationId', 'occurredAt', 'version', 'metadata']);
      // What the listener may do to its objects reaches no handler.
      first.n = 99;
      second.n = 99;
      await expect.poll(() => got.length).toBe(2);
      expect(got.map((e) => (e.data as { n: number }).n).sort()).toEqual([1, 2]);
      expect(got.find((e) => e.id === ids[0])?.data).toEqual({ n: 1, at: new Date(0).toISOString() });
    } finally {
      await bus.close();
    }
  });
});
