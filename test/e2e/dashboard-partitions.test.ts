/**
 * The dashboard's JSON API on a partitioned events stream (`eventStreamPartitions > 1`): the
 * snapshot, `/api/queues` and the live `queues` event carry each partition's depth, length and
 * group lag, the top-level figures being their sums; an unpartitioned stream has no
 * `partitions`. On the memory transport and on the real Redis.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EventType, createEventSystem, partitionName, partitionOf, silentLogger, type EventSystem } from '@procur/event-bus';
import { startDashboard, type RunningDashboard } from '@procur/event-bus/http';
import { deletePrefixes, probeRedis, REDIS_REQUIRED, redisBus, TEST_REDIS_URL, uniquePrefix } from './fixtures/redis-helpers.js';

const P = 3;
const EVENTS = 12;
const redisUp = (await probeRedis(TEST_REDIS_URL)) || REDIS_REQUIRED;
if (!redisUp) console.warn(`\n!!! [dashboard-partitions.test] Redis unreachable at ${TEST_REDIS_URL}: the Redis case is SKIPPED.\n`);
const prefixes: string[] = [];
const systems: [string, boolean, (partitions?: number) => Promise<EventSystem>][] = [
  ['memory', true, (partitions) => createEventSystem({ logger: silentLogger, env: {}, outbox: false, ...(partitions ? { config: { eventStreamPartitions: partitions } } : {}) })],
  [
    'redis',
    redisUp,
    (partitions) => {
      const prefix = uniquePrefix();
      prefixes.push(prefix);
      return redisBus(prefix, partitions ? { config: { eventStreamPartitions: partitions } } : {});
    },
  ],
];

let bus: EventSystem | undefined;
let dash: RunningDashboard | undefined;
afterEach(async () => {
  await dash?.close();
  dash = undefined;
  await bus?.close();
  bus = undefined;
  await deletePrefixes(prefixes);
});

async function seed(b: EventSystem): Promise<number[]> {
  await b.transport.ensureGroup(b.config.eventStreamName, b.config.eventConsumerGroup);
  await b.publisher.publishMany(Array.from({ length: EVENTS }, (_, i) => ({ type: EventType.SYSTEM_WARNING, data: { message: `m${i}` }, correlationId: `order-${i}` })));
  const counts = Array.from({ length: P }, () => 0);
  for (let i = 0; i < EVENTS; i++) counts[partitionOf(`order-${i}`, P)]!++;
  return counts;
}

type Stream = { stream: string; depth: number; lag: number; partitions?: { stream: string; depth: number; length: number; lag: number; groups: { name: string; lag: number }[] }[] };

for (const [label, enabled, createSystem] of systems) describe.skipIf(!enabled)(`dashboard API on a partitioned events stream (${label})`, () => {
  it('gives each partition its depth, length and group lag in the snapshot and /api/queues', async () => {
    bus = await createSystem(P);
    const expected = await seed(bus);
    expect(expected.filter((n) => n > 0).length).toBeGreaterThan(1); // spread over partitions
    dash = await startDashboard(bus, { port: 0 });
    const snapshot = (await (await fetch(`${dash.url}api/snapshot`)).json()) as { eventStream: Stream };
    const queues = (await (await fetch(`${dash.url}api/queues`)).json()) as { eventStream: Stream };
    for (const s of [snapshot.eventStream, queues.eventStream]) {
      expect(s.depth).toBe(EVENTS);
      expect(s.partitions).toHaveLength(P);
      expect(s.partitions!.map((p) => p.stream)).toEqual(Array.from({ length: P }, (_, i) => partitionName(bus!.config.eventStreamName, i)));
      expect(s.partitions!.map((p) => p.depth)).toEqual(expected);
      expect(s.partitions!.map((p) => p.length)).toEqual(expected);
      expect(s.partitions!.map((p) => p.groups.find((g) => g.name === bus!.config.eventConsumerGroup)?.lag)).toEqual(expected);
    }
  });

  it('an unpartitioned stream has no partitions', async () => {
    bus = await createSystem();
    await bus.transport.ensureGroup(bus.config.eventStreamName, bus.config.eventConsumerGroup);
    await bus.publisher.publish({ type: EventType.SYSTEM_WARNING, data: { message: 'one' } });
    dash = await startDashboard(bus, { port: 0 });
    const queues = (await (await fetch(`${dash.url}api/queues`)).json()) as { eventStream: Stream };
    expect(queues.eventStream.depth).toBe(1);
    expect(queues.eventStream.partitions).toBeUndefined();
  });
});
