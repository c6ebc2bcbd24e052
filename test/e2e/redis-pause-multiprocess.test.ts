/**
 * Pause and resume across processes on the real Redis: a pause made in this process stops the
 * worker processes (the running task finishes, nothing new starts, a worker started while the
 * queue is paused stays idle), a resume restarts them; progress and logs written by a worker
 * process are read here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { EventSystem } from '../../src/index.js';
import { sleep } from '../../src/adapter-kit.js';
import { waitUntil } from '../../src/testing/helpers.js';
import { TEST_REDIS_URL, adminClient, deleteKeys, redisBus, uniquePrefix, whenRedis } from './fixtures/redis-helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/task-process.ts', import.meta.url));

function start(prefix: string, concurrency = 2): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: { ...process.env, REDIS_URL: TEST_REDIS_URL, KEY_PREFIX: prefix, ROLE: 'worker', CONCURRENCY: String(concurrency) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('worker process did not start')), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', (code) => reject(new Error(`worker exited early with ${code}`)));
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

await whenRedis('redis-pause-multiprocess', () => {
  describe('pause, resume and progress across processes on Redis', () => {
    let admin: Redis;
    let prefix: string;
    let producer: EventSystem | undefined;
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
      await admin.del(`${prefix}:exec`, `${prefix}:started`);
    });

    async function makeProducer(): Promise<EventSystem> {
      prefix = uniquePrefix();
      producer = await redisBus(prefix, { taskEvents: false, builtins: false, config: { eventSourcingEnabled: false } });
      return producer;
    }

    it('a pause made here stops the worker processes; a worker started while paused stays idle; resume runs the backlog', async () => {
      const bus = await makeProducer();
      children.push(await start(prefix));
      const slow = await bus.tasks.send('slow', 'A', { queue: 'work' });
      await waitUntil(async () => (await admin.lrange(`${prefix}:started`, 0, -1)).length === 1, 30_000, 'the slow task started');
      expect(await bus.tasks.pause('work')).toBe(true);
      const counts = await bus.tasks.sendMany('count', [1, 2, 3, 4, 5], { queue: 'work' });
      // The running task finishes in the worker process...
      await slow.get({ timeoutMs: 30_000 });
      // ...and a second worker process started now takes nothing either.
      children.push(await start(prefix));
      await sleep(1500);
      expect(await admin.lrange(`${prefix}:exec`, 0, -1)).toEqual(['A']);
      expect(await Promise.all(counts.map((r) => r.status()))).toEqual(['PENDING', 'PENDING', 'PENDING', 'PENDING', 'PENDING']);
      expect(await bus.tasks.resume('work')).toBe(true);
      await Promise.all(counts.map((r) => r.get({ timeoutMs: 30_000 })));
      expect((await admin.lrange(`${prefix}:exec`, 0, -1)).sort()).toEqual(['1', '2', '3', '4', '5', 'A']);
    });

    it('progress and logs written by a worker process are read here', async () => {
      const bus = await makeProducer();
      const updates: unknown[] = [];
      await bus.tasks.watchProgress((u) => updates.push(u.progress));
      children.push(await start(prefix));
      const r = await bus.tasks.send('report', 3, { queue: 'work' });
      const pid = await r.get({ timeoutMs: 30_000 });
      expect(await r.progress()).toEqual({ done: 3, total: 3 });
      expect((await r.logs()).map((l) => l.message)).toEqual([1, 2, 3].map((i) => `step ${i} of 3 in ${pid}`));
      await waitUntil(() => updates.some((p) => JSON.stringify(p) === '{"done":3,"total":3}'), 10_000, 'the live progress update');
    });
  });
});
