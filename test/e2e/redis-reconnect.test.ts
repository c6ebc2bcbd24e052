/**
 * A Redis restart while a producer publishes and a consumer loop is blocked in `receive`: the loop
 * resumes by itself, publishes during the outage fail with `TransportError` within their bound,
 * and every publish that resolved is handled. The test starts its own `redis-server` (AOF on) on a
 * free loopback port and always stops it. Transport level; with consumer processes running the
 * real core it is `redis-bus-reconnect.test.ts`.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEventBusError } from '@procur/event-bus';
import { redisTransport, type RedisTransport } from '@procur/event-bus/redis';
import { REDIS_REQUIRED, privateRedis, type PrivateRedis } from './fixtures/redis-helpers.js';

const hasRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
if (!hasRedisServer && !REDIS_REQUIRED) {
  console.warn('\n!!! [redis-reconnect.test] redis-server is not on PATH: the Redis restart test is SKIPPED.\n');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!hasRedisServer && !REDIS_REQUIRED)('Redis transport across a Redis restart', () => {
  let server: PrivateRedis | undefined;
  const opened: RedisTransport[] = [];

  beforeAll(async () => {
    server = await privateRedis();
    await server.start();
  }, 20_000);

  afterAll(async () => {
    await Promise.allSettled(opened.map((t) => t.close()));
    await server?.destroy();
  });

  it('a blocked consumer loop resumes by itself and every resolved publish is handled', async () => {
    const url = server!.url;
    const publishTimeoutMs = 1000;
    const producer = redisTransport({ url, keyPrefix: 'reconnect', publishTimeoutMs });
    const consumer = redisTransport({ url, keyPrefix: 'reconnect' });
    opened.push(producer, consumer);
    await consumer.ensureGroup('events', 'workers');

    const handled = new Set<string>();
    const receiveErrors: unknown[] = [];
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        try {
          const got = await consumer.receive('events', { group: 'workers', consumer: 'c1', max: 50, blockMs: 400 });
          for (const d of got) handled.add(d.body);
          if (got.length > 0) await consumer.ack('events', 'workers', got.map((d) => d.deliveryId));
        } catch (err) {
          receiveErrors.push(err);
          await sleep(50);
        }
      }
    })();

    const resolved: string[] = [];
    const failed: Array<{ ms: number; err: unknown }> = [];
    let seq = 0;
    const publishFor = async (ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const body = `m${seq++}`;
        const started = Date.now();
        try {
          await producer.publish('events', [{ body }]);
          resolved.push(body);
        } catch (err) {
          failed.push({ ms: Date.now() - started, err });
        }
        await sleep(15);
      }
    };

    await publishFor(500);
    // Let the consumer catch up and block in receive before the server goes away.
    const caughtUp = Date.now() + 5000;
    while (resolved.some((b) => !handled.has(b)) && Date.now() < caughtUp) await sleep(20);
    await sleep(100);
    await server!.shutdown();
    await publishFor(1500);
    await server!.start();
    await publishFor(1000);

    const deadline = Date.now() + 20_000;
    while (resolved.some((b) => !handled.has(b)) && Date.now() < deadline) await sleep(50);
    stop = true;
    await loop;

    expect(resolved.filter((b) => !handled.has(b))).toEqual([]);
    expect(failed.length).toBeGreaterThan(0);
    for (const f of failed) {
      expect(isEventBusError(f.err, 'ERR_TRANSPORT')).toBe(true);
      // Bounded, not timed: it fails within its wait plus generous slack for a busy machine, never hangs.
      expect(f.ms).toBeLessThan(publishTimeoutMs + 10_000);
    }
    // Published after the restart too, and the loop saw the outage as errors, not a hang.
    expect(resolved.length).toBeGreaterThan(20);
    for (const err of receiveErrors) expect(isEventBusError(err, 'ERR_TRANSPORT')).toBe(true);
  }, 45_000);
});
