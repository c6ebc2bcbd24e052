/**
 * The partitioned-streams conformance suite: what `partitionTransport` (and so
 * `eventStreamPartitions`) promises over any adapter. Run it with a partitioned transport and the
 * adapter under it (to look at each partition directly).
 *
 * @module
 */

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { partitionName, partitionOf, type Delivery, type Transport } from '@procur/event-bus';
import { runAll } from '@procur/event-bus/adapter-kit';
import { uniqueName } from './suite-kit.js';

/** What the factory of {@link describePartitions} returns. */
export interface PartitionsFactoryResult {
  /** `partitionTransport(inner, { partitions })`, every stream partitioned. */
  transport: Transport;
  /** The adapter under it (its partitions are its streams). Closed by closing `transport`. */
  inner: Transport;
  /** The partition count `transport` was built with (2 or more). */
  partitions: number;
  /** Runs after the transport is closed (drop keys). */
  teardown?: () => Promise<void>;
}

/** The name of every test of {@link describePartitions}. */
export const PARTITIONS_SUITE_TESTS = [
  'routes by correlation id: one key keeps its order, keys spread over every partition',
  'every group reads every partition once; members share the partitions',
  'a blocked receive wakes for a message on any partition',
  'nack, claims and dead letters work per partition',
  'info reports each partition and the total; purge empties every partition',
] as const;

const envelope = (i: number, correlationId: string) => JSON.stringify({ id: `e${i}`, type: 't', data: { i }, correlationId });

async function drain(t: Transport, stream: string, group: string, consumer: string, count: number, timeoutMs = 10_000): Promise<Delivery[]> {
  const out: Delivery[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count && Date.now() < deadline) {
    const got = await t.receive(stream, { group, consumer, max: Math.min(50, count - out.length), blockMs: 200 });
    out.push(...got);
    if (got.length > 0) await t.ack(stream, group, got.map((d) => d.deliveryId));
  }
  return out;
}

/** A key that lands in partition `p` of `n` (for tests that need one partition on purpose). */
function keyIn(p: number, n: number, salt: string): string {
  for (let i = 0; ; i++) if (partitionOf(`${salt}-${i}`, n) === p) return `${salt}-${i}`;
}

/**
 * Registers the partitioned-streams cases. Each test gets a fresh transport from `factory` and
 * unique stream, group and DLQ names.
 *
 * @example
 * ```ts
 * describePartitions('memory', () => {
 *   const inner = memoryTransport();
 *   return { inner, transport: partitionTransport(inner, { partitions: 4 }), partitions: 4 };
 * });
 * ```
 */
