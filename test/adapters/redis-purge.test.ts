/**
 * Issue 11: `purge` of a large backlog runs in bounded batches (several script calls, none
 * walking more than PURGE_BATCH entries), and keeps what it kept before: entries pending in some
 * group, and the groups' positions at the end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { redisTransport } from '@procur/event-bus/redis';
import { PURGE_BATCH } from '../../adapters/redis/admin.js';
import { PURGE_STREAM } from '../../adapters/redis/scripts.js';
import { REDIS_REQUIRED, TEST_REDIS_URL, adminClient, deleteKeys, probeRedis, uniquePrefix } from '../e2e/fixtures/redis-helpers.js';

const reachable = await probeRedis(TEST_REDIS_URL);

describe.skipIf(!reachable && !REDIS_REQUIRED)('Redis transport: purge in bounded batches', () => {
  let admin: Redis;
  beforeAll(async () => {
    admin = adminClient();
    await admin.connect();
  });
  afterAll(async () => {
    await admin.quit();
  });

  it('purges a backlog of several batches in several script calls and keeps pending entries', async () => {
    const prefix = uniquePrefix();
    const client = new Redis(TEST_REDIS_URL, { lazyConnect: true });
    // Count the batch script calls (and the entries each may walk) on the client the transport uses.
    const batches: string[] = [];
    const call = client.call.bind(client) as (...args: unknown[]) => Promise<unknown>;
    (client as unknown as { call: (...args: unknown[]) => Promise<unknown> }).call = (...args: unknown[]) => {
      const list = args[1] as unknown[] | undefined;
      if (args[0] === 'EVALSHA' && Array.isArray(list) && list[0] === PURGE_STREAM.sha) batches.push(String(list[2]));
      return call(...args);
    };
    const t = redisTransport({ client, keyPrefix: prefix, trimIntervalMs: 0 });
    try {
      await t.ensureGroup('big', 'g1');
      await t.ensureGroup('big', 'g2');
      const total = PURGE_BATCH * 4 + 321;
      const body = 'x'.repeat(32);
      for (let i = 0; i < total; i += 1000) {
        await t.publish('big', Array.from({ length: Math.min(1000, total - i) }, () => ({ body })));
      }
      await t.publish('big', Array.from({ length: 10 }, () => ({ body: 'later', delayMs: 60_000 })));
      const held = await t.receive('big', { group: 'g1', consumer: 'c1', max: 5 });
      expect(held).toHaveLength(5);

      expect(await t.purge('big')).toBe(total - 5 + 10);
      const rank1 = t.keys.main('big', 1);
      expect(batches.filter((k) => k === rank1).length).toBeGreaterThanOrEqual(Math.ceil(total / PURGE_BATCH));
      expect(await admin.xlen(rank1)).toBe(5);

      const info = await t.info('big');
      expect(info.delayed).toBe(0);
      expect(info.groups.find((g) => g.name === 'g1')).toMatchObject({ pending: 5, lag: 0 });
      expect(info.groups.find((g) => g.name === 'g2')).toMatchObject({ pending: 0, lag: 0 });
      expect(await t.receive('big', { group: 'g2', consumer: 'c1', blockMs: 50 })).toEqual([]);
      await t.ack('big', 'g1', held.map((d) => d.deliveryId));
      await t.publish('big', [{ body: 'after' }]);
      for (const g of ['g1', 'g2']) {
        expect((await t.receive('big', { group: g, consumer: 'c1', max: 10, blockMs: 1000 })).map((d) => d.body)).toEqual(['after']);
      }
    } finally {
      await t.close();
      client.disconnect();
      await deleteKeys(admin, prefix);
    }
  });
});
