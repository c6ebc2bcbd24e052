/**
 * The task queue conformance suite: the behaviour of `bus.tasks` and `bus.worker()` on a given
 * transport. Every transport of the package runs it.
 *
 * @module
 */
import { afterEach, describe, expect, test } from 'vitest';
import { EventValidationError, TaskFailedError, TaskRevokedError, TaskTimeoutError, UnrecoverableError, createEventSystem, memoryStore, priorityRank, silentLogger, type EventSystem, type Transport } from '@procur/event-bus';
import { sleep } from '@procur/event-bus/adapter-kit';
import { waitUntil } from './helpers.js';
import { describeTaskFlows } from './task-flows-suite.js';
import { uniqueName } from './transport-suite.js';
import { describeTaskFeatures } from './task-features-suite.js';

/** Makes a fresh transport for one test of {@link describeTaskQueue}. */
export type TaskTransportFactory = () => Promise<{ transport: Transport; teardown?: () => Promise<void> }> | { transport: Transport; teardown?: () => Promise<void> };

/**
 * Runs the task queue conformance suite against a transport. Each test gets its own transport
 * (from `factory`), its own namespace and queues, and a memory store.
 *
 * @example
 * ```ts
 * describeTaskQueue('memory', () => ({ transport: memoryTransport() }));
 * ```
 */
