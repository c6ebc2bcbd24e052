/**
 * Chaos 6: SIGTERM to a worker process under steady load.
 *
 * Three worker processes run queue `work` (concurrency 3, 300 ms per task, shutdown timeout
 * 10 s). Each round the test waits a seeded random time, sends SIGTERM to a random worker at a
 * moment it runs tasks, and starts a replacement. The stopped worker finishes the tasks it was
 * running (their `H` lines are in its own file), exits 0 within its shutdown timeout (bounded
 * generously), and nothing is lost or run twice: a graceful stop hands back only what it had not
 * started, so not even at-least-once duplicates are expected.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { EventType, isEventBusError, type EventSystem, type TaskResult } from '@procur/event-bus';
import { REDIS_REQUIRED } from '../e2e/fixtures/redis-helpers.js';
import { ChaosRedis, Children, inFlightOf, pickBusy, printSummary, producerBus, scenarioRng, sleep, steadyLoad, tagged, tally, settleHandled, type Child, type ExitInfo } from './fixtures/chaos.js';

const hasRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
const ROUNDS = 3;
const PREFIX = 'chaos-sigterm';
const SHUTDOWN_MS = 10_000;

describe.skipIf(!hasRedisServer && !REDIS_REQUIRED)('chaos: SIGTERM to a worker under load', () => {
  let redis: ChaosRedis;
  let producer: EventSystem | undefined;
  let eventProducer: EventSystem | undefined;
  const children = new Children();

  beforeAll(async () => {
    redis = await ChaosRedis.create();
    await redis.start();
  });
  afterAll(async () => {
    await children.stopAll();
    await producer?.close().catch(() => {});
    await eventProducer?.close().catch(() => {});
    await redis?.destroy();
  });

  it('the worker finishes its in-flight tasks and exits 0; nothing lost or run twice', async () => {
    const rand = scenarioRng('worker-sigterm');
    onTestFailed(() => console.error(children.logDump()));
    const common = { role: 'worker' as const, url: redis.url, keyPrefix: PREFIX, claimIdleMs: 1000, handleMs: 300, concurrency: 3, shutdownMs: SHUTDOWN_MS };
    let n = 0;
    const startWorker = () => children.start({ ...common, name: `w${++n}` });
    const workers: Child[] = [startWorker(), startWorker(), startWorker()];
    await Promise.all(workers.map((c) => c.ready));

    producer = await producerBus(redis.url, PREFIX);
    const bus = producer;
    const results = new Map<string, TaskResult>();
    const load = steadyLoad('t', 200, 4, async (ids) => {
      const sent = await bus.tasks.sendMany('work', ids.map((id) => ({ id })), { queue: 'work' });
      sent.forEach((r, i) => results.set(ids[i]!, r));
    });

    const stops: Array<{ victim: string; inFlight: string[]; unfinished: string[]; exit: ExitInfo | undefined; ms: number }> = [];
    try {
      await sleep(1000);
      for (let round = 0; round < ROUNDS; round++) {
        await sleep(rand.int(1000, 2500));
        // The random moment, then the first instant a random member has work in flight.
        const victim = await pickBusy(rand, workers);
        const inFlight = inFlightOf(victim);
        const t0 = Date.now();
        victim.child.kill('SIGTERM');
        const exit = await Promise.race([victim.exited, sleep(SHUTDOWN_MS + 15_000).then(() => undefined)]);
        const done = new Set(tagged([victim], 'H'));
        stops.push({ victim: victim.name, inFlight, unfinished: inFlight.filter((id) => !done.has(id)), exit, ms: Date.now() - t0 });
        const replacement = startWorker();
        workers.push(replacement);
        await replacement.ready;
      }
      await sleep(1000);
    } finally {
      await load.stop();
    }

    const accepted = load.accepted;
    const outcomes = await Promise.all(
      accepted.map((id) =>
        results
          .get(id)!
          .get({ timeoutMs: 60_000 })
          .then(
            (value) => ({ id, ok: value === id, err: undefined as unknown }),
            (err: unknown) => ({ id, ok: false, err }),
          ),
      ),
    );
    await sleep(500);
    const executed = tally(tagged(workers, 'H'));
    const started = tally(tagged(workers, 'S').map((s) => s.split(' ')[0]!));
    const lost = outcomes.filter((o) => !o.ok);
    const crashes = children.crashes();
    printSummary('worker-sigterm', {
      sent: accepted.length,
      handled: outcomes.filter((o) => o.ok).length,
      duplicates: executed.duplicates,
      lost: lost.length,
      typedRejections: load.typed.length,
      crashes: crashes.length,
      extra: {
        sigterms: stops.length,
        'in-flight-at-sigterm': stops.map((s) => s.inFlight.length).join('/'),
        'unfinished-at-exit': stops.reduce((k, s) => k + s.unfinished.length, 0),
        'exit-codes': stops.map((s) => (s.exit ? String(s.exit.code ?? s.exit.signal) : 'none')).join('/'),
        'stop-ms': stops.map((s) => s.ms).join('/'),
        'started-twice': started.duplicates,
        seed: rand.seed,
      },
    });

    expect(load.untyped).toEqual([]);
    expect(crashes).toEqual([]);
    for (const s of stops) {
      expect(s.inFlight.length, `${s.victim} ran tasks at SIGTERM`).toBeGreaterThan(0);
      expect(s.exit, `${s.victim} exited 0 within its shutdown timeout`).toEqual({ code: 0, signal: null });
      expect(s.unfinished, `${s.victim} finished its in-flight tasks`).toEqual([]);
    }
    expect(lost.slice(0, 10).map((o) => `${o.id}: ${isEventBusError(o.err) ? o.err.code : String(o.err)}`)).toEqual([]);
    expect(executed.duplicates, 'no task ran twice').toBe(0);
    expect(accepted.length).toBeGreaterThan(100);
  });

  it('events: a consumer process finishes its in-flight handlers on SIGTERM and exits 0; nothing lost or run twice', async () => {
    const rand = scenarioRng('consumer-sigterm');
    onTestFailed(() => console.error(children.logDump()));
    const prefix = 'chaos-sigterm-events';
    const common = { role: 'consumer' as const, url: redis.url, keyPrefix: prefix, group: 'workers', claimIdleMs: 1000, handleMs: 200, concurrency: 5, shutdownMs: SHUTDOWN_MS };
    let n = 0;
    const startConsumer = () => children.start({ ...common, name: `c${++n}` });
    const consumers: Child[] = [startConsumer(), startConsumer(), startConsumer()];
    await Promise.all(consumers.map((c) => c.ready));
    eventProducer = await producerBus(redis.url, prefix);
    const bus = eventProducer;
    const load = steadyLoad('e', 100, 4, (items) =>
      bus.publisher.publishMany(items.map((message) => ({ type: EventType.SYSTEM_WARNING, data: { message } }))),
    );
    const stops: Array<{ victim: string; inFlight: string[]; unfinished: string[]; exit: ExitInfo | undefined; ms: number }> = [];
    try {
      await sleep(1000);
      for (let round = 0; round < ROUNDS; round++) {
        await sleep(rand.int(1000, 2500));
        const victim = await pickBusy(rand, consumers);
        const inFlight = inFlightOf(victim);
        const t0 = Date.now();
        victim.child.kill('SIGTERM');
        const exit = await Promise.race([victim.exited, sleep(SHUTDOWN_MS + 15_000).then(() => undefined)]);
        const done = new Set(tagged([victim], 'H'));
        stops.push({ victim: victim.name, inFlight, unfinished: inFlight.filter((id) => !done.has(id)), exit, ms: Date.now() - t0 });
        const replacement = startConsumer();
        consumers.push(replacement);
        await replacement.ready;
      }
      await sleep(1000);
    } finally {
      await load.stop();
    }
    const accepted = load.accepted;
    const { handled, lost, crashes } = await settleHandled(children, consumers, accepted, 500);
    printSummary('consumer-sigterm', {
      sent: accepted.length,
      handled: accepted.length - lost.length,
      duplicates: handled.duplicates,
      lost: lost.length,
      typedRejections: load.typed.length,
      crashes: crashes.length,
      extra: {
        sigterms: stops.length,
        'in-flight-at-sigterm': stops.map((s) => s.inFlight.length).join('/'),
        'unfinished-at-exit': stops.reduce((k, s) => k + s.unfinished.length, 0),
        'exit-codes': stops.map((s) => (s.exit ? String(s.exit.code ?? s.exit.signal) : 'none')).join('/'),
        'stop-ms': stops.map((s) => s.ms).join('/'),
        seed: rand.seed,
      },
    });

    expect(load.untyped).toEqual([]);
    expect(crashes).toEqual([]);
    for (const s of stops) {
      expect(s.inFlight.length, `${s.victim} ran handlers at SIGTERM`).toBeGreaterThan(0);
      expect(s.exit, `${s.victim} exited 0 within its shutdown timeout`).toEqual({ code: 0, signal: null });
      expect(s.unfinished, `${s.victim} finished its in-flight handlers`).toEqual([]);
    }
    expect(lost.slice(0, 20)).toEqual([]);
    expect(handled.duplicates, 'no event handled twice').toBe(0);
    expect(accepted.length).toBeGreaterThan(100);
  });
});
