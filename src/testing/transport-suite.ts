/**
 * The Transport conformance suite: the executable form of the transport contracts in
 * `src/contracts/transport*.ts`. `describeTransport` runs the suite of every role the adapter's
 * features declare (message streams, dead letters, key-value, signals, admin), each in its own
 * file, then the lifecycle cases of the whole transport. Every adapter runs it; third-party
 * adapters can too, or run one role suite alone.
 *
 * @module
 */

import { describe, expect, it } from 'vitest';
import { createEventSystem, memoryStore, silentLogger, type Delivery, type EventEnvelope, type Transport, type TransportFeatures } from '@procur/event-bus';
import { registerAdmin, ADMIN_SUITE_TESTS } from './admin-suite.js';
import { registerDeadLetters, DEAD_LETTERS_SUITE_TESTS } from './dead-letters-suite.js';
import { registerKeyValue, KEY_VALUE_SUITE_TESTS } from './key-value-suite.js';
import { registerSignals, SIGNALS_SUITE_TESTS } from './signals-suite.js';
import { registerMessageStreams, MESSAGE_STREAMS_SUITE_TESTS } from './streams-suite.js';
import {
  ALL_ROLES,
  checkSkip,
  eventually,
  harness,
  receiveN as receiveFrom,
  sleep,
  uniqueName,
  type RoleFactory,
  type RoleFactoryResult,
  type RoleSuiteContext,
} from './suite-kit.js';

export { uniqueName } from './suite-kit.js';

/** What a {@link TransportFactory} returns: a fresh transport and how to clean up after it. */
export type TransportFactoryResult = RoleFactoryResult<Transport>;

/** Creates a fresh transport for one test. Called before every test of the suite. */
export type TransportFactory = RoleFactory<Transport>;

/** What `additionalTests` can use: the current test's transport and unique names. */
export type TransportSuiteContext = RoleSuiteContext<Transport>;

/** Options of {@link describeTransport}. */
export interface DescribeTransportOptions {
  /**
   * The features the adapter declares (pass its `features`): the suites of the roles it does not
   * declare, and the cases that need them, are skipped (`describe.skipIf` / `it.skipIf`). Each
   * test checks that the transport declares the same roles. @default every role
   */
  features?: TransportFeatures;
  /**
   * Names of suite tests to skip, for features the transport lacks (see
   * {@link TRANSPORT_SUITE_TESTS}). An unknown name fails the suite, so typos do not go unseen.
   * @default []
   */
  skip?: readonly string[];
  /** Registers extra, adapter-specific tests inside the suite's `describe` (same fresh transport per test). */
  additionalTests?: (ctx: TransportSuiteContext) => void;
}

/** The cases of the whole transport, after the role suites. */
export const TRANSPORT_LIFECYCLE_TESTS = [
  'close is idempotent',
  'a handler that mutates its event changes nothing another group, a retry, the publisher or the DLQ sees',
] as const;

/** The name of every test of {@link describeTransport}, for `options.skip`: every role suite's, then the lifecycle's. */
export const TRANSPORT_SUITE_TESTS = [
  ...MESSAGE_STREAMS_SUITE_TESTS,
  ...DEAD_LETTERS_SUITE_TESTS,
  ...KEY_VALUE_SUITE_TESTS,
  ...SIGNALS_SUITE_TESTS,
  ...ADMIN_SUITE_TESTS,
  ...TRANSPORT_LIFECYCLE_TESTS,
] as const;

/** One of {@link TRANSPORT_SUITE_TESTS}. */
export type TransportSuiteTest = (typeof TRANSPORT_SUITE_TESTS)[number];

/**
 * Registers the Transport conformance suite with vitest: one `describe` block holding the suite
 * of every role `options.features` declares (`describeMessageStreams`, `describeDeadLetters`,
 * `describeKeyValue`, `describeSignals`, `describeAdmin`; the others are skipped), then the
 * lifecycle cases of the whole transport and `additionalTests`. Each test gets a fresh transport
 * from `factory` and names (streams, groups, keys, channels) unique to it, so the suite can run in
 * parallel against a shared backend; after each test the transport is closed and `teardown`
 * runs, even on failure. Timing tests use short delays (100-600 ms), assert "not before"
 * strictly and "after" with generous polling deadlines. The memory adapter passes it in a few
 * seconds.
 *
 * @param name - the adapter name shown in the report, e.g. `'redis'`.
 * @param factory - creates the transport for one test.
 * @param options - the adapter's features, tests to skip, and adapter-specific tests to add.
 *
 * @throws `Error` at collection time when `options.skip` names a test that does not exist.
 *
 * @example
 * ```ts
 * // test/adapters/redis-transport.test.ts
 * import { describeTransport } from '@procur/event-bus/testing';
 * import { redisTransport } from '@procur/event-bus/redis';
 *
 * describeTransport('redis', () => {
 *   const transport = redisTransport({ url: process.env.REDIS_URL });
 *   return { transport };
 * });
 * ```
 */
