/**
 * Task queues across processes on the real Redis: exactly-once over three workers, a worker
 * killed with SIGKILL mid-task, and three schedulers firing each run once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { EventSystem } from '../../src/index.js';
import { sleep } from '../../src/adapter-kit.js';
import { TEST_REDIS_URL, adminClient, deleteKeys, redisBus, uniquePrefix, whenRedis } from './fixtures/redis-helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/task-process.ts', import.meta.url));

function start(prefix: string, role: 'worker' | 'beat', concurrency = 10): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: { ...process.env, REDIS_URL: TEST_REDIS_URL, KEY_PREFIX: prefix, ROLE: role, CONCURRENCY: String(concurrency) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${role} process did not start`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', (code) => reject(new Error(`${role} exited early with ${code}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

await whenRedis('redis-tasks-multiprocess', () => {
  describe('task queues across processes on Redis', () => {
    let admin: Redis;
    let prefix: string;
    let producer: EventSystem;
    const children: ChildProcess[] = [];

    beforeAll(async () => {
      admin = adminClient();
      await admin.connect();
    });
    afterAll(async () => {
      await admin.quit();
    });
    afterEach(async () => {
      await Promise.all(children.splice(0).map(stop));
      await producer?.close();
      await deleteKeys(admin, prefix);
      await admin.del(`${prefix}:exec`, `${prefix}:started`, `${prefix}:ticks`);
    });

    async function makeProducer(): Promise<EventSystem> {
      prefix = uniquePrefix();
      producer = await redisBus(prefix, { taskEvents: false, builtins: false, config: { eventSourcingEnabled: false } });
      return producer;
    }

    it('5,000 tasks across three worker processes all complete exactly once', async () => {
      const bus = await makeProducer();
      children.push(...(await Promise.all([start(prefix, 'worker'), start(prefix, 'worker'), start(prefix, 'worker')])));
      const results = [];
      for (let i = 0; i < 5000; i += 500) {
        results.push(...(await bus.tasks.sendMany('count', Array.from({ length: 500 }, (_, k) => i + k), { queue: 'work' })));
      }
      const pids = await Promise.all(results.map((r) => r.get({ timeoutMs: 60_000 })));
      const executed = (await admin.lrange(`${prefix}:exec`, 0, -1)).map(Number);
      expect(executed).toHaveLength(5000);
      expect(new Set(executed).size).toBe(5000);
      const perWorker = new Map<unknown, number>();
      for (const p of pids) perWorker.set(p, (perWorker.get(p) ?? 0) + 1);
      expect(perWorker.size).toBe(3);
    }, 120_000);

    it('a worker killed with SIGKILL mid-task: the task completes on another worker', async () => {
      const bus = await makeProducer();
      const victim = await start(prefix, 'worker', 1);
      children.push(victim);
      const r = await bus.tasks.send('slow', 'job-1', { queue: 'work' });
      for (let i = 0; i < 200 && (await admin.llen(`${prefix}:started`)) === 0; i++) await sleep(25);
      expect(await admin.lrange(`${prefix}:started`, 0, -1)).toEqual([`job-1:${victim.pid}`]);
      victim.kill('SIGKILL');
      const survivor = await start(prefix, 'worker', 1);
      children.push(survivor);
      const ranOn = await r.get({ timeoutMs: 30_000 });
      expect(ranOn).toBe(survivor.pid);
      expect(await admin.lrange(`${prefix}:exec`, 0, -1)).toEqual(['job-1']);
      // Its registry entry stays until it expires, but with no heartbeat it is seen as gone.
      const victimEntry = async () => (await bus.inspect.workers()).find((w) => w.pid === victim.pid);
      expect(await victimEntry()).toBeDefined();
      for (let i = 0; i < 40 && (await victimEntry())?.online; i++) await sleep(50);
      expect((await victimEntry())?.online).toBe(false);
      expect((await bus.inspect.workers()).find((w) => w.pid === survivor.pid)?.online).toBe(true);
    }, 60_000);

    it('three scheduler processes: an every-second schedule fires once per second in total', async () => {
      await makeProducer();
      children.push(await start(prefix, 'worker', 2));
      const beats = await Promise.all([start(prefix, 'beat'), start(prefix, 'beat'), start(prefix, 'beat')]);
      children.push(...beats);
      const t0 = Date.now();
      await sleep(4500);
      await Promise.all(beats.map(stop));
      const seconds = (Date.now() - t0) / 1000;
      await sleep(500);
      const ticks = await admin.lrange(`${prefix}:ticks`, 0, -1);
      expect(new Set(ticks).size).toBe(ticks.length);
      // Once per second in total: every slot from the first run to the last, each once (counted
      // from the runs' own slots, so a slow start of the processes does not skew it).
      const slots = ticks.map((c) => Date.parse(c.slice('schedule:every-second:'.length))).sort((a, b) => a - b);
      expect(slots.map((t, i) => (i === 0 ? 1000 : t - (slots[i - 1] as number)))).toEqual(slots.map(() => 1000));
      expect(ticks.length).toBeGreaterThanOrEqual(Math.floor(seconds) - 1);
    }, 60_000);
  });
});
