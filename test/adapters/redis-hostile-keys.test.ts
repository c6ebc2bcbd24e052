/**
 * Issue 10, hole 4: no content of any key the Redis transport reads (written by another program
 * or left by a bug) may stop a loop. One test per key family the scripts read: a malformed member
 * or entry, and a key of the wrong type. The transport must go on serving the good messages, and
 * what it cannot use reaches the consumer as an undecodable delivery (which the core
 * dead-letters) or is dropped with an error log.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { EventType, type Delivery, type Logger, type Transport } from '@procur/event-bus';
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

/** A logger that keeps its error lines. */
function recordingLogger(): Logger & { errors: string[] } {
  const errors: string[] = [];
  return { errors, debug() {}, info() {}, warn(m) { errors.push(m); }, error(m) { errors.push(m); } };
}

describe.skipIf(!reachable && !REDIS_REQUIRED)('Redis transport: hostile key contents never stop a loop', () => {
  let admin: Redis;
  let prefix = '';
  let transport: RedisTransport;
  let log: ReturnType<typeof recordingLogger>;
  const stream = 'events';
  const group = 'g';

  beforeAll(async () => {
    admin = adminClient();
    await admin.connect();
  });
  afterAll(async () => {
    await admin.quit();
  });
  beforeEach(async () => {
    prefix = uniquePrefix();
    log = recordingLogger();
    transport = redisTransport({ url: TEST_REDIS_URL, keyPrefix: prefix, logger: log, trimIntervalMs: 0 });
    await transport.ensureGroup(stream, group);
  });
  afterEach(async () => {
    await transport.close();
    await deleteKeys(admin, prefix);
  });

  const k = () => transport.keys;

  // ---- sorted sets of scheduled entries ------------------------------------------------------

  it('a malformed member of the delayed set is delivered as an undecodable message; the good ones go on', async () => {
    await admin.zadd(k().delayed(stream), 0, 'garbage-without-separators', 1, 'a|b', 2, '|||');
    await transport.publish(stream, [{ body: 'good-delayed', delayMs: 1 }, { body: 'good-now' }]);
    const got = await receiveN(transport, stream, group, 5);
    expect(got.map((d) => d.body).sort()).toEqual(['a|b', 'garbage-without-separators', 'good-delayed', 'good-now', '|||'].sort());
    expect(await admin.zcard(k().delayed(stream))).toBe(0);
    expect(got.every((d) => d.attempt === 1)).toBe(true);
  });

  it('a malformed member of a retry set is delivered to that group only; the good retries go on', async () => {
    await transport.publish(stream, [{ body: 'retry-me' }]);
    const [first] = await receiveN(transport, stream, group, 1);
    await transport.nack(stream, group, first!.deliveryId, { delayMs: 1 });
    await admin.zadd(k().retryDue(stream, group), 0, 'not-a-member');
    const got = await receiveN(transport, stream, group, 2);
    expect(got.map((d) => d.body).sort()).toEqual(['not-a-member', 'retry-me']);
    expect(got.find((d) => d.body === 'retry-me')?.attempt).toBe(2);
    expect(await admin.zcard(k().retryDue(stream, group))).toBe(0);
  });

  it('the delayed set replaced by another type is dropped with an error log', async () => {
    await admin.set(k().delayed(stream), 'not a zset');
    await transport.publish(stream, [{ body: 'after', delayMs: 1 }, { body: 'now' }]);
    expect((await receiveN(transport, stream, group, 2)).map((d) => d.body).sort()).toEqual(['after', 'now']);
    expect(log.errors.some((m) => m.includes(k().delayed(stream)))).toBe(true);
  });

  it('a retry set replaced by another type is dropped with an error log', async () => {
    await admin.hset(k().retryDue(stream, group), 'x', 'y');
    await transport.publish(stream, [{ body: 'one' }]);
    const [first] = await receiveN(transport, stream, group, 1);
    expect(first?.body).toBe('one');
    await transport.nack(stream, group, first!.deliveryId, { delayMs: 1 });
    expect((await receiveN(transport, stream, group, 1)).map((d) => d.body)).toEqual(['one']);
    expect(log.errors.some((m) => m.includes(k().retryDue(stream, group)))).toBe(true);
  });

  // ---- streams -------------------------------------------------------------------------------

  it('the wake stream replaced by another type does not stop a waiting receive', async () => {
    await admin.set(k().wake(stream), 'x');
    // Nothing to read: the read returns the ids to wait on, which reads the wake key.
    expect(await transport.receive(stream, { group, consumer: 'c1', blockMs: 150 })).toEqual([]);
    await transport.publish(stream, [{ body: 'later', delayMs: 1 }]);
    expect((await receiveN(transport, stream, group, 1)).map((d) => d.body)).toEqual(['later']);
  });

  it('a priority stream replaced by another type is dropped and re-created; the other ranks go on', async () => {
    await transport.publish(stream, [{ body: 'normal', priority: 1 }]);
    await admin.del(k().main(stream, 3));
    await admin.rpush(k().main(stream, 3), 'a list');
    expect((await receiveN(transport, stream, group, 1)).map((d) => d.body)).toEqual(['normal']);
    await transport.publish(stream, [{ body: 'critical', priority: 3 }]);
    expect((await receiveN(transport, stream, group, 1)).map((d) => d.body)).toEqual(['critical']);
    expect(log.errors.some((m) => m.includes(k().main(stream, 3)))).toBe(true);
  });

  it('a retry stream replaced by another type is dropped and re-created; nack goes on', async () => {
    await transport.publish(stream, [{ body: 'x' }]);
    await admin.del(k().retry(stream, group, 1));
    await admin.set(k().retry(stream, group, 1), 'string');
    const [d] = await receiveN(transport, stream, group, 1);
    expect(d?.body).toBe('x');
    await transport.nack(stream, group, d!.deliveryId);
    const [again] = await receiveN(transport, stream, group, 1);
    expect(again?.body).toBe('x');
    expect(again?.attempt).toBe(2);
  });

  it('foreign entries with odd fields in a priority stream and a retry stream are delivered, nacked and claimed', async () => {
    await admin.xadd(k().main(stream, 2), '*', 'priority', 'NaN', 'publishedAt', 'yesterday', 'x', '\u0000');
    await admin.xadd(k().retry(stream, group, 0), '*', 'priority', '99', 'attempt', '-7', 'publishedAt', '1e400');
    const got = await receiveN(transport, stream, group, 2);
    expect(got).toHaveLength(2);
    for (const d of got) {
      expect(Number.isFinite(d.publishedAt)).toBe(true);
      expect(d.attempt).toBeGreaterThanOrEqual(1);
      await transport.nack(stream, group, d.deliveryId);
    }
    expect(await receiveN(transport, stream, group, 2)).toHaveLength(2);
    expect(await transport.claimStale(stream, { group, consumer: 'c2', minIdleMs: 0 })).toHaveLength(2);
  });

  it('a dead letter stream replaced by another type is dropped; dead-lettering goes on', async () => {
    await admin.set(k().dlq(stream, 'dlq'), 'x');
    await transport.publish(stream, [{ body: 'bad' }]);
    const [d] = await receiveN(transport, stream, group, 1);
    const id = await transport.deadLetter(stream, group, d!, { dlq: 'dlq', error: 'boom', attempts: 1 });
    expect(typeof id).toBe('string');
    expect((await transport.listDeadLetters('dlq')).map((e) => e.body)).toEqual(['bad']);
    // Reading a DLQ key of another type (the dashboard polls it) drops it too.
    // (the DLQ 'other' has no stream yet: the key of the layout before per-stream tags is read)
    const other = `${k().tag}:dlq:other`;
    await admin.del(other);
    await admin.set(other, 'x');
    expect(await transport.countDeadLetters('other')).toBe(0);
    await admin.hset(other, 'a', 'b');
    expect(await transport.listDeadLetters('other')).toEqual([]);
  });

  // ---- key-value -----------------------------------------------------------------------------

  it('key-value entries of another type or a non-number never make kv calls fail', async () => {
    await admin.set(k().kv('counter'), 'not a number');
    expect(await transport.kvIncr('counter', { by: 2 })).toBe(2);
    await admin.hset(k().kv('lock'), 'a', 'b');
    expect(await transport.kvGet('lock')).toBeNull();
    expect(await transport.kvDelete('lock', { ifEquals: 'me' })).toBe(false);
    expect(await transport.kvSet('lock', 'me', { ifAbsent: true, ttlMs: 10_000 })).toBe(true);
    expect(await transport.kvGet('lock')).toBe('me');
    await admin.del(k().kv('lock'));
    await admin.rpush(k().kv('lock'), 'x');
    expect(await transport.kvSet('lock', 'me', { ifEquals: 'you' })).toBe(false);
    await admin.sadd(k().kv('set'), 'x');
    expect(await transport.kvIncr('set')).toBe(1);
    expect(log.errors.length).toBeGreaterThan(0);
  });

  // ---- through the bus -------------------------------------------------------------------------

  it('a consumer dead-letters a malformed delayed member and handles every good event', async () => {
    const bus = await createTestSystem({ transport });
    try {
      const handled: string[] = [];
      const c = bus.consumer('hostile').registerHandler(EventType.SYSTEM_WARNING, (e) => {
        handled.push(String((e.data as { message: string }).message));
      });
      await admin.zadd(k().delayed(bus.config.eventStreamName), 0, 'garbage');
      await c.start({ batchSize: 10 });
      for (let i = 0; i < 3; i++) await bus.publisher.publish({ type: EventType.SYSTEM_WARNING, data: { message: `m${i}` } });
      await waitUntil(() => handled.length === 3, 10_000, 'good events handled');
      await waitUntil(async () => (await transport.countDeadLetters(bus.config.dlqStreamName)) === 1, 10_000, 'the bad member dead-lettered');
      const [dead] = await transport.listDeadLetters(bus.config.dlqStreamName);
      expect(dead?.body).toBe('garbage');
      expect(handled.sort()).toEqual(['m0', 'm1', 'm2']);
    } finally {
      await bus.close();
    }
  });
});
