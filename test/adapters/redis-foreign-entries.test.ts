/**
 * Issue 10, hole 5: fields of a stream entry written by another program, other than `body` and
 * `publishedAt`, are ignored (docs/wire-format.md). An extra `attempt` field must not become the
 * attempt count: attempts come only from the library's own retry bookkeeping.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { EventType, silentLogger, type Delivery, type Transport } from '@procur/event-bus';
import { createTestSystem, waitUntil } from '@procur/event-bus/testing';
import { redisTransport, type RedisTransport } from '@procur/event-bus/redis';
import { REDIS_REQUIRED, TEST_REDIS_URL, adminClient, deleteKeys, probeRedis, uniquePrefix } from '../e2e/fixtures/redis-helpers.js';

const reachable = await probeRedis(TEST_REDIS_URL);

async function receiveN(t: Transport, stream: string, group: string, n: number, timeoutMs = 5000): Promise<Delivery[]> {
  const out: Delivery[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < n && Date.now() < deadline) {
    out.push(...(await t.receive(stream, { group, consumer: 'c1', max: n - out.length, blockMs: 100 })));
  }
  return out;
}

const envelope = (id: string) =>
  JSON.stringify({ version: 1, id, type: 'system.warning', data: { message: id }, occurredAt: new Date().toISOString() });

describe.skipIf(!reachable && !REDIS_REQUIRED)('Redis transport: entries written by another program', () => {
  let admin: Redis;
  let prefix = '';
  let transport: RedisTransport;

  beforeAll(async () => {
    admin = adminClient();
    await admin.connect();
  });
  afterAll(async () => {
    await admin.quit();
  });
  beforeEach(() => {
    prefix = uniquePrefix();
    transport = redisTransport({ url: TEST_REDIS_URL, keyPrefix: prefix, logger: silentLogger, trimIntervalMs: 0 });
  });
  afterEach(async () => {
    await transport.close();
    await deleteKeys(admin, prefix);
  });

  it('an extra attempt field is ignored: first delivery is attempt 1, retries and claims count from there', async () => {
    await transport.ensureGroup('s', 'g');
    await admin.xadd(transport.keys.main('s', 1), '*', 'body', envelope('e1'), 'attempt', '4', 'priority', '3');
    const [first] = await receiveN(transport, 's', 'g', 1);
    expect(first?.attempt).toBe(1);
    expect(first?.priority).toBe(1);
    await transport.nack('s', 'g', first!.deliveryId);
    const [second] = await receiveN(transport, 's', 'g', 1);
    expect(second?.attempt).toBe(2);
    await transport.nack('s', 'g', second!.deliveryId, { delayMs: 1 });
    const [third] = await receiveN(transport, 's', 'g', 1);
    expect(third?.attempt).toBe(3);
    // A claim counts deliveries of the retry entry on top of the stored attempt.
    const [claimed] = await transport.claimStale('s', { group: 'g', consumer: 'c2', minIdleMs: 0 });
    expect(claimed?.attempt).toBe(4);
  });

  it('a foreign entry claimed after a crash counts only its deliveries', async () => {
    await transport.ensureGroup('s', 'g');
    await admin.xadd(transport.keys.main('s', 2), '*', 'body', envelope('e2'), 'attempt', '9');
    const [first] = await receiveN(transport, 's', 'g', 1);
    expect(first?.attempt).toBe(1);
    const [claimed] = await transport.claimStale('s', { group: 'g', consumer: 'c2', minIdleMs: 0 });
    expect(claimed?.attempt).toBe(2);
  });

  it('a consumer with maxRetries 3 retries a foreign entry carrying attempt 4 instead of dead-lettering it', async () => {
    const bus = await createTestSystem({ transport });
    try {
      let calls = 0;
      const c = bus.consumer('foreign', { maxRetries: 3 }).registerHandler(EventType.SYSTEM_WARNING, () => {
        calls++;
        if (calls === 1) throw new Error('first try fails');
      });
      await c.start();
      await admin.xadd(transport.keys.main(bus.config.eventStreamName, 1), '*', 'body', envelope('e3'), 'attempt', '4');
      await waitUntil(() => calls === 2, 10_000, 'the retry handled');
      expect(await transport.countDeadLetters(bus.config.dlqStreamName)).toBe(0);
    } finally {
      await bus.close();
    }
  });
});
