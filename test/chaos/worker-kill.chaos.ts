/**
 * Chaos 2: task workers SIGKILLed at random moments under steady load.
 *
 * Three worker processes run queue `work` (concurrency 4, 50 ms per task). The test sends 100
 * tasks/s by name (`bus.tasks.sendMany`) to a private AOF Redis. Each round it waits a seeded
 * random time, SIGKILLs a random worker at a moment it runs tasks and starts a replacement.
 * After the rounds every task's result arrives (`get()`), every kill hit tasks in flight (the
 * victim's own record of started, unfinished tasks), and no process crashed.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { isEventBusError, type EventSystem, type TaskResult } from '@procur/event-bus';
import { REDIS_REQUIRED } from '../e2e/fixtures/redis-helpers.js';
import { ChaosRedis, Children, inFlightOf, pickBusy, printSummary, producerBus, scenarioRng, sleep, steadyLoad, tagged, tally, until, type Child } from './fixtures/chaos.js';

const hasRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
const ROUNDS = 6;
const PREFIX = 'chaos-workers';

describe.skipIf(!hasRedisServer && !REDIS_REQUIRED)('chaos: task workers SIGKILLed under load', () => {
  let redis: ChaosRedis;
  let producer: EventSystem | undefined;
  const children = new Children();

  beforeAll(async () => {
    redis = await ChaosRedis.create();
    await redis.start();
  });
  afterAll(async () => {
    await children.stopAll();
    await producer?.close().catch(() => {});
    await redis?.destroy();
  });

  it('every task result arrives', async () => {
    const rand = scenarioRng('worker-kill');
    onTestFailed(() => console.error(children.logDump()));
    const common = { role: 'worker' as const, url: redis.url, keyPrefix: PREFIX, claimIdleMs: 1000, handleMs: 50, concurrency: 4 };
    let n = 0;
    const startWorker = () => children.start({ ...common, name: `w${++n}` });
    const workers: Child[] = [startWorker(), startWorker(), startWorker()];
    await Promise.all(workers.map((c) => c.ready));

    producer = await producerBus(redis.url, PREFIX);
    const bus = producer;
    const results = new Map<string, TaskResult>();
    const load = steadyLoad('t', 50, 5, async (ids) => {
      const sent = await bus.tasks.sendMany('work', ids.map((id) => ({ id })), { queue: 'work' });
      sent.forEach((r, i) => results.set(ids[i]!, r));
    });

    const kills: Array<{ victim: string; inFlight: number }> = [];
    try {
      await sleep(1000);
      // ROUNDS kills that hit tasks in flight; a kill that found its victim idle earns one more
      // round, bounded.
      while (kills.filter((k) => k.inFlight > 0).length < ROUNDS && kills.length < 2 * ROUNDS) {
        await sleep(rand.int(300, 2000));
        // The random moment, then the first instant a random member has work in flight.
        const victim = await pickBusy(rand, workers);
        await children.kill(victim);
        kills.push({ victim: victim.name, inFlight: inFlightOf(victim).length });
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
    const lost = outcomes.filter((o) => !o.ok);
    const crashes = children.crashes();
    printSummary('worker-kill', {
      sent: accepted.length,
      handled: outcomes.filter((o) => o.ok).length,
      duplicates: executed.duplicates,
      lost: lost.length,
      typedRejections: load.typed.length,
      crashes: crashes.length,
      extra: {
        kills: kills.length,
        'kills-with-tasks-in-flight': kills.filter((k) => k.inFlight > 0).length,
        'in-flight-at-kills': kills.map((k) => k.inFlight).join('/'),
        seed: rand.seed,
      },
    });

    expect(load.untyped).toEqual([]);
    expect(crashes).toEqual([]);
    expect(kills.filter((k) => k.inFlight > 0).length, `${ROUNDS} kills hit tasks in flight (in flight at kills: ${kills.map((k) => k.inFlight).join('/')})`).toBe(ROUNDS);
    expect(lost.slice(0, 10).map((o) => `${o.id}: ${isEventBusError(o.err) ? o.err.code : String(o.err)}`)).toEqual([]);
    expect(accepted.filter((id) => !executed.distinct.has(id)).slice(0, 10)).toEqual([]);
    expect(accepted.length).toBeGreaterThan(500);
  });
});
