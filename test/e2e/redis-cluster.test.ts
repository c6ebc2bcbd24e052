/**
 * The transport on a Redis Cluster of three masters with a replica each, started by the test on
 * loopback ports (`redis-server --cluster-enabled yes`, `redis-cli --cluster create
 * --cluster-replicas 1`): task queues and the partitions of one stream land on every master
 * (`CLUSTER KEYSLOT` / `CLUSTER NODES`), and the conformance suites pass through an ioredis
 * `Cluster` passed in and through a cluster URL list, with and without partitions.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { partitionName, partitionTransport } from '@procur/event-bus';
import { describePartitions, describeTransport } from '@procur/event-bus/testing';
import { redisTransport } from '@procur/event-bus/redis';
import { REDIS_REQUIRED, freePort, probeRedis, uniquePrefix } from './fixtures/redis-helpers.js';

const NODES = 6; // 3 masters, a replica each

const hasTools =
  spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0 &&
  spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0;
if (!hasTools && !REDIS_REQUIRED) {
  console.warn('\n!!! [redis-cluster.test] redis-server / redis-cli not on PATH: the Redis Cluster suite is SKIPPED.\n');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!hasTools && !REDIS_REQUIRED)('Redis transport on a 3-master Redis Cluster with replicas', () => {
  const dir = mkdtempSync(join(tmpdir(), 'procur-cluster-'));
  const children: ChildProcess[] = [];
  const ports: number[] = [];

  beforeAll(async () => {
    for (let i = 0; i < NODES; i++) {
      const port = await freePort();
      const bus = await freePort();
      ports.push(port);
      children.push(
        spawn(
          'redis-server',
          [
            '--port', String(port),
            '--bind', '127.0.0.1',
            '--cluster-enabled', 'yes',
            '--cluster-port', String(bus),
            '--cluster-config-file', `nodes-${port}.conf`,
            '--dir', dir,
            '--save', '',
            '--appendonly', 'no',
          ],
          { stdio: 'ignore' },
        ),
      );
    }
    for (const port of ports) {
      const deadline = Date.now() + 10_000;
      while (!(await probeRedis(`redis://127.0.0.1:${port}`))) {
        if (Date.now() > deadline) throw new Error(`cluster node on port ${port} did not start`);
        await sleep(50);
      }
    }
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}\n${create.stderr}`);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const states = await Promise.all(
        ports.map(async (port) => {
          const c = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
          c.on('error', () => {});
          try {
            await c.connect();
            return String(await c.call('CLUSTER', 'INFO')).includes('cluster_state:ok');
          } catch {
            return false;
          } finally {
            c.disconnect();
          }
        }),
      );
      if (states.every(Boolean)) {
        const c = new Redis(ports[0]!, '127.0.0.1', { lazyConnect: true });
        await c.connect();
        const masters = String(await c.call('CLUSTER', 'NODES')).split('\n').filter((l) => l.includes('master') && !l.includes('fail'));
        c.disconnect();
        if (masters.length === 3) break;
      }
      if (Date.now() > deadline) throw new Error('the test cluster did not reach cluster_state:ok');
      await sleep(100);
    }
  }, 45_000);

  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
    rmSync(dir, { recursive: true, force: true });
  });

  const cluster = () => new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })), { lazyConnect: true });

  /** Which master (`host:port`) serves each slot range, from CLUSTER NODES. */
  async function masterOfSlot(): Promise<(slot: number) => string> {
    const c = new Redis(ports[0]!, '127.0.0.1', { lazyConnect: true });
    await c.connect();
    try {
      const ranges: [number, number, string][] = [];
      for (const line of String(await c.call('CLUSTER', 'NODES')).split('\n')) {
        const f = line.split(' ');
        if (!f[2]?.includes('master')) continue;
        for (const r of f.slice(8)) {
          const [lo, hi] = r.split('-').map(Number);
          ranges.push([lo!, hi ?? lo!, f[1]!.split('@')[0]!]);
        }
      }
      return (slot) => ranges.find(([lo, hi]) => slot >= lo && slot <= hi)?.[2] ?? '?';
    } finally {
      c.disconnect();
    }
  }

  const urlList = () => ports.map((p) => `redis://127.0.0.1:${p}`).join(',');

  it('keeps each stream in one slot and spreads 8 task queues and 6 partitions over all 3 masters', async () => {
    const client = cluster();
    const t = redisTransport({ client, keyPrefix: uniquePrefix() });
    try {
      await t.ensureGroup('s', 'g');
      await t.publish('s', [{ body: 'x', priority: 3 }, { body: 'later', delayMs: 50_000 }]);
      const slotOf = async (k: string) => Number(await client.call('CLUSTER', 'KEYSLOT', k));
      const slots = new Set(await Promise.all([t.keys.main('s', 0), t.keys.main('s', 3), t.keys.retry('s', 'g', 1), t.keys.delayed('s'), t.keys.wake('s'), t.keys.dlq('s', 'd')].map(slotOf)));
      expect(slots.size).toBe(1);
      const master = await masterOfSlot();
      const queues = await Promise.all(Array.from({ length: 8 }, (_, i) => slotOf(t.keys.main(`procur:tasks:q${i}`, 1))));
      expect(new Set(queues.map(master)).size).toBe(3);
      const partitions = await Promise.all(Array.from({ length: 6 }, (_, i) => slotOf(t.keys.main(partitionName('procur:events', i), 1))));
      expect(new Set(partitions).size).toBe(6);
      expect(new Set(partitions.map(master)).size).toBe(3);
      // Key-value entries carry no tag: task results spread too.
      const kv = await Promise.all(Array.from({ length: 12 }, (_, i) => slotOf(t.keys.kv(`procur:task:${i}`))));
      expect(new Set(kv.map(master)).size).toBe(3);
    } finally {
      await t.close();
      await client.quit();
    }
  });

  it('reaches the cluster through a URL list (url and PROCUR_EVENT_REDIS_URL) and spreads key-value over every master', async () => {
    const t = redisTransport({ url: urlList(), keyPrefix: uniquePrefix() });
    try {
      const entries = Array.from({ length: 30 }, (_, i) => ({ key: `r:${i}`, value: String(i) }));
      await t.kvSetMany(entries);
      const found = await t.kvScan('r:');
      expect(found.map((e) => e.value).sort()).toEqual(entries.map((e) => e.value).sort());
      await t.ensureGroup('s', 'g');
      await t.publish('s', [{ body: 'hello' }]);
      const [d] = await t.receive('s', { group: 'g', consumer: 'c', blockMs: 2000 });
      expect(d?.body).toBe('hello');
    } finally {
      await t.close();
    }
  });

  describeTransport('redis-cluster', async () => {
    const client = cluster();
    const transport = redisTransport({ client, keyPrefix: uniquePrefix() });
    return {
      transport,
      teardown: async () => {
        await client.quit();
      },
    };
  });

  describeTransport('redis-cluster, URL list, 6 partitions per stream', () => ({
    transport: partitionTransport(redisTransport({ url: urlList(), keyPrefix: uniquePrefix() }), { partitions: 6 }),
  }));

  describePartitions('redis-cluster', () => {
    const inner = redisTransport({ url: urlList(), keyPrefix: uniquePrefix() });
    return { inner, transport: partitionTransport(inner, { partitions: 6 }), partitions: 6 };
  });
});
