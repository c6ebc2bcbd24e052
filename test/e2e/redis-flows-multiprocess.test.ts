/**
 * Flows across processes on the real Redis: the sender exits right after sending, a worker is
 * killed with SIGKILL mid-step, and the flow still completes with every step finished once and
 * a chord's callback run once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { EventSystem } from '../../src/index.js';
import { sleep } from '../../src/adapter-kit.js';
import { TEST_REDIS_URL, adminClient, deleteKeys, redisBus, uniquePrefix, whenRedis } from './fixtures/redis-helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/flow-process.ts', import.meta.url));

function spawnRole(prefix: string, role: string, concurrency = 1): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: { ...process.env, REDIS_URL: TEST_REDIS_URL, KEY_PREFIX: prefix, ROLE: role, CONCURRENCY: String(concurrency) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

function startWorker(prefix: string, concurrency = 1): Promise<ChildProcess> {
  const child = spawnRole(prefix, 'worker', concurrency);
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

/** Runs a sender process to its exit; resolves with the flow id it printed. */
function send(prefix: string, role: 'send-chain' | 'send-chord'): Promise<string> {
  const child = spawnRole(prefix, role);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('sender did not exit')), 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const id = /flow:(\S+)/.exec(out)?.[1];
      if (code === 0 && id) resolve(id);
      else reject(new Error(`sender exited with ${code}, printed ${JSON.stringify(out)}`));
    });
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

await whenRedis('redis-flows-multiprocess', () => {
  describe('flows across processes on Redis', () => {
    let admin: Redis;
    let prefix: string;
    let observer: EventSystem | undefined;
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
      await observer?.close();
      observer = undefined;
      await deleteKeys(admin, prefix);
      await admin.del(`${prefix}:exec`, `${prefix}:started`);
    });

    async function setUp(): Promise<EventSystem> {
      prefix = uniquePrefix();
      observer = await redisBus(prefix, { taskEvents: false, builtins: false, config: { eventSourcingEnabled: false } });
      return observer;
    }

    async function waitForStart(victim: ChildProcess): Promise<void> {
      for (let i = 0; i < 400; i++) {
        if ((await admin.lrange(`${prefix}:started`, 0, -1)).some((s) => s.endsWith(`:${victim.pid}`))) return;
        await sleep(25);
      }
      throw new Error('the victim never started the slow step');
    }

    it('a chain goes on after its sender exits and a worker is SIGKILLed mid-step; each step finishes once', async () => {
      const bus = await setUp();
      const victim = await startWorker(prefix, 1);
      children.push(victim);
      const flowId = await send(prefix, 'send-chain');
      // The victim finishes s0, then is killed in the middle of s1 (a 2 s step).
      await waitForStart(victim);
      expect(await admin.lrange(`${prefix}:started`, 0, -1)).toEqual([`s1:${victim.pid}`]);
      victim.kill('SIGKILL');
      const survivor = await startWorker(prefix, 1);
      children.push(survivor);
      const flow = bus.tasks.flow<string>(flowId);
      expect(await flow.get({ timeoutMs: 60_000 })).toBe('start>s0>s1>s2');
      await sleep(500);
      expect(await admin.lrange(`${prefix}:exec`, 0, -1)).toEqual(['s0', 's1', 's2']);
      expect(await admin.lrange(`${prefix}:started`, 0, -1)).toEqual([`s1:${victim.pid}`, `s1:${survivor.pid}`]);
      expect((await flow.steps()).map((s) => s.state)).toEqual(['SUCCESS', 'SUCCESS', 'SUCCESS']);
    }, 120_000);

    it('a chord whose member worker is SIGKILLed still runs its callback once, with every result', async () => {
      const bus = await setUp();
      const victim = await startWorker(prefix, 1);
      const survivor = await startWorker(prefix, 2);
      children.push(victim, survivor);
      const flowId = await send(prefix, 'send-chord');
      await waitForStart(victim);
      victim.kill('SIGKILL');
      const flow = bus.tasks.flow<string>(flowId, 'chord');
      expect(await flow.get({ timeoutMs: 60_000 })).toBe('start>m0|start>m1|start>m2|start>m3');
      await sleep(500);
      const exec = await admin.lrange(`${prefix}:exec`, 0, -1);
      expect(exec.filter((e) => e === 'join')).toHaveLength(1);
      expect(exec.filter((e) => e !== 'join').sort()).toEqual(['m0', 'm1', 'm2', 'm3']);
    }, 120_000);
  });
});
