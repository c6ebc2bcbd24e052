/**
 * The conformance suite of the task features: progress and logs, deduplication, pausing and
 * resuming a queue, expiry. `describeTaskQueue` runs it for every transport; each case that
 * crosses processes does it with a second event system on the same transport.
 *
 * @module
 */
import { afterEach, describe, expect, test } from 'vitest';
import {
  EventValidationError,
  TASK_LOG_MAX_CHARS,
  TASK_LOG_MAX_LINES,
  TaskExpiredError,
  createEventSystem,
  isEventBusError,
  memoryStore,
  silentLogger,
  type EventSystem,
  type TaskProgressUpdate,
  type Transport,
} from '@procur/event-bus';
import { sleep } from '@procur/event-bus/adapter-kit';
import { waitUntil } from './helpers.js';
import { uniqueName } from './transport-suite.js';
import type { TaskTransportFactory } from './task-suite.js';

/** A progress shape declared as an interface (no index signature). */
interface Step {
  done: number;
  total: number;
}

/** A promise with its resolver, to hold a task handler until the test lets it go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/**
 * Runs the task features conformance suite (progress, logs, dedupe, pause/resume, expiry)
 * against a transport. Called by {@link describeTaskQueue}; exported for adapters that run it
 * alone.
 *
 * @example
 * ```ts
 * describeTaskFeatures('memory', () => ({ transport: memoryTransport() }));
 * ```
 */
