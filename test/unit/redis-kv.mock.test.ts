/**
 * Issue 16, item 7: the key-value role of the Redis transport (adapters/redis/kv.ts and its Lua
 * scripts kv-set-1, kv-delete-if-1, kv-incr-1) on ioredis-mock, an in-memory Redis with a Lua
 * interpreter (fengari). No server: these run anywhere. The role object is the transport's own
 * `RedisKeyValue` over the transport's own `RedisCommands` (EVALSHA with the EVAL fallback,
 * bounded calls, close), only the client is the mock; the same conformance suite as every
 * adapter (`describeKeyValue`) checks it. ioredis-mock has no consumer groups, so the full
 * transport refuses it (test/adapters/redis-connection.test.ts); see docs/architecture.md,
 * "ioredis-mock".
 */
import { describe, expect, it } from 'vitest';
import RedisMock from 'ioredis-mock';
import type { Redis } from 'ioredis';
import type { KeyValue, KvSetOptions, Logger, SignalOptions, TransportFeatures } from '@procur/event-bus';
import { describeKeyValue } from '@procur/event-bus/testing';
import { RedisCommands } from '../../adapters/redis/commands.js';
import { KeyLayout } from '../../adapters/redis/keys.js';
import { RedisKeyValue } from '../../adapters/redis/kv.js';
import { uniquePrefix } from '../e2e/fixtures/redis-helpers.js';

/** Only the key-value role: what the harness below provides. */
const FEATURES: TransportFeatures = Object.freeze({
  persistent: false,
  distributed: false,
  streams: false,
  deadLetters: false,
  keyValue: true,
  signals: false,
  admin: false,
});

interface Logged {
  readonly message: string;
  readonly fields: unknown;
}

/** A logger that keeps what the role reports (dropped or overwritten keys). */
function recordingLogger(): Logger & { errors: Logged[] } {
  const errors: Logged[] = [];
  const keep = () => {};
  return {
    errors,
    debug: keep,
    info: keep,
    warn: keep,
    error: (message: string, fields?: unknown) => void errors.push({ message, fields }),
  } as unknown as Logger & { errors: Logged[] };
}

/**
 * Two things ioredis has and ioredis-mock lacks, which the role's command wrapper uses:
 * - `status`: the wrapper waits for `'ready'` before each command; the mock, always connected,
 *   has none, so it reads `'ready'` here;
 * - the generic `call(command, args)`, used for `SET ... PX NX` and `EVALSHA`/`EVAL`: each goes
 *   to the mock's method of that name (`set`, `evalsha`, `eval`), which takes the same arguments.
 * Nothing else of the client changes.
 */
function withCall(client: Redis): Redis {
  const named = client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  Object.defineProperty(client, 'status', { value: 'ready', configurable: true });
  return Object.assign(client, {
    call(command: string, ...rest: unknown[]): Promise<unknown> {
      const args = rest.length === 1 && Array.isArray(rest[0]) ? (rest[0] as unknown[]) : rest;
      const method = named[command.toLowerCase()];
      if (typeof method !== 'function') return Promise.reject(new Error(`ioredis-mock has no command ${command}`));
      return method.apply(client, args);
    },
  });
}

/**
 * The key-value role of the Redis transport over one ioredis-mock client: the wiring
 * `redisTransport({ client })` does for this role (adapters/redis/redis-transport.ts), without the
 * consumer-group check the mock would fail. The mock stays open at close, as a client passed in.
 */
function mockKeyValue(options: { client?: Redis; logger?: Logger } = {}): KeyValue & { client: Redis; keys: KeyLayout } {
  // A fresh host per harness: ioredis-mock shares data between instances of one host:port.
  const client = options.client ?? withCall(new RedisMock({ host: `mock-${uniquePrefix()}` }) as unknown as Redis);
  const keys = new KeyLayout(uniquePrefix());
  const ctx = new RedisCommands({
    main: client,
    ownsMain: false,
    where: 'ioredis-mock',
    hint: 'the client passed in',
    secrets: [],
    keys,
    maxLen: 0,
    publishTimeoutMs: 5000,
    operationTimeoutMs: 5000,
    logger: options.logger ?? recordingLogger(),
  });
  const kv = new RedisKeyValue(ctx);
  return {
    name: 'redis-kv (ioredis-mock)',
    features: FEATURES,
    client,
    keys,
    kvGet: (key: string, o?: SignalOptions) => kv.kvGet(key, o),
    kvSet: (key: string, value: string, o?: KvSetOptions) => kv.kvSet(key, value, o),
    kvSetMany: (entries: ReadonlyArray<{ key: string; value: string }>, o?: SignalOptions & { ttlMs?: number }) => kv.kvSetMany(entries, o),
    kvDelete: (key: string, o?: SignalOptions & { ifEquals?: string }) => kv.kvDelete(key, o),
    kvIncr: (key: string, o?: SignalOptions & { by?: number; ttlMs?: number }) => kv.kvIncr(key, o),
    kvScan: (prefix: string, o?: SignalOptions) => kv.kvScan(prefix, o),
    close: () => ctx.life.close(async () => ctx.unwatch(client)),
  };
}

