/**
 * The dead letters conformance suite: the executable form of the {@link DeadLetters} contract
 * (`src/contracts/transport-dead-letters.ts`). `describeTransport` runs it for every adapter that declares the
 * role; an adapter that provides only this role runs it alone.
 *
 * @module
 */

import { expect } from 'vitest';
import type { DeadLetters, Delivery, MessageStreams, Transport } from '@procur/event-bus';
import {
  checkSkip,
  runRoleSuite,
  type RoleFactory,
  type RoleSuiteOptions,
  type RoleSuiteSpec,
  receiveN,
  uniqueName,
  expectClosedRejections,
} from './suite-kit.js';

/** The name of every test of {@link describeDeadLetters}, for `options.skip`. */
export const DEAD_LETTERS_SUITE_TESTS = [
  'deadLetter moves a pending delivery to the DLQ',
  'deadLetter of an unknown delivery records only with a body',
  'listDeadLetters pages with after',
  'get, delete, count and purge dead letters',
  'dead-letter calls after close reject with ERR_CLOSED',
] as const;

const SPEC: RoleSuiteSpec<MessageStreams & DeadLetters> = {
  suite: 'describeDeadLetters',
  title: 'Dead letters',
  role: 'deadLetters',
  tests: DEAD_LETTERS_SUITE_TESTS,
  body({ ctx, test, names }) {
    const t = () => ctx.transport as unknown as Transport;
    const group = () => uniqueName('group');
    test('deadLetter moves a pending delivery to the DLQ', ['admin'], async () => {
      const { stream } = names;
      const { dlq } = names;
      const g = group();
      await t().ensureGroup(stream, g);
      await t().publish(stream, [{ body: 'poison', priority: 3 }]);
      const [d] = await receiveN(t(), stream, g, 'c1', 1);
      const before = Date.now();
      const id = await t().deadLetter(stream, g, d!, {
        dlq,
        error: 'boom',
        stack: 'Error: boom\n    at handler',
        attempts: 4,
        context: { type: 'order.created', consumer: 'c1' },
      });
      expect(typeof id).toBe('string');
      const info = await t().info(stream);
      expect(info.groups.find((x) => x.name === g)?.pending).toBe(0);
      expect(await t().claimStale(stream, { group: g, consumer: 'c2', minIdleMs: 0 })).toEqual([]);
      expect(await t().receive(stream, { group: g, consumer: 'c2', blockMs: 100 })).toEqual([]);
      const entry = await t().getDeadLetter(dlq, id!);
      expect(entry).toMatchObject({
        id,
        stream,
        group: g,
        body: 'poison',
        priority: 3,
        error: 'boom',
        stack: 'Error: boom\n    at handler',
        attempts: 4,
        context: { type: 'order.created', consumer: 'c1' },
      });
      expect(entry!.failedAt).toBeGreaterThanOrEqual(before - 1000);
      expect(entry!.failedAt).toBeLessThanOrEqual(Date.now() + 1000);
      expect(await t().listDeadLetters(dlq)).toEqual([entry]);
      expect(await t().countDeadLetters(dlq)).toBe(1);
    });

    test('deadLetter of an unknown delivery records only with a body', async () => {
      const { stream } = names;
      const { dlq } = names;
      const g = group();
      await t().ensureGroup(stream, g);
      const input = { dlq, error: 'bad', attempts: 1 };
      const none = await t().deadLetter(stream, g, { deliveryId: '0-1' } as Pick<Delivery, 'deliveryId' | 'body' | 'priority'>, input);
      expect(none).toBeUndefined();
      expect(await t().countDeadLetters(dlq)).toBe(0);
      const id = await t().deadLetter(stream, g, { deliveryId: '0-1', body: 'undecodable', priority: 1 }, input);
      expect(typeof id).toBe('string');
      expect(await t().getDeadLetter(dlq, id!)).toMatchObject({
        body: 'undecodable',
        priority: 1,
        error: 'bad',
        attempts: 1,
        stream,
        group: g,
        context: {},
      });
    });

    test('listDeadLetters pages with after', async () => {
      const { stream } = names;
      const { dlq } = names;
      const g = group();
      await t().ensureGroup(stream, g);
      await t().publish(stream, Array.from({ length: 5 }, (_, i) => ({ body: `m${i}` })));
      const got = await receiveN(t(), stream, g, 'c1', 5);
      for (const d of got) await t().deadLetter(stream, g, d, { dlq, error: `e-${d.body}`, attempts: 1 });
      const page1 = await t().listDeadLetters(dlq, { limit: 2 });
      expect(page1.map((e) => e.body)).toEqual(['m0', 'm1']);
      const page2 = await t().listDeadLetters(dlq, { limit: 2, after: page1[1]!.id });
      expect(page2.map((e) => e.body)).toEqual(['m2', 'm3']);
      const page3 = await t().listDeadLetters(dlq, { limit: 2, after: page2[1]!.id });
      expect(page3.map((e) => e.body)).toEqual(['m4']);
      expect(await t().listDeadLetters(dlq, { limit: 2, after: page3[0]!.id })).toEqual([]);
      expect((await t().listDeadLetters(dlq)).map((e) => e.error)).toEqual(['e-m0', 'e-m1', 'e-m2', 'e-m3', 'e-m4']);
      expect(await t().listDeadLetters(uniqueName('test:dlq'))).toEqual([]);
    });

    test('get, delete, count and purge dead letters', async () => {
      const { stream } = names;
      const { dlq } = names;
      const g = group();
      await t().ensureGroup(stream, g);
      const ids: string[] = [];
      for (const body of ['a', 'b', 'c', 'd']) {
        const id = await t().deadLetter(stream, g, { deliveryId: '0-1', body, priority: 1 }, { dlq, error: 'x', attempts: 1 });
        ids.push(id!);
      }
      expect(new Set(ids).size).toBe(4);
      expect(await t().countDeadLetters(dlq)).toBe(4);
      expect(await t().getDeadLetter(dlq, ids[0]!)).toMatchObject({ body: 'a' });
      expect(await t().getDeadLetter(dlq, '0-1')).toBeUndefined();
      expect(await t().deleteDeadLetters(dlq, [ids[0]!, ids[0]!, '0-1'])).toBe(1);
      expect(await t().deleteDeadLetters(dlq, [ids[0]!])).toBe(0);
      expect(await t().getDeadLetter(dlq, ids[0]!)).toBeUndefined();
      expect(await t().countDeadLetters(dlq)).toBe(3);
      expect(await t().purgeDeadLetters(dlq)).toBe(3);
      expect(await t().countDeadLetters(dlq)).toBe(0);
      expect(await t().listDeadLetters(dlq)).toEqual([]);
      expect(await t().purgeDeadLetters(dlq)).toBe(0);
    });

    test('dead-letter calls after close reject with ERR_CLOSED', async () => {
      const { stream, dlq } = names;
      const transport = t();
      const g = uniqueName('group');
      const key = ctx.name('test:key');
      void stream; void dlq; void g; void key;
      await transport.close();
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['deadLetter', () => transport.deadLetter(stream, g, { deliveryId: '0-1', body: 'x', priority: 1 }, { dlq, error: 'e', attempts: 1 })],
        ['listDeadLetters', () => transport.listDeadLetters(dlq)],
        ['getDeadLetter', () => transport.getDeadLetter(dlq, '0-1')],
        ['deleteDeadLetters', () => transport.deleteDeadLetters(dlq, ['0-1'])],
        ['countDeadLetters', () => transport.countDeadLetters(dlq)],
        ['purgeDeadLetters', () => transport.purgeDeadLetters(dlq)],
      ];
      await expectClosedRejections(calls);
    });
  },
};

