/**
 * Partitioned streams on one Redis (not a cluster): the transport conformance suite with every
 * stream in three partitions, and the partition cases. Skipped (loudly) only when Redis is
 * unreachable and CI is not set.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { partitionTransport } from '@procur/event-bus';
import { describePartitions, describeTransport } from '@procur/event-bus/testing';
import { redisTransport } from '@procur/event-bus/redis';
import { REDIS_REQUIRED, TEST_REDIS_URL, adminClient, deleteKeys, probeRedis, uniquePrefix } from '../e2e/fixtures/redis-helpers.js';

const reachable = await probeRedis(TEST_REDIS_URL);

if (!reachable) {
  if (REDIS_REQUIRED) {
    it(`Redis at ${TEST_REDIS_URL} is reachable (required because CI is set)`, () => {
      expect.fail(`Redis at ${TEST_REDIS_URL} is not reachable; the partitioned Redis suite cannot run.`);
    });
  } else {
    console.warn(`\n!!! [redis-partitions.test] Redis at ${TEST_REDIS_URL} is NOT reachable: SKIPPED. With CI set, this is a failure.\n`);
    it.skip('partitioned Redis suite (Redis unreachable)', () => {});
  }
} else {
  let admin: Redis;
  beforeAll(async () => {
    admin = adminClient();
    await admin.connect();
  });
  afterAll(async () => {
    await admin.quit();
  });

  describeTransport('redis, 3 partitions per stream', () => {
    const keyPrefix = uniquePrefix();
    return {
      transport: partitionTransport(redisTransport({ url: TEST_REDIS_URL, keyPrefix }), { partitions: 3 }),
      teardown: async () => {
        await deleteKeys(admin, keyPrefix);
      },
    };
  });

  describePartitions('redis', () => {
    const keyPrefix = uniquePrefix();
    const inner = redisTransport({ url: TEST_REDIS_URL, keyPrefix });
    return { inner, transport: partitionTransport(inner, { partitions: 3 }), partitions: 3, teardown: async () => void (await deleteKeys(admin, keyPrefix)) };
  });
}
