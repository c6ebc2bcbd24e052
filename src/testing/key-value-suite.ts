/**
 * The key-value conformance suite: the executable form of the {@link KeyValue} contract
 * (`src/contracts/transport-key-value.ts`). `describeTransport` runs it for every adapter that declares the
 * role; an adapter that provides only this role runs it alone.
 *
 * @module
 */

import { expect } from 'vitest';
import type { KeyValue, Transport } from '@procur/event-bus';
import {
  checkSkip,
  runRoleSuite,
  type RoleFactory,
  type RoleSuiteOptions,
  type RoleSuiteSpec,
  eventually,
  sleep,
  uniqueName,
  expectClosedRejections,
} from './suite-kit.js';

/** The name of every test of {@link describeKeyValue}, for `options.skip`. */
export const KEY_VALUE_SUITE_TESTS = [
  'kvSet and kvGet',
  'kvSet with ttlMs expires',
  'kvSet ifAbsent is a lock',
  'kvSet ifEquals renews only with the right value',
  'kvDelete with and without ifEquals',
  'kvScan lists live keys by prefix',
  'kvIncr counts atomically and expires',
  'kvSetMany writes every key with its ttl',
  'an aborted signal rejects a key-value call with its reason',
  'key-value calls after close reject with ERR_CLOSED',
] as const;

const SPEC: RoleSuiteSpec<KeyValue> = {
  suite: 'describeKeyValue',
  title: 'Key-value',
  role: 'keyValue',
  tests: KEY_VALUE_SUITE_TESTS,
  body({ ctx, test, names }) {
    const t = () => ctx.transport as unknown as Transport;

    test('kvSet and kvGet', async () => {
      const key = ctx.name('test:key');
      expect(await t().kvGet(key)).toBeNull();
      expect(await t().kvSet(key, 'v1')).toBe(true);
      expect(await t().kvGet(key)).toBe('v1');
      expect(await t().kvSet(key, 'v2')).toBe(true);
      expect(await t().kvGet(key)).toBe('v2');
    });

    test('kvSet with ttlMs expires', async () => {
      const key = ctx.name('test:key');
      // TTLs are long enough that a busy machine does not expire a key between two calls.
      expect(await t().kvSet(key, 'v', { ttlMs: 1000 })).toBe(true);
      expect(await t().kvGet(key)).toBe('v');
      const gone = await eventually(async () => ((await t().kvGet(key)) === null ? true : undefined));
      expect(gone).toBe(true);
      // A plain set clears the expiry.
      await t().kvSet(key, 'v', { ttlMs: 150 });
      await t().kvSet(key, 'kept');
      await sleep(300);
      expect(await t().kvGet(key)).toBe('kept');
    });

    test('kvSet ifAbsent is a lock', async () => {
      const key = ctx.name('test:lock');
      // The TTL outlasts a busy machine's stalls between the three calls (at 200 ms the first lock
      // expired before the last call arrived, on a loaded CI machine).
      const results = await Promise.all(['a', 'b', 'c'].map((v) => t().kvSet(key, v, { ifAbsent: true, ttlMs: 1500 })));
      expect(results.filter(Boolean)).toHaveLength(1);
      const owner = ['a', 'b', 'c'][results.indexOf(true)];
      expect(await t().kvGet(key)).toBe(owner);
      expect(await t().kvSet(key, 'z', { ifAbsent: true })).toBe(false);
      expect(await t().kvGet(key)).toBe(owner);
      // Once expired, the lock can be taken again.
      const retaken = await eventually(async () => ((await t().kvSet(key, 'z', { ifAbsent: true })) ? true : undefined));
      expect(retaken).toBe(true);
      expect(await t().kvGet(key)).toBe('z');
    });

    test('kvSet ifEquals renews only with the right value', async () => {
      const key = ctx.name('test:lock');
      expect(await t().kvSet(key, 'me', { ifEquals: 'me' })).toBe(false);
      expect(await t().kvGet(key)).toBeNull();
      expect(await t().kvSet(key, 'me', { ifAbsent: true, ttlMs: 1500 })).toBe(true);
      expect(await t().kvSet(key, 'thief', { ifEquals: 'other', ttlMs: 5000 })).toBe(false);
      expect(await t().kvGet(key)).toBe('me');
      expect(await t().kvSet(key, 'me', { ifEquals: 'me', ttlMs: 30_000 })).toBe(true);
      await sleep(1800); // past the first TTL: only the renewal keeps it
      expect(await t().kvGet(key)).toBe('me');
      expect(await t().kvSet(key, 'next', { ifEquals: 'me' })).toBe(true);
      expect(await t().kvGet(key)).toBe('next');
    });

    test('kvDelete with and without ifEquals', async () => {
      const key = ctx.name('test:key');
      expect(await t().kvDelete(key)).toBe(false);
      await t().kvSet(key, 'mine');
      expect(await t().kvDelete(key, { ifEquals: 'theirs' })).toBe(false);
      expect(await t().kvGet(key)).toBe('mine');
      expect(await t().kvDelete(key, { ifEquals: 'mine' })).toBe(true);
      expect(await t().kvGet(key)).toBeNull();
      await t().kvSet(key, 'again');
      expect(await t().kvDelete(key)).toBe(true);
      expect(await t().kvDelete(key)).toBe(false);
    });

    test('kvScan lists live keys by prefix', async () => {
      const prefix = `${ctx.name('test:scan')}:`;
      await t().kvSet(`${prefix}a`, '1');
      await t().kvSet(`${prefix}b`, '2');
      await t().kvSet(`${prefix}gone`, '3', { ttlMs: 50 });
      await t().kvSet(`${ctx.name('test:other')}:c`, '4');
      await sleep(150);
      const found = (await t().kvScan(prefix)).sort((x, y) => x.key.localeCompare(y.key));
      expect(found).toEqual([
        { key: `${prefix}a`, value: '1' },
        { key: `${prefix}b`, value: '2' },
      ]);
      expect(await t().kvScan(`${ctx.name('test:none')}:`)).toEqual([]);
    });

    test('kvIncr counts atomically and expires', async () => {
      const key = ctx.name('test:incr');
      expect(await t().kvIncr(key)).toBe(1);
      expect(await t().kvIncr(key, { by: 4 })).toBe(5);
      expect(await t().kvIncr(key, { by: -2 })).toBe(3);
      const results = await Promise.all(Array.from({ length: 20 }, () => t().kvIncr(key)));
      expect(new Set(results).size).toBe(20);
      expect(Math.max(...results)).toBe(23);
      expect(await t().kvGet(key)).toBe('23');
      const short = ctx.name('test:incr-ttl');
      expect(await t().kvIncr(short, { ttlMs: 1000 })).toBe(1);
      expect(await t().kvIncr(short, { ttlMs: 1000 })).toBe(2);
      expect(await eventually(async () => ((await t().kvGet(short)) === null ? true : undefined))).toBe(true);
      expect(await t().kvIncr(short)).toBe(1);
    });

    test('kvSetMany writes every key with its ttl', async () => {
      const a = ctx.name('test:many-a');
      const b = ctx.name('test:many-b');
      await t().kvSet(a, 'old');
      await t().kvSetMany([
        { key: a, value: '1' },
        { key: b, value: '2' },
      ]);
      expect([await t().kvGet(a), await t().kvGet(b)]).toEqual(['1', '2']);
      await t().kvSetMany([{ key: a, value: 'short' }], { ttlMs: 80 });
      expect(await t().kvGet(a)).toBe('short');
      await sleep(250);
      expect(await t().kvGet(a)).toBeNull();
      expect(await t().kvGet(b)).toBe('2');
      await t().kvSetMany([]);
    });

    test('an aborted signal rejects a key-value call with its reason', async () => {
      const reason = new Error('caller gave up');
      const signal = AbortSignal.abort(reason);
      await expect(t().kvGet(ctx.name('key'), { signal })).rejects.toBe(reason);
    });

    test('key-value calls after close reject with ERR_CLOSED', async () => {
      const { stream, dlq } = names;
      const transport = t();
      const g = uniqueName('group');
      const key = ctx.name('test:key');
      void stream; void dlq; void g; void key;
      await transport.close();
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['kvGet', () => transport.kvGet(key)],
        ['kvSet', () => transport.kvSet(key, 'v')],
        ['kvDelete', () => transport.kvDelete(key)],
        ['kvScan', () => transport.kvScan(key)],
        ['kvIncr', () => transport.kvIncr(key)],
        ['kvSetMany', () => transport.kvSetMany([{ key, value: 'v' }])],
      ];
      await expectClosedRejections(calls);
    });
  },
};

