/**
 * Chaos 5: handlers that hang.
 *
 * Tasks: two worker processes run queue `work` (concurrency 4, `timeoutMs` 1500, 2 retries)
 * under steady load; some tasks hang on their first attempt, half of them ignoring `ctx.signal`
 * (`deaf1`: a promise that never settles), half until it aborts them (`coop1`); a few hang on
 * every attempt (`always`). The other tasks keep completing; a hung first attempt times out and
 * the retry's result arrives; a task that always hangs is dead-lettered (`get()` rejects with
 * `TaskFailedError`). Nothing is lost.
 *
 * Events: consumer `h1` of group `workers` never settles its handler for events named `hang-*`
 * (the event consumer has no handler timeout); `w2` handles everything. The rest of the group's
 * work goes on meanwhile (every other event is handled while `h1` still hangs); SIGTERM to `h1`
 * exits 0 within its shutdown timeout and hands the hung deliveries back, and `w2` handles them.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { EventType, isEventBusError, type EventSystem, type TaskResult } from '@procur/event-bus';
import { REDIS_REQUIRED } from '../e2e/fixtures/redis-helpers.js';
import { ChaosRedis, Children, inFlightOf, printSummary, producerBus, scenarioRng, sleep, steadyLoad, tagged, tally, until } from './fixtures/chaos.js';

const hasRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!hasRedisServer && !REDIS_REQUIRED)('chaos: handlers that hang', () => {
  let redis: ChaosRedis;
  const opened: EventSystem[] = [];
  const children = new Children();

  beforeAll(async () => {
    redis = await ChaosRedis.create();
    await redis.start();
  });
  afterAll(async () => {
    await children.stopAll();
    await Promise.allSettled(opened.map((b) => b.close()));
    await redis?.destroy();
  });

  it('tasks: a hung attempt times out and is retried or dead-lettered; the rest goes on', async () => {
    const rand = scenarioRng('hung-task');
    onTestFailed(() => console.error(children.logDump()));
    const prefix = 'chaos-hang-tasks';
    const common = { role: 'worker' as const, url: redis.url, keyPrefix: prefix, claimIdleMs: 1000, handleMs: 20, concurrency: 4, taskTimeoutMs: 1500, taskMaxRetries: 2 };
    const workers = [children.start({ ...common, name: 'tw1' }), children.start({ ...common, name: 'tw2' })];
    await Promise.all(workers.map((c) => c.ready));
    const bus = await producerBus(redis.url, prefix);
    opened.push(bus);

    // Which tasks hang: seeded, about one in 40 on its first attempt, one in 150 on every attempt.
    const modes = new Map<string, 'deaf1' | 'coop1' | 'always'>();
    const results = new Map<string, TaskResult>();
    const load = steadyLoad('t', 100, 5, async (ids) => {
      const args = ids.map((id) => {
        const r = rand.next();
        // Every mode at least once (t3, t7, t11), then at random.
        const fixed = ({ t3: 'deaf1', t7: 'coop1', t11: 'always' } as const)[id as 't3' | 't7' | 't11'];
        const mode = fixed ?? (r < 1 / 80 ? 'deaf1' : r < 2 / 80 ? 'coop1' : r < 2 / 80 + 1 / 150 ? 'always' : undefined);
        if (mode) modes.set(id, mode);
        return mode ? { id, mode } : { id };
      });
      const sent = await bus.tasks.sendMany('work', args, { queue: 'work' });
      sent.forEach((r, i) => results.set(ids[i]!, r));
    });
    await sleep(8000);
    await load.stop();

    const accepted = load.accepted;
    const outcomes = await Promise.all(
      accepted.map((id) =>
        results
          .get(id)!
          .get({ timeoutMs: 30_000 })
          .then(
            (value) => ({ id, value, err: undefined as unknown }),
            (err: unknown) => ({ id, value: undefined, err }),
          ),
      ),
    );
    const ok = outcomes.filter((o) => o.value === o.id);
    const deadLettered = outcomes.filter((o) => modes.get(o.id) === 'always' && isEventBusError(o.err, 'ERR_TASK_FAILED'));
    const lost = outcomes.filter((o) => o.value !== o.id && !deadLettered.includes(o));
    const executed = tally(tagged(workers, 'H'));
    const crashes = children.crashes();
    const count = (m: string) => [...modes.values()].filter((v) => v === m).length;
    printSummary('hung-task', {
      sent: accepted.length,
      handled: ok.length,
      duplicates: executed.duplicates,
      lost: lost.length,
      typedRejections: deadLettered.length + load.typed.length,
      crashes: crashes.length,
      extra: {
        'hung-deaf': count('deaf1'),
        'hung-coop': count('coop1'),
        'hung-always': count('always'),
        'dead-lettered': deadLettered.length,
        'lost-by-mode': ['deaf1', 'coop1', 'always', 'normal'].map((m) => `${m}:${lost.filter((o) => (modes.get(o.id) ?? 'normal') === m).length}`).join(','),
        seed: rand.seed,
      },
    });

    expect(load.untyped).toEqual([]);
    expect(crashes).toEqual([]);
    expect(count('deaf1') + count('coop1'), 'some tasks hung').toBeGreaterThan(0);
    expect(lost.slice(0, 10).map((o) => `${o.id} (${modes.get(o.id) ?? 'normal'}): ${isEventBusError(o.err) ? o.err.code : String(o.err)}`)).toEqual([]);
    expect(deadLettered).toHaveLength(count('always'));
  });

  it('events: the group goes on past a hung handler; SIGTERM hands its deliveries back', async () => {
    const rand = scenarioRng('hung-handler');
    onTestFailed(() => console.error(children.logDump()));
    const prefix = 'chaos-hang-events';
    const common = { role: 'consumer' as const, url: redis.url, keyPrefix: prefix, group: 'workers', claimIdleMs: 1000, handleMs: 10, concurrency: 10, shutdownMs: 2000 };
    const hanger = children.start({ ...common, name: 'h1', hang: true });
    const healthy = children.start({ ...common, name: 'w2' });
    await Promise.all([hanger.ready, healthy.ready]);
    const bus = await producerBus(redis.url, prefix);
    opened.push(bus);

    const hangs = new Set<string>();
    const name = (item: string) => (hangs.has(item) ? `hang-${item}` : item);
    const load = steadyLoad('e', 50, 5, (items) => {
      for (const item of items) if (rand.next() < 1 / 60) hangs.add(item);
      return bus.publisher.publishMany(items.map((item) => ({ type: EventType.SYSTEM_WARNING, data: { message: name(item) } })));
    });
    await sleep(6000);
    await load.stop();
    const accepted = load.accepted.map(name);
    const both = () => tagged([hanger, healthy], 'H');
    const missing = () => {
      const have = new Set(both());
      return accepted.filter((m) => !have.has(m));
    };

    // While h1 still hangs, everything else is handled.
    await until(() => missing().every((m) => m.startsWith('hang-')), 30_000, 200);
    const hungInH1 = inFlightOf(hanger);
    const stuckBesideHangs = missing().filter((m) => !m.startsWith('hang-'));
    expect(hanger.alive()).toBe(true);

    const t0 = Date.now();
    hanger.child.kill('SIGTERM');
    const exit = await Promise.race([hanger.exited, sleep(15_000).then(() => undefined)]);
    const stopMs = Date.now() - t0;
    await until(() => missing().length === 0, 30_000, 200);
    await sleep(500);

    const handled = tally(both());
    const lost = missing();
    const crashes = children.crashes();
    printSummary('hung-handler', {
      sent: accepted.length,
      handled: accepted.filter((m) => handled.distinct.has(m)).length,
      duplicates: handled.duplicates,
      lost: lost.length,
      typedRejections: load.typed.length,
      crashes: crashes.length,
      extra: {
        hangs: hangs.size,
        'hung-in-h1': hungInH1.length,
        'stuck-beside-hangs': stuckBesideHangs.length,
        'h1-exit': exit ? String(exit.code ?? exit.signal) : 'none',
        'h1-stop-ms': stopMs,
        seed: rand.seed,
      },
    });

    expect(load.untyped).toEqual([]);
    expect(crashes).toEqual([]);
    expect(hungInH1.length, 'h1 held hung deliveries').toBeGreaterThan(0);
    expect(stuckBesideHangs.slice(0, 10), 'the rest of the work went on while h1 hung').toEqual([]);
    expect(exit, 'h1 exited 0 after SIGTERM').toEqual({ code: 0, signal: null });
    expect(lost.slice(0, 10)).toEqual([]);
  });

  it('events: a member whose every slot hangs does not sit on the events it read ahead', async () => {
    const rand = scenarioRng('hung-slots');
    onTestFailed(() => console.error(children.logDump()));
    const prefix = 'chaos-hang-slots';
    const common = { role: 'consumer' as const, url: redis.url, keyPrefix: prefix, group: 'workers', claimIdleMs: 1000, handleMs: 10, concurrency: 2, shutdownMs: 1000 };
    const hanger = children.start({ ...common, name: 'h1', hang: true });
    const healthy = children.start({ ...common, name: 'w2' });
    await Promise.all([hanger.ready, healthy.ready]);
    const bus = await producerBus(redis.url, prefix);
    opened.push(bus);
    const publish = (messages: string[]) =>
      bus.publisher.publishMany(messages.map((message) => ({ type: EventType.SYSTEM_WARNING, data: { message } })));

    // Hang-events until both of h1's slots hang (w2 handles the ones it gets).
    let k = 0;
    const filled = await until(
      async () => {
        if (inFlightOf(hanger).length >= 2) return true;
        await publish([`hang-${k++}`]);
        return false;
      },
      20_000,
      rand.int(20, 80),
    );
    const load = steadyLoad('e', 50, 5, publish);
    await sleep(4000);
    await load.stop();
    const have = () => new Set(tagged([hanger, healthy], 'H'));
    // Generous: 10 x claimIdleMs for what h1 read ahead to be handed to w2.
    await until(() => load.accepted.every((m) => have().has(m)), 10_000, 200);
    const stuck = load.accepted.filter((m) => !have().has(m));
    const crashes = children.crashes();
    printSummary('hung-slots', {
      sent: load.accepted.length,
      handled: load.accepted.length - stuck.length,
      duplicates: tally(tagged([hanger, healthy], 'H')).duplicates,
      lost: stuck.length,
      typedRejections: load.typed.length,
      crashes: crashes.length,
      extra: { 'h1-slots-hung': inFlightOf(hanger).length, 'hang-events': k, seed: rand.seed },
    });

    expect(filled, 'both of h1 slots hang').toBe(true);
    expect(hanger.alive()).toBe(true);
    expect(crashes).toEqual([]);
    expect(stuck.slice(0, 10), 'events read ahead by a member whose slots all hang reach another member').toEqual([]);
  });
});