export function describePartitions(name: string, factory: () => Promise<PartitionsFactoryResult> | PartitionsFactoryResult): void {
  describe(`Partitioned streams: ${name}`, () => {
    let ctx: PartitionsFactoryResult;
    let stream = '';
    beforeEach(async () => {
      ctx = await factory();
      stream = uniqueName('pstream');
    });
    afterEach(async () => {
      await runAll([() => ctx.transport.close(), async () => ctx.teardown?.()]);
    });

    it(PARTITIONS_SUITE_TESTS[0], async () => {
      const { transport: t, inner, partitions: n } = ctx;
      await t.ensureGroup(stream, 'g');
      const messages = Array.from({ length: 40 * n }, (_, i) => ({ body: envelope(i, `flow-${i % (4 * n)}`) }));
      const ids = await t.publish(stream, messages);
      expect(ids).toHaveLength(messages.length);
      expect(new Set(ids).size).toBe(messages.length);
      // Each partition holds exactly the messages of its keys.
      const perPartition = await Promise.all(Array.from({ length: n }, (_, p) => inner.info(partitionName(stream, p))));
      perPartition.forEach((info, p) => {
        const expected = messages.filter((_, i) => partitionOf(`flow-${i % (4 * n)}`, n) === p).length;
        expect(info.length, `partition ${p}`).toBe(expected);
      });
      expect(perPartition.filter((i) => i.length > 0).length).toBeGreaterThan(1);
      // An explicit partitionKey wins over the correlation id.
      await t.publish(stream, [{ body: envelope(999, 'x'), partitionKey: keyIn(n - 1, n, 'k') }]);
      expect((await inner.info(partitionName(stream, n - 1))).length).toBe(perPartition[n - 1]!.length + 1);
      const got = await drain(t, stream, 'g', 'c1', messages.length + 1);
      expect(got).toHaveLength(messages.length + 1);
      for (const d of got) expect(d.stream).toBe(stream);
      // Within one flow, publish order.
      const byFlow = new Map<string, number[]>();
      for (const d of got) {
        const e = JSON.parse(d.body) as { correlationId: string; data: { i: number } };
        byFlow.set(e.correlationId, [...(byFlow.get(e.correlationId) ?? []), e.data.i]);
      }
      for (const [flow, seq] of byFlow) expect(seq, flow).toEqual([...seq].sort((a, b) => a - b));
    });

    it(PARTITIONS_SUITE_TESTS[1], async () => {
      const { transport: t, partitions: n } = ctx;
      await t.ensureGroup(stream, 'a');
      await t.ensureGroup(stream, 'b');
      const total = 30 * n;
      await t.publish(stream, Array.from({ length: total }, (_, i) => ({ body: envelope(i, `c${i}`) })));
      const [a1, a2, b] = await Promise.all([drain(t, stream, 'a', 'a1', total, 3000), drain(t, stream, 'a', 'a2', total, 3000), drain(t, stream, 'b', 'b1', total)]);
      const groupA = [...a1!, ...a2!].map((d) => d.body);
      expect(groupA).toHaveLength(total);
      expect(new Set(groupA).size).toBe(total);
      expect(new Set(b!.map((d) => d.body)).size).toBe(total);
      expect(a1!.length).toBeGreaterThan(0);
      expect(a2!.length).toBeGreaterThan(0);
      // Nothing left pending or unread.
      const info = await t.info(stream);
      for (const g of info.groups) expect([g.name, g.pending, g.lag]).toEqual([g.name, 0, 0]);
    });

    it(PARTITIONS_SUITE_TESTS[2], async () => {
      const { transport: t, partitions: n } = ctx;
      await t.ensureGroup(stream, 'g');
      const waiting = t.receive(stream, { group: 'g', consumer: 'c1', max: 1, blockMs: 8000 });
      await new Promise((r) => setTimeout(r, 100));
      await t.publish(stream, [{ body: 'late', partitionKey: keyIn(n - 1, n, 'w') }]);
      const got = await waiting;
      expect(got.map((d) => d.body)).toEqual(['late']);
      await t.ack(stream, 'g', [got[0]!.deliveryId]);
      // A read that stays blocked on another partition delivers later messages to the next call.
      await t.publish(stream, [{ body: 'next', partitionKey: keyIn(0, n, 'w') }]);
      const next = await drain(t, stream, 'g', 'c1', 1);
      expect(next.map((d) => d.body)).toEqual(['next']);
    });

    it(PARTITIONS_SUITE_TESTS[3], async () => {
      const { transport: t, partitions: n } = ctx;
      const dlq = uniqueName('pdlq');
      await t.ensureGroup(stream, 'g');
      const last = keyIn(n - 1, n, 'r');
      await t.publish(stream, [{ body: 'retry-me', partitionKey: last }, { body: 'claim-me', partitionKey: keyIn(0, n, 'r') }, { body: 'dead', partitionKey: last }]);
      const first: Delivery[] = [];
      const deadline = Date.now() + 5000;
      while (first.length < 3 && Date.now() < deadline) first.push(...(await t.receive(stream, { group: 'g', consumer: 'c1', max: 3, blockMs: 200 })));
      const by = (body: string) => first.find((d) => d.body === body)!;
      expect(first.map((d) => d.body).sort()).toEqual(['claim-me', 'dead', 'retry-me']);
      await t.nack(stream, 'g', by('retry-me').deliveryId);
      const retried = (await drain(t, stream, 'g', 'c2', 1)).find((d) => d.body === 'retry-me');
      expect(retried?.attempt).toBe(2);
      const claimed = await t.claimStale(stream, { group: 'g', consumer: 'c3', minIdleMs: 0 });
      expect(claimed.map((d) => d.body).sort()).toEqual(['claim-me', 'dead']);
      for (const d of claimed) expect(d.attempt).toBe(2);
      const dead = claimed.find((d) => d.body === 'dead')!;
      const id = await t.deadLetter(stream, 'g', dead, { dlq, error: 'boom', attempts: 2 });
      expect(typeof id).toBe('string');
      await t.ack(stream, 'g', claimed.filter((d) => d !== dead).map((d) => d.deliveryId));
      const [entry] = await t.listDeadLetters(dlq);
      expect(entry).toMatchObject({ stream, group: 'g', body: 'dead', error: 'boom' });
      expect(await t.getDeadLetter(dlq, entry!.id)).toMatchObject({ stream, body: 'dead' });
      // Replay through the logical stream reaches the group again.
      await t.redeliver(entry!.stream, 'g', [{ body: entry!.body, attempt: 3 }]);
      const replayed = await drain(t, stream, 'g', 'c1', 1);
      expect(replayed.map((d) => [d.body, d.attempt])).toEqual([['dead', 3]]);
      expect((await t.info(stream)).groups[0]?.pending).toBe(0);
    });

    it(PARTITIONS_SUITE_TESTS[4], async () => {
      const { transport: t, partitions: n } = ctx;
      await t.ensureGroup(stream, 'g');
      const messages = Array.from({ length: 10 * n }, (_, i) => ({ body: envelope(i, `i${i}`), priority: i % 4 }));
      await t.publish(stream, messages);
      await t.publish(stream, [{ body: 'later', delayMs: 60_000 }]);
      const info = await t.info(stream);
      expect(info.partitions).toHaveLength(n);
      expect(info.length).toBe(messages.length);
      expect(info.partitions!.reduce((a, p) => a + p.length, 0)).toBe(messages.length);
      expect(info.lengthByPriority).toEqual([0, 1, 2, 3].map((r) => messages.filter((m) => m.priority === r).length));
      expect(info.delayed).toBe(1);
      expect(info.groups.map((g) => [g.name, g.lag])).toEqual([['g', messages.length]]);
      expect(await t.purge(stream)).toBe(messages.length + 1);
      const after = await t.info(stream);
      expect([after.length, after.delayed]).toEqual([0, 0]);
    });
  });
}
