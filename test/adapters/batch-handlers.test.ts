/**
 * The batch handler conformance suite on every transport: memory, and the real Redis
 * (127.0.0.1:6379 or PROCUR_TEST_REDIS_URL; skipped loudly when unreachable, failing in CI).
 */
import { afterAll, beforeAll } from 'vitest';
import type { Redis } from 'ioredis';
import { memoryTransport } from '@procur/event-bus';
import { describeBatchHandlers } from '@procur/event-bus/testing';
import { redisTransport } from '@procur/event-bus/redis';
import { TEST_REDIS_URL, adminClient, deleteKeys, uniquePrefix, whenRedis } from '../e2e/fixtures/redis-helpers.js';

describeBatchHandlers('memory', () => ({ transport: memoryTransport() }));

await whenRedis('batch-handlers.test', () => {
  let admin: Redis;
  beforeAll(async () => {
    admin = adminClient();
    await admin.connect();
  });
  afterAll(async () => {
    await admin.quit();
  });
  describeBatchHandlers('redis', () => {
    const keyPrefix = uniquePrefix();
    return { transport: redisTransport({ url: TEST_REDIS_URL, keyPrefix }), teardown: async () => void (await deleteKeys(admin, keyPrefix)) };
  });
});