export function describeTaskFeatures(name: string, factory: TaskTransportFactory): void {
  describe(`task features conformance: ${name}`, () => {
    const systems: EventSystem[] = [];
    const teardowns: (() => Promise<void>)[] = [];
    let transport: Transport;
    let namespace: string;

    /** An event system on the test's transport; every call after the first is "another process". */
    async function system(): Promise<EventSystem> {
      if (systems.length === 0) {
        const made = await factory();
        transport = made.transport;
        if (made.teardown) teardowns.push(made.teardown);
        namespace = uniqueName('tf');
      }
      const bus = await createEventSystem({
        transport,
        store: memoryStore(),
        logger: silentLogger,
        env: {},
        outbox: false,
        taskEvents: false,
        builtins: false,
        config: { namespace, retryBackoffMs: 20, retryBackoffMaxMs: 200, eventBlockTime: 100, claimIdleMs: 5000, workerHeartbeatMs: 100 },
      });
      systems.push(bus);
      return bus;
    }

    afterEach(async () => {
      for (const bus of systems.splice(0)) await bus.close().catch(() => {});
      for (const t of teardowns.splice(0)) await t().catch(() => {});
    });

    // --- progress and logs -----------------------------------------------------------------------

    test('progress and logs are read from another system while the task runs, and after it finished', async () => {
      const a = await system();
      const b = await system();
      const hold = gate();
      const job = a.tasks.define('import_rows', { queue: 'imports' }, async (_args: null, ctx) => {
        await ctx.progress(25);
        void ctx.log('read the header');
        await ctx.log('checked 2 rows');
        const step: Step = { done: 2, total: 4 }; // an interface type is accepted too
        await ctx.progress(step);
        await hold.promise;
        void ctx.progress(100);
        void ctx.log('done');
        return 'ok';
      });
      const updates: TaskProgressUpdate[] = [];
      const off = await b.tasks.watchProgress((u) => updates.push(u));
      await a.worker({ queues: { imports: 1 } }).start();
      const sent = await job.delay(null);
      const seen = b.tasks.result(sent.id);
      await waitUntil(async () => JSON.stringify(await seen.progress()) === '{"done":2,"total":4}', 10_000, 'progress seen from the other system');
      expect((await seen.logs()).map((l) => l.message)).toEqual(['read the header', 'checked 2 rows']);
      expect((await seen.logs())[0]).toMatchObject({ attempt: 1 });
      hold.open();
      expect(await sent.get({ timeoutMs: 10_000 })).toBe('ok');
      // Written before the outcome: a reader after get() sees the last report.
      expect(await seen.progress()).toBe(100);
      expect((await seen.logs()).map((l) => l.message)).toEqual(['read the header', 'checked 2 rows', 'done']);
      await waitUntil(() => updates.some((u) => u.progress === 100), 10_000, 'the live update of the last progress');
      expect(updates.every((u) => u.id === sent.id && u.name === 'import_rows' && u.queue === 'imports')).toBe(true);
      expect(updates.flatMap((u) => u.logs ?? []).map((l) => l.message)).toEqual(['read the header', 'checked 2 rows', 'done']);
      await off();
      // A task that reported nothing.
      const quiet = a.tasks.define('quiet', { queue: 'imports' }, async () => 1);
      const q = await quiet.delay(null);
      await q.get({ timeoutMs: 10_000 });
      expect(await q.progress()).toBeUndefined();
      expect(await q.logs()).toEqual([]);
    });

    test('logs keep the lines of every attempt, capped in count and length', async () => {
      const bus = await system();
      const noisy = bus.tasks.define('noisy', { queue: 'logs', maxRetries: 1 }, async (_a: null, ctx) => {
        await ctx.log(`attempt ${ctx.attempt} starts`);
        if (ctx.attempt === 1) throw new Error('first try fails');
        for (let i = 0; i < TASK_LOG_MAX_LINES + 50; i++) void ctx.log(`line ${i}`);
        await ctx.log('x'.repeat(TASK_LOG_MAX_CHARS + 500));
        return 'ok';
      });
      await bus.worker({ queues: { logs: 1 } }).start();
      const r = await noisy.delay(null);
      await r.get({ timeoutMs: 10_000 });
      const lines = await r.logs();
      expect(lines).toHaveLength(TASK_LOG_MAX_LINES);
      const last = lines[lines.length - 1]!;
      expect(last.message).toHaveLength(TASK_LOG_MAX_CHARS);
      expect(last.message.endsWith('…')).toBe(true);
      expect(last.attempt).toBe(2);
      expect(lines[lines.length - 2]!.message).toBe(`line ${TASK_LOG_MAX_LINES + 49}`);

      const short = bus.tasks.define('short_log', { queue: 'logs', maxRetries: 1 }, async (_a: null, ctx) => {
        await ctx.log(`attempt ${ctx.attempt}`);
        if (ctx.attempt === 1) throw new Error('again');
        return 'ok';
      });
      const s = await short.delay(null);
      await s.get({ timeoutMs: 10_000 });
      expect((await s.logs()).map((l) => [l.attempt, l.message])).toEqual([
        [1, 'attempt 1'],
        [2, 'attempt 2'],
      ]);
    });

    test('bad progress values and log messages are refused with EventValidationError, at the call', async () => {
      const bus = await system();
      const errors: unknown[] = [];
      const big: Record<string, string> = {};
      for (let i = 0; i < 100; i++) big[`k${i}`] = 'v'.repeat(50);
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      const t = bus.tasks.define('bad_reports', { queue: 'bad' }, async (_a: null, ctx) => {
        const bad: unknown[] = [Number.NaN, Number.POSITIVE_INFINITY, 'half', null, [1, 2], new Date(), big, cyclic, undefined];
        for (const value of bad) {
          try {
            void ctx.progress(value as number);
            errors.push('no error');
          } catch (err) {
            errors.push(err);
          }
        }
        try {
          void ctx.log(42 as unknown as string);
          errors.push('no error');
        } catch (err) {
          errors.push(err);
        }
        await ctx.progress({ ok: true });
        return 'ok';
      });
      await bus.worker({ queues: { bad: 1 } }).start();
      const r = await t.delay(null);
      expect(await r.get({ timeoutMs: 10_000 })).toBe('ok');
      expect(errors).toHaveLength(10);
      for (const err of errors) {
        expect(err).toBeInstanceOf(EventValidationError);
        expect((err as EventValidationError).message).toMatch(/progress|log/);
      }
      expect((errors[6] as Error).message).toMatch(/4096/);
      expect(await r.progress()).toEqual({ ok: true });
    });

    // --- deduplication ---------------------------------------------------------------------------

    test('a dedupe key returns the same handle and runs once, also for concurrent sends from two systems', async () => {
      const a = await system();
      const b = await system();
      let runs = 0;
      const hold = gate();
      const handler = async () => {
        runs++;
        await hold.promise;
        return runs;
      };
      const sync = a.tasks.define('sync_vendor', { queue: 'dedupe' }, handler);
      b.tasks.define('sync_vendor', { queue: 'dedupe' }, handler);
      const sends = await Promise.all([
        ...Array.from({ length: 4 }, () => a.tasks.send('sync_vendor', { vendorId: 'v1' }, { dedupeKey: 'vendor:v1' })),
        ...Array.from({ length: 4 }, () => b.tasks.send('sync_vendor', { vendorId: 'v1' }, { dedupeKey: 'vendor:v1' })),
      ]);
      const ids = new Set(sends.map((r) => r.id));
      expect(ids.size).toBe(1);
      expect(sends.every((r) => r.name === 'sync_vendor' && r.queue === 'dedupe')).toBe(true);
      // Another key, and the same key for another task, are not duplicates.
      const other = await sync.applyAsync({ vendorId: 'v2' }, { dedupeKey: 'vendor:v2' });
      expect(ids.has(other.id)).toBe(false);
      await a.worker({ queues: { dedupe: 2 } }).start();
      await waitUntil(() => runs === 2, 10_000, 'both distinct tasks started');
      // While it runs, a send with the key still joins it.
      const late = await b.tasks.send('sync_vendor', { vendorId: 'v1' }, { dedupeKey: 'vendor:v1' });
      expect(late.id).toBe(sends[0]!.id);
      hold.open();
      await Promise.all([sends[0]!.get({ timeoutMs: 10_000 }), other.get({ timeoutMs: 10_000 })]);
      expect(runs).toBe(2);
      expect((await a.tasks.info(sends[0]!.id))?.dedupeKey).toBe('vendor:v1');
      // Finished: the key is free, the next send runs a new task.
      const again = await sync.applyAsync({ vendorId: 'v1' }, { dedupeKey: 'vendor:v1' });
      expect(again.id).not.toBe(sends[0]!.id);
      await again.get({ timeoutMs: 10_000 });
      expect(runs).toBe(3);
    });

    test('dedupeTtlMs keeps the key after the task finished, until the window ends', async () => {
      const bus = await system();
      let runs = 0;
      const ping = bus.tasks.define('ping_erp', { queue: 'throttle' }, async () => ++runs);
      await bus.worker({ queues: { throttle: 1 } }).start();
      const sentAt = Date.now();
      const first = await ping.applyAsync(null, { dedupeKey: 'erp', dedupeTtlMs: 1500 });
      await first.get({ timeoutMs: 10_000 });
      // Long-window key for a second key: still inside it after the task finished.
      const keep = await ping.applyAsync(null, { dedupeKey: 'erp-long', dedupeTtlMs: 600_000 });
      await keep.get({ timeoutMs: 10_000 });
      expect((await ping.applyAsync(null, { dedupeKey: 'erp-long', dedupeTtlMs: 600_000 })).id).toBe(keep.id);
      // After the short window (measured from the send), the key is free.
      await sleep(Math.max(0, sentAt + 1500 + 100 - Date.now()));
      const later = await ping.applyAsync(null, { dedupeKey: 'erp', dedupeTtlMs: 1500 });
      expect(later.id).not.toBe(first.id);
      await later.get({ timeoutMs: 10_000 });
      expect(runs).toBe(3);
    });

    test('a dedupe key held by a task that never ran is freed by revoking it', async () => {
      const a = await system();
      const b = await system();
      let runs = 0;
      a.tasks.define('report', { queue: 'idle-q' }, async () => ++runs);
      const first = await b.tasks.send('report', null, { queue: 'idle-q', dedupeKey: 'monthly' });
      expect((await b.tasks.send('report', null, { queue: 'idle-q', dedupeKey: 'monthly' })).id).toBe(first.id);
      expect(await first.revoke()).toBe(true);
      const second = await b.tasks.send('report', null, { queue: 'idle-q', dedupeKey: 'monthly' });
      expect(second.id).not.toBe(first.id);
      await a.worker({ queues: { 'idle-q': 1 } }).start();
      expect(await second.get({ timeoutMs: 10_000 })).toBe(1);
      expect(runs).toBe(1);
    });

    test('bad dedupe options are refused with EventValidationError and send nothing', async () => {
      const bus = await system();
      const t = bus.tasks.define('dd_bad', { queue: 'dd-bad' }, async () => 1);
      const bad: Array<[Record<string, unknown>, RegExp]> = [
        [{ dedupeKey: '' }, /dedupeKey: must be a non-empty string/],
        [{ dedupeKey: 'k'.repeat(257) }, /dedupeKey: must be a non-empty string of at most 256/],
        [{ dedupeKey: 42 }, /dedupeKey/],
        [{ dedupeTtlMs: 1000 }, /dedupeTtlMs: needs a dedupeKey/],
        [{ dedupeKey: 'k', dedupeTtlMs: -1 }, /dedupeTtlMs: must be a finite number/],
        [{ dedupeKey: 'k', dedupeTtlMs: Number.NaN }, /dedupeTtlMs/],
      ];
      for (const [options, message] of bad) {
        const err = await t.applyAsync(null, options as never).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(EventValidationError);
        expect((err as Error).message).toMatch(message);
      }
      expect(() => bus.tasks.sendMany('dd_bad', [1, 2], { dedupeKey: 'k' } as never)).toThrow(/dedupeKey: cannot be shared/);
      expect((await bus.tasks.queueInfo('dd-bad')).length).toBe(0);
    });

    // --- pause and resume ------------------------------------------------------------------------

    test('pause from another system: running tasks finish, no new one starts; resume restarts the queue', async () => {
      const a = await system();
      const b = await system();
      const started: string[] = [];
      const hold = gate();
      const t = a.tasks.define('render', { queue: 'pdf' }, async (label: string) => {
        started.push(label);
        if (label === 'first') await hold.promise;
        return label;
      });
      await a.worker({ queues: { pdf: 1 } }).start();
      const first = await t.delay('first');
      await waitUntil(() => started.includes('first'), 10_000, 'the first task started');
      expect(await b.tasks.pause('pdf')).toBe(true);
      expect(await b.tasks.pause('pdf')).toBe(false);
      expect(await a.tasks.isPaused('pdf')).toBe(true);
      expect(await a.tasks.isPaused('other')).toBe(false);
      expect(await a.tasks.pausedQueues()).toEqual(['pdf']);
      const second = await b.tasks.send('render', 'second', { queue: 'pdf' });
      hold.open();
      expect(await first.get({ timeoutMs: 10_000 })).toBe('first');
      // Nothing new starts while paused (bounded: waiting longer could only make this pass).
      await sleep(800);
      expect(started).toEqual(['first']);
      expect(await second.status()).toBe('PENDING');
      expect(await b.tasks.resume('pdf')).toBe(true);
      expect(await b.tasks.resume('pdf')).toBe(false);
      expect(await a.tasks.isPaused('pdf')).toBe(false);
      expect(await second.get({ timeoutMs: 10_000 })).toBe('second');
      expect(started).toEqual(['first', 'second']);
    });

    test('a worker started while its queue is paused stays idle on it, and serves its other queues', async () => {
      const a = await system();
      const b = await system();
      const ran: string[] = [];
      a.tasks.define('paused_job', { queue: 'held' }, async () => {
        ran.push('held');
        return 'held';
      });
      a.tasks.define('free_job', { queue: 'free' }, async () => {
        ran.push('free');
        return 'free';
      });
      await b.tasks.pause('held');
      const held = await b.tasks.send('paused_job', null, { queue: 'held' });
      const free = await b.tasks.send('free_job', null, { queue: 'free' });
      await a.worker({ queues: { held: 2, free: 1 } }).start();
      expect(await free.get({ timeoutMs: 10_000 })).toBe('free');
      await sleep(500);
      expect(ran).toEqual(['free']);
      await b.tasks.resume('held');
      expect(await held.get({ timeoutMs: 10_000 })).toBe('held');
    });

    test('pause, resume and isPaused refuse malformed queue names with EventValidationError', async () => {
      const bus = await system();
      for (const bad of ['', 'has space', '__proto__', 42, null]) {
        for (const call of [() => bus.tasks.pause(bad as string), () => bus.tasks.resume(bad as string), () => bus.tasks.isPaused(bad as string)]) {
          const err = await call().catch((e: unknown) => e);
          expect(err).toBeInstanceOf(EventValidationError);
          expect((err as Error).message).toMatch(/queue: .*the queue name must be a string of 1-200/);
        }
      }
      expect(await bus.tasks.pausedQueues()).toEqual([]);
    });

    // --- expiry ----------------------------------------------------------------------------------

    test('a task not started before it expires never runs, and get() rejects TaskExpiredError (from another system too)', async () => {
      const a = await system();
      const b = await system();
      let runs = 0;
      a.tasks.define('quote', { queue: 'expiring' }, async () => ++runs);
      // Each expiry is taken from the clock just before its send (a slow send must not make the next one's time past).
      const r1 = await b.tasks.send('quote', null, { queue: 'expiring', expiresInMs: 300 });
      const r2ExpiresAt = Date.now() + 300;
      const r2 = await b.tasks.send('quote', null, { queue: 'expiring', expiresAt: new Date(r2ExpiresAt) });
      const fresh = await b.tasks.send('quote', null, { queue: 'expiring', expiresInMs: 600_000 });
      await sleep(Math.max(0, r2ExpiresAt + 100 - Date.now()));
      await a.worker({ queues: { expiring: 1 } }).start();
      for (const r of [r1, r2]) {
        const err = await r.get({ timeoutMs: 10_000 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(TaskExpiredError);
        expect(isEventBusError(err, 'ERR_EXPIRED')).toBe(true);
        expect((err as TaskExpiredError).taskId).toBe(r.id);
        expect((err as Error).message).toMatch(/expired at .* before a worker started it/);
        expect(await r.status()).toBe('EXPIRED');
        const seen = await a.tasks.result(r.id).get({ timeoutMs: 10_000 }).catch((e: unknown) => e);
        expect(seen).toBeInstanceOf(TaskExpiredError);
      }
      expect(await fresh.get({ timeoutMs: 10_000 })).toBe(1);
      expect(runs).toBe(1);
    });

    test('a retry due after the expiry is dropped: the task ends EXPIRED, not retried', async () => {
      const bus = await system();
      let runs = 0;
      const t = bus.tasks.define('flaky_quote', { queue: 'expiring-retry', maxRetries: 5, backoff: { type: 'fixed', delayMs: 3000 } }, async () => {
        runs++;
        throw new Error('upstream busy');
      });
      await bus.worker({ queues: { 'expiring-retry': 1 } }).start();
      const r = await t.applyAsync(null, { expiresInMs: 1500 });
      const err = await r.get({ timeoutMs: 15_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TaskExpiredError);
      // At most the first attempt ran (on a machine too busy to start it in time, none).
      expect(runs).toBeLessThanOrEqual(1);
      expect((await r.info()).state).toBe('EXPIRED');
    });

    test('an expired task frees its dedupe key', async () => {
      const bus = await system();
      let runs = 0;
      const t = bus.tasks.define('dd_exp', { queue: 'dd-exp' }, async () => ++runs);
      const first = await t.applyAsync(null, { dedupeKey: 'once', expiresInMs: 200 });
      await sleep(300);
      await bus.worker({ queues: { 'dd-exp': 1 } }).start();
      await expect(first.get({ timeoutMs: 10_000 })).rejects.toBeInstanceOf(TaskExpiredError);
      const second = await t.applyAsync(null, { dedupeKey: 'once' });
      expect(second.id).not.toBe(first.id);
      expect(await second.get({ timeoutMs: 10_000 })).toBe(1);
    });

    test('bad expiry options are refused with EventValidationError and send nothing', async () => {
      const bus = await system();
      const t = bus.tasks.define('exp_bad', { queue: 'exp-bad' }, async () => 1);
      const now = Date.now();
      const bad: Array<[Record<string, unknown>, RegExp]> = [
        [{ expiresAt: new Date(now + 1000), expiresInMs: 1000 }, /either expiresAt or expiresInMs, not both/],
        [{ expiresAt: new Date(now - 1000) }, /expiresAt: is in the past/],
        [{ expiresAt: new Date('nope') }, /expiresAt: must be a valid Date/],
        [{ expiresAt: '2030-01-01' }, /expiresAt: must be a valid Date/],
        [{ expiresInMs: 0 }, /expiresInMs: must be a finite number of milliseconds > 0/],
        [{ expiresInMs: Number.POSITIVE_INFINITY }, /expiresInMs/],
        [{ expiresInMs: 1000, countdownMs: 5000 }, /is not after the task's ETA/],
      ];
      for (const [options, message] of bad) {
        const err = await t.applyAsync(null, options as never).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(EventValidationError);
        expect((err as Error).message).toMatch(message);
      }
      expect((await bus.tasks.queueInfo('exp-bad')).length).toBe(0);
    });
  });
}
