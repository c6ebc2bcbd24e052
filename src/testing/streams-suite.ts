/**
 * The message streams conformance suite: the executable form of the {@link MessageStreams} contract
 * (`src/contracts/transport-streams.ts`). `describeTransport` runs it for every adapter that declares the
 * role; an adapter that provides only this role runs it alone.
 *
 * @module
 */

import { expect } from 'vitest';
import type { Delivery, MessageStreams, Transport } from '@procur/event-bus';
import { TRANSPORT_DEFAULTS } from '@procur/event-bus/adapter-kit';
import {
  checkSkip,
  runRoleSuite,
  type RoleFactory,
  type RoleSuiteOptions,
  type RoleSuiteSpec,
  CLOCK_TOLERANCE_MS,
  PATIENCE_MS,
  bodies,
  eventually,
  receiveN,
  sleep,
  uniqueName,
  expectClosedRejections,
} from './suite-kit.js';

/** The name of every test of {@link describeMessageStreams}, for `options.skip`. */
export const MESSAGE_STREAMS_SUITE_TESTS = [
  'publish and receive round trip',
  'publish returns ids in order',
  'competing consumers in one group each get a message once',
  'every group gets every message',
  'ensureGroup is idempotent',
  'startAt beginning reads the stream, end only new messages',
  'a new group starts at the beginning of the stream, highest priority first',
  'startAt end skips the backlog of a new group',
  'receive blocks for blockMs then returns []',
  'a blocked receive wakes when a message is published',
  'abort ends a blocked receive with []',
  'a receive aborted as messages arrive returns what it took; the rest stay with the group',
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
  'redeliver reaches only the named group',
  'close wakes a blocked receive with []',
  'calls after close reject with ERR_CLOSED',
] as const;

