/**
 * The signals conformance suite: the executable form of the {@link Signals} contract
 * (`src/contracts/transport-signals.ts`). `describeTransport` runs it for every adapter that declares the
 * role; an adapter that provides only this role runs it alone.
 *
 * @module
 */

import { expect } from 'vitest';
import type { Signals, Transport } from '@procur/event-bus';
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

/** The name of every test of {@link describeSignals}, for `options.skip`. */
export const SIGNALS_SUITE_TESTS = [
  'notify reaches listeners until they unsubscribe',
  'a throwing listener keeps its subscription',
  'a key written before a notify is there when the listener hears it',
  'signal calls after close reject with ERR_CLOSED',
] as const;

const SPEC: RoleSuiteSpec<Signals> = {
  suite: 'describeSignals',
  title: 'Signals',
  role: 'signals',
  tests: SIGNALS_SUITE_TESTS,
  body({ ctx, test, names }) {
    const t = () => ctx.transport as unknown as Transport;

    test('notify reaches listeners until they unsubscribe', async () => {
      const channel = ctx.name('test:chan');
      const other = ctx.name('test:chan');
      const got1: string[] = [];
      const got2: string[] = [];
      const gotOther: string[] = [];
      const off1 = await t().listen(channel, (m) => got1.push(m));
      const off2 = await t().listen(channel, (m) => got2.push(m));
      const offOther = await t().listen(other, (m) => gotOther.push(m));
      await t().notify(channel, 'one');
      await eventually(async () => (got1.length >= 1 && got2.length >= 1 ? true : undefined));
      expect(got1).toEqual(['one']);
      expect(got2).toEqual(['one']);
      await off1();
      await off1();
      await t().notify(channel, 'two');
      await eventually(async () => (got2.length >= 2 ? true : undefined));
      await sleep(100);
      expect(got1).toEqual(['one']);
      expect(got2).toEqual(['one', 'two']);
      expect(gotOther).toEqual([]);
      await off2();
      await offOther();
      // No listener: fire and forget.
      await t().notify(channel, 'nobody');
    });

    // A write that resolved before notify was called is visible to a listener that reads the key
    // when it hears the notification (an adapter that batches writes and notifications, as the
    // PostgreSQL one does, must not let a notification overtake a resolved write). Writes and
    // notifications issued together, unawaited, are not ordered on every adapter: on a Redis
    // Cluster the key and the channel live on different nodes.
    test('a key written before a notify is there when the listener hears it', ['keyValue'], async () => {
      const channel = ctx.name('test:chan');
      const seen: Array<string | null> = [];
      const reads: Promise<void>[] = [];
      const off = await t().listen(channel, (m) => {
        reads.push(t().kvGet(m).then((v) => void seen.push(v)));
      });
      const keys = Array.from({ length: 20 }, (_, i) => ctx.name(`test:key${i}`));
      // Several at once, each notify sent as soon as its own write resolved.
      await Promise.all(keys.map(async (k) => {
        await t().kvSet(k, `v-${k}`);
        await t().notify(channel, k);
      }));
      await eventually(async () => (reads.length >= keys.length ? true : undefined));
      await Promise.all(reads);
      expect(seen.sort()).toEqual(keys.map((k) => `v-${k}`).sort());
      await off();
    });

    test('a throwing listener keeps its subscription', async () => {
      const channel = ctx.name('test:chan');
      const got: string[] = [];
      const off = await t().listen(channel, (m) => {
        got.push(m);
        if (m === 'first') throw new Error('listener failed');
      });
      await t().notify(channel, 'first');
      await eventually(async () => (got.length >= 1 ? true : undefined));
      await t().notify(channel, 'second');
      await eventually(async () => (got.length >= 2 ? true : undefined));
      expect(got).toEqual(['first', 'second']);
      await off();
    });

    test('signal calls after close reject with ERR_CLOSED', async () => {
      const { stream, dlq } = names;
      const transport = t();
      const g = uniqueName('group');
      const key = ctx.name('test:key');
      void stream; void dlq; void g; void key;
      await transport.close();
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['notify', () => transport.notify(key, 'm')],
        ['listen', () => transport.listen(key, () => {})],
      ];
      await expectClosedRejections(calls);
    });
  },
};

/**
 * Registers the signals conformance suite with vitest: one `describe` block of tests that check
 * every verb of {@link Signals}. Each test gets a fresh adapter from `factory` and names unique
 * to it; after each test the adapter is closed and `teardown` runs, even on failure. Cases that
 * also need another role (none) are skipped when `options.features` does not declare it; the
 * whole suite is skipped when it does not declare `signals`.
 *
 * @param name - the adapter name shown in the report, e.g. `'redis'`.
 * @param factory - creates the adapter for one test.
 * @param options - the adapter's features, tests to skip, adapter-specific tests.
 * @throws `Error` at collection time when `options.skip` names a test that does not exist.
 * @example
 * ```ts
 * import { describeSignals } from '@procur/event-bus/testing';
 *
 * describeSignals('my-adapter', () => ({ transport: myAdapter() }), { features: myAdapter.features });
 * ```
 */
export function describeSignals(name: string, factory: RoleFactory<Signals>, options: RoleSuiteOptions<Signals> = {}): void {
  checkSkip('describeSignals', name, options.skip, SIGNALS_SUITE_TESTS);
  runRoleSuite(SPEC, `Signals conformance: ${name}`, factory, options);
}

/** Registers the suite inside `describeTransport`'s block. @internal */
export function registerSignals(factory: RoleFactory<Signals>, options: Omit<RoleSuiteOptions<Signals>, 'additionalTests'>): void {
  runRoleSuite(SPEC, SPEC.title, factory, options);
}
