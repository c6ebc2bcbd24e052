import { waitUntil as until } from '../../src/testing/index.js';
/**
 * The Redis entry format of `docs/wire-format.md`, exercised with `redis-cli` as another program
 * would, through the whole system on the real Redis:
 * - entries written with `redis-cli XADD` exactly as documented (key per rank, field `body`,
 *   optional `publishedAt`) are consumed; a malformed one lands in the DLQ with the parse error
 *   and the documented dead letter fields, and the consumer keeps going;
 * - an event published by the bus is read back with `redis-cli XREADGROUP` by a foreign group,
 *   from the documented key, with the documented field and envelope.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { EventType, type EventEnvelope, type EventSystem } from '@procur/event-bus';
import { REDIS_REQUIRED, TEST_REDIS_URL, adminClient, deleteKeys, probeRedis, redisBus, uniquePrefix } from './fixtures/redis-helpers.js';

const reachable = await probeRedis(TEST_REDIS_URL);
const hasCli = spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0;
const enabled = (reachable && hasCli) || REDIS_REQUIRED;
if (!enabled) console.warn('\n!!! [redis-cli-entry.test] Redis or redis-cli unavailable: SKIPPED.\n');

function redisCli(...args: string[]): string {
  const res = spawnSync('redis-cli', ['-u', TEST_REDIS_URL, ...args], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`redis-cli failed: ${res.stderr}`);
  return res.stdout.trim();
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
    bus = await redisBus(prefix, { config: { eventBlockTime: 100, retryBackoffMs: 10, retryBackoffMaxMs: 50 } });
    const got: EventEnvelope[] = [];
    const consumer = bus.consumer('cli-test');
    consumer.registerHandler(EventType.REQUEST_CREATED, (e) => {
      got.push(e);
    });
    await consumer.start();
    // {<keyPrefix>:<stream>}:stream:<rank>, rank 1 = normal, 2 = high.
    const key = (rank: number) => `{${prefix}:procur:events}:stream:${rank}`;
    const envelope = {
      id: randomUUID(),
      type: EventType.REQUEST_CREATED,
      data: { requestId: 'req-cli', description: 'Written by redis-cli', budgetMax: 500 },
      priority: 'normal',
      correlationId: 'corr-cli',
      occurredAt: new Date().toISOString(),
      version: 1,
    };
    // The minimal form: no priority (normal), no correlationId; with the optional publishedAt.
    const minimal = {
      id: randomUUID(),
      type: EventType.REQUEST_CREATED,
      data: { requestId: 'req-cli-2', description: 'Minimal', budgetMax: 1 },
      occurredAt: new Date().toISOString(),
      version: 1,
    };
    const high = { ...envelope, id: randomUUID(), priority: 'high', data: { ...envelope.data, requestId: 'req-cli-3' } };
    redisCli('XADD', key(1), '*', 'body', 'this is not json');
    redisCli('XADD', key(1), '*', 'body', JSON.stringify(envelope));
    redisCli('XADD', key(1), '*', 'body', JSON.stringify(minimal), 'publishedAt', String(Date.now() - 1000));
    redisCli('XADD', key(2), '*', 'body', JSON.stringify(high));
    await until(() => got.length === 3);
    expect(got.find((e) => e.id === envelope.id)).toMatchObject({ type: 'request.created', data: { requestId: 'req-cli' }, correlationId: 'corr-cli' });
    expect(got.find((e) => e.id === minimal.id)).toMatchObject({ priority: 'normal', correlationId: minimal.id, data: { requestId: 'req-cli-2' } });
    expect(got.find((e) => e.id === high.id)).toMatchObject({ priority: 'high', data: { requestId: 'req-cli-3' } });
    await until(async () => (await bus!.dlq.size()) === 1);
    const [entry] = await bus.dlq.list();
    expect(JSON.stringify(entry)).toContain('JSON');
    // The dead letter entry, as another program sees it: the documented fields.
    const dlqKey = `{${prefix}:procur:events}:dlq:procur:dlq`;
    expect(Number(redisCli('XLEN', dlqKey))).toBe(1);
    const lines = redisCli('XRANGE', dlqKey, '-', '+').split('\n');
    const fields = new Map<string, string>();
    // XRANGE prints the entry id, then field / value lines; every value here is one line except the stack.
    for (const name of ['stream', 'group', 'body', 'priority', 'error', 'stack', 'attempts', 'failedAt', 'context', 'origin']) {
      const at = lines.indexOf(name);
      if (at >= 0) fields.set(name, lines[at + 1]!);
    }
    expect(fields.get('stream')).toBe('procur:events');
    expect(fields.get('group')).toBe('procur-workers');
    expect(fields.get('body')).toBe('this is not json');
    expect(fields.get('priority')).toBe('1');
    expect(fields.get('error')).toContain('JSON');
    expect(Number(fields.get('attempts'))).toBeGreaterThanOrEqual(1);
    expect(Number(fields.get('failedAt'))).toBeGreaterThan(Date.now() - 60_000);
    expect(JSON.parse(fields.get('context')!)).toMatchObject({ consumer: expect.stringContaining('cli-test@') });
    expect(fields.get('origin')).toMatch(/^1:\d+-\d+$/);
  });

  it('an event published by the bus is read back with redis-cli XREADGROUP by a foreign group', async () => {
    prefix = uniquePrefix();
    bus = await redisBus(prefix, { config: { eventSourcingEnabled: false } });
    const keys = [3, 2, 1, 0].map((rank) => `{${prefix}:procur:events}:stream:${rank}`);
    for (const k of keys) redisCli('XGROUP', 'CREATE', k, 'foreign', '$', 'MKSTREAM');
    const id = await bus.publisher.publish({
      type: EventType.REQUEST_CREATED,
      data: { requestId: 'req-foreign', description: 'Read by redis-cli', budgetMax: 9 },
      priority: 'high',
      correlationId: 'corr-foreign',
    });
    const out = redisCli('XREADGROUP', 'GROUP', 'foreign', 'other-language', 'COUNT', '10', 'STREAMS', ...keys, '>', '>', '>', '>').split('\n');
    // key, entry id, then the fields: exactly one, `body`.
    expect(out).toHaveLength(4);
    const [key, entryId, field, body] = out as [string, string, string, string];
    expect(key).toBe(`{${prefix}:procur:events}:stream:2`);
    expect(entryId).toMatch(/^\d+-\d+$/);
    expect(field).toBe('body');
    const envelope = JSON.parse(body) as Record<string, unknown>;
    expect(envelope).toMatchObject({
      version: 1,
      id,
      type: 'request.created',
      data: { requestId: 'req-foreign', description: 'Read by redis-cli', budgetMax: 9 },
      priority: 'high',
      correlationId: 'corr-foreign',
    });
    expect(new Date(envelope.occurredAt as string).toISOString()).toBe(envelope.occurredAt);
    expect(redisCli('XACK', key, 'foreign', entryId)).toBe('1');
  });
});
