/**
 * Issue 10, hole 13 and issue 16, item 7: connection settings the Redis transport must refuse.
 * A database the server does not have fails at start with `TransportError` (ioredis would run
 * every command in database 0); a URL of another scheme fails at construction with
 * `ConfigError`; a client without consumer groups (an in-memory mock) is refused at once, naming
 * `memoryTransport()`.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { isEventBusError } from '@procur/event-bus';
import { redisTransport } from '@procur/event-bus/redis';
import { planConnection } from '../../adapters/redis/connection.js';
import { REDIS_REQUIRED, TEST_REDIS_URL, deleteKeys, probeRedis, uniquePrefix } from '../e2e/fixtures/redis-helpers.js';

const reachable = await probeRedis(TEST_REDIS_URL);
const base = new URL(TEST_REDIS_URL);

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => 'resolved',
    (err: unknown) => err,
  );
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return 'returned';
}

describe.skipIf(!reachable && !REDIS_REQUIRED)('Redis transport: a database the server does not have', () => {
  it('fails the first call with TransportError naming the database, never writing to database 0', async () => {
    const prefix = uniquePrefix();
    const t = redisTransport({ url: `redis://${base.host}/99`, keyPrefix: prefix, trimIntervalMs: 0 });
    try {
      for (const call of [() => t.ensureGroup('s', 'g'), () => t.publish('s', [{ body: 'x' }]), () => t.kvSet('k', 'v')]) {
        const err = await rejection(call());
        expect(isEventBusError(err, 'ERR_TRANSPORT')).toBe(true);
        expect((err as Error).message).toMatch(/database 99/);
      }
    } finally {
      await t.close();
    }
    const admin = new Redis(TEST_REDIS_URL);
    try {
      expect(await admin.exists(`${prefix}:kv:k`, `{${prefix}:s}:stream:1`)).toBe(0);
    } finally {
      await deleteKeys(admin, prefix);
      admin.disconnect();
    }
  });

  it('names the database without the password', async () => {
    const t = redisTransport({ url: `redis://:hunter2-secret@${base.host}/99`, keyPrefix: uniquePrefix(), trimIntervalMs: 0 });
    try {
      const err = await rejection(t.publish('s', [{ body: 'x' }]));
      expect(isEventBusError(err, 'ERR_TRANSPORT')).toBe(true);
      expect((err as Error).message).toMatch(/database 99/);
      expect((err as Error).message).not.toContain('hunter2');
    } finally {
      await t.close();
    }
  });

  it('a database the server has works as before', async () => {
    const t = redisTransport({ url: `redis://${base.host}/3`, keyPrefix: `db-ok-${process.pid}`, trimIntervalMs: 0 });
    try {
      await t.kvSet('k', 'v', { ttlMs: 5000 });
      expect(await t.kvGet('k')).toBe('v');
      await t.kvDelete('k');
    } finally {
      await t.close();
    }
  });
});

describe('Redis transport: URLs it refuses at construction', () => {
  it.each(['http://127.0.0.1:6379', 'https://user:hunter2@example.com', 'ftp://127.0.0.1', 'localhost:6379', 'not a url', 'redis://127.0.0.1:6379/abc', 'unix://relative.sock'])(
    '%s is a ConfigError naming the accepted schemes',
    (url) => {
      const err = thrown(() => redisTransport({ url }));
      expect(isEventBusError(err, 'ERR_CONFIG')).toBe(true);
      expect((err as Error).message).toMatch(/url/);
      if (!url.includes('/abc') && !url.startsWith('unix')) expect((err as Error).message).toMatch(/redis:\/\/.*rediss:\/\/.*unix:\/\//);
      expect((err as Error).message).not.toContain('hunter2');
    },
  );

  it('PROCUR_EVENT_REDIS_URL is checked the same way and named', () => {
    const err = thrown(() => planConnection(undefined, {}, { PROCUR_EVENT_REDIS_URL: 'http://127.0.0.1:6379' }));
    expect(isEventBusError(err, 'ERR_CONFIG')).toBe(true);
    expect((err as Error).message).toMatch(/PROCUR_EVENT_REDIS_URL/);
  });

  it('accepts redis://, rediss://, unix:// and socket paths', () => {
    expect(planConnection('redis://127.0.0.1:6379/2', {}, {}).args[0]).toBe('redis://127.0.0.1:6379/2');
    expect(planConnection('rediss://:pw@example.com:6380', {}, {}).args[0]).toBe('rediss://:pw@example.com:6380');
    expect(planConnection('unix:///tmp/redis.sock?db=2', {}, {}).args[0]).toBe('/tmp/redis.sock?db=2');
    expect(planConnection('/tmp/redis.sock', {}, {}).args[0]).toBe('/tmp/redis.sock');
  });
});

describe('Redis transport: a client without consumer groups', () => {
  /** What an in-memory mock such as ioredis-mock looks like: strings, lists, XADD, but no consumer groups. */
  class MockRedis extends EventEmitter {
    status = 'ready';
    options = {};
    get() {}
    set() {}
    xadd() {}
    xrange() {}
    xread() {}
    evalsha() {}
  }

  it('is refused at once with a ConfigError that names memoryTransport()', () => {
    const err = thrown(() => redisTransport({ client: new MockRedis() as unknown as Redis }));
    expect(isEventBusError(err, 'ERR_CONFIG')).toBe(true);
    expect((err as Error).message).toMatch(/consumer groups/);
    expect((err as Error).message).toMatch(/memoryTransport\(\)/);
  });

  it('a real ioredis client is accepted', async () => {
    const client = new Redis(TEST_REDIS_URL, { lazyConnect: true });
    const t = redisTransport({ client, trimIntervalMs: 0 });
    await t.close();
    client.disconnect();
  });
});