describeKeyValue('redis (ioredis-mock)', () => ({ transport: mockKeyValue() }), {
  features: FEATURES,
  additionalTests(ctx) {
    const kv = () => ctx.transport as ReturnType<typeof mockKeyValue>;

    it('runs the compare-and-set script by EVALSHA after the first EVAL (NOSCRIPT fallback)', async () => {
      const key = ctx.name('cas');
      await kv().kvSet(key, 'a');
      expect(await kv().kvSet(key, 'b', { ifEquals: 'a' })).toBe(true);
      // The first call loaded the script; the second found it by SHA1.
      expect(await kv().kvSet(key, 'c', { ifEquals: 'b' })).toBe(true);
      expect(await kv().kvGet(key)).toBe('c');
    });

    it('kvSet ifEquals with ttlMs sets the TTL the script was given', async () => {
      const key = ctx.name('ttl');
      await kv().kvSet(key, 'me');
      expect(await kv().kvSet(key, 'me', { ifEquals: 'me', ttlMs: 60_000 })).toBe(true);
      const pttl = await kv().client.pttl(kv().keys.kv(key));
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(60_000);
    });

    it('kvIncr sets the TTL only when it creates the counter', async () => {
      const key = ctx.name('ctr');
      expect(await kv().kvIncr(key, { ttlMs: 60_000 })).toBe(1);
      const raw = kv().keys.kv(key);
      expect(await kv().client.pttl(raw)).toBeGreaterThan(0);
      await kv().client.persist(raw);
      expect(await kv().kvIncr(key, { ttlMs: 60_000 })).toBe(2);
      expect(await kv().client.pttl(raw)).toBe(-1);
    });

    it('kvDelete ifEquals never deletes a key of another type', async () => {
      const key = ctx.name('typed');
      await kv().client.rpush(kv().keys.kv(key), 'x');
      expect(await kv().kvDelete(key, { ifEquals: 'x' })).toBe(false);
      expect(await kv().client.type(kv().keys.kv(key))).toBe('list');
    });

    it('kvScan treats glob characters in the prefix literally', async () => {
      const base = ctx.name('glob');
      await kv().kvSet(`${base}:a*`, '1');
      await kv().kvSet(`${base}:ab`, '2');
      expect(await kv().kvScan(`${base}:a*`)).toEqual([{ key: `${base}:a*`, value: '1' }]);
    });
  },
});

describe('Redis key-value on ioredis-mock: keys of another type (hostile contents)', () => {
  it('kvGet reads a key of another type as absent and says so', async () => {
    const logger = recordingLogger();
    const kv = mockKeyValue({ logger });
    try {
      await kv.client.rpush(kv.keys.kv('k'), 'x');
      expect(await kv.kvGet('k')).toBeNull();
      expect(logger.errors.map((e) => e.message).join('\n')).toMatch(/holds no value/);
    } finally {
      await kv.close();
    }
  });

  it('kvSet ifAbsent and ifEquals write over a key of another type and say so', async () => {
    const logger = recordingLogger();
    const kv = mockKeyValue({ logger });
    try {
      await kv.client.rpush(kv.keys.kv('lock'), 'x');
      expect(await kv.kvSet('lock', 'me', { ifAbsent: true, ttlMs: 60_000 })).toBe(true);
      expect(await kv.kvGet('lock')).toBe('me');
      await kv.client.del(kv.keys.kv('lock'));
      await kv.client.sadd(kv.keys.kv('lock'), 'x');
      // ifAbsent with ifEquals: the other type counts as absent, so the expected value is not there.
      expect(await kv.kvSet('lock', 'me', { ifEquals: 'me' })).toBe(false);
      expect(await kv.kvSet('lock', 'me', { ifAbsent: true, ifEquals: 'other' })).toBe(false);
      expect(logger.errors.filter((e) => /overwrote/.test(e.message))).toHaveLength(1);
    } finally {
      await kv.close();
    }
  });

  it('kvIncr drops a value that is no counter and counts from 0', async () => {
    const logger = recordingLogger();
    const kv = mockKeyValue({ logger });
    try {
      await kv.kvSet('n', 'not a number');
      expect(await kv.kvIncr('n', { by: 3 })).toBe(3);
      await kv.client.del(kv.keys.kv('n'));
      await kv.client.hset(kv.keys.kv('n'), 'f', 'v');
      expect(await kv.kvIncr('n')).toBe(1);
      expect(logger.errors.filter((e) => /held no counter/.test(e.message))).toHaveLength(2);
    } finally {
      await kv.close();
    }
  });

  it('the client passed in stays open after close', async () => {
    const kv = mockKeyValue();
    await kv.kvSet('k', 'v');
    await kv.close();
    expect(await kv.client.get(kv.keys.kv('k'))).toBe('v');
  });
});
