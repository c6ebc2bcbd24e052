/**
 * `procur-bus pause <queue>` / `resume <queue>` against the real Redis, connecting by URL: the
 * flag every process sees (`bus.tasks.isPaused` here), idempotent answers, `--json`, an unknown
 * queue refused (exit 1) unless `--force`, a malformed name as bad usage (exit 2), and a worker
 * that stops taking tasks while the queue is paused from the CLI.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { EventSystem } from '../../src/index.js';
import { sleep } from '../../src/adapter-kit.js';
import { cli } from './fixtures/cli.js';
import { TEST_REDIS_URL, adminClient, deleteKeys, redisBus, uniquePrefix, whenRedis } from './fixtures/redis-helpers.js';

await whenRedis('cli-pause', () => {
  describe('procur-bus pause / resume on Redis', () => {
    let admin: Redis;
    let prefix: string;
    let bus: EventSystem | undefined;

    beforeAll(async () => {
      admin = adminClient();
      await admin.connect();
    });
    afterAll(async () => {
      await admin.quit();
    });
    afterEach(async () => {
      await bus?.close();
      bus = undefined;
      await deleteKeys(admin, prefix);
    });

    const run = (...args: string[]) => cli([...args, '--redis-url', TEST_REDIS_URL, '--redis-key-prefix', prefix]);

    it('pauses and resumes a queue for every process, with idempotent answers and --json', async () => {
      prefix = uniquePrefix();
      bus = await redisBus(prefix, { taskEvents: false, builtins: false, config: { eventSourcingEnabled: false, eventBlockTime: 200, workerHeartbeatMs: 200 } });
      const ran: number[] = [];
      const job = bus.tasks.define('cli_job', { queue: 'contracts' }, async (n: number) => {
        ran.push(n);
        return n;
      });
      await bus.worker({ queues: { contracts: 1 } }).start();
      expect(await (await job.delay(1)).get({ timeoutMs: 20_000 })).toBe(1);

      const paused = run('pause', 'contracts');
      expect(paused.code, paused.stderr).toBe(0);
      expect(paused.stdout).toMatch(/paused queue 'contracts': workers finish the tasks they run and start no new ones/);
      expect(await bus.tasks.isPaused('contracts')).toBe(true);
      const again = run('pause', 'contracts', '--json');
      expect(again.code, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout)).toEqual({ queue: 'contracts', paused: true, changed: false });

      const inspect = run('inspect', 'queues');
      expect(inspect.stdout).toMatch(/contracts\s+PAUSED/);

      const waiting = await job.delay(2);
      await sleep(1000);
      expect(ran).toEqual([1]);

      const resumed = run('resume', 'contracts', '--json');
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(JSON.parse(resumed.stdout)).toEqual({ queue: 'contracts', paused: false, changed: true });
      expect(await bus.tasks.isPaused('contracts')).toBe(false);
      expect(await waiting.get({ timeoutMs: 20_000 })).toBe(2);
      const twice = run('resume', 'contracts');
      expect(twice.code, twice.stderr).toBe(0);
      expect(twice.stdout).toMatch(/queue 'contracts' was not paused/);
    });

    it('refuses an unknown queue unless --force, and a malformed name as bad usage', async () => {
      prefix = uniquePrefix();
      bus = await redisBus(prefix, { taskEvents: false, builtins: false, config: { eventSourcingEnabled: false } });
      bus.tasks.define('known_job', { queue: 'known' }, async () => 1);
      await bus.worker({ queues: { known: 1 } }).start();

      const unknown = run('pause', 'contrcts');
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/no queue 'contrcts' is known.*\(known: known\).*--force/);
      expect(await bus.tasks.isPaused('contrcts')).toBe(false);

      const forced = run('pause', 'later-queue', '--force', '--json');
      expect(forced.code, forced.stderr).toBe(0);
      expect(JSON.parse(forced.stdout)).toEqual({ queue: 'later-queue', paused: true, changed: true });
      expect(await bus.tasks.isPaused('later-queue')).toBe(true);
      // Known now through its pause flag: resuming needs no --force.
      expect(run('resume', 'later-queue').code).toBe(0);

      const resumeUnknown = run('resume', 'nothing-here');
      expect(resumeUnknown.code).toBe(1);
      expect(resumeUnknown.stderr).toMatch(/no queue 'nothing-here' is known/);

      const malformed = run('pause', 'has space');
      expect(malformed.code).toBe(2);
      expect(malformed.stderr).toMatch(/queue name must be 1-200 letters/);

      const missing = run('pause');
      expect(missing.code).toBe(2);
    });
  });
});
