/**
 * Issue 16, item 7: the key-value role of the Redis transport (adapters/redis/kv.ts and its Lua
 * scripts kv-set-1, kv-delete-if-1, kv-incr-1), the scheduler's leader lease built on it, and the
 * signals role (adapters/redis/pubsub.ts) on ioredis-mock, an in-memory Redis with a Lua
 * interpreter (fengari). No server: these run anywhere (only the cases where the mock differs
 * from Redis also run on a real one, when there is one). The role objects are the transport's own
 * `RedisKeyValue` / `RedisSignals` over its own `RedisCommands` (EVALSHA with the EVAL fallback,
 * bounded calls, close), only the client is the mock; the same conformance suites as every
 * adapter (`describeKeyValue`, `describeSignals`) check them. ioredis-mock has no consumer
 * groups, so the full transport refuses it (checked here with the real mock); see
 * docs/architecture.md, "ioredis-mock".
 */
import { afterEach, describe, expect, it } from 'vitest';
import RedisMock from 'ioredis-mock';
import { Redis } from 'ioredis';
import { createEventSystem, isEventBusError, memoryTransport, silentLogger, type EventSystem, type KeyValue, type KvSetOptions, type Logger, type SignalOptions, type Signals, type TransportFeatures } from '@procur/event-bus';
import { describeKeyValue, describeSignals, waitUntil } from '@procur/event-bus/testing';
import { RedisCommands } from '../../adapters/redis/commands.js';
import { KeyLayout } from '../../adapters/redis/keys.js';
import { redisTransport } from '../../adapters/redis/redis-transport.js';
import { RedisKeyValue } from '../../adapters/redis/kv.js';
import { RedisSignals } from '../../adapters/redis/pubsub.js';
import { REDIS_REQUIRED, TEST_REDIS_URL, adminClient, deleteKeys, probeRedis, uniquePrefix } from '../e2e/fixtures/redis-helpers.js';

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

/** The commands each mock was sent through `call`, in order. */
const sent = new WeakMap<Redis, string[]>();

/**
 * Two things ioredis has and ioredis-mock lacks, which the role's command wrapper uses:
 * - `status`: the wrapper waits for `'ready'` before each command (and connects a `'wait'`ing
 *   lazy connection); the mock has only `connected`, which `status` reads here;
 * - the generic `call(command, args)`, used for `SET ... PX NX` and `EVALSHA`/`EVAL`: each goes
 *   to the mock's method of that name (`set`, `evalsha`, `eval`), which takes the same arguments.
 * Nothing else of the client changes.
 */
function withCall(client: Redis): Redis {
  sent.set(client, []);
  const named = client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  Object.defineProperty(client, 'status', { get: () => (client as unknown as { connected: boolean }).connected ? 'ready' : 'wait', configurable: true });
  const duplicate = client.duplicate.bind(client);
  return Object.assign(client, {
    // The subscriber connection of `listen` is a duplicate: the same two shims on it.
    duplicate: (...args: Parameters<Redis['duplicate']>) => withCall(duplicate(...args)),
    call(command: string, ...rest: unknown[]): Promise<unknown> {
      sent.get(client)?.push(command.toUpperCase());
      const args = rest.length === 1 && Array.isArray(rest[0]) ? (rest[0] as unknown[]) : rest;
      const method = named[command.toLowerCase()];
      if (typeof method !== 'function') return Promise.reject(new Error(`ioredis-mock has no command ${command}`));
      return method.apply(client, args);
    },
  });
}

/** A new ioredis-mock client with its own data (the mock shares data between clients of one host:port). */
function newMock(): Redis {
  return withCall(new RedisMock({ host: `mock-${uniquePrefix()}` }) as unknown as Redis);
}

/**
 * What ioredis-mock does differently from Redis, found by asking it (so a case skipped for a gap
 * runs again by itself once a release of the mock closes the gap):
 * - `wrongType`: a command on a key of another type fails with WRONGTYPE (the mock's GET returns
 *   the list, its INCRBY of a non-integer yields `false`, in Lua too);
 * - `escapesGlob`: `SCAN MATCH` honours `\` escapes (the mock's matches nothing then).
 */
