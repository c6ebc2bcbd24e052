/**
 * The transport conformance suite on a Redis Cluster of three masters that the test starts on
 * loopback ports (`redis-server --cluster-enabled yes`, `redis-cli --cluster create`), through an
 * ioredis `Cluster` client passed in. Every key shares the `{keyPrefix}` hash tag, so every script
 * runs on one node.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import { describeTransport } from '@procur/event-bus/testing';
import { redisTransport } from '@procur/event-bus/redis';
import { REDIS_REQUIRED, freePort, probeRedis, uniquePrefix } from './fixtures/redis-helpers.js';

const hasTools =
  spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0 &&
  spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0;
if (!hasTools && !REDIS_REQUIRED) {
  console.warn('\n!!! [redis-cluster.test] redis-server / redis-cli not on PATH: the Redis Cluster suite is SKIPPED.\n');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!hasTools && !REDIS_REQUIRED)('Redis transport on a 3-master Redis Cluster', () => {
  const dir = mkdtempSync(join(tmpdir(), 'procur-cluster-'));
  const children: ChildProcess[] = [];
  const ports: number[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) {
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
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], {
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
      if (states.every(Boolean)) break;
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

  it('keeps all keys of a system in one slot', async () => {
    const client = cluster();
    const t = redisTransport({ client, keyPrefix: uniquePrefix() });
    try {
      await t.ensureGroup('s', 'g');
      await t.publish('s', [{ body: 'x', priority: 3 }, { body: 'later', delayMs: 50_000 }]);
      const slots = new Set(
        await Promise.all(
          [t.keys.main('s', 0), t.keys.main('s', 3), t.keys.retry('s', 'g', 1), t.keys.delayed('s'), t.keys.dlq('d'), t.keys.kv('k')].map((k) =>
            client.call('CLUSTER', 'KEYSLOT', k),
          ),
        ),
      );
      expect(slots.size).toBe(1);
    } finally {
      await t.close();
      await client.quit();
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
});
