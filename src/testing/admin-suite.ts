/**
 * The admin conformance suite: the executable form of the {@link TransportAdmin} contract
 * (`src/contracts/transport-admin.ts`). `describeTransport` runs it for every adapter that declares the
 * role; an adapter that provides only this role runs it alone.
 *
 * @module
 */

import { expect } from 'vitest';
import type { MessageStreams, Transport, TransportAdmin } from '@procur/event-bus';
import {
  checkSkip,
  runRoleSuite,
  type RoleFactory,
  type RoleSuiteOptions,
  type RoleSuiteSpec,
  bodies,
  receiveN,
  sleep,
  uniqueName,
  expectClosedRejections,
} from './suite-kit.js';

/** The name of every test of {@link describeAdmin}, for `options.skip`. */
export const ADMIN_SUITE_TESTS = [
  'info reports the state of a stream',
  'purge removes the backlog and delayed messages',
  'an aborted signal rejects an admin call with its reason',
  'admin calls after close reject with ERR_CLOSED',
] as const;

const SPEC: RoleSuiteSpec<MessageStreams & TransportAdmin> = {
  suite: 'describeAdmin',
  title: 'Admin',
  role: 'admin',
  tests: ADMIN_SUITE_TESTS,
  body({ ctx, test, names }) {
    const t = () => ctx.transport as unknown as Transport;
    const group = () => uniqueName('group');
    test('info reports the state of a stream', async () => {
      const { stream } = names;
      const missing = uniqueName('test:missing');
      // (`partitions` is there only for a partitioned stream, `partitionTransport`)
      const { partitions: _partitions, ...shown } = await t().info(missing);
      expect(shown).toEqual({ stream: missing, length: 0, lengthByPriority: [0, 0, 0, 0], delayed: 0, groups: [] });
      const [gA, gB] = [group(), group()];
      await t().ensureGroup(stream, gA);
      await t().ensureGroup(stream, gB);
      await t().publish(stream, [{ body: 'n1' }, { body: 'n2' }, { body: 'c1', priority: 3 }, { body: 'd1', delayMs: 60_000 }]);
      const got = await receiveN(t(), stream, gA, 'w1', 2);
      expect(bodies(got)).toEqual(['c1', 'n1']);
      await t().nack(stream, gA, got[1]!.deliveryId, { delayMs: 60_000 });
      await sleep(60);
      const info = await t().info(stream);
      expect(info.stream).toBe(stream);
      expect(info.length).toBe(3);
      expect(info.lengthByPriority).toEqual([0, 2, 0, 1]);
      expect(info.delayed).toBe(1);
      expect(info.groups).toHaveLength(2);
      const a = info.groups.find((x) => x.name === gA)!;
      expect(a).toMatchObject({ name: gA, pending: 1, lag: 1, lagByPriority: [0, 1, 0, 0], retrying: 1, consumers: 1 });
      expect(a.oldestPendingMs).toBeGreaterThanOrEqual(40);
      expect(a.oldestPendingMs).toBeLessThan(60_000);
      const b = info.groups.find((x) => x.name === gB)!;
      expect(b).toMatchObject({ name: gB, pending: 0, lag: 3, lagByPriority: [0, 2, 0, 1], retrying: 0, oldestPendingMs: 0 });
    });

    test('purge removes the backlog and delayed messages', async () => {
      const { stream } = names;
      const g = group();
      await t().ensureGroup(stream, g);
      await t().publish(stream, [{ body: 'a' }, { body: 'b' }, { body: 'c' }, { body: 'd', delayMs: 60_000 }]);
      const [a] = await receiveN(t(), stream, g, 'c1', 1);
      expect(a?.body).toBe('a');
      expect(await t().purge(stream)).toBe(3);
      const info = await t().info(stream);
      expect(info.delayed).toBe(0);
      expect(info.groups.find((x) => x.name === g)).toMatchObject({ pending: 1, lag: 0 });
      expect(await t().receive(stream, { group: g, consumer: 'c1', blockMs: 100 })).toEqual([]);
      // The pending delivery stays and can still be acked; new messages flow again.
      await t().ack(stream, g, [a!.deliveryId]);
      await t().publish(stream, [{ body: 'e' }]);
      expect(bodies(await receiveN(t(), stream, g, 'c1', 1))).toEqual(['e']);
      expect(await t().purge(uniqueName('test:missing'))).toBe(0);
    });

    test('an aborted signal rejects an admin call with its reason', async () => {
      const { stream } = names;
      const reason = new Error('caller gave up');
      const signal = AbortSignal.abort(reason);
      await expect(t().info(stream, { signal })).rejects.toBe(reason);
    });

    test('admin calls after close reject with ERR_CLOSED', async () => {
      const { stream, dlq } = names;
      const transport = t();
      const g = uniqueName('group');
      const key = ctx.name('test:key');
      void stream; void dlq; void g; void key;
      await transport.close();
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['info', () => transport.info(stream)],
        ['purge', () => transport.purge(stream)],
      ];
      await expectClosedRejections(calls);
    });
  },
};

/**
 * Registers the admin conformance suite with vitest: one `describe` block of tests that check
 * every verb of {@link TransportAdmin}. Each test gets a fresh adapter from `factory` and names unique
 * to it; after each test the adapter is closed and `teardown` runs, even on failure. Cases that
 * also need another role (none) are skipped when `options.features` does not declare it; the
 * whole suite is skipped when it does not declare `admin`.
 *
 * @param name - the adapter name shown in the report, e.g. `'redis'`.
 * @param factory - creates the adapter for one test.
 * @param options - the adapter's features, tests to skip, adapter-specific tests.
 * @throws `Error` at collection time when `options.skip` names a test that does not exist.
 * @example
 * ```ts
 * import { describeAdmin } from '@procur/event-bus/testing';
 *
 * describeAdmin('my-adapter', () => ({ transport: myAdapter() }), { features: myAdapter.features });
 * ```
 */
export function describeAdmin(name: string, factory: RoleFactory<MessageStreams & TransportAdmin>, options: RoleSuiteOptions<MessageStreams & TransportAdmin> = {}): void {
  checkSkip('describeAdmin', name, options.skip, ADMIN_SUITE_TESTS);
  runRoleSuite(SPEC, `Admin conformance: ${name}`, factory, options);
}

/** Registers the suite inside `describeTransport`'s block. @internal */
export function registerAdmin(factory: RoleFactory<MessageStreams & TransportAdmin>, options: Omit<RoleSuiteOptions<MessageStreams & TransportAdmin>, 'additionalTests'>): void {
  runRoleSuite(SPEC, SPEC.title, factory, options);
}