const SPEC: RoleSuiteSpec<MessageStreams> = {
  suite: 'describeMessageStreams',
  title: 'Message streams',
  role: 'streams',
  tests: MESSAGE_STREAMS_SUITE_TESTS,
  body({ ctx, test, names }) {
    const t = () => ctx.transport as unknown as Transport;
    const group = () => uniqueName('group');
    test('publish and receive round trip', async () => {
      const { stream } = names;
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
      const { stream } = names;
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
      const { stream } = names;
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
      const { stream } = names;
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
      const { stream } = names;
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
      const { stream } = names;
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

    test('a new group starts at the beginning of the stream, highest priority first', async () => {
      const { stream } = names;
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
      const { stream } = names;
      await t().publish(stream, [{ body: 'before', priority: 3 }, { body: 'before', priority: 0 }]);
      const g = group();
      await t().ensureGroup(stream, g, { startAt: 'end' });
      expect(await t().receive(stream, { group: g, consumer: 'c1', max: 10, blockMs: 50 })).toEqual([]);
      await t().publish(stream, [{ body: 'after' }]);
      expect(bodies(await receiveN(t(), stream, g, 'c1', 1))).toEqual(['after']);
    });

    test('receive blocks for blockMs then returns []', async () => {
      const { stream } = names;
      const g = group();
      await t().ensureGroup(stream, g);
      const started = Date.now();
      expect(await t().receive(stream, { group: g, consumer: 'c1', blockMs: 300 })).toEqual([]);
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(300 - 50);
      expect(elapsed).toBeLessThan(10_000);
      // blockMs 0 (the default) returns at once.
      const t0 = Date.now();
      expect(await t().receive(stream, { group: g, consumer: 'c1' })).toEqual([]);
      expect(Date.now() - t0).toBeLessThan(5000);
    });

    test('a blocked receive wakes when a message is published', async () => {
      const { stream } = names;
      const g = group();
      await t().ensureGroup(stream, g);
      const started = Date.now();
      const pending = t().receive(stream, { group: g, consumer: 'c1', blockMs: 20_000 });
      await sleep(100);
      await t().publish(stream, [{ body: 'wake' }]);
      const got = await pending;
      expect(bodies(got)).toEqual(['wake']);
      expect(Date.now() - started).toBeLessThan(10_000);
    });

    test('abort ends a blocked receive with []', async () => {
      const { stream } = names;
      const g = group();
      await t().ensureGroup(stream, g);
      const controller = new AbortController();
      const started = Date.now();
      const pending = t().receive(stream, { group: g, consumer: 'c1', blockMs: 20_000, signal: controller.signal });
      await sleep(100);
      controller.abort(new Error('stop'));
      expect(await pending).toEqual([]);
      expect(Date.now() - started).toBeLessThan(10_000);
      // An already aborted receive resolves [] and takes nothing.
      await t().publish(stream, [{ body: 'kept' }]);
      expect(await t().receive(stream, { group: g, consumer: 'c1', signal: AbortSignal.abort() })).toEqual([]);
      expect(bodies(await receiveN(t(), stream, g, 'c2', 1))).toEqual(['kept']);
    });

    test('a receive aborted as messages arrive returns what it took; the rest stay with the group', async () => {
      const { stream } = names;
      const g = group();
      await t().ensureGroup(stream, g);
      const published: string[] = [];
      const seen: string[] = [];
      const take = async (consumer: string, blockMs: number) => {
        const got = await t().receive(stream, { group: g, consumer, max: 50, blockMs });
        seen.push(...bodies(got));
        if (got.length > 0) await t().ack(stream, g, got.map((d) => d.deliveryId));
      };
      for (let i = 0; i < 20; i++) {
        const controller = new AbortController();
        const pending = t().receive(stream, { group: g, consumer: 'c1', max: 5, blockMs: 20_000, signal: controller.signal });
        await sleep(20);
        const body = `m${i}`;
        // Abort just after the message is in (the blocked read may have it in hand) or just before.
        if (i % 2 === 0) {
          await t().publish(stream, [{ body }]);
          controller.abort(new Error('stop'));
        } else {
          controller.abort(new Error('stop'));
          await t().publish(stream, [{ body }]);
        }
        published.push(body);
        const got = await pending;
        seen.push(...bodies(got));
        if (got.length > 0) await t().ack(stream, g, got.map((d) => d.deliveryId));
        // What the aborted read did not return is still the group's: the next round starts empty.
        await eventually(async () => {
          if (!seen.includes(body)) await take('c2', 100);
          return seen.includes(body) ? true : undefined;
        }, 5_000);
        expect(seen, `${body} was neither returned by the aborted read nor left for the group`).toContain(body);
      }
      // Each message once: returned by the aborted read, or left for the group.
      expect([...seen].sort()).toEqual([...published].sort());
      // Nothing left pending to the aborted reader unseen.
      expect(await t().claimStale(stream, { group: g, consumer: 'c3', minIdleMs: 0 })).toEqual([]);
    });

    test('an aborted signal rejects a call with its reason', async () => {
      const { stream } = names;
      const reason = new Error('caller gave up');
      const signal = AbortSignal.abort(reason);
      await expect(t().publish(stream, [{ body: 'x' }], { signal })).rejects.toBe(reason);
    });

    test('ack is idempotent and acked messages never come back', ['admin'], async () => {
      const { stream } = names;
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

    test('receive acknowledges the deliveries passed in ack, even when it reads nothing', ['admin'], async () => {
      const { stream } = names;
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

    test('nack with delay redelivers to that group only, after the delay', ['admin'], async () => {
      const { stream } = names;
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
      const { stream } = names;
      const g = group();
      await t().ensureGroup(stream, g);
      await t().publish(stream, [{ body: 'x' }]);
      const [d] = await receiveN(t(), stream, g, 'c1', 1);
      const started = Date.now();
      const waiting = t().receive(stream, { group: g, consumer: 'c2', blockMs: 20_000 });
      await sleep(50);
      await t().nack(stream, g, d!.deliveryId);
      const got = await waiting;
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(got).toHaveLength(1);
      expect(got[0]).toMatchObject({ body: 'x', attempt: 2 });
    });

    test('nack with countAttempt false keeps the attempt', async () => {
      const { stream } = names;
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

    test('claimStale claims only deliveries idle for minIdleMs', ['admin'], async () => {
      const { stream } = names;
      const g = group();
      await t().ensureGroup(stream, g);
      await t().publish(stream, [{ body: 'stuck' }]);
      // Taken before the read: the transport delivered it after this (a clock read after the
      // reply could come late on a busy machine and make the claim look early).
      const deliveredAt = Date.now();
      const [d] = await receiveN(t(), stream, g, 'c1', 1);
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
      const { stream } = names;
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
      const { stream } = names;
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

    test('publish with delayMs is invisible until the delay is over', ['admin'], async () => {
      const { stream } = names;
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
      const { stream } = names;
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
      const { stream } = names;
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

    test('receive, claimStale and listDeadLetters default to 10, 100 and 100', ['deadLetters'], async () => {
      const { stream } = names;
      const { dlq } = names;
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
      const { stream } = names;
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

    test('redeliver reaches only the named group', async () => {
      const { stream } = names;
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

    test('close wakes a blocked receive with []', async () => {
      const { stream } = names;
      const g = group();
      await t().ensureGroup(stream, g);
      const started = Date.now();
      const blocked = t().receive(stream, { group: g, consumer: 'c1', blockMs: 20_000 });
      await sleep(50);
      await t().close();
      expect(await blocked).toEqual([]);
      expect(Date.now() - started).toBeLessThan(10_000);
    });

    test('calls after close reject with ERR_CLOSED', async () => {
      const { stream, dlq } = names;
      const transport = t();
      const g = uniqueName('group');
      const key = ctx.name('test:key');
      void stream; void dlq; void g; void key;
      await transport.close();
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['publish', () => transport.publish(stream, [{ body: 'x' }])],
        ['ensureGroup', () => transport.ensureGroup(stream, g)],
        ['receive', () => transport.receive(stream, { group: g, consumer: 'c1' })],
        ['ack', () => transport.ack(stream, g, ['0-1'])],
        ['nack', () => transport.nack(stream, g, '0-1')],
        ['redeliver', () => transport.redeliver(stream, g, [{ body: 'x' }])],
        ['claimStale', () => transport.claimStale(stream, { group: g, consumer: 'c1', minIdleMs: 0 })],
        ['touch', () => transport.touch(stream, g, 'c1', ['0-1'])],
      ];
      await expectClosedRejections(calls);
    });
  },
};

/**
 * Registers the message streams conformance suite with vitest: one `describe` block of tests that check
 * every verb of {@link MessageStreams}. Each test gets a fresh adapter from `factory` and names unique
 * to it; after each test the adapter is closed and `teardown` runs, even on failure. Cases that
 * also need another role (admin for `info`, dead letters) are skipped when `options.features` does not declare it; the
 * whole suite is skipped when it does not declare `streams`.
 *
 * @param name - the adapter name shown in the report, e.g. `'redis'`.
 * @param factory - creates the adapter for one test.
 * @param options - the adapter's features, tests to skip, adapter-specific tests.
 * @throws `Error` at collection time when `options.skip` names a test that does not exist.
 * @example
 * ```ts
 * import { describeMessageStreams } from '@procur/event-bus/testing';
 *
 * describeMessageStreams('my-adapter', () => ({ transport: myAdapter() }), { features: myAdapter.features });
 * ```
 */
export function describeMessageStreams(name: string, factory: RoleFactory<MessageStreams>, options: RoleSuiteOptions<MessageStreams> = {}): void {
  checkSkip('describeMessageStreams', name, options.skip, MESSAGE_STREAMS_SUITE_TESTS);
  runRoleSuite(SPEC, `Message streams conformance: ${name}`, factory, options);
}

/** Registers the suite inside `describeTransport`'s block. @internal */
export function registerMessageStreams(factory: RoleFactory<MessageStreams>, options: Omit<RoleSuiteOptions<MessageStreams>, 'additionalTests'>): void {
  runRoleSuite(SPEC, SPEC.title, factory, options);
}
