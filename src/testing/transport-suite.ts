/**
 * The Transport conformance suite: the executable form of the contract in
 * `src/contracts/transport.ts`. Every adapter runs it; third-party adapters can too.
 *
 * @module
 */

import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Delivery, Transport } from '@procur/event-bus';
import { TRANSPORT_DEFAULTS, isEventBusError } from '@procur/event-bus';
import { runAll } from '@procur/event-bus';

/** What a {@link TransportFactory} returns: a fresh transport and how to clean up after it. */
export interface TransportFactoryResult {
  /** A new, open transport. The suite closes it after each test. */
  transport: Transport;
  /** Runs after the transport is closed, even when the test failed (drop keys, stop a server). */
  teardown?: () => Promise<void>;
}

/** Creates a fresh transport for one test. Called before every test of the suite. */
export type TransportFactory = () => Promise<TransportFactoryResult> | TransportFactoryResult;

/** What `additionalTests` can use: the current test's transport and unique names. */
export interface TransportSuiteContext {
  /** The transport of the running test (fresh for each test). */
  readonly transport: Transport;
  /** A stream name unique to the running test. */
  readonly stream: string;
  /** A dead letter queue name unique to the running test. */
  readonly dlq: string;
  /** A new unique name (see {@link uniqueName}). */
  name(prefix: string): string;
}

/** Options of {@link describeTransport}. */
export interface DescribeTransportOptions {
  /**
   * Names of suite tests to skip, for features the transport lacks (see
   * {@link TRANSPORT_SUITE_TESTS}). An unknown name fails the suite, so typos do not go unseen.
   * @default []
   */
  skip?: readonly string[];
  /** Registers extra, adapter-specific tests inside the suite's `describe` (same fresh transport per test). */
  additionalTests?: (ctx: TransportSuiteContext) => void;
}

/** The name of every test of {@link describeTransport}, for `options.skip`. */
export const TRANSPORT_SUITE_TESTS = [
  'publish and receive round trip',
  'publish returns ids in order',
  'competing consumers in one group each get a message once',
  'every group gets every message',
  'ensureGroup is idempotent',
  'startAt beginning reads the stream, end only new messages',
  'receive blocks for blockMs then returns []',
  'a blocked receive wakes when a message is published',
  'abort ends a blocked receive with []',
  'an aborted signal rejects a call with its reason',
  'ack is idempotent and acked messages never come back',
  'receive acknowledges the deliveries passed in ack, even when it reads nothing',
  'nack with delay redelivers to that group only, after the delay',
  'nack without delay wakes a blocked receive',
  'nack with countAttempt false keeps the attempt',
  'claimStale claims only deliveries idle for minIdleMs',
  'concurrent claimStale never double-assigns',
  'touch prevents a claim',
  'publish with delayMs is invisible until the delay is over',
  'a backlog is served highest priority first, FIFO within a rank',
  'odd priorities are clamped to 0-3; a missing or NaN one is 1',
  'receive, claimStale and listDeadLetters default to 10, 100 and 100',
  'a higher priority published while a backlog drains is served by the next read',
  'deadLetter moves a pending delivery to the DLQ',
  'deadLetter of an unknown delivery records only with a body',
  'listDeadLetters pages with after',
  'get, delete, count and purge dead letters',
  'redeliver reaches only the named group',
  'info reports the state of a stream',
  'purge removes the backlog and delayed messages',
  'kvSet and kvGet',
  'kvSet with ttlMs expires',
  'kvSet ifAbsent is a lock',
  'kvSet ifEquals renews only with the right value',
  'kvDelete with and without ifEquals',
  'kvScan lists live keys by prefix',
  'kvIncr counts atomically and expires',
  'kvSetMany writes every key with its ttl',
  'notify reaches listeners until they unsubscribe',
  'a throwing listener keeps its subscription',
  'close wakes a blocked receive with []',
  'calls after close reject with ERR_CLOSED',
  'close is idempotent',
  // ---- cases added by the redis helper (issue 10); the lead moves them into the restructured suite ----
  'a new group starts at the beginning of the stream, highest priority first',
  'startAt end skips the backlog of a new group',
  // ---- end of the redis helper's cases ----
] as const;

/** One of {@link TRANSPORT_SUITE_TESTS}. */
export type TransportSuiteTest = (typeof TRANSPORT_SUITE_TESTS)[number];

/**
 * A name unique to this run (`prefix:` plus 12 random hex characters), so parallel runs against
 * one shared backend never see each other's streams, groups or keys.
 *
 * @example
 * ```ts
 * const stream = uniqueName('orders'); // 'orders:3f9c0a1b2c4d'
 * ```
 */
