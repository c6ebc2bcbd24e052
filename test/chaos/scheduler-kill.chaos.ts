/**
 * Chaos 3: the scheduler leader SIGKILLed, several rounds, with an every-second schedule.
 *
 * Three scheduler processes (`bus.scheduler`, entry `every-second`, task `tick`) and one worker
 * that runs the ticks share a private AOF Redis. Each round the test waits a seeded random time,
 * reads who holds the leader lock, SIGKILLs that process and starts another scheduler. The
 * product's promise (DESIGN.md): "each due run fires once across all processes sharing the
 * transport". So every one-second slot of the observed window ran exactly once: a failover may
 * delay a run (the new leader fires what fell due meanwhile), never skip or repeat it.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { EventSystem } from '@procur/event-bus';
import { REDIS_REQUIRED } from '../e2e/fixtures/redis-helpers.js';
import { ChaosRedis, Children, printSummary, producerBus, scenarioRng, sleep, tagged, until, type Child } from './fixtures/chaos.js';

const hasRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
const ROUNDS = 5;
const PREFIX = 'chaos-scheduler';
const LEADER_KEY = 'procur:scheduler:leader';
const SLOT = /^schedule:every-second:(.+)$/;

describe.skipIf(!hasRedisServer && !REDIS_REQUIRED)('chaos: scheduler leader SIGKILLed', () => {
  let redis: ChaosRedis;
  let observer: EventSystem | undefined;
  const children = new Children();

  beforeAll(async () => {
    redis = await ChaosRedis.create();
    await redis.start();
  });
  afterAll(async () => {
    await children.stopAll();
    await observer?.close().catch(() => {});
    await redis?.destroy();
  });

  it('each due run fires once across leader failovers', async () => {
    const rand = scenarioRng('scheduler-kill');
    onTestFailed(() => console.error(children.logDump()));
    const worker = children.start({ role: 'worker', name: 'runner', url: redis.url, keyPrefix: PREFIX, concurrency: 2 });
    let n = 0;
    const startBeat = () => children.start({ role: 'beat', name: `b${++n}`, url: redis.url, keyPrefix: PREFIX });
    const beats: Child[] = [startBeat(), startBeat(), startBeat()];
    await Promise.all([worker, ...beats].map((c) => c.ready));
    observer = await producerBus(redis.url, PREFIX);
    const bus = observer;
    const leader = async (): Promise<Child | undefined> => {
      const holder = await bus.transport.kvGet(LEADER_KEY);
      const pid = holder ? Number(holder.split(':').at(-2)) : NaN;
      return beats.find((c) => c.pid === pid && c.alive());
    };
    expect(await until(async () => (await leader()) !== undefined, 10_000, 100), 'a scheduler took the lead').toBe(true);
    const windowStart = Math.ceil((Date.now() + 1000) / 1000) * 1000;

    const kills: Array<{ victim: string; wasLeader: boolean; at: number }> = [];
    for (let round = 0; round < ROUNDS; round++) {
      await sleep(rand.int(1500, 3500));
      const victim = await leader();
      if (victim) {
        await children.kill(victim);
        kills.push({ victim: victim.name, wasLeader: true, at: Date.now() });
      } else {
        kills.push({ victim: '-', wasLeader: false, at: Date.now() });
      }
      const replacement = startBeat();
      beats.push(replacement);
      await replacement.ready;
    }
    // The last failover settles (the lock expires, a new leader fires what fell due).
    await sleep(4000);
    const windowEnd = Math.floor((Date.now() - 1500) / 1000) * 1000;
    const due: number[] = [];
    for (let t = windowStart; t <= windowEnd; t += 1000) due.push(t);

    const fired = () =>
      tagged([worker], 'T')
        .map((c) => SLOT.exec(c)?.[1])
        .filter((iso): iso is string => iso !== undefined)
        .map((iso) => Date.parse(iso));
    const firedSet = () => new Set(fired());
    await until(() => due.every((t) => firedSet().has(t)), 8000, 200);
    await Promise.all(beats.filter((c) => c.alive()).map((c) => (c.child.kill('SIGTERM'), c.exited)));
    await sleep(500);

    const inWindow = fired().filter((t) => t >= windowStart && t <= windowEnd);
    const counts = new Map<number, number>();
    for (const t of inWindow) counts.set(t, (counts.get(t) ?? 0) + 1);
    const lost = due.filter((t) => !counts.has(t));
    const repeated = [...counts].filter(([, c]) => c > 1);
    const crashes = children.crashes();
    printSummary('scheduler-kill', {
      sent: due.length,
      handled: due.filter((t) => counts.has(t)).length,
      duplicates: repeated.reduce((s, [, c]) => s + c - 1, 0),
      lost: lost.length,
      typedRejections: 0,
      crashes: crashes.length,
      extra: {
        kills: kills.length,
        'leader-kills': kills.filter((k) => k.wasLeader).length,
        'lost-slots': lost.map((t) => new Date(t).toISOString().slice(11, 19)).join(',') || '-',
        seed: rand.seed,
      },
    });

    expect(tagged([worker], 'T').length, 'ticks ran, with schedule:<name>:<slot ISO> correlation ids').toBeGreaterThan(0);
    expect(fired().length, 'tick correlation ids name their slot (schedule:every-second:<ISO>)').toBe(tagged([worker], 'T').length);
    expect(crashes).toEqual([]);
    expect(kills.filter((k) => !k.wasLeader), 'every kill hit the leader').toEqual([]);
    expect(due.length).toBeGreaterThan(10);
    expect(repeated.map(([t, c]) => `${new Date(t).toISOString()} x${c}`), 'no run fired twice').toEqual([]);
    expect(lost.map((t) => new Date(t).toISOString()), 'each due run fired').toEqual([]);
  });
});
