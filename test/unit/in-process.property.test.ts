/**
 * The in-process path (src/events/in-process.ts): a snapshot is exactly what the JSON text would
 * decode to (same text, same keys in the same order, same prototypes), its size bound is never
 * below the real size, copies share nothing with it, and what JSON refuses is refused with the
 * same error as the encoder. Seeded and bounded.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventValidationError } from '../../src/errors.js';
import { cloneJson, snapshotJson, type JsonValue } from '../../src/events/in-process.js';
import { encodeJson } from '../../src/events/json.js';

const SEED = 20261202;

class Point {
  constructor(
    public x: number,
    public y: number,
  ) {}
  get norm(): number {
    return Math.hypot(this.x, this.y);
  }
}

/** Values JSON treats specially, beside plain JSON. */
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
  // eslint-disable-next-line no-new-wrappers
  fc.boolean().map((b) => new Boolean(b)),
  fc.constant(new Map([[1, 2]])),
  fc.constant({ toJSON: (key: string) => `key:${key}` }),
  fc.string().map((s) => ({ toJSON: () => ({ replaced: s, u: undefined }) })),
  fc.constantFrom('\u0000', '\ud800', '"\\', '\u2028', 'é€😀'),
);

const keyArb = fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'toString', '0', '10', '-1', 'toJSON'));

const { value: anyValue } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.jsonValue({ maxDepth: 1 }),
    oddLeaf,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(keyArb, tie('value'), { maxKeys: 4 }),
    // An array with holes and extra properties.
    fc.array(tie('value'), { maxLength: 3 }).map((a) => Object.assign([...a, , 1], { extra: 1 })),
  ),
}));

/** Every object of `v`'s tree, for sharing checks. */
function objectsOf(v: unknown, out = new Set<object>()): Set<object> {
  if (typeof v === 'object' && v !== null) {
    out.add(v);
    for (const k of Object.keys(v)) objectsOf((v as Record<string, unknown>)[k], out);
  }
  return out;
}

/** Structure with prototypes and own key order, as `JSON.parse` builds it. */
function shape(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return Object.is(v, -0) ? '-0' : v;
  if (Array.isArray(v)) return ['array', v.length, ...v.map(shape)];
  return [Object.getPrototypeOf(v) === Object.prototype ? 'object' : 'odd', ...Object.keys(v).map((k) => [k, shape((v as Record<string, unknown>)[k])])];
}

describe('snapshotJson', () => {
  it('is what JSON.parse(JSON.stringify(v)) returns, with a size bound not below the real size', () => {
    fc.assert(
      fc.property(anyValue, (v) => {
        const text = JSON.stringify({ data: v });
        const snap = snapshotJson({ data: v }, 'test.type');
        expect(JSON.stringify(snap.value)).toBe(text);
        expect(shape(snap.value)).toEqual(shape(JSON.parse(text)));
        expect(snap.maxBytes).toBeGreaterThanOrEqual(Buffer.byteLength(text));
      }),
      { seed: SEED, numRuns: 400 },
    );
  });

  it('keeps a __proto__ key a key, never the prototype', () => {
    const input = JSON.parse('{"__proto__":{"polluted":true},"a":{"__proto__":[1]}}') as Record<string, unknown>;
    const snap = snapshotJson(input, 't').value as Record<string, unknown>;
    expect(Object.getPrototypeOf(snap)).toBe(Object.prototype);
    expect(Object.keys(snap)).toEqual(['__proto__', 'a']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const copy = cloneJson(snap as JsonValue) as Record<string, unknown>;
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(JSON.stringify(copy)).toBe(JSON.stringify(input));
  });

  it('shares no object with its input', () => {
    fc.assert(
      fc.property(anyValue, (v) => {
        const snap = snapshotJson({ data: v }, 't').value;
        const mine = objectsOf({ data: v });
        for (const o of objectsOf(snap)) expect(mine.has(o)).toBe(false);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('refuses circular data, a BigInt and a throwing toJSON with the encoder error', () => {
    const circular: Record<string, unknown> = { a: 1 };
    circular.self = { back: circular };
    const throwing = { toJSON: () => { throw new Error('no'); } };
    for (const data of [circular, { n: 10n }, [1, throwing], { get bad(): never { throw new Error('getter'); } }]) {
      let expected: unknown;
      try {
        encodeJson({ data }, 'test.type', '[1].');
      } catch (err) {
        expected = err;
      }
      expect(expected).toBeInstanceOf(EventValidationError);
      let got: unknown;
      try {
        snapshotJson({ data }, 'test.type', '[1].');
      } catch (err) {
        got = err;
      }
      expect(got).toBeInstanceOf(EventValidationError);
      expect((got as EventValidationError).issues).toEqual((expected as EventValidationError).issues);
    }
  });

  it('keeps a DAG (a shared object twice) as two copies, as JSON does', () => {
    const shared = { n: 1 };
    const snap = snapshotJson({ a: shared, b: shared }, 't').value as Record<string, { n: number }>;
    expect(snap.a).toEqual({ n: 1 });
    expect(snap.a).not.toBe(snap.b);
  });
});

describe('cloneJson', () => {
  it('copies a snapshot deeply: equal text, equal shape, no object shared', () => {
    fc.assert(
      fc.property(anyValue, (v) => {
        const snap = snapshotJson({ data: v }, 't').value;
        const copy = cloneJson(snap);
        expect(JSON.stringify(copy)).toBe(JSON.stringify(snap));
        expect(shape(copy)).toEqual(shape(snap));
        const theirs = objectsOf(snap);
        for (const o of objectsOf(copy)) expect(theirs.has(o)).toBe(false);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});
