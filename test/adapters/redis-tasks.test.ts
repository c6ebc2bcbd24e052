/**
 * The task queue conformance suite on the real Redis (127.0.0.1:6379 or PROCUR_TEST_REDIS_URL).
 * Skipped (loudly) only when Redis is unreachable and CI is not set; in CI that fails.
 */
import { afterAll, beforeAll } from 'vitest';
import type { Redis } from 'ioredis';
import { describeTaskQueue } from '@procur/event-bus/testing';
import { redisTransport } from '@procur/event-bus/redis';
import { TEST_REDIS_URL, adminClient, deleteKeys, uniquePrefix, whenRedis } from '../e2e/fixtures/redis-helpers.js';

await whenRedis('redis-tasks.test', () => {
  let admin: Redis;
  beforeAll(async () => {
    admin = adminClient();
    await admin.connect();
  });
  afterAll(async () => {
    await admin.quit();
  });
  describeTaskQueue('redis', () => {
    const keyPrefix = uniquePrefix();
    return { transport: redisTransport({ url: TEST_REDIS_URL, keyPrefix }), teardown: async () => void (await deleteKeys(admin, keyPrefix)) };
  });
});
