/**
 * The Redis transport against a real Redis (127.0.0.1:6379, or PROCUR_TEST_REDIS_URL): the shared
 * conformance suite, then Redis-only behaviour. Each test uses its own key prefix and deletes its
 * keys afterwards. Skipped (loudly) only when Redis is unreachable and CI is not set.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { isEventBusError, type Delivery, type Transport } from '@procur/event-bus';
import { describeTransport } from '@procur/event-bus/testing';
import { redisTransport, type RedisTransport } from '@procur/event-bus/redis';
import { REDIS_REQUIRED, TEST_REDIS_URL, adminClient, deleteKeys, keysOf, probeRedis, uniquePrefix } from '../e2e/fixtures/redis-helpers.js';

const reachable = await probeRedis(TEST_REDIS_URL);

async function receiveN(t: Transport, stream: string, group: string, consumer: string, n: number, timeoutMs = 5000): Promise<Delivery[]> {
  const out: Delivery[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < n && Date.now() < deadline) {
    out.push(...(await t.receive(stream, { group, consumer, max: n - out.length, blockMs: 100 })));
  }
  return out;
}

if (!reachable) {
  if (REDIS_REQUIRED) {
    it(`Redis at ${TEST_REDIS_URL} is reachable (required because CI is set)`, () => {
      expect.fail(`Redis at ${TEST_REDIS_URL} is not reachable; the Redis transport suite cannot run.`);
    });
  } else {
    console.warn(
      `\n!!! [redis-transport.test] Redis at ${TEST_REDIS_URL} is NOT reachable: the Redis transport suite is SKIPPED.\n` +
        '!!! Start Redis (or set PROCUR_TEST_REDIS_URL). With CI set, this is a failure.\n',
    );
    it.skip('Redis transport suite (Redis unreachable)', () => {});
  }
} else {
  let admin: Redis;
  beforeAll(async () => {
    admin = adminClient();
    await admin.connect();
  });
  afterAll(async () => {
    await admin.quit();
  });

  describeTransport('redis', async () => {
    const keyPrefix = uniquePrefix();
    const transport = redisTransport({ url: TEST_REDIS_URL, keyPrefix });
    return {
      transport,
      teardown: async () => {
        await deleteKeys(admin, keyPrefix);
      },
    };
  });

  describe('Redis transport specifics', () => {
    let prefix = '';
    let transport: RedisTransport;

    beforeEach(() => {
      prefix = uniquePrefix();
      transport = redisTransport({ url: TEST_REDIS_URL, keyPrefix: prefix });
    });
    afterEach(async () => {
      await transport.close();
      await deleteKeys(admin, prefix);
    });

    it('caps a stream nobody consumes with a group, and leaves grouped streams to MINID trimming', async () => {
      const capped = redisTransport({ url: TEST_REDIS_URL, keyPrefix: prefix, ungroupedMaxLen: 100, trimIntervalMs: 0 });
      try {
        const body = 'x'.repeat(64);
        for (let i = 0; i < 5; i++) await capped.publish('lonely', Array.from({ length: 500 }, () => ({ body })));
        await capped.ensureGroup('watched', 'g');
        for (let i = 0; i < 5; i++) await capped.publish('watched', Array.from({ length: 500 }, () => ({ body })));
        await capped.trim('lonely');
        await capped.trim('watched');
        const lonely = (await capped.info('lonely')).length;
        expect(lonely).toBeGreaterThanOrEqual(100);
        expect(lonely).toBeLessThan(1000);
        // The group has not read anything yet: nothing of its backlog is dropped.
        expect((await capped.info('watched')).length).toBe(2500);
      } finally {
        await capped.close();
      }
    });

    it('keeps every key of a stream under its own {keyPrefix:stream} hash tag, in the documented layout', async () => {
      const s = 'orders:created';
      await transport.ensureGroup(s, 'billing:eu');
      await transport.publish(s, [{ body: 'a', priority: 2 }, { body: 'later', delayMs: 60_000 }]);
      const [d] = await receiveN(transport, s, 'billing:eu', 'w1', 1);
      await transport.nack(s, 'billing:eu', d!.deliveryId, { delayMs: 60_000 });
      await transport.deadLetter(s, 'billing:eu', { deliveryId: 'x', body: 'b', priority: 1 }, { dlq: 'procur:dlq', error: 'e', attempts: 1 });
      await transport.kvSet('workers:w1', 'alive');
      const keys = await keysOf(admin, prefix);
      const tag = `{${prefix}:${s}}`;
      for (const k of keys) expect([tag, `{${prefix}}:`, `${prefix}:kv:`].some((p) => k.startsWith(p)), k).toBe(true);
      expect(keys).toEqual(
        expect.arrayContaining([
          `${tag}:stream:0`,
          `${tag}:stream:1`,
          `${tag}:stream:2`,
          `${tag}:stream:3`,
          `${tag}:retry:billing%3Aeu:0`,
          `${tag}:retry:billing%3Aeu:3`,
          `${tag}:retry-due:billing%3Aeu`,
          `${tag}:delayed`,
          `${tag}:wake`,
          `${tag}:dlq:procur:dlq`,
          `{${prefix}}:dlq-streams:procur:dlq`,
          `${prefix}:kv:workers:w1`,
        ]),
      );
      expect(transport.keys.main(s, 2)).toBe(`${tag}:stream:2`);
      expect(await admin.xlen(`${tag}:stream:2`)).toBe(1);
      expect(await admin.zcard(`${tag}:delayed`)).toBe(1);
      expect(await admin.zcard(`${tag}:retry-due:billing%3Aeu`)).toBe(1);
      expect(await admin.smembers(`{${prefix}}:dlq-streams:procur:dlq`)).toEqual([s]);
    });

    it('still lists, counts and deletes dead letters written in the layout before per-stream tags', async () => {
      const legacy = `{${prefix}}:dlq:old-dlq`;
      const oldId = (await admin.xadd(legacy, '*', 'stream', 'procur:events', 'group', 'g', 'body', 'old', 'priority', '1', 'error', 'e', 'attempts', '3', 'failedAt', '1', 'context', '{}')) as string;
      await transport.ensureGroup('s-new', 'g');
      await transport.publish('s-new', [{ body: 'new' }]);
      const [d] = await receiveN(transport, 's-new', 'g', 'w1', 1);
      const newId = await transport.deadLetter('s-new', 'g', d!, { dlq: 'old-dlq', error: 'boom', attempts: 1 });
      expect(newId).toMatch(/@s-new$/);
      expect(await transport.countDeadLetters('old-dlq')).toBe(2);
      const all = await transport.listDeadLetters('old-dlq');
      expect(all.map((e) => [e.id, e.body])).toEqual([
        [oldId, 'old'],
        [newId, 'new'],
      ]);
      expect((await transport.getDeadLetter('old-dlq', oldId))?.body).toBe('old');
      expect(await transport.deleteDeadLetters('old-dlq', [oldId])).toBe(1);
      expect((await transport.listDeadLetters('old-dlq')).map((e) => e.body)).toEqual(['new']);
    });

    it('consumes an entry written by another program in the documented format', async () => {
      const s = 'events';
      await transport.ensureGroup(s, 'g');
      const envelope = JSON.stringify({ id: 'e1', type: 'vendor.created', data: {}, occurredAt: new Date().toISOString(), version: 1 });
      const id = (await admin.xadd(transport.keys.main(s, 3), '*', 'body', envelope)) as string;
      const [d] = await receiveN(transport, s, 'g', 'w1', 1);
      expect(d).toMatchObject({ body: envelope, priority: 3, attempt: 1, publishedAt: Number(id.split('-')[0]) });
    });

    it('delivers a malformed entry with its raw body (the core dead-letters it)', async () => {
      const s = 'events';
      await transport.ensureGroup(s, 'g');
      const key = transport.keys.main(s, 1);
      await admin.xadd(key, '*', 'body', 'not json {');
      await admin.xadd(key, '*', 'foo', 'bar', 'attempt', 'NaN', 'publishedAt', 'soon');
      const got = await receiveN(transport, s, 'g', 'w1', 2);
      expect(got.map((d) => d.body)).toEqual(['not json {', JSON.stringify({ foo: 'bar', attempt: 'NaN', publishedAt: 'soon' })]);
      expect(got[1]).toMatchObject({ attempt: 1, priority: 1 });
      expect(Number.isFinite(got[1]!.publishedAt)).toBe(true);
      // Handing it back and dead-lettering it keeps what was there.
      await transport.nack(s, 'g', got[1]!.deliveryId);
      const [again] = await receiveN(transport, s, 'g', 'w1', 1);
      expect(JSON.parse(again!.body)).toEqual({ foo: 'bar', attempt: 'NaN', publishedAt: 'soon' });
      expect(again!.attempt).toBe(2);
      const dlqId = await transport.deadLetter(s, 'g', got[0]!, { dlq: 'dlq', error: 'DecodeError: not JSON', attempts: 1 });
      expect(await transport.getDeadLetter('dlq', dlqId!)).toMatchObject({ body: 'not json {', error: 'DecodeError: not JSON', stream: s, group: 'g' });
    });

    it('never shows a password in an error message', async () => {
      for (const url of ['redis://:s3cret-pw@127.0.0.1:1', 'redis://admin:s3cret-pw@127.0.0.1:1/2']) {
        const t = redisTransport({ url, publishTimeoutMs: 300, operationTimeoutMs: 300, keyPrefix: prefix });
        try {
          const err = await t.publish('s', [{ body: 'x' }]).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(isEventBusError(err, 'ERR_TRANSPORT')).toBe(true);
          const text = [String(err), (err as Error).stack, inspect(err, { depth: 5 }), JSON.stringify(err)].join('\n');
          expect(text).not.toContain('s3cret-pw');
          expect((err as Error).message).toContain('127.0.0.1:1');
          expect((err as Error).message).toContain('***');
          const err2 = await t.kvGet('k').catch((e: unknown) => e);
          expect(inspect(err2, { depth: 5 })).not.toContain('s3cret-pw');
        } finally {
          await t.close();
        }
      }
    });

    it('leaves a client passed in open, and closes the connections it opened', async () => {
      const name = `procur-user-${prefix}`;
      const client = new Redis(TEST_REDIS_URL, { connectionName: name });
      try {
        const t = redisTransport({ client, keyPrefix: prefix });
        await t.ensureGroup('s', 'g');
        const blocked = t.receive('s', { group: 'g', consumer: 'c', blockMs: 5000 });
        const off = await t.listen('chan', () => {});
        await new Promise((r) => setTimeout(r, 100));
        const named = async () => String(await admin.client('LIST')).split('\n').filter((l: string) => l.includes(`name=${name} `)).length;
        expect(await named()).toBeGreaterThanOrEqual(3);
        await off();
        await t.close();
        expect(await blocked).toEqual([]);
        expect(client.status).toBe('ready');
        expect(await client.ping()).toBe('PONG');
        const deadline = Date.now() + 2000;
        while ((await named()) > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        expect(await named()).toBe(1);
      } finally {
        await client.quit();
      }
    });

    it('closes every connection it opened itself', async () => {
      const name = `procur-own-${prefix}`;
      const t = redisTransport({ url: TEST_REDIS_URL, keyPrefix: prefix, connectionName: name });
      await t.ensureGroup('s', 'g');
      const blocked = t.receive('s', { group: 'g', consumer: 'c', blockMs: 5000 });
      await t.listen('chan', () => {});
      await new Promise((r) => setTimeout(r, 100));
      const named = async () => String(await admin.client('LIST')).split('\n').filter((l: string) => l.includes(`name=${name} `)).length;
      expect(await named()).toBe(3);
      await t.close();
      expect(await blocked).toEqual([]);
      const deadline = Date.now() + 2000;
      while ((await named()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(await named()).toBe(0);
    });

    it('leaves nothing that keeps the process alive after close', async () => {
      const script = fileURLToPath(new URL('../e2e/fixtures/redis-exit-after-close.ts', import.meta.url));
      const child = spawn(process.execPath, ['--import', 'tsx', script, TEST_REDIS_URL, prefix], {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        child.once('exit', (c) => {
          clearTimeout(timer);
          resolve(c);
        });
      });
      const exitedAt = Date.now();
      expect(code).toBe(0);
      const closedAt = Number(/CLOSED (\d+)/.exec(out)?.[1]);
      expect(closedAt).toBeGreaterThan(0);
      // Exit code 0 means it exited by itself (the 15 s guard SIGKILLs, giving null): no timing assertion.
      expect(exitedAt).toBeGreaterThanOrEqual(closedAt);
    }, 20_000);

    it('reads PROCUR_EVENT_REDIS_* when neither url nor client is given', async () => {
      const saved = { ...process.env };
      const u = new URL(TEST_REDIS_URL);
      try {
        delete process.env.PROCUR_EVENT_REDIS_URL;
        process.env.PROCUR_EVENT_REDIS_HOST = u.hostname;
        process.env.PROCUR_EVENT_REDIS_PORT = u.port || '6379';
        const t = redisTransport({ keyPrefix: prefix });
        try {
          expect(await t.kvSet('k', 'v')).toBe(true);
          expect(await admin.get(`${prefix}:kv:k`)).toBe('v');
        } finally {
          await t.close();
        }
        process.env.PROCUR_EVENT_REDIS_URL = 'redis://:env-s3cret@127.0.0.1:1';
        const bad = redisTransport({ keyPrefix: prefix, operationTimeoutMs: 200 });
        try {
          const err = await bad.kvGet('k').catch((e: unknown) => e);
          expect(isEventBusError(err, 'ERR_TRANSPORT')).toBe(true);
          expect((err as Error).message).toContain('PROCUR_EVENT_REDIS_URL');
          expect(inspect(err, { depth: 5 })).not.toContain('env-s3cret');
        } finally {
          await bad.close();
        }
      } finally {
        process.env = saved;
      }
    });

    it('rejects a keyPrefix that would break the hash tag', () => {
      expect(() => redisTransport({ url: TEST_REDIS_URL, keyPrefix: 'a{b}' })).toThrow(/keyPrefix/);
      expect(() => redisTransport({ url: TEST_REDIS_URL, keyPrefix: '' })).toThrow(/keyPrefix/);
    });

    it('re-creates a group after Redis lost its data, without skipping what was published since', async () => {
      await transport.ensureGroup('s', 'g');
      await transport.publish('s', [{ body: 'before' }]);
      expect((await receiveN(transport, 's', 'g', 'c', 1)).map((d) => d.body)).toEqual(['before']);
      await deleteKeys(admin, prefix); // what a restart without persistence does
      await transport.publish('s', [{ body: 'after' }]);
      expect((await receiveN(transport, 's', 'g', 'c', 1)).map((d) => d.body)).toEqual(['after']);
      // A group this transport never created is reported, not invented.
      await expect(transport.receive('s', { group: 'unknown', consumer: 'c' })).rejects.toThrow(/ensureGroup/);
    });

    it('trims acked entries (MINID) but never what a group has not acked', async () => {
      const s = 'trim';
      await transport.ensureGroup(s, 'fast');
      await transport.ensureGroup(s, 'slow');
      await transport.publish(s, Array.from({ length: 500 }, (_, i) => ({ body: `m${i}` })));
      const fast = await receiveN(transport, s, 'fast', 'c', 500);
      await transport.ack(s, 'fast', fast.map((d) => d.deliveryId));
      // 'slow' has read nothing: nothing may go.
      expect(await transport.trim(s)).toBe(0);
      const slow = await receiveN(transport, s, 'slow', 'c', 500);
      await transport.ack(s, 'slow', slow.slice(0, 300).map((d) => d.deliveryId));
      const trimmed = await transport.trim(s);
      expect(trimmed).toBeGreaterThan(0);
      expect(trimmed).toBeLessThanOrEqual(300);
      // Every unacked delivery can still be handed back and redelivered with its body.
      await transport.nack(s, 'slow', slow[300]!.deliveryId);
      const [again] = await receiveN(transport, s, 'slow', 'c', 1);
      expect(again).toMatchObject({ body: 'm300', attempt: 2 });
      const claimed = await transport.claimStale(s, { group: 'slow', consumer: 'c2', minIdleMs: 0, max: 500 });
      expect(claimed.map((d) => d.body).sort()).toEqual(slow.slice(301).map((d) => d.body).concat('m300').sort());
    });

    it('trims a backlog of more than 10,000 acked entries in one trim() (bounded script calls)', async () => {
      const s = 'trim-big';
      await transport.ensureGroup(s, 'g');
      const n = 25_000;
      for (let i = 0; i < n; i += 5000) {
        await transport.publish(s, Array.from({ length: 5000 }, (_, j) => ({ body: `m${i + j}` })));
      }
      let acked = 0;
      while (acked < n) {
        const got = await transport.receive(s, { group: 'g', consumer: 'c', max: 1000, blockMs: 100 });
        await transport.ack(s, 'g', got.map((d) => d.deliveryId));
        acked += got.length;
      }
      // XTRIM ~ without LIMIT stops at 10,000 entries a call; trim() repeats its bounded calls.
      const trimmed = await transport.trim(s);
      expect(trimmed).toBeGreaterThan(20_000);
      expect(trimmed).toBeLessThanOrEqual(n);
      expect(await transport.trim(s)).toBeLessThan(1000);
    });

    it('publishes a large batch in order with one call', async () => {
      await transport.ensureGroup('big', 'g');
      const n = 2500;
      const ids = await transport.publish('big', Array.from({ length: n }, (_, i) => ({ body: `m${i}` })));
      expect(ids).toHaveLength(n);
      const got = await receiveN(transport, 'big', 'g', 'c', n);
      expect(got.map((d) => d.body)).toEqual(Array.from({ length: n }, (_, i) => `m${i}`));
    });
  });
}