async function probeMock(): Promise<{ wrongType: boolean; escapesGlob: boolean }> {
  const c = newMock();
  try {
    await c.rpush('list', 'x');
    await c.set('text', 'abc');
    const fails = (p: Promise<unknown>) => p.then(
      () => false,
      (err: unknown) => /WRONGTYPE|not an integer/.test(String(err)),
    );
    const wrongType = (await fails(c.get('list'))) && (await fails(c.incrby('text', 1)));
    await c.set('a*', '1');
    await c.set('ab', '2');
    const [, found] = await c.scan('0', 'MATCH', 'a\\*');
    return { wrongType, escapesGlob: found.length === 1 && found[0] === 'a*' };
  } finally {
    c.disconnect();
  }
}

const gaps = await probeMock();
const reachable = await probeRedis(TEST_REDIS_URL);

/** The command wrapper `redisTransport({ client })` builds (adapters/redis/redis-transport.ts), over `client`. */
function commandsOver(client: Redis, keys: KeyLayout, logger: Logger): RedisCommands {
  return new RedisCommands({
    main: client,
    ownsMain: false,
    where: 'ioredis-mock',
    hint: 'the client passed in',
    secrets: [],
    keys,
    maxLen: 0,
    publishTimeoutMs: 5000,
    operationTimeoutMs: 5000,
    logger,
  });
}

/**
 * The key-value role of the Redis transport over one client (a new ioredis-mock by default): the
 * wiring `redisTransport({ client })` does for this role, without the consumer-group check the
 * mock would fail. The client stays open at close, as a client passed in.
 */
