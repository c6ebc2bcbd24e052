/**
 * The wire encoding of the PostgreSQL transport's array parameters (adapters/postgres/transport/wire.ts):
 * `text[]` in the binary array format and numeric arrays as plain literals must reach the server
 * as the same values pg's own array literal gives, and awkward strings (unicode, quotes,
 * backslashes, braces, `NULL`, NUL, lone surrogates, long ones) must round trip through the
 * transport's publish (group commit and bulk), key writes and notifications.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresTransport } from '@procur/event-bus/postgres';
import { plainArray, textArray } from '../../adapters/postgres/transport/wire.js';
import { POSTGRES_REQUIRED, TEST_POSTGRES_URL, dropSchema, probePostgres, safeUrl, uniqueSchema } from '../e2e/fixtures/postgres-helpers.js';

const unreachable = await probePostgres(TEST_POSTGRES_URL);

/** Strings that need escaping in an array literal or a JSON text, or that pg alters. */
const AWKWARD = [
  '',
  'plain',
  'quote " and \'single\'',
  'back\\slash \\\\ and \\"',
  '{braces},commas,"NULL"',
  'NULL',
  ' leading and trailing spaces ',
  'unicode: é ß 日本語 🎉 \u{1F600}',
  'controls: \t \n \r \u0001 \u001f',
  'json: {"a":"b\\"c","d":[1,2]}',
  '\\ud800 as text, not a surrogate',
  'lone high \ud800 surrogate',
  'lone low \udc00 surrogate',
  'x'.repeat(20_000),
];

/** What PostgreSQL holds for a string pg sends: UTF-8 turns a lone surrogate into U+FFFD. */
const asStored = (s: string) => Buffer.from(s, 'utf8').toString('utf8');