/**
 * Registers the dead letters conformance suite with vitest: one `describe` block of tests that check
 * every verb of {@link DeadLetters}. Each test gets a fresh adapter from `factory` and names unique
 * to it; after each test the adapter is closed and `teardown` runs, even on failure. Cases that
 * also need another role (admin for `info`) are skipped when `options.features` does not declare it; the
 * whole suite is skipped when it does not declare `deadLetters`.
 *
 * @param name - the adapter name shown in the report, e.g. `'redis'`.
 * @param factory - creates the adapter for one test.
 * @param options - the adapter's features, tests to skip, adapter-specific tests.
 * @throws `Error` at collection time when `options.skip` names a test that does not exist.
 * @example
 * ```ts
 * import { describeDeadLetters } from '@procur/event-bus/testing';
 *
 * describeDeadLetters('my-adapter', () => ({ transport: myAdapter() }), { features: myAdapter.features });
 * ```
 */
export function describeDeadLetters(name: string, factory: RoleFactory<MessageStreams & DeadLetters>, options: RoleSuiteOptions<MessageStreams & DeadLetters> = {}): void {
  checkSkip('describeDeadLetters', name, options.skip, DEAD_LETTERS_SUITE_TESTS);
  runRoleSuite(SPEC, `Dead letters conformance: ${name}`, factory, options);
}

/** Registers the suite inside `describeTransport`'s block. @internal */
export function registerDeadLetters(factory: RoleFactory<MessageStreams & DeadLetters>, options: Omit<RoleSuiteOptions<MessageStreams & DeadLetters>, 'additionalTests'>): void {
  runRoleSuite(SPEC, SPEC.title, factory, options);
}
