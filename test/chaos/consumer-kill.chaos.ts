/**
 * Chaos 1: event consumers SIGKILLed at random moments under steady load.
 *
 * Three consumer processes share group `workers`; one more process is group `audit`. The test
 * publishes 250 events/s (publishMany, batches of 5) to a private AOF Redis. Each round it waits
 * a seeded random time, SIGKILLs a random `workers` member and starts a replacement. After the
 * rounds: every accepted event is handled by `workers` (at-least-once: the survivors claim the
 * victims' pending deliveries after `claimIdleMs`), `audit` gets every one too, each counted kill hit
 * deliveries in flight (the victim's XPENDING count after its death), and no process crashed.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { Redis } from 'ioredis';
import { EventType, type EventSystem } from '@procur/event-bus';
import { REDIS_REQUIRED } from '../e2e/fixtures/redis-helpers.js';
import { pendingByConsumer } from '../e2e/fixtures/redis-bus-processes.js';
import { ChaosRedis, Children, inFlightOf, pickBusy, printSummary, producerBus, scenarioRng, sleep, steadyLoad, tagged, tally, until, settleHandled, type Child } from './fixtures/chaos.js';

const hasRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
const ROUNDS = 6;
const STREAM = 'procur:events';
const PREFIX = 'chaos-consumers';

describe.skipIf(!hasRedisServer && !REDIS_REQUIRED)('chaos: consumers SIGKILLed under load', () => {
  let redis: ChaosRedis;
  let admin: Redis;
  let producer: EventSystem | undefined;
  let freezeProducer: EventSystem | undefined;
  const children = new Children();

  beforeAll(async () => {
    redis = await ChaosRedis.create();
    await redis.start();
    admin = redis.admin();
    await admin.connect();
  });
  afterAll(async () => {
    await children.stopAll();
    await producer?.close().catch(() => {});
    await freezeProducer?.close().catch(() => {});
    admin?.disconnect();
    await redis?.destroy();
  });

  it('another member handles every accepted event; another group gets them all', async () => {
    const rand = scenarioRng('consumer-kill');
    onTestFailed(() => console.error(children.logDump()));
    const common = { role: 'consumer' as const, url: redis.url, keyPrefix: PREFIX, claimIdleMs: 1000, handleMs: 40, concurrency: 10 };
    let n = 0;
    const startWorker = () => children.start({ ...common, group: 'workers', name: `w${++n}` });
    const workers: Child[] = [startWorker(), startWorker(), startWorker()];
    const audit = children.start({ ...common, group: 'audit', name: 'a1' });
    const members = new Map<Child, string>();
    await Promise.all([...workers, audit].map(async (c) => members.set(c, await c.ready)));

    producer = await producerBus(redis.url, PREFIX);
    const bus = producer;
    const load = steadyLoad('m', 20, 5, (items) =>
      bus.publisher.publishMany(items.map((message) => ({ type: EventType.SYSTEM_WARNING, data: { message } }))),
    );

    const kills: Array<{ victim: string; pending: number; inFlight: number }> = [];
    try {
      await sleep(1000);
      // ROUNDS kills that hit deliveries in flight; a kill that found its victim idle (its work
      // acked between the pick and the signal on a loaded machine) earns one more round, bounded.
      while (kills.filter((k) => k.pending > 0).length < ROUNDS && kills.length < 2 * ROUNDS) {
        await sleep(rand.int(300, 2000));
        // The random moment, then the first instant a random member has work in flight.
        const victim = await pickBusy(rand, workers);
        await children.kill(victim);
        // What it held unacked when it died: XPENDING of its member (nobody claims within claimIdleMs).
        const pending = (await pendingByConsumer(admin, PREFIX, STREAM, 'workers')).get(members.get(victim)!) ?? 0;
        kills.push({ victim: victim.name, pending, inFlight: inFlightOf(victim).length });
        const replacement = startWorker();
        workers.push(replacement);
        members.set(replacement, await replacement.ready);
      }
      await sleep(1000);
    } finally {
      await load.stop();
    }

    const accepted = load.accepted;
    const missing = (got: () => string[]) => {
      const have = new Set(got());
      return accepted.filter((m) => !have.has(m));
    };
    await until(() => missing(() => tagged(workers, 'H')).length === 0 && missing(() => tagged([audit], 'H')).length === 0, 60_000, 200);
    await sleep(500); // late duplicates show up now

    const handled = tally(tagged(workers, 'H'));
    const lostWorkers = missing(() => tagged(workers, 'H'));
    const lostAudit = missing(() => tagged([audit], 'H'));
    const crashes = children.crashes();
    printSummary('consumer-kill', {
      sent: accepted.length,
      handled: accepted.filter((m) => handled.distinct.has(m)).length,
      duplicates: handled.duplicates,
      lost: lostWorkers.length,
      typedRejections: load.typed.length,
      crashes: crashes.length,
      extra: {
        kills: kills.length,
        'kills-with-pending': kills.filter((k) => k.pending > 0).length,
        'pending-at-kills': kills.map((k) => k.pending).join('/'),
        'audit-lost': lostAudit.length,
        'handled-per-member': workers.map((c) => `${c.name}:${tagged([c], 'H').length}`).join(','),
        seed: rand.seed,
      },
    });

    expect(load.untyped).toEqual([]);
    expect(crashes).toEqual([]);
    expect(kills.filter((k) => k.pending > 0).length, `${ROUNDS} kills hit deliveries in flight (pending at kills: ${kills.map((k) => k.pending).join('/')})`).toBe(ROUNDS);
    expect(lostWorkers.slice(0, 20)).toEqual([]);
    expect(lostAudit.slice(0, 20)).toEqual([]);
    expect(accepted.length).toBeGreaterThan(1000);
  });

  it('a consumer frozen (SIGSTOP) past claimIdleMs and resumed: nothing lost, no crash', async () => {
    const rand = scenarioRng('consumer-freeze');
    onTestFailed(() => console.error(children.logDump()));
    const prefix = 'chaos-freeze';
    const claimIdleMs = 1000;
    const common = { role: 'consumer' as const, url: redis.url, keyPrefix: prefix, group: 'workers', claimIdleMs, handleMs: 40, concurrency: 10 };
    const workers: Child[] = [children.start({ ...common, name: 'f1' }), children.start({ ...common, name: 'f2' }), children.start({ ...common, name: 'f3' })];
    await Promise.all(workers.map((c) => c.ready));
    freezeProducer = await producerBus(redis.url, prefix);
    const bus = freezeProducer;
    const load = steadyLoad('z', 20, 5, (items) =>
      bus.publisher.publishMany(items.map((message) => ({ type: EventType.SYSTEM_WARNING, data: { message } }))),
    );
    const freezes: Array<{ victim: string; inFlight: number; frozenMs: number }> = [];
    try {
      await sleep(1000);
      for (let round = 0; round < 3; round++) {
        await sleep(rand.int(500, 2000));
        const victim = await pickBusy(rand, workers);
        const frozenMs = rand.int(2 * claimIdleMs, 4 * claimIdleMs);
        const inFlight = inFlightOf(victim).length;
        victim.child.kill('SIGSTOP');
        await sleep(frozenMs);
        victim.child.kill('SIGCONT');
        freezes.push({ victim: victim.name, inFlight, frozenMs });
      }
      await sleep(1000);
    } finally {
      await load.stop();
    }
    const accepted = load.accepted;
    const { handled, lost, crashes } = await settleHandled(children, workers, accepted, 1000);
    const admin = redis.admin();
    await admin.connect();
    const pendingLeft = [...(await pendingByConsumer(admin, prefix, STREAM, 'workers')).values()].reduce((a, b) => a + b, 0);
    admin.disconnect();
    printSummary('consumer-freeze', {
      sent: accepted.length,
      handled: accepted.length - lost.length,
      duplicates: handled.duplicates,
      lost: lost.length,
      typedRejections: load.typed.length,
      crashes: crashes.length,
      extra: {
        freezes: freezes.length,
        'in-flight-at-freeze': freezes.map((f) => f.inFlight).join('/'),
        'frozen-ms': freezes.map((f) => f.frozenMs).join('/'),
        'pending-after-drain': pendingLeft,
        seed: rand.seed,
      },
    });

    expect(load.untyped).toEqual([]);
    expect(crashes).toEqual([]);
    expect(freezes.filter((f) => f.inFlight === 0), 'every freeze hit handlers in flight').toEqual([]);
    expect(lost.slice(0, 20)).toEqual([]);
    expect(pendingLeft, 'nothing left pending after the drain').toBe(0);
    for (const c of workers) expect(c.alive(), `${c.name} still runs`).toBe(true);
  });
});