export function uniqueName(prefix: string): string {
  return `${prefix}:${randomUUID().replace(/-/g, '').slice(0, 12)}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Delays are measured on the adapter's clock and on ours, each truncated to the millisecond. */
const CLOCK_TOLERANCE_MS = 5;
/** How long polling loops wait for something that should happen (generous for slow CI). */
const PATIENCE_MS = 5000;

/** Receives until `count` deliveries arrived or `timeoutMs` passed. */
async function receiveN(
  t: Transport,
  stream: string,
  group: string,
  consumer: string,
  count: number,
  timeoutMs = PATIENCE_MS,
): Promise<Delivery[]> {
  const out: Delivery[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count && Date.now() < deadline) {
    out.push(...(await t.receive(stream, { group, consumer, max: count - out.length, blockMs: 100 })));
  }
  return out;
}

/** Polls `fn` until it returns a value that is not `undefined`, or `timeoutMs` passes. */
async function eventually<T>(fn: () => Promise<T | undefined>, timeoutMs = PATIENCE_MS, intervalMs = 20): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined || Date.now() >= deadline) return v;
    await sleep(intervalMs);
  }
}

function bodies(ds: readonly Delivery[]): string[] {
  return ds.map((d) => d.body);
}

/**
 * Registers the Transport conformance suite with vitest: one `describe` block of tests that check
 * every method of the contract. Each test gets a fresh transport from `factory` and names
 * (streams, groups, keys, channels) unique to it, so the suite can run in parallel against a
 * shared backend; after each test the transport is closed and `teardown` runs, even on failure.
 * Timing tests use short delays (100-600 ms), assert "not before" strictly and "after" with
 * generous polling deadlines. The memory adapter passes it in a few seconds.
 *
 * @param name - the adapter name shown in the report, e.g. `'redis'`.
 * @param factory - creates the transport for one test.
 * @param options - tests to skip, and adapter-specific tests to add.
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
  const skip = new Set(options.skip ?? []);
  const unknown = [...skip].filter((s) => !(TRANSPORT_SUITE_TESTS as readonly string[]).includes(s));
  if (unknown.length > 0) {
    throw new Error(`[event-bus:testing] describeTransport('${name}'): unknown test name(s) in skip: ${unknown.join(', ')}`);
  }

  describe(`Transport conformance: ${name}`, () => {
    let current: TransportFactoryResult | undefined;
    let stream = '';
    let dlq = '';

    const ctx: TransportSuiteContext = {
      get transport() {
        if (!current) throw new Error('[event-bus:testing] the transport exists only while a test runs');
        return current.transport;
      },
      get stream() {
        return stream;
      },
      get dlq() {
        return dlq;
      },
      name: uniqueName,
    };

    beforeEach(async () => {
      stream = uniqueName('test:stream');
      dlq = uniqueName('test:dlq');
      current = await factory();
    });

    afterEach(async () => {
      const done = current;
      current = undefined;
      if (!done) return;
      await runAll([() => done.transport.close(), () => done.teardown?.()]);
    });

    const test = (title: TransportSuiteTest, fn: () => Promise<void>) => (skip.has(title) ? it.skip : it)(title, fn);
    const group = () => uniqueName('group');
    const t = () => ctx.transport;

    // ---- publish / receive ----------------------------------------------------------------

    test('publish and receive round trip', async () => {
      const g = group();
      await t().ensureGroup(stream, g);
      const before = Date.now();
      const ids = await t().publish(stream, [{ body: 'hello', priority: 2 }, { body: 'world' }]);
      const after = Date.now();
      expect(ids).toHaveLength(2);
      const got = await receiveN(t(), stream, g, 'c1', 2);
      expect(got).toHaveLength(2);
      const [first, second] = got as [Delivery, Delivery];
      expect(first).toMatchObject({ stream, group: g, body: 'hello', priority: 2, attempt: 1 });
      expect(second).toMatchObject({ stream, group: g, body: 'world', priority: 1, attempt: 1 });
      for (const d of got) {
        expect(typeof d.deliveryId).toBe('string');
        expect(d.deliveryId.length).toBeGreaterThan(0);
        // Adapters may stamp with the backend's clock: allow a little skew.
        expect(d.publishedAt).toBeGreaterThanOrEqual(before - 1000);
        expect(d.publishedAt).toBeLessThanOrEqual(after + 1000);
      }
      expect(first.deliveryId).not.toBe(second.deliveryId);
    });

    test('publish returns ids in order', async () => {
      const g = group();
      await t().ensureGroup(stream, g);
      const ids = await t().publish(stream, [{ body: 'a' }, { body: 'b' }, { body: 'c' }]);
      expect(ids).toHaveLength(3);
      expect(new Set(ids).size).toBe(3);
      for (const id of ids) expect(typeof id).toBe('string');
      const more = await t().publish(stream, [{ body: 'd' }]);
      expect(more).toHaveLength(1);
      expect(ids).not.toContain(more[0]);
      expect(await t().publish(stream, [])).toEqual([]);
      expect(bodies(await receiveN(t(), stream, g, 'c1', 4))).toEqual(['a', 'b', 'c', 'd']);
    });

    test('competing consumers in one group each get a message once', async () => {
      const g = group();
      await t().ensureGroup(stream, g);
      const total = 30;
      await t().publish(stream, Array.from({ length: total }, (_, i) => ({ body: `m${i}` })));
      const seen: string[] = [];
      const deadline = Date.now() + PATIENCE_MS;
      const worker = async (consumer: string) => {
        while (seen.length < total && Date.now() < deadline) {
          const got = await t().receive(stream, { group: g, consumer, max: 4, blockMs: 50 });
          seen.push(...bodies(got));
          if (got.length > 0) await t().ack(stream, g, got.map((d) => d.deliveryId));
          await sleep(1);
        }
      };
      await Promise.all([worker('c1'), worker('c2'), worker('c3')]);
      expect(seen).toHaveLength(total);
      expect(new Set(seen).size).toBe(total);
      // Nobody gets anything more.
      expect(await t().receive(stream, { group: g, consumer: 'c4', max: 100 })).toEqual([]);
    });

    test('every group gets every message', async () => {
      const [g1, g2] = [group(), group()];
      await t().ensureGroup(stream, g1);
      await t().ensureGroup(stream, g2);
      await t().publish(stream, [{ body: 'a' }, { body: 'b' }, { body: 'c' }]);
      expect(bodies(await receiveN(t(), stream, g1, 'c1', 3))).toEqual(['a', 'b', 'c']);
      expect(bodies(await receiveN(t(), stream, g2, 'c1', 3))).toEqual(['a', 'b', 'c']);
      expect(await t().receive(stream, { group: g1, consumer: 'c1' })).toEqual([]);
      expect(await t().receive(stream, { group: g2, consumer: 'c2' })).toEqual([]);
    });

    test('ensureGroup is idempotent', async () => {
      const g = group();
      await t().ensureGroup(stream, g);
      await t().ensureGroup(stream, g);
      await t().publish(stream, [{ body: 'a' }, { body: 'b' }]);
      await t().ensureGroup(stream, g);
      const first = await receiveN(t(), stream, g, 'c1', 1);
      expect(bodies(first)).toEqual(['a']);
      await t().ack(stream, g, [first[0]!.deliveryId]);
      // Neither call resets the group: 'a' is not read again, 'b' is still there.
      await t().ensureGroup(stream, g);
      await t().ensureGroup(stream, g, { startAt: 'beginning' });
      expect(bodies(await receiveN(t(), stream, g, 'c1', 1))).toEqual(['b']);
      expect(await t().receive(stream, { group: g, consumer: 'c1', blockMs: 100 })).toEqual([]);
    });

    test('startAt beginning reads the stream, end only new messages', async () => {
      await t().publish(stream, [{ body: 'old1' }, { body: 'old2' }]);
      const [gEnd, gBegin, gDefault] = [group(), group(), group()];
      await t().ensureGroup(stream, gEnd, { startAt: 'end' });
      await t().ensureGroup(stream, gBegin, { startAt: 'beginning' });
      await t().ensureGroup(stream, gDefault);
      await t().publish(stream, [{ body: 'new' }]);
      expect(bodies(await receiveN(t(), stream, gEnd, 'c1', 1))).toEqual(['new']);
      // No startAt: a new group starts at the beginning too (nothing accepted is skipped).
      expect(bodies(await receiveN(t(), stream, gDefault, 'c1', 3))).toEqual(['old1', 'old2', 'new']);
      expect(bodies(await receiveN(t(), stream, gBegin, 'c1', 3))).toEqual(['old1', 'old2', 'new']);
      for (const g of [gEnd, gDefault, gBegin]) {
        expect(await t().receive(stream, { group: g, consumer: 'c1', max: 10, blockMs: 50 })).toEqual([]);
      }
    });

    test('receive blocks for blockMs then returns []', async () => {
      const g = group();
      await t().ensureGroup(stream, g);
      const started = Date.now();
      expect(await t().receive(stream, { group: g, consumer: 'c1', blockMs: 300 })).toEqual([]);
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(300 - 50);
      expect(elapsed).toBeLessThan(3000);
      // blockMs 0 (the default) returns at once.
      const t0 = Date.now();
      expect(await t().receive(stream, { group: g, consumer: 'c1' })).toEqual([]);
      expect(Date.now() - t0).toBeLessThan(1000);
    });

    test('a blocked receive wakes when a message is published', async () => {
      const g = group();
      await t().ensureGroup(stream, g);
      const started = Date.now();
      const pending = t().receive(stream, { group: g, consumer: 'c1', blockMs: 5000 });
      await sleep(100);
      await t().publish(stream, [{ body: 'wake' }]);
      const got = await pending;
      expect(bodies(got)).toEqual(['wake']);
      expect(Date.now() - started).toBeLessThan(2500);
    });

    test('abort ends a blocked receive with []', async () => {
      const g = group();
      await t().ensureGroup(stream, g);
      const controller = new AbortController();
      const started = Date.now();
      const pending = t().receive(stream, { group: g, consumer: 'c1', blockMs: 5000, signal: controller.signal });
      await sleep(100);
      controller.abort(new Error('stop'));
      expect(await pending).toEqual([]);
      expect(Date.now() - started).toBeLessThan(2500);
      // An already aborted receive resolves [] and takes nothing.
      await t().publish(stream, [{ body: 'kept' }]);
      expect(await t().receive(stream, { group: g, consumer: 'c1', signal: AbortSignal.abort() })).toEqual([]);
      expect(bodies(await receiveN(t(), stream, g, 'c2', 1))).toEqual(['kept']);
    });

    test('an aborted signal rejects a call with its reason', async () => {
      const reason = new Error('caller gave up');
      const signal = AbortSignal.abort(reason);
      await expect(t().publish(stream, [{ body: 'x' }], { signal })).rejects.toBe(reason);
      await expect(t().kvGet(ctx.name('key'), { signal })).rejects.toBe(reason);
      await expect(t().info(stream, { signal })).rejects.toBe(reason);
    });

    // ---- ack / nack / claim / touch -------------------------------------------------------

    test('ack is idempotent and acked messages never come back', async () => {
      const g = group();
      await t().ensureGroup(stream, g);
      await t().publish(stream, [{ body: 'a' }, { body: 'b' }]);
      const got = await receiveN(t(), stream, g, 'c1', 2);
      const ids = got.map((d) => d.deliveryId);
      await t().ack(stream, g, ids);
      await t().ack(stream, g, ids);
      await t().ack(stream, g, ['0-1']);
      await t().ack(stream, g, []);
      await sleep(20);
      expect(await t().claimStale(stream, { group: g, consumer: 'c2', minIdleMs: 0 })).toEqual([]);
      expect(await t().receive(stream, { group: g, consumer: 'c2', blockMs: 100 })).toEqual([]);
      const info = await t().info(stream);
      expect(info.groups.find((x) => x.name === g)).toMatchObject({ pending: 0, lag: 0, retrying: 0 });
      // Handing back an acked delivery is a no-op too.
      await t().nack(stream, g, ids[0]!);
      expect(await t().receive(stream, { group: g, consumer: 'c2', blockMs: 100 })).toEqual([]);
    });

    test('receive acknowledges the deliveries passed in ack, even when it reads nothing', async () => {
      const g = group();
      await t().ensureGroup(stream, g);
      await t().publish(stream, [{ body: 'a' }, { body: 'b' }]);
      const [first] = await t().receive(stream, { group: g, consumer: 'c1', max: 1 });
      expect(first?.body).toBe('a');
      const [second] = await t().receive(stream, { group: g, consumer: 'c1', max: 1, ack: [first!.deliveryId] });
      expect(second?.body).toBe('b');
      expect((await t().info(stream)).groups.find((x) => x.name === g)).toMatchObject({ pending: 1 });
      // Nothing left to read: the ack still happens, and unknown ids are ignored like ack's.
      expect(await t().receive(stream, { group: g, consumer: 'c1', max: 5, ack: [second!.deliveryId, 'not-an-id'] })).toEqual([]);
      expect((await t().info(stream)).groups.find((x) => x.name === g)).toMatchObject({ pending: 0, lag: 0 });
      await sleep(20);
      expect(await t().claimStale(stream, { group: g, consumer: 'c2', minIdleMs: 0 })).toEqual([]);
      // With max 0 nothing is read, and the acks still happen.
      await t().publish(stream, [{ body: 'c' }]);
      const [third] = await receiveN(t(), stream, g, 'c1', 1);
      expect(await t().receive(stream, { group: g, consumer: 'c1', max: 0, ack: [third!.deliveryId] })).toEqual([]);
      expect((await t().info(stream)).groups.find((x) => x.name === g)).toMatchObject({ pending: 0, lag: 0 });
    });

    test('nack with delay redelivers to that group only, after the delay', async () => {
      const [gA, gB] = [group(), group()];
      await t().ensureGroup(stream, gA);
      await t().ensureGroup(stream, gB);
      await t().publish(stream, [{ body: 'retry-me', priority: 2 }]);
      const [a] = await receiveN(t(), stream, gA, 'c1', 1);
      const [b] = await receiveN(t(), stream, gB, 'c1', 1);
      expect(a && b).toBeTruthy();
      await t().ack(stream, gB, [b!.deliveryId]);
      const delayMs = 300;
      const nackedAt = Date.now();
      await t().nack(stream, gA, a!.deliveryId, { delayMs });
      // Not before the delay: it is neither pending nor ready.
      expect(await t().receive(stream, { group: gA, consumer: 'c1' })).toEqual([]);
      expect(await t().claimStale(stream, { group: gA, consumer: 'c2', minIdleMs: 0 })).toEqual([]);
      const info = await t().info(stream);
      expect(info.groups.find((x) => x.name === gA)).toMatchObject({ pending: 0, retrying: 1 });
      const again = await eventually(async () => {
        const got = await t().receive(stream, { group: gA, consumer: 'c2', blockMs: 50 });
        return got.length > 0 ? { got, at: Date.now() } : undefined;
      });
      expect(again).toBeDefined();
      expect(again!.at - nackedAt).toBeGreaterThanOrEqual(delayMs - CLOCK_TOLERANCE_MS);
      expect(again!.got).toHaveLength(1);
      expect(again!.got[0]).toMatchObject({ body: 'retry-me', priority: 2, attempt: 2, group: gA });
      // The other group does not see it again.
      expect(await t().receive(stream, { group: gB, consumer: 'c1', blockMs: 100 })).toEqual([]);
      expect((await t().info(stream)).groups.find((x) => x.name === gB)).toMatchObject({ pending: 0, lag: 0, retrying: 0 });
    });

    test('nack without delay wakes a blocked receive', async () => {
      const g = group();
      await t().ensureGroup(stream, g);
      await t().publish(stream, [{ body: 'x' }]);
      const [d] = await receiveN(t(), stream, g, 'c1', 1);
      const started = Date.now();
      const waiting = t().receive(stream, { group: g, consumer: 'c2', blockMs: 5000 });
      await sleep(50);
      await t().nack(stream, g, d!.deliveryId);
      const got = await waiting;
      expect(Date.now() - started).toBeLessThan(2500);
      expect(got).toHaveLength(1);
      expect(got[0]).toMatchObject({ body: 'x', attempt: 2 });
    });

    test('nack with countAttempt false keeps the attempt', async () => {
      const g = group();
      await t().ensureGroup(stream, g);
      await t().publish(stream, [{ body: 'x' }]);
      const [d1] = await receiveN(t(), stream, g, 'c1', 1);
      await t().nack(stream, g, d1!.deliveryId, { countAttempt: false });
      const [d2] = await receiveN(t(), stream, g, 'c1', 1);
      expect(d2).toMatchObject({ body: 'x', attempt: 1 });
      await t().nack(stream, g, d2!.deliveryId, { countAttempt: false, delayMs: 100 });
      const [d3] = await receiveN(t(), stream, g, 'c1', 1);
      expect(d3).toMatchObject({ body: 'x', attempt: 1 });
      await t().nack(stream, g, d3!.deliveryId);
      const [d4] = await receiveN(t(), stream, g, 'c1', 1);
      expect(d4).toMatchObject({ body: 'x', attempt: 2 });
      // An unknown delivery id is a no-op.
      await t().nack(stream, g, '0-1');
    });

    test('claimStale claims only deliveries idle for minIdleMs', async () => {
      const g = group();
      await t().ensureGroup(stream, g);
      await t().publish(stream, [{ body: 'stuck' }]);
      const [d] = await receiveN(t(), stream, g, 'c1', 1);
      const deliveredAt = Date.now();
      const minIdleMs = 300;
      expect(await t().claimStale(stream, { group: g, consumer: 'c2', minIdleMs })).toEqual([]);
      const claim = await eventually(async () => {
        const got = await t().claimStale(stream, { group: g, consumer: 'c2', minIdleMs });
        return got.length > 0 ? { got, at: Date.now() } : undefined;
      });
      expect(claim).toBeDefined();
      expect(claim!.at - deliveredAt).toBeGreaterThanOrEqual(minIdleMs - CLOCK_TOLERANCE_MS);
      expect(claim!.got).toHaveLength(1);
      const claimed = claim!.got[0]!;
      expect(claimed).toMatchObject({ body: 'stuck', attempt: d!.attempt + 1, stream, group: g });
      // Fresh for its new owner: nobody can take it right away.
      expect(await t().claimStale(stream, { group: g, consumer: 'c3', minIdleMs })).toEqual([]);
      await t().ack(stream, g, [claimed.deliveryId]);
      const info = await t().info(stream);
      expect(info.groups.find((x) => x.name === g)?.pending).toBe(0);
      expect(await t().claimStale(stream, { group: g, consumer: 'c3', minIdleMs: 0 })).toEqual([]);
    });

    test('concurrent claimStale never double-assigns', async () => {
      const g = group();
      await t().ensureGroup(stream, g);
      const total = 50;
      await t().publish(stream, Array.from({ length: total }, (_, i) => ({ body: `m${i}` })));
      expect(await receiveN(t(), stream, g, 'dead', total)).toHaveLength(total);
      const minIdleMs = 150;
      await sleep(minIdleMs + 100);
      const claimers = ['k1', 'k2', 'k3', 'k4', 'k5'];
      const rounds = await Promise.all(claimers.map((consumer) => t().claimStale(stream, { group: g, consumer, minIdleMs, max: 10 })));
      const claimed = rounds.flat();
      // Sweep whatever a slower adapter left, still never twice.
      const deadline = Date.now() + PATIENCE_MS;
      while (claimed.length < total && Date.now() < deadline) {
        claimed.push(...(await t().claimStale(stream, { group: g, consumer: 'k6', minIdleMs })));
        await sleep(20);
      }
      const seen = bodies(claimed);
      expect(new Set(seen).size).toBe(seen.length);
      expect(new Set(seen)).toEqual(new Set(Array.from({ length: total }, (_, i) => `m${i}`)));
      expect(new Set(claimed.map((d) => d.deliveryId)).size).toBe(total);
      for (const d of claimed) expect(d.attempt).toBe(2);
    });

    test('touch prevents a claim', async () => {
      const g = group();
      await t().ensureGroup(stream, g);
      await t().publish(stream, [{ body: 'long' }]);
      const [d] = await receiveN(t(), stream, g, 'c1', 1);
      const minIdleMs = 300;
      await sleep(minIdleMs + 150);
      await t().touch(stream, g, 'c1', [d!.deliveryId]);
      // Idle for longer than minIdleMs since delivery, but just touched.
      expect(await t().claimStale(stream, { group: g, consumer: 'c2', minIdleMs })).toEqual([]);
      // Unknown ids are ignored.
      await t().touch(stream, g, 'c1', ['0-1']);
      // Without further touches it becomes claimable again.
      const claimed = await eventually(async () => {
        const got = await t().claimStale(stream, { group: g, consumer: 'c2', minIdleMs });
        return got.length > 0 ? got : undefined;
      });
      expect(bodies(claimed ?? [])).toEqual(['long']);
    });

    // ---- delays and priorities ------------------------------------------------------------

    test('publish with delayMs is invisible until the delay is over', async () => {
      const g = group();
      await t().ensureGroup(stream, g);
      const delayMs = 300;
      const publishedAt = Date.now();
      await t().publish(stream, [{ body: 'later', delayMs }, { body: 'now' }]);
      expect(bodies(await t().receive(stream, { group: g, consumer: 'c1', max: 10 }))).toEqual(['now']);
      expect(await t().receive(stream, { group: g, consumer: 'c1' })).toEqual([]);
      const info = await t().info(stream);
      expect(info.delayed).toBe(1);
      expect(info.groups.find((x) => x.name === g)).toMatchObject({ pending: 1, lag: 0 });
      const later = await eventually(async () => {
        const got = await t().receive(stream, { group: g, consumer: 'c1', blockMs: 50 });
        return got.length > 0 ? { got, at: Date.now() } : undefined;
      });
      expect(later).toBeDefined();
      expect(later!.at - publishedAt).toBeGreaterThanOrEqual(delayMs - CLOCK_TOLERANCE_MS);
      expect(later!.got[0]).toMatchObject({ body: 'later', attempt: 1 });
      expect((await t().info(stream)).delayed).toBe(0);
    });

    test('a backlog is served highest priority first, FIFO within a rank', async () => {
      const g = group();
      await t().ensureGroup(stream, g);
      await t().publish(stream, [
        { body: 'low-1', priority: 0 },
        { body: 'normal-1', priority: 1 },
        { body: 'critical-1', priority: 3 },
        { body: 'high-1', priority: 2 },
      ]);
      await t().publish(stream, [
        { body: 'low-2', priority: 0 },
        { body: 'critical-2', priority: 3 },
        { body: 'normal-2' },
        { body: 'high-2', priority: 2 },
      ]);
      const got: Delivery[] = [];
      const deadline = Date.now() + PATIENCE_MS;
      while (got.length < 8 && Date.now() < deadline) {
        got.push(...(await t().receive(stream, { group: g, consumer: 'c1', max: 3, blockMs: 50 })));
      }
      expect(bodies(got)).toEqual(['critical-1', 'critical-2', 'high-1', 'high-2', 'normal-1', 'normal-2', 'low-1', 'low-2']);
      expect(got.map((d) => d.priority)).toEqual([3, 3, 2, 2, 1, 1, 0, 0]);
    });

    test('odd priorities are clamped to 0-3; a missing or NaN one is 1', async () => {
      const g = group();
      await t().ensureGroup(stream, g);
      await t().publish(stream, [
        { body: 'above', priority: 9 },
        { body: 'below', priority: -3 },
        { body: 'nan', priority: Number.NaN },
        { body: 'fraction', priority: 2.7 },
        { body: 'missing' },
      ]);
      const got = await receiveN(t(), stream, g, 'c1', 5);
      expect(got.map((d) => [d.body, d.priority])).toEqual([
        ['above', 3],
        ['fraction', 2],
        ['nan', 1],
        ['missing', 1],
        ['below', 0],
      ]);
    });

    test('receive, claimStale and listDeadLetters default to 10, 100 and 100', async () => {
      const g = group();
      await t().ensureGroup(stream, g);
      await t().publish(stream, Array.from({ length: 120 }, (_, i) => ({ body: `m${i}` })));
      expect(await t().receive(stream, { group: g, consumer: 'c1' })).toHaveLength(TRANSPORT_DEFAULTS.receiveMax);
      const rest = await receiveN(t(), stream, g, 'c1', 110);
      expect(rest).toHaveLength(110);
      await sleep(20);
      const claimed = await t().claimStale(stream, { group: g, consumer: 'c2', minIdleMs: 0 });
      expect(claimed).toHaveLength(TRANSPORT_DEFAULTS.claimMax);
      const claimedIds = new Set(claimed.map((d) => d.deliveryId));
      const unclaimed = rest.find((d) => !claimedIds.has(d.deliveryId))!;
      await Promise.all([...claimed, unclaimed].map((d) => t().deadLetter(stream, g, d, { dlq, error: 'x', attempts: 1 })));
      expect(await t().countDeadLetters(dlq)).toBe(TRANSPORT_DEFAULTS.claimMax + 1);
      expect(await t().listDeadLetters(dlq)).toHaveLength(TRANSPORT_DEFAULTS.deadLetterLimit);
    });

    test('a higher priority published while a backlog drains is served by the next read', async () => {
      const g = group();
      await t().ensureGroup(stream, g);
      // Batches this large let adapters switch to a cheaper read path while a backlog drains.
      const batch = 40;
      const total = 5 * batch;
      const normal = Array.from({ length: total }, (_, i) => `normal-${i}`);
      await t().publish(stream, normal.map((body) => ({ body })));
      const got: Delivery[] = [];
      for (let i = 0; i < 3; i++) got.push(...(await t().receive(stream, { group: g, consumer: 'c1', max: batch })));
      expect(bodies(got)).toEqual(normal.slice(0, 3 * batch));
      await t().publish(stream, [{ body: 'critical', priority: 3 }, { body: 'high', priority: 2 }]);
      const next = await t().receive(stream, { group: g, consumer: 'c1', max: batch });
      expect(bodies(next)).toEqual(['critical', 'high', ...normal.slice(3 * batch, 4 * batch - 2)]);
      const deadline = Date.now() + PATIENCE_MS;
      while (got.length + next.length < total + 2 && Date.now() < deadline) {
        got.push(...(await t().receive(stream, { group: g, consumer: 'c1', max: batch, blockMs: 50 })));
      }
      // Nothing lost, nothing twice, FIFO within the rank, every delivery a first attempt.
      expect([...bodies(got.slice(0, 3 * batch)), ...bodies(next).slice(2), ...bodies(got.slice(3 * batch))]).toEqual(normal);
      expect([...got, ...next].every((d) => d.attempt === 1)).toBe(true);
      expect(await t().receive(stream, { group: g, consumer: 'c1', max: 10 })).toEqual([]);
    });

    // ---- dead letters ---------------------------------------------------------------------

    test('deadLetter moves a pending delivery to the DLQ', async () => {
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

    test('redeliver reaches only the named group', async () => {
      const [gA, gB] = [group(), group()];
      await t().ensureGroup(stream, gA);
      await t().ensureGroup(stream, gB);
      const ids = await t().redeliver(stream, gA, [{ body: 'again', priority: 2, attempt: 3 }, { body: 'fresh' }]);
      expect(ids).toHaveLength(2);
      const got = await receiveN(t(), stream, gA, 'c1', 2);
      expect(got[0]).toMatchObject({ body: 'again', priority: 2, attempt: 3, group: gA });
      expect(got[1]).toMatchObject({ body: 'fresh', priority: 1, attempt: 1, group: gA });
      expect(await t().receive(stream, { group: gB, consumer: 'c1', blockMs: 100 })).toEqual([]);
      // With a delay: not before it.
      const delayMs = 200;
      const sentAt = Date.now();
      await t().redeliver(stream, gA, [{ body: 'delayed', delayMs }]);
      expect(await t().receive(stream, { group: gA, consumer: 'c1' })).toEqual([]);
      const later = await eventually(async () => {
        const r = await t().receive(stream, { group: gA, consumer: 'c1', blockMs: 50 });
        return r.length > 0 ? { r, at: Date.now() } : undefined;
      });
      expect(later!.at - sentAt).toBeGreaterThanOrEqual(delayMs - CLOCK_TOLERANCE_MS);
      expect(bodies(later!.r)).toEqual(['delayed']);
      expect(await t().receive(stream, { group: gB, consumer: 'c1' })).toEqual([]);
    });

    // ---- info / purge ---------------------------------------------------------------------

    test('info reports the state of a stream', async () => {
      const missing = uniqueName('test:missing');
      expect(await t().info(missing)).toEqual({ stream: missing, length: 0, lengthByPriority: [0, 0, 0, 0], delayed: 0, groups: [] });
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

    // ---- key-value ------------------------------------------------------------------------

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
      expect(await t().kvSet(key, 'v', { ttlMs: 150 })).toBe(true);
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
      const results = await Promise.all(['a', 'b', 'c'].map((v) => t().kvSet(key, v, { ifAbsent: true, ttlMs: 200 })));
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
      expect(await t().kvSet(key, 'me', { ifAbsent: true, ttlMs: 300 })).toBe(true);
      expect(await t().kvSet(key, 'thief', { ifEquals: 'other', ttlMs: 5000 })).toBe(false);
      expect(await t().kvGet(key)).toBe('me');
      expect(await t().kvSet(key, 'me', { ifEquals: 'me', ttlMs: 5000 })).toBe(true);
      await sleep(500);
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
      expect(await t().kvIncr(short, { ttlMs: 100 })).toBe(1);
      expect(await t().kvIncr(short, { ttlMs: 100 })).toBe(2);
      await sleep(250);
      expect(await t().kvGet(short)).toBeNull();
      expect(await t().kvIncr(short)).toBe(1);
    });

    // ---- notifications --------------------------------------------------------------------

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

    // ---- close ----------------------------------------------------------------------------

    test('close wakes a blocked receive with []', async () => {
      const g = group();
      await t().ensureGroup(stream, g);
      const started = Date.now();
      const blocked = t().receive(stream, { group: g, consumer: 'c1', blockMs: 5000 });
      await sleep(50);
      await t().close();
      expect(await blocked).toEqual([]);
      expect(Date.now() - started).toBeLessThan(2500);
    });

    test('calls after close reject with ERR_CLOSED', async () => {
      const transport = t();
      const g = group();
      await transport.ensureGroup(stream, g);
      await transport.close();
      const key = ctx.name('test:key');
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['publish', () => transport.publish(stream, [{ body: 'x' }])],
        ['ensureGroup', () => transport.ensureGroup(stream, g)],
        ['receive', () => transport.receive(stream, { group: g, consumer: 'c1' })],
        ['ack', () => transport.ack(stream, g, ['0-1'])],
        ['nack', () => transport.nack(stream, g, '0-1')],
        ['claimStale', () => transport.claimStale(stream, { group: g, consumer: 'c1', minIdleMs: 0 })],
        ['touch', () => transport.touch(stream, g, 'c1', ['0-1'])],
        [
          'deadLetter',
          () => transport.deadLetter(stream, g, { deliveryId: '0-1', body: 'x', priority: 1 }, { dlq, error: 'e', attempts: 1 }),
        ],
        ['listDeadLetters', () => transport.listDeadLetters(dlq)],
        ['getDeadLetter', () => transport.getDeadLetter(dlq, '0-1')],
        ['deleteDeadLetters', () => transport.deleteDeadLetters(dlq, ['0-1'])],
        ['countDeadLetters', () => transport.countDeadLetters(dlq)],
        ['purgeDeadLetters', () => transport.purgeDeadLetters(dlq)],
        ['redeliver', () => transport.redeliver(stream, g, [{ body: 'x' }])],
        ['info', () => transport.info(stream)],
        ['purge', () => transport.purge(stream)],
        ['kvGet', () => transport.kvGet(key)],
        ['kvSet', () => transport.kvSet(key, 'v')],
        ['kvDelete', () => transport.kvDelete(key)],
        ['kvScan', () => transport.kvScan(key)],
        ['kvIncr', () => transport.kvIncr(key)],
        ['kvSetMany', () => transport.kvSetMany([{ key, value: 'v' }])],
        ['notify', () => transport.notify(key, 'm')],
        ['listen', () => transport.listen(key, () => {})],
      ];
      for (const [method, call] of calls) {
        let promise: Promise<unknown>;
        try {
          promise = call();
        } catch (err) {
          throw new Error(`${method} threw synchronously after close instead of rejecting: ${String(err)}`);
        }
        const outcome = await promise.then(
          () => 'resolved',
          (err: unknown) => err,
        );
        expect(isEventBusError(outcome, 'ERR_CLOSED'), `${method} after close should reject with ERR_CLOSED`).toBe(true);
      }
    });

    test('close is idempotent', async () => {
      const transport = t();
      await Promise.all([transport.close(), transport.close()]);
      await transport.close();
    });

    // ---- cases added by the redis helper (issue 10, hole 2): a new group skips nothing ----------
    // The lead moves this block into the restructured suite.

    test('a new group starts at the beginning of the stream, highest priority first', async () => {
      // Published before any group exists (a worker deployed after the API).
      await t().publish(stream, [
        { body: 'low-1', priority: 0 },
        { body: 'normal-1', priority: 1 },
        { body: 'critical-1', priority: 3 },
        { body: 'high-1', priority: 2 },
        { body: 'low-2', priority: 0 },
        { body: 'critical-2', priority: 3 },
      ]);
      const g = group();
      await t().ensureGroup(stream, g);
      const got = await receiveN(t(), stream, g, 'c1', 6);
      expect(bodies(got)).toEqual(['critical-1', 'critical-2', 'high-1', 'normal-1', 'low-1', 'low-2']);
      expect(got.every((d) => d.attempt === 1)).toBe(true);
      expect(await t().receive(stream, { group: g, consumer: 'c1', max: 10, blockMs: 50 })).toEqual([]);
    });

    test('startAt end skips the backlog of a new group', async () => {
      await t().publish(stream, [{ body: 'before', priority: 3 }, { body: 'before', priority: 0 }]);
      const g = group();
      await t().ensureGroup(stream, g, { startAt: 'end' });
      expect(await t().receive(stream, { group: g, consumer: 'c1', max: 10, blockMs: 50 })).toEqual([]);
      await t().publish(stream, [{ body: 'after' }]);
      expect(bodies(await receiveN(t(), stream, g, 'c1', 1))).toEqual(['after']);
    });

    // ---- end of the redis helper's cases ------------------------------------------------------

    options.additionalTests?.(ctx);
  });
}
