/**
 * Several consumer processes share 10,000 messages over the real Redis: each is handled exactly
 * once within a group when nobody dies, a second group gets all of them, and when a consumer is
 * killed with SIGKILL mid-batch the survivors claim its pending deliveries after `claimIdleMs`, so
 * none is lost. Transport level (the processes use `redisTransport` directly); the same with the
 * real core consumer in each process is `redis-bus-multiprocess.test.ts`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { redisTransport, type RedisTransport } from '@procur/event-bus/redis';
import { REDIS_REQUIRED, TEST_REDIS_URL, adminClient, deleteKeys, probeRedis, uniquePrefix } from './fixtures/redis-helpers.js';

const reachable = await probeRedis(TEST_REDIS_URL);
if (!reachable && !REDIS_REQUIRED) {
  console.warn(`\n!!! [redis-multiprocess.test] Redis at ${TEST_REDIS_URL} is NOT reachable: the multi-process tests are SKIPPED.\n`);
}

const CONSUMER = fileURLToPath(new URL('./fixtures/redis-consumer.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TOTAL = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ConsumerProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly handled: string[];
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
}

function startConsumer(prefix: string, stream: string, group: string, name: string, claimIdleMs: number, handleMs: number): ConsumerProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CONSUMER, TEST_REDIS_URL, prefix, stream, group, name, String(claimIdleMs), String(handleMs)],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const handled: string[] = [];
  let buffer = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line === 'READY') onReady();
      else if (line.startsWith('H ')) handled.push(line.slice(2));
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => process.stderr.write(`[${name}] ${chunk}`));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { name, child, handled, ready, exited };
}

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await sleep(50);
  return check();
}

describe.skipIf(!reachable && !REDIS_REQUIRED)('Redis transport with several consumer processes', () => {
  let admin: Redis;
  let prefix = '';
  let producer: RedisTransport | undefined;
  let processes: ConsumerProcess[] = [];

  beforeAll(async () => {
    admin = adminClient();
    await admin.connect();
  });
  afterAll(async () => {
    await admin.quit();
  });
  afterEach(async () => {
    for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
    await Promise.race([Promise.all(processes.map((p) => p.exited)), sleep(5000)]);
    for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    processes = [];
    await producer?.close();
    producer = undefined;
    await deleteKeys(admin, prefix);
  });

  async function publishAll(stream: string): Promise<string[]> {
    const bodies = Array.from({ length: TOTAL }, (_, i) => `m${i}`);
    for (let i = 0; i < TOTAL; i += 1000) {
      await producer!.publish(stream, bodies.slice(i, i + 1000).map((body, j) => ({ body, priority: (i + j) % 4 })));
    }
    return bodies;
  }

  it('three processes in one group share 10,000 messages exactly once; a second group gets all', async () => {
    prefix = uniquePrefix();
    producer = redisTransport({ url: TEST_REDIS_URL, keyPrefix: prefix });
    const stream = 'procur:events';
    await producer.ensureGroup(stream, 'workers');
    await producer.ensureGroup(stream, 'audit');
    processes = [
      startConsumer(prefix, stream, 'workers', 'w1', 30_000, 0),
      startConsumer(prefix, stream, 'workers', 'w2', 30_000, 0),
      startConsumer(prefix, stream, 'workers', 'w3', 30_000, 0),
      startConsumer(prefix, stream, 'audit', 'a1', 30_000, 0),
    ];
    await Promise.all(processes.map((p) => p.ready));
    const bodies = await publishAll(stream);
    const workers = processes.slice(0, 3);
    const audit = processes[3]!;
    const count = () => workers.reduce((n, p) => n + p.handled.length, 0);
    await until(() => count() >= TOTAL && audit.handled.length >= TOTAL, 30_000);
    await sleep(300); // anything extra (a duplicate) would show up now
    const all = workers.flatMap((p) => p.handled);
    expect(all).toHaveLength(TOTAL);
    expect(new Set(all)).toEqual(new Set(bodies));
    for (const p of workers) expect(p.handled.length).toBeGreaterThan(0);
    expect(new Set(audit.handled)).toEqual(new Set(bodies));
    expect(audit.handled).toHaveLength(TOTAL);
    const info = await producer.info(stream);
    for (const g of info.groups) expect(g).toMatchObject({ pending: 0, lag: 0 });
  }, 60_000);

  it('a consumer killed with SIGKILL mid-batch loses nothing: survivors claim its deliveries', async () => {
    prefix = uniquePrefix();
    producer = redisTransport({ url: TEST_REDIS_URL, keyPrefix: prefix });
    const stream = 'procur:tasks:contracts';
    const claimIdleMs = 1000;
    await producer.ensureGroup(stream, 'workers');
    processes = [
      startConsumer(prefix, stream, 'workers', 'victim', claimIdleMs, 1),
      startConsumer(prefix, stream, 'workers', 's1', claimIdleMs, 1),
      startConsumer(prefix, stream, 'workers', 's2', claimIdleMs, 1),
    ];
    await Promise.all(processes.map((p) => p.ready));
    const bodies = await publishAll(stream);
    const [victim] = processes as [ConsumerProcess];
    expect(await until(() => victim.handled.length >= 300, 20_000)).toBe(true);
    // It prints a batch once handled; 40 ms later it is in the middle of the next one (~1 ms each).
    await sleep(40);
    victim.child.kill('SIGKILL');
    await victim.exited;
    // It died holding deliveries it had not acked.
    const summary = (await producer.info(stream)).groups.find((g) => g.name === 'workers')!;
    expect(summary.pending).toBeGreaterThan(0);

    const handledSet = () => new Set(processes.flatMap((p) => p.handled));
    expect(await until(() => handledSet().size >= TOTAL, 40_000)).toBe(true);
    expect(handledSet()).toEqual(new Set(bodies));
    // At-least-once: only what the victim handled but never acked may run twice (one batch at most).
    const all = processes.flatMap((p) => p.handled);
    expect(all.length - TOTAL).toBeLessThanOrEqual(100);
    const after = (await producer.info(stream)).groups.find((g) => g.name === 'workers')!;
    expect(after).toMatchObject({ pending: 0, lag: 0 });
  }, 60_000);
});