export function describeTaskQueue(name: string, factory: TaskTransportFactory): void {
  describe(`task queue conformance: ${name}`, () => {
    const systems: EventSystem[] = [];
    const teardowns: (() => Promise<void>)[] = [];
    let transport: Transport;
    let namespace: string;

    async function system(overrides: { taskEvents?: boolean } = {}): Promise<EventSystem> {
      if (systems.length === 0) {
        const made = await factory();
        transport = made.transport;
        if (made.teardown) teardowns.push(made.teardown);
        namespace = uniqueName('tq');
      }
      const bus = await createEventSystem({
        transport,
        store: memoryStore(),
        logger: silentLogger,
        env: {},
        outbox: false,
        taskEvents: overrides.taskEvents ?? false,
        config: { namespace, retryBackoffMs: 20, retryBackoffMaxMs: 200, eventBlockTime: 100, claimIdleMs: 5000, workerHeartbeatMs: 100 },
      });
      systems.push(bus);
      return bus;
    }

    afterEach(async () => {
      // Systems sharing one transport: close them all, the transport once (close is idempotent).
      for (const bus of systems.splice(0)) await bus.close().catch(() => {});
      for (const t of teardowns.splice(0)) await t().catch(() => {});
    });

    test('delay(args).get() returns the result', async () => {
      const bus = await system();
      const add = bus.tasks.define('add', { queue: 'math' }, async ({ a, b }: { a: number; b: number }, ctx) => ({ sum: a + b, attempt: ctx.attempt }));
      await bus.worker({ queues: { math: 2 } }).start();
      const r = await add.delay({ a: 2, b: 3 });
      expect(await r.get({ timeoutMs: 5000 })).toEqual({ sum: 5, attempt: 1 });
      expect(await r.status()).toBe('SUCCESS');
    });

    test('sendMany enqueues in bulk; one invalid element sends none', async () => {
      const bus = await system();
      const { z } = await import('zod');
      const double = bus.tasks.define('double', { queue: 'bulk', schema: z.number() }, async (n: number) => n * 2);
      await expect(bus.tasks.sendMany('double', [1, 'two', 3])).rejects.toThrow(/\[1\]\.args/);
      expect((await bus.tasks.queueInfo('bulk')).length).toBe(0);
      const results = await bus.tasks.sendMany<number>(double.name, [1, 2, 3, 4]);
      await bus.worker({ queues: { bulk: 2 } }).start();
      expect(await Promise.all(results.map((r) => r.get({ timeoutMs: 5000 })))).toEqual([2, 4, 6, 8]);
    });

    test('a task that fails twice then succeeds returns with attempt 3', async () => {
      const bus = await system();
      const flaky = bus.tasks.define('flaky', { queue: 'q', maxRetries: 3 }, async (_args: null, ctx) => {
        if (ctx.attempt < 3) throw new Error(`try ${ctx.attempt}`);
        return ctx.attempt;
      });
      await bus.worker({ queues: { q: 1 } }).start();
      expect(await (await flaky.delay(null)).get({ timeoutMs: 5000 })).toBe(3);
    });

    test('a task that always fails rejects TaskFailedError with the remote message, and is dead-lettered', async () => {
      const bus = await system();
      const bad = bus.tasks.define('bad', { queue: 'q', maxRetries: 2 }, async () => {
        throw new Error('PDF renderer crashed');
      });
      await bus.worker({ queues: { q: 1 } }).start();
      const r = await bad.delay(null);
      const err = await r.get({ timeoutMs: 5000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TaskFailedError);
      expect((err as Error).message).toContain('PDF renderer crashed');
      expect((err as TaskFailedError).remoteStack).toContain('PDF renderer crashed');
      const info = await r.info();
      expect(info).toMatchObject({ state: 'FAILURE', attempt: 3 });
      const dead = await bus.dlq.list();
      expect(dead).toHaveLength(1);
      expect(dead[0]).toMatchObject({ attempts: 3, error: 'PDF renderer crashed' });
    });

    test('UnrecoverableError skips the retries', async () => {
      const bus = await system();
      let runs = 0;
      const t = bus.tasks.define('fatal', { queue: 'q', maxRetries: 5 }, async () => {
        runs++;
        throw new UnrecoverableError('bad input');
      });
      await bus.worker({ queues: { q: 1 } }).start();
      await expect((await t.delay(null)).get({ timeoutMs: 5000 })).rejects.toBeInstanceOf(TaskFailedError);
      expect(runs).toBe(1);
    });

    test('a countdown task never runs early', async () => {
      const bus = await system();
      let ranAt = 0;
      const t = bus.tasks.define('later', { queue: 'q' }, async () => {
        ranAt = Date.now();
      });
      await bus.worker({ queues: { q: 1 } }).start();
      const sentAt = Date.now();
      const r = await t.applyAsync(null, { countdownMs: 400 });
      await r.get({ timeoutMs: 5000 });
      expect(ranAt - sentAt).toBeGreaterThanOrEqual(395);
      const eta = new Date(Date.now() + 300);
      const r2 = await t.applyAsync(null, { eta });
      await r2.get({ timeoutMs: 5000 });
      expect(ranAt).toBeGreaterThanOrEqual(eta.getTime() - 5);
    });

    test('a delayed task is recorded PENDING with its arguments when sent (send and sendMany), and its result replaces that record', async () => {
      const bus = await system();
      const t = bus.tasks.define('held', { queue: 'q' }, async (a: { n: number }) => a.n + 1);
      const far = await t.applyAsync({ n: 1 }, { countdownMs: 3_600_000 });
      const info = await bus.tasks.info(far.id);
      expect(info?.state).toBe('PENDING');
      expect(info?.args).toEqual({ n: 1 });
      const many = await bus.tasks.sendMany('held', [{ n: 2 }, { n: 3 }], { countdownMs: 3_600_000 });
      expect((await Promise.all(many.map((m) => bus.tasks.info(m.id)))).map((i) => i?.args)).toEqual([{ n: 2 }, { n: 3 }]);
      await bus.worker({ queues: { q: 1 } }).start();
      const soon = await t.applyAsync({ n: 9 }, { countdownMs: 20 });
      expect(await soon.get({ timeoutMs: 10_000 })).toBe(10);
      expect((await bus.tasks.info(soon.id))?.state).toBe('SUCCESS');
      expect(await far.revoke()).toBe(true);
    });

    test("a message's eta is honoured even when another program wrote it straight onto the stream", async () => {
      const bus = await system();
      let ranAt = 0;
      let attempt = 0;
      bus.tasks.define('eta_direct', { queue: 'q' }, async (_a: null, ctx) => {
        ranAt = Date.now();
        attempt = ctx.attempt;
        return 'ran';
      });
      await bus.worker({ queues: { q: 1 } }).start();
      const id = uniqueName('direct');
      const eta = Date.now() + 1500;
      // The documented format (docs/tasks.md), with no transport delay: only `eta` says "later".
      const body = JSON.stringify({
        kind: 'task',
        version: 1,
        id,
        task: 'eta_direct',
        queue: 'q',
        args: null,
        correlationId: id,
        priority: 'normal',
        createdAt: new Date().toISOString(),
        eta: new Date(eta).toISOString(),
      });
      await bus.transport.publish(`${namespace}:tasks:q`, [{ body, priority: priorityRank('normal') }]);
      expect(await bus.tasks.result(id, 'eta_direct', 'q').get({ timeoutMs: 10_000 })).toBe('ran');
      expect(ranAt).toBeGreaterThanOrEqual(eta - 5);
      // Deferring is not an attempt.
      expect(attempt).toBe(1);
    });

    test('a task message with a malformed eta is dead-lettered, not run', async () => {
      const bus = await system();
      let runs = 0;
      bus.tasks.define('eta_bad', { queue: 'q' }, async () => {
        runs++;
      });
      await bus.worker({ queues: { q: 1 } }).start();
      const body = JSON.stringify({ kind: 'task', version: 1, id: uniqueName('bad-eta'), task: 'eta_bad', queue: 'q', args: null, priority: 'normal', createdAt: new Date().toISOString(), eta: 'tomorrow' });
      await bus.transport.publish(`${namespace}:tasks:q`, [{ body, priority: priorityRank('normal') }]);
      for (let i = 0; i < 300 && (await bus.dlq.size()) === 0; i++) await sleep(10);
      expect((await bus.dlq.list())[0]?.error).toMatch(/eta/);
      expect(runs).toBe(0);
    });

    test('a reused taskId is idempotent: two concurrent sends with one id run once, from any system', async () => {
      const bus = await system();
      const producer = await system();
      let runs = 0;
      bus.tasks.define('once', { queue: 'idem' }, async (n: number) => {
        runs++;
        await sleep(50);
        return n;
      });
      await bus.worker({ queues: { idem: 2 } }).start();
      const taskId = uniqueName('order-42');
      const [a, b] = await Promise.all([
        bus.tasks.send<number>('once', 1, { taskId }),
        producer.tasks.send<number>('once', 2, { taskId, queue: 'idem' }),
      ]);
      expect(a.id).toBe(taskId);
      expect(b.id).toBe(taskId);
      const first = await a.get({ timeoutMs: 5000 });
      expect(await b.get({ timeoutMs: 5000 })).toBe(first);
      // Sent again after it finished: the same task, not a new run.
      const c = await producer.tasks.send<number>('once', 3, { taskId, queue: 'idem' });
      expect(await c.get({ timeoutMs: 5000 })).toBe(first);
      expect(c.name).toBe('once');
      await sleep(300);
      expect(runs).toBe(1);
      // Only the first send reached the queue.
      expect((await bus.tasks.queueInfo('idem')).length).toBeLessThanOrEqual(1);
    });

    test('a revoked task never runs, and get() rejects TaskRevokedError', async () => {
      const bus = await system();
      let runs = 0;
      const t = bus.tasks.define('revocable', { queue: 'q' }, async () => {
        runs++;
      });
      await bus.worker({ queues: { q: 1 } }).start();
      const r = await t.applyAsync(null, { countdownMs: 300 });
      expect(await r.revoke()).toBe(true);
      await expect(r.get({ timeoutMs: 2000 })).rejects.toBeInstanceOf(TaskRevokedError);
      await sleep(600);
      expect(runs).toBe(0);
      expect(await r.status()).toBe('REVOKED');
    });

    test('revoking a running task aborts its signal, from another system on the same transport', async () => {
      const bus = await system();
      const producer = await system();
      let aborted = false;
      let started = false;
      bus.tasks.define('long', { queue: 'q' }, (_a: null, ctx) =>
        new Promise<void>((resolve) => {
          started = true;
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
            resolve();
          });
        }),
      );
      await bus.worker({ queues: { q: 1 } }).start();
      const r = await producer.tasks.send('long', null, { queue: 'q' });
      for (let i = 0; i < 200 && !started; i++) await sleep(10);
      expect(started).toBe(true);
      await producer.tasks.result(r.id, 'long', 'q').revoke();
      for (let i = 0; i < 200 && !aborted; i++) await sleep(10);
      expect(aborted).toBe(true);
      await expect(r.get({ timeoutMs: 2000 })).rejects.toBeInstanceOf(TaskRevokedError);
    });

    test('queue concurrency is never exceeded', async () => {
      const bus = await system();
      let running = 0;
      let peak = 0;
      const t = bus.tasks.define('busy', { queue: 'slots' }, async () => {
        running++;
        peak = Math.max(peak, running);
        await sleep(15);
        running--;
      });
      await bus.worker({ queues: { slots: 3 } }).start();
      const results = await Promise.all(Array.from({ length: 24 }, () => t.delay(null)));
      await Promise.all(results.map((r) => r.get({ timeoutMs: 10_000 })));
      expect(peak).toBe(3);
    });

    test('get() on a queue with no worker rejects TaskTimeoutError', async () => {
      const bus = await system();
      const t = bus.tasks.define('orphan', { queue: 'nobody' }, async () => 1);
      const r = await t.delay(null);
      const err = await r.get({ timeoutMs: 300 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TaskTimeoutError);
      expect((err as Error).message).toMatch(/is a worker consuming its queue/);
      expect(await r.status()).toBe('PENDING');
    });

    test('a backlog is served highest priority first', async () => {
      const bus = await system();
      const order: string[] = [];
      const t = bus.tasks.define('prio', { queue: 'p' }, async (label: string) => {
        order.push(label);
      });
      const sent = [];
      for (const [label, priority] of [['low', 'low'], ['n1', 'normal'], ['crit', 'critical'], ['high', 'high'], ['n2', 'normal']] as const) {
        sent.push(await t.applyAsync(label, { priority }));
      }
      await bus.worker({ queues: { p: 1 } }).start();
      await Promise.all(sent.map((r) => r.get({ timeoutMs: 5000 })));
      expect(order).toEqual(['crit', 'high', 'n1', 'n2', 'low']);
    });

    test('timeoutMs aborts the handler and fails the attempt', async () => {
      const bus = await system();
      let sawAbort = 0;
      const t = bus.tasks.define('slow', { queue: 'q', timeoutMs: 100, maxRetries: 1 }, (_a: null, ctx) =>
        new Promise((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => {
            sawAbort++;
            reject(ctx.signal.reason);
          });
        }),
      );
      await bus.worker({ queues: { q: 1 } }).start();
      const err = await (await t.delay(null)).get({ timeoutMs: 5000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TaskFailedError);
      expect((err as Error).message).toMatch(/ran past its timeoutMs of 100 ms/);
      expect(sawAbort).toBe(2);
    });

    test('arguments are validated against the schema when the task is sent', async () => {
      const bus = await system();
      const { z } = await import('zod');
      const t = bus.tasks.define('typed', { queue: 'q', schema: z.object({ vendorId: z.string() }) }, async (a: { vendorId: string }) => a.vendorId);
      await expect(t.delay({ vendorId: 5 } as never)).rejects.toBeInstanceOf(EventValidationError);
      await expect(t.delay({ vendorId: 5 } as never)).rejects.toThrow(/args\.vendorId/);
      await expect(bus.tasks.send('undefined_here', {})).rejects.toThrow(/pass \{ queue \}/);
    });

    test('a task no worker defines is dead-lettered and fails with the reason', async () => {
      const bus = await system();
      const producer = await system();
      bus.tasks.define('known', { queue: 'mixed' }, async () => 1);
      await bus.worker({ queues: { mixed: 1 } }).start();
      const r = await producer.tasks.send('mystery', {}, { queue: 'mixed' });
      await expect(r.get({ timeoutMs: 5000 })).rejects.toThrow(/Unknown task 'mystery'/);
      expect(await bus.dlq.size()).toBe(1);
    });

    test('a dead-lettered task replayed after a fix succeeds', async () => {
      const bus = await system();
      let fixed = false;
      const t = bus.tasks.define('fixable', { queue: 'q', maxRetries: 0 }, async () => {
        if (!fixed) throw new Error('not yet');
        return 'ok';
      });
      await bus.worker({ queues: { q: 1 } }).start();
      const r = await t.delay(null);
      await expect(r.get({ timeoutMs: 5000 })).rejects.toBeInstanceOf(TaskFailedError);
      fixed = true;
      const [entry] = await bus.dlq.list();
      await bus.dlq.replay(entry!.id);
      for (let i = 0; i < 300 && (await r.status()) !== 'SUCCESS'; i++) await sleep(10);
      expect((await r.info()).result).toBe('ok');
    });

    test('a shared rate limit caps task starts per window', async () => {
      const bus = await system();
      const starts: number[] = [];
      const t = bus.tasks.define('limited', { queue: 'rl' }, async () => {
        starts.push(Date.now());
      });
      const perMs = 1000;
      const w1 = bus.worker({ queues: { rl: { concurrency: 5, rateLimit: { max: 4, perMs } } } });
      const w2 = bus.worker({ queues: { rl: { concurrency: 5, rateLimit: { max: 4, perMs } } } });
      await Promise.all([w1.start(), w2.start()]);
      const rs = await Promise.all(Array.from({ length: 12 }, () => t.delay(null)));
      await Promise.all(rs.map((r) => r.get({ timeoutMs: 20_000 })));
      // Four starts per window: any nine consecutive starts span three windows, so more than one
      // whole window. The handlers' clock reads can come late on a busy machine (bunching starts
      // of two windows into one bucket), hence a gap with a quarter window of slack rather than
      // counts per bucket. Without the limit, all twelve start within a few milliseconds.
      starts.sort((a, b) => a - b);
      expect(starts).toHaveLength(12);
      for (let i = 0; i + 8 < starts.length; i++) expect(starts[i + 8]! - starts[i]!).toBeGreaterThanOrEqual(perMs * 0.75);
    });

    test('workers report heartbeats; inspect sees them online, then offline after stop', async () => {
      const bus = await system();
      bus.tasks.define('noop', { queue: 'hb' }, async () => null);
      const w = bus.worker({ queues: { hb: 2 }, name: 'inspector-test' });
      await w.start();
      const online = (await bus.inspect.workers()).find((x) => x.id === w.id);
      expect(online).toMatchObject({ online: true, queues: { hb: 2 }, pid: process.pid });
      expect(online?.tasks).toContain('noop');
      expect((await bus.inspect.registered())[w.id]).toContain('noop');
      await (await bus.tasks.send('noop', null)).get({ timeoutMs: 5000 });
      await sleep(250);
      expect((await bus.inspect.stats())[w.id]).toMatchObject({ processed: 1, failed: 0 });
      const queues = await bus.inspect.queues();
      expect(queues.hb?.groups[0]?.pending).toBe(0);
      await w.stop();
      const offline = (await bus.inspect.workers()).find((x) => x.id === w.id);
      expect(offline).toMatchObject({ online: false, state: 'offline' });
    });

    test('three schedulers on one transport send each due run exactly once', async () => {
      const buses = [await system(), await system(), await system()];
      const runs: string[] = [];
      buses[0]!.tasks.define('tick', { queue: 'beat' }, async (_a: null, ctx) => {
        runs.push(ctx.correlationId);
      });
      for (const b of buses) {
        b.scheduler.remove('cleanup-old-events-daily');
        b.scheduler.add({ name: 'every-200ms', task: 'tick', everyMs: 200, queue: 'beat' });
      }
      await buses[0]!.worker({ queues: { beat: 4 } }).start();
      await Promise.all(buses.map((b) => b.scheduler.start()));
      await sleep(1500);
      await Promise.all(buses.map((b) => b.scheduler.stop()));
      await sleep(300);
      expect(new Set(runs).size).toBe(runs.length);
      // 1.5 s of 200 ms slots: 7 or 8 runs (the first at start), never one per scheduler.
      expect(runs.length).toBeGreaterThanOrEqual(6);
      expect(runs.length).toBeLessThanOrEqual(9);
      expect(buses.filter((b) => b.scheduler.isLeader)).toHaveLength(0);
    });

    test('a leader that dies holding its lock loses no run: the next leader fires each run due meanwhile, once', async () => {
      const first = await system();
      const second = await system();
      const runs: string[] = [];
      first.tasks.define('failover_tick', { queue: 'beat' }, async (_a: null, ctx) => {
        runs.push(ctx.correlationId);
      });
      for (const b of [first, second]) {
        b.scheduler.remove('cleanup-old-events-daily');
        b.scheduler.add({ name: 'every-200ms', task: 'failover_tick', everyMs: 200, queue: 'beat' });
      }
      await first.worker({ queues: { beat: 2 } }).start();
      await first.scheduler.start();
      await second.scheduler.start();
      expect(first.scheduler.isLeader).toBe(true);
      await waitUntil(() => runs.length >= 2, 5000, 'two runs from the first leader');
      // Dies as a killed process does: no more ticks, and its lock stays until it expires.
      first.scheduler.haltForTesting();
      await waitUntil(() => second.scheduler.isLeader, 10_000, 'the second scheduler leading');
      const atTakeover = runs.length;
      await waitUntil(() => runs.length >= atTakeover + 3, 5000, 'runs from the second leader');
      await second.scheduler.stop();
      await sleep(300);
      expect(new Set(runs).size).toBe(runs.length);
      const slots = runs.map((c) => Date.parse(c.slice('schedule:every-200ms:'.length))).sort((x, y) => x - y);
      // Every 200 ms slot from the first run to the last, none missing during the failover.
      expect(slots.map((t, i) => (i === 0 ? 200 : t - (slots[i - 1] as number)))).toEqual(slots.map(() => 200));
    });

    test('after downtime a schedule sends only the runs of its catch-up window, not a burst of every missed run', async () => {
      const bus = await system();
      let runs = 0;
      bus.tasks.define('catch_up', { queue: 'beat' }, async () => {
        runs++;
      });
      bus.scheduler.remove('cleanup-old-events-daily');
      bus.scheduler.add({ name: 'every-second', task: 'catch_up', everyMs: 1000, queue: 'beat' });
      // The last run was an hour (3600 slots) ago; the catch-up window is 2.5 s.
      await bus.transport.kvSet(`${namespace}:schedule:every-second:last`, String(Math.floor(Date.now() / 1000) * 1000 - 3_600_000));
      await bus.worker({ queues: { beat: 1 } }).start();
      await bus.scheduler.start();
      await bus.scheduler.stop();
      await sleep(300);
      expect(runs).toBeGreaterThanOrEqual(1);
      expect(runs).toBeLessThanOrEqual(3);
    });

    test('the scheduler refuses malformed entries', async () => {
      const bus = await system();
      expect(() => bus.scheduler.add({ name: 'x', task: 't' })).toThrow(/exactly one of everyMs or cron/);
      expect(() => bus.scheduler.add({ name: 'x', task: 't', cron: '61 * * * *' })).toThrow(/invalid cron/);
      expect(() => bus.scheduler.add({ name: 'x', task: 't', cron: '0 2 * * *', timezone: 'Mars/Olympus' })).toThrow(EventValidationError);
      bus.scheduler.add({ name: 'nightly', task: 't', cron: '0 2 * * *', timezone: 'Europe/Paris' });
      const [entry] = (await bus.scheduler.list()).filter((e) => e.name === 'nightly');
      expect(new Date(entry!.nextRunAt).getTime()).toBeGreaterThan(Date.now());
      expect((await bus.scheduler.list()).map((e) => e.name)).toContain('cleanup-old-events-daily');
    });

    test('lifecycle events are stored under the task correlation id', async () => {
      const bus = await system({ taskEvents: true });
      const t = bus.tasks.define('traced', { queue: 'q', maxRetries: 1 }, async (_a: null, ctx) => {
        if (ctx.attempt === 1) throw new Error('first try fails');
        return 'done';
      });
      await bus.worker({ queues: { q: 1 } }).start();
      const r = await t.applyAsync(null, { correlationId: 'flow-42' });
      await r.get({ timeoutMs: 5000 });
      let types: string[] = [];
      for (let i = 0; i < 100; i++) {
        types = (await bus.store.getEventsByCorrelationId('flow-42')).map((e) => e.type);
        if (types.includes('task.succeeded')) break;
        await sleep(20);
      }
      expect(types).toEqual(['task.sent', 'task.received', 'task.started', 'task.retried', 'task.started', 'task.succeeded']);
    });

    test('the task-events stream carries state changes: a short task shows sent and succeeded, a longer one every step; the store keeps every step', async () => {
      const bus = await system({ taskEvents: true });
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      bus.tasks.define('quick', { queue: 'q' }, async () => 'q');
      let slowStarted = false;
      bus.tasks.define('slow', { queue: 'q' }, async () => {
        slowStarted = true;
        await gate;
        return 's';
      });
      const stream = `${namespace}:task-events`;
      await transport.ensureGroup(stream, 'audit', { startAt: 'end' });
      await bus.worker({ queues: { q: 2 } }).start();
      const quick = await bus.tasks.send('quick', null);
      expect(await quick.get({ timeoutMs: 10_000 })).toBe('q');
      const slow = await bus.tasks.send('slow', null);
      await waitUntil(() => slowStarted, 10_000, 'the slow task started');
      // Its received and started are written (a turn passes) before it ends.
      await sleep(100);
      release();
      expect(await slow.get({ timeoutMs: 10_000 })).toBe('s');
      const byTask = new Map<string, string[]>();
      await waitUntil(async () => {
        for (const d of await transport.receive(stream, { group: 'audit', consumer: 'a', max: 100 })) {
          const e = JSON.parse(d.body) as { type: string; data: { taskId: string } };
          byTask.set(e.data.taskId, [...(byTask.get(e.data.taskId) ?? []), e.type]);
          await transport.ack(stream, 'audit', [d.deliveryId]);
        }
        return (byTask.get(slow.id) ?? []).includes('task.succeeded') && (byTask.get(quick.id) ?? []).includes('task.succeeded');
      }, 10_000, 'both tasks succeeded on the stream');
      expect(byTask.get(quick.id)).toEqual(['task.sent', 'task.succeeded']);
      expect(byTask.get(slow.id)).toEqual(['task.sent', 'task.received', 'task.started', 'task.succeeded']);
      // The store (event sourcing) keeps every step of both.
      await waitUntil(async () => (await bus.store.getEventsByCorrelationId(quick.id)).some((e) => e.type === 'task.succeeded'), 10_000, 'stored');
      expect((await bus.store.getEventsByCorrelationId(quick.id)).map((e) => e.type)).toEqual(['task.sent', 'task.received', 'task.started', 'task.succeeded']);
    });

    // Issue 10, chaos "hung handler": a handler that ignores its signal must not keep its slot.
    test('timeoutMs ends an attempt whose handler ignores its signal: retried, dead-lettered, and the queue goes on at concurrency 1', async () => {
      const bus = await system();
      let runs = 0;
      const deaf = bus.tasks.define('deaf', { queue: 'q', timeoutMs: 200, maxRetries: 1 }, () => {
        runs++;
        return new Promise(() => {});
      });
      const echo = bus.tasks.define('echo', { queue: 'q' }, async (n: number) => n);
      await bus.worker({ queues: { q: 1 } }).start();
      const hung = await deaf.delay(null);
      const others = await Promise.all([1, 2].map((n) => echo.delay(n)));
      const err = await hung.get({ timeoutMs: 10_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TaskFailedError);
      expect((err as Error).message).toMatch(/ran past its timeoutMs of 200 ms/);
      expect(runs).toBe(2);
      expect(await Promise.all(others.map((r) => r.get({ timeoutMs: 10_000 })))).toEqual([1, 2]);
      expect(await bus.dlq.list()).toMatchObject([{ attempts: 2 }]);
    });
  });
  describeTaskFlows(name, factory);
  describeTaskFeatures(name, factory);
}