if (unreachable !== undefined) {
  if (POSTGRES_REQUIRED) {
    it(`PostgreSQL at ${safeUrl()} is reachable (required because CI is set)`, () => {
      expect.fail(`Cannot reach PostgreSQL at ${safeUrl()}: ${unreachable}`);
    });
  } else {
    console.warn(`\n!!! [postgres-transport-wire.test] PostgreSQL at ${safeUrl()} is NOT reachable (${unreachable}): SKIPPED.\n`);
    it.skip('PostgreSQL transport wire encoding (PostgreSQL unreachable)', () => {});
  }
} else {
  const schema = uniqueSchema('pgwire');
  const admin = new pg.Pool({ connectionString: TEST_POSTGRES_URL, max: 2 });
  afterAll(async () => {
    await dropSchema(schema, admin);
    await admin.end();
  });

  describe('wire encoding of array parameters', () => {
    it('a binary text[] reaches the server as pg’s array literal does', async () => {
      const withNul = [...AWKWARD, 'nul \u0000 inside'].filter((s) => !s.includes('\u0000'));
      const binary = await admin.query({ text: 'SELECT $1::text[] AS a', values: [textArray(withNul)] });
      const literal = await admin.query({ text: 'SELECT $1::text[] AS a', values: [withNul] });
      expect(binary.rows[0].a).toEqual(literal.rows[0].a);
      expect(binary.rows[0].a).toEqual(withNul.map(asStored));
      const empty = await admin.query({ text: 'SELECT $1::text[] AS a, cardinality($1::text[]) AS n', values: [textArray([])] });
      expect(empty.rows[0]).toEqual({ a: [], n: 0 });
    });

    it('a NUL in a text element is refused, as with pg’s literal', async () => {
      await expect(admin.query({ text: 'SELECT $1::text[] AS a', values: [textArray(['a\u0000b'])] })).rejects.toThrow();
      await expect(admin.query({ text: 'SELECT $1::text[] AS a', values: [['a\u0000b']] })).rejects.toThrow();
    });

    it('numeric, boolean and NULL elements keep their values', async () => {
      const floats = [86_400_000, null, 0.5, -0, 1e21, 1.25e-7, Infinity];
      const ints = [0, 1, -2, 2_147_483_647];
      const ids = ['1', '9223372036854775807'];
      const bools = [true, false, true];
      const res = await admin.query({
        text: 'SELECT $1::float8[] AS f, $2::int4[] AS i, $3::bigint[]::text[] AS b, $4::bool[] AS t, $5::int2[] AS e',
        values: [plainArray(floats), plainArray(ints), plainArray(ids), plainArray(bools), plainArray([])],
      });
      const ref = await admin.query({
        text: 'SELECT $1::float8[] AS f, $2::int4[] AS i, $3::bigint[]::text[] AS b, $4::bool[] AS t, $5::int2[] AS e',
        values: [floats, ints, ids, bools, []],
      });
      expect(res.rows[0]).toEqual(ref.rows[0]);
      expect(res.rows[0].i).toEqual(ints);
      expect(res.rows[0].b).toEqual(ids);
      expect(res.rows[0].t).toEqual(bools);
      // A value that is not a number cannot add elements (it becomes NaN).
      const odd = await admin.query({ text: 'SELECT cardinality($1::float8[]) AS n, ($1::float8[])[2]::text AS second', values: [plainArray([1, '2,3} {4' as never])] });
      expect(odd.rows[0]).toEqual({ n: 2, second: 'NaN' });
    });
  });

  describe('a driver that sends a Buffer parameter as text', () => {
    it('gets pg’s array literals instead (publish, bulk publish, key writes)', async () => {
      const inner = new pg.Pool({ connectionString: TEST_POSTGRES_URL, max: 3 });
      let buffers = 0;
      // As a text-only driver would: every Buffer goes as a string.
      const textOnly = {
        connect: () => inner.connect(),
        query: (q: pg.QueryConfig) =>
          inner.query({ ...q, values: q.values?.map((v: unknown) => (Buffer.isBuffer(v) ? (buffers++, v.toString('latin1')) : v)) }),
        end: () => inner.end(),
        on: (event: 'error', fn: (err: Error) => void) => inner.on(event, fn),
        removeListener: (event: 'error', fn: (err: Error) => void) => inner.removeListener(event, fn),
      };
      const transport = postgresTransport({ pool: textOnly, schema, tablePrefix: 'textonly_' });
      try {
        await transport.ensureGroup('t', 'g');
        await transport.publish('t', [{ body: 'quote " \\ é' }]);
        await transport.publish('t', Array.from({ length: 1000 }, (_, i) => ({ body: `bulk ${i} "` })));
        await transport.kvSet('k "1"', 'v \\ "1"');
        expect(await transport.kvGet('k "1"')).toBe('v \\ "1"');
        const got = await transport.receive('t', { group: 'g', consumer: 'c', max: 2000 });
        expect(got).toHaveLength(1001);
        expect(got[0]!.body).toBe('quote " \\ é');
        expect(got[1000]!.body).toBe('bulk 999 "');
        // Only the one check of the driver sent a Buffer.
        expect(buffers).toBe(1);
      } finally {
        await transport.close();
        await inner.end();
      }
    });
  });

  describe('awkward strings round trip through the transport', () => {
    const transport = postgresTransport({ connectionString: TEST_POSTGRES_URL, schema, poolSize: 3 });
    const samples = [...AWKWARD, 'nul \u0000 and \u0001 escape'];
    beforeAll(async () => {
      await transport.migrate();
    });
    afterAll(async () => {
      await transport.close();
    });

    it('publish (group commit and bulk) and receive', async () => {
      await transport.ensureGroup('wire', 'g');
      // One turn: several small publishes share one flush.
      const small = await Promise.all(samples.map((body) => transport.publish('wire', [{ body }])));
      expect(small.map((ids) => ids.length)).toEqual(samples.map(() => 1));
      // Publishes of one turn (one flush) each get their own ids, ascending in call and message order.
      const [two, three] = await Promise.all([
        transport.publish('wire-ids', [{ body: 'a' }, { body: 'b' }]),
        transport.publish('wire-ids', [{ body: 'c' }, { body: 'd' }, { body: 'e' }]),
      ]);
      expect([two!.length, three!.length]).toEqual([2, 3]);
      const all = [...two!, ...three!].map(BigInt);
      expect([...all].sort((x, y) => (x < y ? -1 : 1))).toEqual(all);
      expect(new Set(all).size).toBe(5);
      // A bulk publish (1000 messages and more) is its own statement.
      const bulk = Array.from({ length: 1000 }, (_, i) => ({ body: samples[i % samples.length]! }));
      await transport.publish('wire', bulk);
      const got: string[] = [];
      for (let i = 0; i < 10 && got.length < samples.length + bulk.length; i++) {
        const ds = await transport.receive('wire', { group: 'g', consumer: 'c', max: 500 });
        got.push(...ds.map((d) => d.body));
        await transport.ack('wire', 'g', ds.map((d) => d.deliveryId));
      }
      expect(got).toEqual([...samples, ...bulk.map((m) => m.body)].map(asStored));
      expect(await transport.receive('wire', { group: 'g', consumer: 'c', max: 10 })).toEqual([]);
    });

    it('key writes (kvSet and kvSetMany) read back', async () => {
      await Promise.all(samples.map((v, i) => transport.kvSet(`wire:one:${i}:${v.slice(0, 40)}`, v)));
      await transport.kvSetMany(samples.map((v, i) => ({ key: `wire:many:${i}:${v.slice(0, 40)}`, value: v })), { ttlMs: 60_000 });
      for (const [i, v] of samples.entries()) {
        expect(await transport.kvGet(`wire:one:${i}:${v.slice(0, 40)}`)).toBe(asStored(v));
        expect(await transport.kvGet(`wire:many:${i}:${v.slice(0, 40)}`)).toBe(asStored(v));
      }
    });

    it('notifications (inline and stored) arrive unchanged', async () => {
      const heard: string[] = [];
      const off = await transport.listen('wire-signal', (m) => heard.push(m));
      for (const m of samples) await transport.notify('wire-signal', m);
      for (let i = 0; i < 100 && heard.length < samples.length; i++) await new Promise((r) => setTimeout(r, 20));
      await off();
      // A stored payload is fetched before it is delivered: it may come after later inline ones.
      expect([...heard].sort()).toEqual(samples.map(asStored).sort());
    });
  });
}
