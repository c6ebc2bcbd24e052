/**
 * Issue 10, hole 2: events published before a consumer group first exists are delivered to it
 * (highest priority first); `startAt: 'end'` is the opt-out. Bus level, on the memory transport
 * and on the Redis transport.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { EventPriority, EventType, memoryTransport, type EventSystem, type Transport } from '@procur/event-bus';
import { createTestSystem, waitUntil } from '@procur/event-bus/testing';
import { redisTransport } from '@procur/event-bus/redis';
import { REDIS_REQUIRED, TEST_REDIS_URL, adminClient, deleteKeys, probeRedis, uniquePrefix } from '../e2e/fixtures/redis-helpers.js';

const reachable = await probeRedis(TEST_REDIS_URL);
let admin: Redis | undefined;
const prefixes: string[] = [];

beforeAll(async () => {
  if (!reachable) return;
  admin = adminClient();
  await admin.connect();
});
afterAll(async () => {
  if (!admin) return;
  for (const p of prefixes) await deleteKeys(admin, p);
  await admin.quit();
});

const transports: Array<[string, () => Transport, boolean]> = [
  ['memory', () => memoryTransport(), true],
  [
    'redis',
    () => {
      const keyPrefix = uniquePrefix();
      prefixes.push(keyPrefix);
      return redisTransport({ url: TEST_REDIS_URL, keyPrefix });
    },
    reachable || REDIS_REQUIRED,
  ],
];

for (const [name, make, runs] of transports) {
  describe.skipIf(!runs)(`a consumer started after its events were published (${name})`, () => {
    let bus: EventSystem | undefined;
    afterEach(async () => {
      await bus?.close();
      bus = undefined;
    });

    const prios = [EventPriority.LOW, EventPriority.NORMAL, EventPriority.CRITICAL, EventPriority.LOW, EventPriority.HIGH, EventPriority.CRITICAL];

    it('gets the whole backlog, highest priority first', async () => {
      bus = await createTestSystem({ transport: make() });
      // No group exists yet: the API published before the worker was deployed.
      for (const priority of prios) await bus.publisher.publish({ type: EventType.SYSTEM_WARNING, data: { message: priority }, priority });
      const order: string[] = [];
      const c = bus.consumer('late').registerHandler(EventType.SYSTEM_WARNING, (e) => {
        order.push(e.priority);
      });
      await c.start({ batchSize: 1, concurrency: 1 });
      await waitUntil(() => order.length === prios.length, 10_000, 'the backlog delivered');
      expect(order).toEqual(['critical', 'critical', 'high', 'normal', 'low', 'low']);
    });

    it("with startAt 'end' skips the backlog and gets what comes after", async () => {
      bus = await createTestSystem({ transport: make() });
      for (const priority of prios) await bus.publisher.publish({ type: EventType.SYSTEM_WARNING, data: { message: 'before' }, priority });
      const seen: string[] = [];
      const c = bus.consumer('late', { startAt: 'end' }).registerHandler(EventType.SYSTEM_WARNING, (e) => {
        seen.push(String((e.data as { message: string }).message));
      });
      await c.start({ batchSize: 10 });
      await bus.publisher.publish({ type: EventType.SYSTEM_WARNING, data: { message: 'after' } });
      await waitUntil(() => seen.length > 0, 10_000, 'the new event delivered');
      // Give a skipped backlog time to show up if it were delivered after all.
      let probed = 0;
      const probe = bus.consumer('probe', { group: 'probe', startAt: 'beginning' }).registerHandler(EventType.SYSTEM_WARNING, () => {
        probed++;
      });
      await probe.start({ batchSize: 10 });
      await waitUntil(() => probed === prios.length + 1, 10_000, 'the probe group read everything');
      expect(seen).toEqual(['after']);
    });
  });
}