/**
 * Registers the key-value conformance suite with vitest: one `describe` block of tests that check
 * every verb of {@link KeyValue}. Each test gets a fresh adapter from `factory` and names unique
 * to it; after each test the adapter is closed and `teardown` runs, even on failure. Cases that
 * also need another role (none) are skipped when `options.features` does not declare it; the
 * whole suite is skipped when it does not declare `keyValue`.
 *
 * @param name - the adapter name shown in the report, e.g. `'redis'`.
 * @param factory - creates the adapter for one test.
 * @param options - the adapter's features, tests to skip, adapter-specific tests.
 * @throws `Error` at collection time when `options.skip` names a test that does not exist.
 * @example
 * ```ts
 * import { describeKeyValue } from '@procur/event-bus/testing';
 *
 * describeKeyValue('my-adapter', () => ({ transport: myAdapter() }), { features: myAdapter.features });
 * ```
 */
export function describeKeyValue(name: string, factory: RoleFactory<KeyValue>, options: RoleSuiteOptions<KeyValue> = {}): void {
  checkSkip('describeKeyValue', name, options.skip, KEY_VALUE_SUITE_TESTS);
  runRoleSuite(SPEC, `Key-value conformance: ${name}`, factory, options);
}

/** Registers the suite inside `describeTransport`'s block. @internal */
export function registerKeyValue(factory: RoleFactory<KeyValue>, options: Omit<RoleSuiteOptions<KeyValue>, 'additionalTests'>): void {
  runRoleSuite(SPEC, SPEC.title, factory, options);
}