export function describeTransport(name: string, factory: TransportFactory, options: DescribeTransportOptions = {}): void {
  const skip = checkSkip('describeTransport', name, options.skip, TRANSPORT_SUITE_TESTS);
  const features = options.features ?? ALL_ROLES;
  const roleOptions = { features, skip: [...skip] };

  describe(`Transport conformance: ${name}`, () => {
    registerMessageStreams(factory, roleOptions);
    registerDeadLetters(factory, roleOptions);
    registerKeyValue(factory, roleOptions);
    registerSignals(factory, roleOptions);
    registerAdmin(factory, roleOptions);

    // ---- the whole transport --------------------------------------------------------------
    // Cases added here (and the helpers below) see every role through `t()`.
    describe('Transport', () => {
      let stream = '';
      let dlq = '';
      const ctx = harness(factory, features, (n) => ({ stream, dlq } = n));
      const test = (title: TransportSuiteTest, fn: () => Promise<void>) => it.skipIf(skip.has(title))(title, fn);
      const group = () => uniqueName('group');
      const t = () => ctx.transport;
      const receiveN = (tr: Transport, s: string, g: string, consumer: string, count: number, timeoutMs?: number): Promise<Delivery[]> =>
        receiveFrom(tr, s, g, consumer, count, timeoutMs);
      void [stream, dlq, group, receiveN, eventually, sleep];

      test('close is idempotent', async () => {
        const transport = t();
        await Promise.all([transport.close(), transport.close()]);
        await transport.close();
      });

      // Through the bus (publisher, consumers, retries, DLQ): what an in-process transport may
      // carry as values instead of text must stay as isolated as an encoded message.
      // A bus needs every role but admin.
      const busRoles = (['streams', 'deadLetters', 'keyValue', 'signals'] as const).every((r) => features[r] !== false);
      const busTest = (title: TransportSuiteTest, fn: () => Promise<void>) => it.skipIf(skip.has(title) || !busRoles)(title, fn);
      busTest('a handler that mutates its event changes nothing another group, a retry, the publisher or the DLQ sees', async () => {
        const bus = await createEventSystem({
          transport: t(),
          store: memoryStore(),
          logger: silentLogger,
          env: {},
          validate: false,
          outbox: false,
          config: { eventStreamName: stream, dlqStreamName: dlq, eventSourcingEnabled: false, dlqMaxRetries: 1, retryBackoffMs: 20, retryBackoffMaxMs: 40, eventBlockTime: 100 },
        });
        try {
          const seen: Record<'a' | 'b', string[]> = { a: [], b: [] };
          const vandal = (name: 'a' | 'b') => (event: EventEnvelope) => {
            seen[name].push(JSON.stringify(event));
            const data = event.data as { items: string[]; nested: { flag: string } };
            data.items.push(`touched by ${name}`);
            data.nested.flag = name;
            (event.metadata as Record<string, unknown>).by = name;
            event.type = 'test.vandalised';
            if (name === 'a') throw new Error('group a fails every attempt');
          };
          const type: string = 'test.mutation';
          for (const name of ['a', 'b'] as const) {
            await bus.consumer(`vandal-${name}`, { group: `${stream}-${name}` }).registerHandler(type, vandal(name)).start({ blockMs: 100 });
          }
          const input = { type, data: { items: ['x'], nested: { flag: 'original' }, at: new Date(0) }, metadata: { origin: 'suite' } };
          await bus.publisher.publish(input);
          // The publisher's object is the caller's to change once publish has resolved.
          input.data.items.push('changed by the publisher');
          const dead = await eventually(async () => {
            const [entry] = await t().listDeadLetters(dlq);
            return entry && seen.b.length > 0 ? entry : undefined;
          });
          expect(dead).toBeDefined();
          const original = JSON.parse(seen.b[0] as string) as EventEnvelope;
          expect(original.type).toBe('test.mutation');
          expect(original.data).toEqual({ items: ['x'], nested: { flag: 'original' }, at: new Date(0).toISOString() });
          expect(original.metadata).toEqual({ origin: 'suite' });
          // Group a's two attempts, group b's one, and the dead letter: the same event.
          expect(seen.a).toHaveLength(2);
          for (const text of [...seen.a, ...seen.b]) expect(JSON.parse(text)).toEqual(original);
          expect(JSON.parse((dead as { body: string }).body)).toEqual(original);
          expect(input.data.nested.flag).toBe('original');
        } finally {
          await bus.close();
        }
      });

      options.additionalTests?.(ctx);
    });
  });
}
