/**
 * Entries written by another program with `redis-cli XADD`, through the whole system on the real
 * Redis: one in the documented format is consumed; a malformed one lands in the DLQ with the parse
 * error, and the consumer keeps going.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { EventType, createEventSystem, silentLogger, type EventEnvelope, type EventSystem } from '@procur/event-bus';
import { redisTransport } from '@procur/event-bus/redis';
import { REDIS_REQUIRED, TEST_REDIS_URL, adminClient, deleteKeys, probeRedis, uniquePrefix } from './fixtures/redis-helpers.js';

const reachable = await probeRedis(TEST_REDIS_URL);
const hasCli = spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0;
const enabled = (reachable && hasCli) || REDIS_REQUIRED;
if (!enabled) console.warn('\n!!! [redis-cli-entry.test] Redis or redis-cli unavailable: SKIPPED.\n');

function redisCli(...args: string[]): string {
  const res = spawnSync('redis-cli', ['-u', TEST_REDIS_URL, ...args], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`redis-cli failed: ${res.stderr}`);
  return res.stdout.trim();
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!enabled)('entries written with redis-cli XADD', () => {
  let admin: Redis;
  let bus: EventSystem | undefined;
  let prefix = '';
  beforeAll(async () => {
    admin = adminClient();
    await admin.connect();
  });
  afterAll(async () => {
    await admin.quit();
  });
  afterEach(async () => {
    await bus?.close();
    bus = undefined;
    await deleteKeys(admin, prefix);
  });

  it('consumes one in the documented format and dead-letters a malformed one', async () => {
    prefix = uniquePrefix();
    bus = await createEventSystem({
      transport: redisTransport({ url: TEST_REDIS_URL, keyPrefix: prefix }),
      logger: silentLogger,
      env: {},
      outbox: false,
      config: { eventBlockTime: 100, retryBackoffMs: 10, retryBackoffMaxMs: 50 },
    });
    const got: EventEnvelope[] = [];
    const consumer = bus.consumer('cli-test');
    consumer.registerHandler(EventType.REQUEST_CREATED, (e) => {
      got.push(e);
    });
    await consumer.start();
    const key = `{${prefix}}:stream:procur:events:1`;
    const envelope = {
      id: randomUUID(),
      type: EventType.REQUEST_CREATED,
      data: { requestId: 'req-cli', description: 'Written by redis-cli', budgetMax: 500 },
      priority: 'normal',
      correlationId: 'corr-cli',
      occurredAt: new Date().toISOString(),
      version: 1,
    };
    redisCli('XADD', key, '*', 'body', 'this is not json');
    redisCli('XADD', key, '*', 'body', JSON.stringify(envelope));
    await until(() => got.length === 1);
    expect(got[0]).toMatchObject({ id: envelope.id, type: 'request.created', data: { requestId: 'req-cli' }, correlationId: 'corr-cli' });
    await until(async () => (await bus!.dlq.size()) === 1);
    const [entry] = await bus.dlq.list();
    expect(JSON.stringify(entry)).toContain('JSON');
    expect(Number(redisCli('XLEN', `{${prefix}}:dlq:procur:dlq`))).toBe(1);
    const dlqRaw = redisCli('XRANGE', `{${prefix}}:dlq:procur:dlq`, '-', '+');
    expect(dlqRaw).toContain('this is not json');
  });
});
