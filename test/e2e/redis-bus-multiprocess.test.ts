/**
 * The real core consumer in several processes over the real Redis (bus level: each child runs
 * `createEventSystem` + `bus.consumer(name, { group }).registerHandler(...).start()`, the producer
 * `bus.publisher.publishMany`):
 * - three consumer processes in one group share 10,000 events, each handled exactly once when
 *   none dies; a consumer of a second group receives all 10,000;
 * - a consumer killed with SIGKILL in the middle of handling: the survivors claim its pending
 *   events after `claimIdleMs` and handle them; 10,000 distinct at the end, none lost.
 * (`redis-multiprocess.test.ts` checks the same at transport level.)
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { Redis } from 'ioredis';
import { EventType, type EventSystem, type PublishInput } from '@procur/event-bus';
import { REDIS_REQUIRED, TEST_REDIS_URL, adminClient, deleteKeys, probeRedis, redisBus, uniquePrefix } from './fixtures/redis-helpers.js';
import { BusConsumers, pendingByConsumer, pendingMessagesOf, sleep, until, type BusConsumerProcess } from './fixtures/redis-bus-processes.js';

const reachable = await probeRedis(TEST_REDIS_URL);
if (!reachable && !REDIS_REQUIRED) {
  console.warn(`\n!!! [redis-bus-multiprocess.test] Redis at ${TEST_REDIS_URL} is NOT reachable: the bus multi-process tests are SKIPPED.\n`);
}

const TOTAL = 10_000;
const STREAM = 'procur:events';
const PRIORITIES = ['low', 'normal', 'high', 'critical'] as const;

describe.skipIf(!reachable && !REDIS_REQUIRED)('bus consumers in several processes on Redis', () => {
  let admin: Redis;
  let prefix = '';
  let producer: EventSystem | undefined;
  let consumers: BusConsumers | undefined;

  beforeAll(async () => {
    admin = adminClient();
    await admin.connect();
  });
  afterAll(async () => {
    await admin.quit();
  });
  afterEach(async () => {
    await consumers?.stopAll();
    consumers = undefined;
    await producer?.close();
    producer = undefined;
    await deleteKeys(admin, prefix);
  });

  async function setup(): Promise<{ bus: EventSystem; procs: BusConsumers }> {
    prefix = uniquePrefix();
    producer = await redisBus(prefix, { taskEvents: false, builtins: false, config: { eventSourcingEnabled: false } });
    consumers = new BusConsumers();
    const procs = consumers;
    onTestFailed(() => console.error(procs.stderrDump()));
    return { bus: producer, procs };
  }

  /** Publishes m0..m9999 with publishMany in batches of 1,000, all four priorities mixed. */
  async function publishAll(bus: EventSystem): Promise<string[]> {
    const messages = Array.from({ length: TOTAL }, (_, i) => `m${i}`);
    for (let i = 0; i < TOTAL; i += 1000) {
      const batch: PublishInput[] = messages.slice(i, i + 1000).map((message, j) => ({
        type: EventType.SYSTEM_WARNING,
        data: { message },
        priority: PRIORITIES[(i + j) % 4],
      }));
      await bus.publisher.publishMany(batch);
    }
    return messages;
  }

  it('three processes in one group handle 10,000 events exactly once; a second group gets all', async () => {
    const { bus, procs } = await setup();
    const common = { url: TEST_REDIS_URL, keyPrefix: prefix, claimIdleMs: 30_000, concurrency: 50 };
    const workers = ['w1', 'w2', 'w3'].map((name) => procs.start({ ...common, group: 'workers', name }));
    const audit = procs.start({ ...common, group: 'audit', name: 'a1' });
    await Promise.all(procs.all.map((p) => p.ready));
    const messages = await publishAll(bus);

    const workerCount = () => workers.reduce((n, p) => n + p.handled().length, 0);
    await until(() => workerCount() >= TOTAL && audit.handled().length >= TOTAL, 40_000);
    await sleep(300); // a duplicate would show up now
    const all = workers.flatMap((p) => p.handled());
    expect(all).toHaveLength(TOTAL);
    expect(new Set(all)).toEqual(new Set(messages));
    for (const p of workers) expect(p.handled().length, `${p.name} handled some`).toBeGreaterThan(0);
    expect(audit.handled()).toHaveLength(TOTAL);
    expect(new Set(audit.handled())).toEqual(new Set(messages));
    const info = await bus.transport.info(STREAM);
    expect(info.groups.map((g) => g.name).sort()).toEqual(['audit', 'workers']);
    for (const g of info.groups) expect(g).toMatchObject({ pending: 0, lag: 0 });
    for (const p of procs.all) expect(p.alive()).toBe(true);
  }, 60_000);

  it('a consumer killed with SIGKILL mid-handling loses nothing: the survivors claim its events', async () => {
    const { bus, procs } = await setup();
    const claimIdleMs = 2000;
    // Each event takes 2 ms and 20 run at once, so the victim always holds deliveries in flight.
    const common = { url: TEST_REDIS_URL, keyPrefix: prefix, group: 'workers', claimIdleMs, handleMs: 2, concurrency: 20 };
    const victim = procs.start({ ...common, name: 'victim' });
    const survivors = [procs.start({ ...common, name: 's1' }), procs.start({ ...common, name: 's2' })];
    const [victimMember] = await Promise.all([victim.ready, ...survivors.map((p) => p.ready)]);
    const messages = await publishAll(bus);

    expect(await until(() => victim.handled().length >= 1000, 20_000)).toBe(true);
    victim.child.kill('SIGKILL');
    await victim.exited;
    const handledByVictim = victim.handled().length;
    // It died in the middle of handling: it still owns deliveries it had not acked.
    const owned = await pendingMessagesOf(admin, prefix, STREAM, 'workers', victimMember);
    expect(owned.length).toBeGreaterThan(0);

    const everyone = (): BusConsumerProcess[] => [victim, ...survivors];
    const handledSet = () => new Set(everyone().flatMap((p) => p.handled()));
    expect(await until(() => handledSet().size >= TOTAL, 40_000)).toBe(true);
    expect(handledSet()).toEqual(new Set(messages));
    // The victim handled nothing after it died; the survivors handled everything it held.
    expect(victim.handled()).toHaveLength(handledByVictim);
    const bySurvivors = new Set(survivors.flatMap((p) => p.handled()));
    expect(owned.filter((m) => !bySurvivors.has(m))).toEqual([]);
    // At-least-once: only what the victim handled but had not acked yet ran twice.
    const seen = new Set<string>();
    const twice = everyone()
      .flatMap((p) => p.handled())
      .filter((m) => (seen.has(m) ? true : (seen.add(m), false)));
    const ownedSet = new Set(owned);
    expect(twice.filter((m) => !ownedSet.has(m))).toEqual([]);
    await sleep(300);
    const after = (await bus.transport.info(STREAM)).groups.find((g) => g.name === 'workers')!;
    expect(after).toMatchObject({ pending: 0, lag: 0 });
    expect((await pendingByConsumer(admin, prefix, STREAM, 'workers')).get(victimMember) ?? 0).toBe(0);
    for (const p of survivors) expect(p.alive()).toBe(true);
  }, 60_000);
});
