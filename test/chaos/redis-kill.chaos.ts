/**
 * Chaos 4: Redis SIGKILLed and restarted under publish + consume load.
 *
 * A private `redis-server` with `appendonly yes` and `appendfsync always` (so every write it
 * acknowledged is on disk). Two consumer processes share group `workers`, a third is group
 * `audit`; the test publishes one event every 10 ms with `publishTimeoutMs` 1000. Each round it
 * waits a seeded random time, SIGKILLs Redis at a moment deliveries are pending (XPENDING > 0),
 * keeps it down for a seeded random time and starts it again on the same files. Publishes during
 * the outage reject with a typed error; every publish that resolved is handled by both groups,
 * the consumers resume by themselves and none crashes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { EventType, createEventSystem, isEventBusError, silentLogger, type EventSystem, type TaskResult } from '@procur/event-bus';
import { redisTransport } from '@procur/event-bus/redis';
import { sqliteStore } from '@procur/event-bus/sqlite';
import { REDIS_REQUIRED } from '../e2e/fixtures/redis-helpers.js';
import { pendingByConsumer } from '../e2e/fixtures/redis-bus-processes.js';
import { ChaosRedis, Children, inFlightOf, printSummary, producerBus, scenarioRng, sleep, steadyLoad, tagged, tally, until, settleHandled, type Child } from './fixtures/chaos.js';

const hasRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
const ROUNDS = 3;
const STREAM = 'procur:events';
const PREFIX = 'chaos-redis';

describe.skipIf(!hasRedisServer && !REDIS_REQUIRED)('chaos: Redis SIGKILLed and restarted under load', () => {
  let redis: ChaosRedis;
  let producer: EventSystem | undefined;
  let taskProducer: EventSystem | undefined;
  let outboxProducer: EventSystem | undefined;
  const sqliteDir = mkdtempSync(join(tmpdir(), 'procur-chaos-sqlite-'));
  const children = new Children();

  beforeAll(async () => {
    redis = await ChaosRedis.create();
    await redis.start();
  });
  afterAll(async () => {
    await children.stopAll();
    await producer?.close().catch(() => {});
    await taskProducer?.close().catch(() => {});
    await outboxProducer?.close().catch(() => {});
    await redis?.destroy();
    rmSync(sqliteDir, { recursive: true, force: true });
  });

  /** Deliveries pending in both groups now (0 when Redis does not answer). */
  async function pendingNow(): Promise<number> {
    const admin = redis.admin();
    try {
      await admin.connect();
      let sum = 0;
      for (const group of ['workers', 'audit']) for (const n of (await pendingByConsumer(admin, PREFIX, STREAM, group)).values()) sum += n;
      return sum;
    } catch {
      return 0;
    } finally {
      admin.disconnect();
    }
  }

  it('every publish that resolved is handled by both groups', async () => {
    const rand = scenarioRng('redis-kill');
    onTestFailed(() => console.error(children.logDump()));
    const common = { role: 'consumer' as const, url: redis.url, keyPrefix: PREFIX, claimIdleMs: 1000, handleMs: 20, concurrency: 10 };
    const workers: Child[] = [children.start({ ...common, group: 'workers', name: 'w1' }), children.start({ ...common, group: 'workers', name: 'w2' })];
    const audit = children.start({ ...common, group: 'audit', name: 'a1' });
    await Promise.all([...workers, audit].map((c) => c.ready));

    producer = await producerBus(redis.url, PREFIX, 1000);
    const bus = producer;
    const load = steadyLoad('p', 10, 1, ([message]) => bus.publisher.publish({ type: EventType.SYSTEM_WARNING, data: { message: message! } }));

    const kills: Array<{ pending: number; downMs: number; rejectedDuring: number }> = [];
    try {
      await sleep(1500);
      for (let round = 0; round < ROUNDS; round++) {
        await sleep(rand.int(1000, 3000));
        const downMs = rand.int(300, 2000);
        let pending = 0;
        await until(async () => (pending = await pendingNow()) > 0, 3000, 10);
        await redis.kill();
        const rejectedBefore = load.typed.length;
        await sleep(downMs);
        await redis.start();
        kills.push({ pending, downMs, rejectedDuring: load.typed.length - rejectedBefore });
      }
      await sleep(2000);
    } finally {
      await load.stop();
    }

    const accepted = load.accepted;
    const missing = (got: string[]) => {
      const have = new Set(got);
      return accepted.filter((m) => !have.has(m));
    };
    await until(() => missing(tagged(workers, 'H')).length === 0 && missing(tagged([audit], 'H')).length === 0, 60_000, 200);
    await sleep(500);

    const handled = tally(tagged(workers, 'H'));
    const lostWorkers = missing(tagged(workers, 'H'));
    const lostAudit = missing(tagged([audit], 'H'));
    const crashes = children.crashes();
    printSummary('redis-kill', {
      sent: accepted.length,
      handled: accepted.filter((m) => handled.distinct.has(m)).length,
      duplicates: handled.duplicates,
      lost: lostWorkers.length,
      typedRejections: load.typed.length,
      crashes: crashes.length,
      extra: {
        'redis-kills': kills.length,
        'kills-with-pending': kills.filter((k) => k.pending > 0).length,
        'pending-at-kills': kills.map((k) => k.pending).join('/'),
        'down-ms': kills.map((k) => k.downMs).join('/'),
        'audit-lost': lostAudit.length,
        'audit-duplicates': tally(tagged([audit], 'H')).duplicates,
        seed: rand.seed,
      },
    });

    expect(load.untyped).toEqual([]);
    expect(crashes).toEqual([]);
    expect(kills.filter((k) => k.pending === 0), 'every kill hit deliveries in flight').toEqual([]);
    expect(lostWorkers.slice(0, 20)).toEqual([]);
    expect(lostAudit.slice(0, 20)).toEqual([]);
    for (const c of [...workers, audit]) expect(c.alive(), `${c.name} still runs`).toBe(true);
    expect(accepted.length).toBeGreaterThan(300);
  });

  it('tasks: every task whose send resolved gets its result across Redis kills', async () => {
    const rand = scenarioRng('redis-kill-tasks');
    onTestFailed(() => console.error(children.logDump()));
    const prefix = 'chaos-redis-tasks';
    const common = { role: 'worker' as const, url: redis.url, keyPrefix: prefix, claimIdleMs: 1000, handleMs: 30, concurrency: 4 };
    const workers: Child[] = [children.start({ ...common, name: 'tw1' }), children.start({ ...common, name: 'tw2' })];
    await Promise.all(workers.map((c) => c.ready));
    taskProducer = await producerBus(redis.url, prefix, 1000);
    const bus = taskProducer;
    const results = new Map<string, TaskResult>();
    const load = steadyLoad('t', 50, 2, async (ids) => {
      const sent = await bus.tasks.sendMany('work', ids.map((id) => ({ id })), { queue: 'work' });
      sent.forEach((r, i) => results.set(ids[i]!, r));
    });
    const kills: Array<{ inFlight: number; downMs: number }> = [];
    try {
      await sleep(1500);
      for (let round = 0; round < ROUNDS; round++) {
        await sleep(rand.int(1000, 3000));
        const downMs = rand.int(300, 2000);
        await until(() => workers.some((c) => inFlightOf(c).length > 0), 3000, 5);
        const inFlight = workers.reduce((n, c) => n + inFlightOf(c).length, 0);
        await redis.kill();
        await sleep(downMs);
        await redis.start();
        kills.push({ inFlight, downMs });
      }
      await sleep(2000);
    } finally {
      await load.stop();
    }
    const accepted = load.accepted;
    const outcomes = await Promise.all(
      accepted.map((id) =>
        results
          .get(id)!
          .get({ timeoutMs: 30_000 })
          .then(
            (value) => ({ id, ok: value === id, err: undefined as unknown }),
            (err: unknown) => ({ id, ok: false, err }),
          ),
      ),
    );
    const executed = tally(tagged(workers, 'H'));
    const lost = outcomes.filter((o) => !o.ok);
    const neverRan = accepted.filter((id) => !executed.distinct.has(id));
    const crashes = children.crashes();
    printSummary('redis-kill-tasks', {
      sent: accepted.length,
      handled: outcomes.filter((o) => o.ok).length,
      duplicates: executed.duplicates,
      lost: lost.length,
      typedRejections: load.typed.length,
      crashes: crashes.length,
      extra: {
        'redis-kills': kills.length,
        'in-flight-at-kills': kills.map((k) => k.inFlight).join('/'),
        'down-ms': kills.map((k) => k.downMs).join('/'),
        'ran-but-no-result': lost.filter((o) => executed.distinct.has(o.id)).length,
        'never-ran': neverRan.length,
        seed: rand.seed,
      },
    });

    expect(load.untyped).toEqual([]);
    expect(crashes).toEqual([]);
    expect(kills.filter((k) => k.inFlight === 0), 'every kill hit tasks in flight').toEqual([]);
    expect(lost.slice(0, 10).map((o) => `${o.id}${executed.distinct.has(o.id) ? ' (ran)' : ''}: ${isEventBusError(o.err) ? o.err.code : String(o.err)}`)).toEqual([]);
    expect(accepted.length).toBeGreaterThan(100);
  });

  it('with the SQLite store and its outbox, every publish resolves across Redis kills and is handled', async () => {
    const rand = scenarioRng('redis-kill-outbox');
    onTestFailed(() => console.error(children.logDump()));
    const prefix = 'chaos-redis-outbox';
    const common = { role: 'consumer' as const, url: redis.url, keyPrefix: prefix, group: 'workers', claimIdleMs: 1000, handleMs: 20, concurrency: 10 };
    const workers: Child[] = [children.start({ ...common, name: 'ow1' }), children.start({ ...common, name: 'ow2' })];
    await Promise.all(workers.map((c) => c.ready));
    outboxProducer = await createEventSystem({
      transport: redisTransport({ url: redis.url, keyPrefix: prefix, publishTimeoutMs: 1000 }),
      store: sqliteStore({ filename: join(sqliteDir, 'events.db') }),
      outbox: { intervalMs: 500, graceMs: 1000 },
      logger: silentLogger,
      env: {},
      taskEvents: false,
      builtins: false,
      config: { eventSourcingEnabled: true },
    });
    const bus = outboxProducer;
    const load = steadyLoad('o', 20, 1, ([message]) => bus.publisher.publish({ type: EventType.SYSTEM_WARNING, data: { message: message! } }));
    const kills: Array<{ pending: number; downMs: number; acceptedDuring: number }> = [];
    const adminPending = async () => {
      const admin = redis.admin();
      try {
        await admin.connect();
        let sum = 0;
        for (const n of (await pendingByConsumer(admin, prefix, STREAM, 'workers')).values()) sum += n;
        return sum;
      } catch {
        return 0;
      } finally {
        admin.disconnect();
      }
    };
    try {
      await sleep(1500);
      for (let round = 0; round < ROUNDS; round++) {
        await sleep(rand.int(1000, 3000));
        const downMs = rand.int(500, 2500);
        let pending = 0;
        await until(async () => (pending = await adminPending()) > 0, 3000, 10);
        await redis.kill();
        const before = load.accepted.length;
        await sleep(downMs);
        await redis.start();
        kills.push({ pending, downMs, acceptedDuring: load.accepted.length - before });
      }
      await sleep(2000);
    } finally {
      await load.stop();
    }
    const accepted = load.accepted;
    const { handled, lost, crashes } = await settleHandled(children, workers, accepted, 500);
    printSummary('redis-kill-outbox', {
      sent: accepted.length,
      handled: accepted.length - lost.length,
      duplicates: handled.duplicates,
      lost: lost.length,
      typedRejections: load.typed.length,
      crashes: crashes.length,
      extra: {
        'redis-kills': kills.length,
        'pending-at-kills': kills.map((k) => k.pending).join('/'),
        'down-ms': kills.map((k) => k.downMs).join('/'),
        'accepted-while-down': kills.map((k) => k.acceptedDuring).join('/'),
        seed: rand.seed,
      },
    });

    expect(load.untyped).toEqual([]);
    expect(crashes).toEqual([]);
    expect(kills.filter((k) => k.pending === 0), 'every kill hit deliveries in flight').toEqual([]);
    expect(load.typed.slice(0, 5), 'with a durable outbox a publish does not fail when Redis is down').toEqual([]);
    expect(lost.slice(0, 20)).toEqual([]);
    expect(accepted.length).toBeGreaterThan(100);
  });
});