function keyValueOver(options: { client?: Redis; prefix?: string; logger?: Logger } = {}): KeyValue & { client: Redis; keys: KeyLayout } {
  const client = options.client ?? newMock();
  const keys = new KeyLayout(options.prefix ?? uniquePrefix());
  const ctx = commandsOver(client, keys, options.logger ?? recordingLogger());
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

describe('redisTransport over a real ioredis-mock client', () => {
  // ioredis-mock 8 has xgroup, xreadgroup, xautoclaim methods that only reject ("Unsupported
  // command"), but no `call` and no `status`: without this check the transport was built and
  // failed later with "c.call is not a function" or "Cannot reach Redis at localhost:6379".
  it('is refused at once with a ConfigError that names memoryTransport()', () => {
    const client = new RedisMock() as unknown as Redis;
    let err: unknown = 'returned';
    try {
      redisTransport({ client, trimIntervalMs: 0 });
    } catch (e) {
      err = e;
    }
    client.disconnect();
    expect(isEventBusError(err, 'ERR_CONFIG')).toBe(true);
    expect((err as Error).message).toMatch(/consumer groups/);
    expect((err as Error).message).toMatch(/memoryTransport\(\)/);
  });
});

/** Only the signals role. */
const SIGNALS: TransportFeatures = Object.freeze({ ...FEATURES, keyValue: false, signals: true });

/**
 * The signals role of the Redis transport (adapters/redis/pubsub.ts: PUBLISH, and SUBSCRIBE on a
 * duplicate of the client) over one ioredis-mock client, closed as the transport closes it.
 */
function mockSignals(): Signals {
  const client = newMock();
  const ctx = commandsOver(client, new KeyLayout(uniquePrefix()), recordingLogger());
  const signals = new RedisSignals(ctx);
  return {
    name: 'redis-signals (ioredis-mock)',
    features: SIGNALS,
    notify: (channel: string, message: string, o?: SignalOptions) => signals.notify(channel, message, o),
    listen: (channel: string, handler: (message: string) => void, o?: SignalOptions) => signals.listen(channel, handler, o),
    close: () =>
      ctx.life.close(async () => {
        const subscriber = signals.shutdown();
        if (subscriber) ctx.drop(subscriber);
        ctx.unwatch(client);
        client.disconnect();
      }),
  };
}

describeSignals('redis (ioredis-mock)', () => ({ transport: mockSignals() }), { features: SIGNALS });

describeKeyValue('redis (ioredis-mock)', () => ({ transport: keyValueOver() }), {
  features: FEATURES,
  additionalTests(ctx) {
    const kv = () => ctx.transport as ReturnType<typeof keyValueOver>;

    it('runs the compare-and-set script by EVALSHA, loading it by EVAL on NOSCRIPT first', async () => {
      const key = ctx.name('cas');
      const commands = sent.get(kv().client)!;
      await kv().kvSet(key, 'a');
      commands.length = 0;
      expect(await kv().kvSet(key, 'b', { ifEquals: 'a' })).toBe(true);
      expect(commands).toEqual(['EVALSHA', 'EVAL']);
      commands.length = 0;
      expect(await kv().kvSet(key, 'c', { ifEquals: 'b' })).toBe(true);
      expect(commands).toEqual(['EVALSHA']);
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
  },
});

/**
 * Cases where ioredis-mock does not behave as Redis, so they are skipped on it (by the gaps
 * `probeMock` found) and run on the real Redis instead, the same harness over an ioredis client:
 * a key of this system holding another type (written by another program or a bug), which the
 * role reads as absent, writes over or drops, and logs; glob characters in a scanned prefix.
 */
const backends = [
  { name: 'ioredis-mock', available: true, gaps, client: newMock, done: (c: Redis) => c.disconnect() },
  {
    name: `Redis at ${TEST_REDIS_URL}`,
    available: reachable || REDIS_REQUIRED,
    gaps: { wrongType: true, escapesGlob: true },
    client: () => adminClient(),
    done: async (c: Redis, prefix: string) => {
      await deleteKeys(c, prefix);
      c.disconnect();
    },
  },
];

for (const backend of backends) {
  const noWrongType = !backend.gaps.wrongType;
  const gap = (why: string) => (backend.name === 'ioredis-mock' ? ` (skipped on ioredis-mock: ${why})` : '');
  describe.skipIf(!backend.available)(`Redis key-value where ioredis-mock differs from Redis, on ${backend.name}`, () => {
    async function withKv(fn: (kv: ReturnType<typeof keyValueOver>, logger: ReturnType<typeof recordingLogger>) => Promise<void>): Promise<void> {
      const logger = recordingLogger();
      const prefix = uniquePrefix();
      const client = backend.client();
      const kv = keyValueOver({ client, prefix, logger });
      try {
        await fn(kv, logger);
      } finally {
        await kv.close();
        await backend.done(client, prefix);
      }
    }

    it.skipIf(noWrongType)(`kvGet reads a key of another type as absent and says so${gap('no WRONGTYPE')}`, () =>
      withKv(async (kv, logger) => {
        await kv.client.rpush(kv.keys.kv('k'), 'x');
        expect(await kv.kvGet('k')).toBeNull();
        expect(logger.errors.map((e) => e.message).join('\n')).toMatch(/holds no value/);
      }));

    it.skipIf(noWrongType)(`kvSet ifAbsent writes over a key of another type and says so; ifEquals does not match it${gap('no WRONGTYPE')}`, () =>
      withKv(async (kv, logger) => {
        await kv.client.rpush(kv.keys.kv('lock'), 'x');
        expect(await kv.kvSet('lock', 'me', { ifAbsent: true, ttlMs: 60_000 })).toBe(true);
        expect(await kv.kvGet('lock')).toBe('me');
        await kv.client.del(kv.keys.kv('lock'));
        await kv.client.sadd(kv.keys.kv('lock'), 'x');
        // Another type holds no value, so the expected value is not there.
        expect(await kv.kvSet('lock', 'me', { ifEquals: 'x' })).toBe(false);
        expect(await kv.client.type(kv.keys.kv('lock'))).toBe('set');
        expect(logger.errors.filter((e) => /overwrote/.test(e.message))).toHaveLength(1);
      }));

    it.skipIf(noWrongType)(`kvDelete ifEquals never deletes a key of another type${gap('no WRONGTYPE')}`, () =>
      withKv(async (kv) => {
        await kv.client.rpush(kv.keys.kv('k'), 'x');
        expect(await kv.kvDelete('k', { ifEquals: 'x' })).toBe(false);
        expect(await kv.client.type(kv.keys.kv('k'))).toBe('list');
      }));

    it.skipIf(noWrongType)(`kvIncr drops a value that is no counter and counts from 0, and says so${gap('INCRBY of a non-integer does not fail')}`, () =>
      withKv(async (kv, logger) => {
        await kv.kvSet('n', 'not a number');
        expect(await kv.kvIncr('n', { by: 3 })).toBe(3);
        await kv.client.del(kv.keys.kv('n'));
        await kv.client.hset(kv.keys.kv('n'), 'f', 'v');
        expect(await kv.kvIncr('n')).toBe(1);
        expect(logger.errors.filter((e) => /held no counter/.test(e.message))).toHaveLength(2);
      }));

    it.skipIf(!backend.gaps.escapesGlob)(`kvScan treats glob characters in the prefix literally${gap('SCAN MATCH ignores \\ escapes')}`, () =>
      withKv(async (kv) => {
        await kv.kvSet('glob:a*', '1');
        await kv.kvSet('glob:ab', '2');
        expect(await kv.kvScan('glob:a*')).toEqual([{ key: 'glob:a*', value: '1' }]);
      }));
  });
}

describe('Redis key-value on ioredis-mock: the client passed in', () => {
  it('stays open after close', async () => {
    const kv = keyValueOver();
    await kv.kvSet('k', 'v');
    await kv.close();
    expect(await kv.client.get(kv.keys.kv('k'))).toBe('v');
    kv.client.disconnect();
  });
});

/**
 * The scheduler's leader lease (kvSet ifAbsent / ifEquals with a TTL), fencing token (kvIncr) and
 * per-run claims (kvSet ifAbsent) are built on the key-value role: here three event systems, like
 * three processes, share one memory transport for their streams and one ioredis-mock for their
 * key-value role (each its own `RedisKeyValue`, as each process has its own transport).
 */
describe('The scheduler on the Redis key-value role over ioredis-mock', () => {
  const EVERY_MS = 200;
  const systems: EventSystem[] = [];
  let ran: string[] = [];

  async function cluster(n: number): Promise<{ schedulers: EventSystem['scheduler'][]; kv: ReturnType<typeof keyValueOver> }> {
    ran = [];
    const client = newMock();
    const prefix = uniquePrefix();
    const shared = memoryTransport();
    const kv = keyValueOver({ client, prefix });
    for (let i = 0; i < n; i++) {
      const bus = await createEventSystem({
        streams: shared,
        signals: shared,
        keyValue: i === 0 ? kv : keyValueOver({ client, prefix }),
        logger: silentLogger,
        env: {},
        outbox: false,
        taskEvents: false,
        builtins: false,
        scheduler: { tickMs: 50 },
      });
      systems.push(bus);
      bus.tasks.define('tick', { queue: 'beat' }, async (_a: unknown, ctx) => {
        ran.push(ctx.correlationId);
      });
      bus.scheduler.add({ name: 'beat', task: 'tick', everyMs: EVERY_MS });
    }
    await systems[0]!.worker({ queues: { beat: 4 } }).start();
    return { schedulers: systems.map((s) => s.scheduler), kv };
  }

  /** The run slots sent, in ms, oldest first. */
  const slots = () => ran.map((c) => Date.parse(c.slice('schedule:beat:'.length))).sort((a, b) => a - b);

  afterEach(async () => {
    for (const s of systems) await s.scheduler.stop();
    for (const s of systems.splice(0)) await s.close();
  });

  it('three schedulers: one leader, each run sent once, no run skipped', async () => {
    const { schedulers } = await cluster(3);
    await Promise.all(schedulers.map((s) => s.start()));
    await waitUntil(() => ran.length >= 5, 15_000, 'five scheduled runs');
    expect(schedulers.filter((s) => s.isLeader)).toHaveLength(1);
    await Promise.all(schedulers.map((s) => s.stop()));
    await waitUntil(() => slots().length === ran.length, 5000, 'runs parsed');
    expect(new Set(ran).size).toBe(ran.length);
    const got = slots();
    expect(got.map((t, i) => (i === 0 ? EVERY_MS : t - got[i - 1]!))).toEqual(got.map(() => EVERY_MS));
  }, 30_000);

  it('a leader that dies holding its lock: another takes over after the TTL with a new fence and sends the missed runs once', async () => {
    const { schedulers, kv } = await cluster(2);
    const [first, second] = schedulers as [EventSystem['scheduler'], EventSystem['scheduler']];
    await first.start();
    await waitUntil(() => first.isLeader && ran.length >= 2, 15_000, 'the first leader sending');
    await second.start();
    expect(second.isLeader).toBe(false);
    first.haltForTesting(); // as SIGKILL: the lock stays until its TTL ends
    const before = ran.length;
    await waitUntil(() => second.isLeader, 15_000, 'the second scheduler taking over');
    await waitUntil(() => ran.length >= before + 3, 15_000, 'runs from the new leader');
    await second.stop();
    expect(await kv.kvGet('procur:scheduler:fence')).toBe('2');
    expect(new Set(ran).size).toBe(ran.length);
    const got = slots();
    expect(got.map((t, i) => (i === 0 ? EVERY_MS : t - got[i - 1]!))).toEqual(got.map(() => EVERY_MS));
  }, 30_000);
});
