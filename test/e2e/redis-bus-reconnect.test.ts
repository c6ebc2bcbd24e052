/**
 * A Redis restart under the real core, bus level: the test starts its own `redis-server`
 * (`appendonly yes`) on a free loopback port; three consumer processes (two members of one group,
 * one of another) run `bus.consumer(...).start()` on it and a producer publishes with
 * `bus.publisher.publish` in a loop, event sourcing off (so a transport failure rejects). Redis is
 * stopped (SHUTDOWN) and started again meanwhile. The consumers resume without being restarted,
 * every event whose `publish()` resolved is handled by both groups, and publishes during the
 * outage reject with `TransportError` within `publishTimeoutMs`.
 * (`redis-reconnect.test.ts` checks the same at transport level.)
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { EventType, createEventSystem, isEventBusError, silentLogger, type EventSystem } from '@procur/event-bus';
import { redisTransport } from '@procur/event-bus/redis';
import { REDIS_REQUIRED, privateRedis, type PrivateRedis } from './fixtures/redis-helpers.js';
import { BusConsumers, sleep, until } from './fixtures/redis-bus-processes.js';

const hasRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
if (!hasRedisServer && !REDIS_REQUIRED) {
  console.warn('\n!!! [redis-bus-reconnect.test] redis-server is not on PATH: the bus Redis restart test is SKIPPED.\n');
}

describe.skipIf(!hasRedisServer && !REDIS_REQUIRED)('bus consumers across a Redis restart', () => {
  let server: PrivateRedis | undefined;
  let producer: EventSystem | undefined;
  let consumers: BusConsumers | undefined;

  beforeAll(async () => {
    server = await privateRedis();
    await server.start();
  }, 20_000);

  afterAll(async () => {
    await consumers?.stopAll();
    await producer?.close().catch(() => {});
    await server?.destroy();
  });

  it('consumer processes resume by themselves and every resolved publish is handled', async () => {
    const url = server!.url;
    const keyPrefix = 'bus-reconnect';
    const publishTimeoutMs = 1000;
    const procs = (consumers = new BusConsumers());
    onTestFailed(() => console.error(procs.stderrDump()));
    const common = { url, keyPrefix, claimIdleMs: 1000, concurrency: 10, blockMs: 200 };
    const workers = [procs.start({ ...common, group: 'workers', name: 'w1' }), procs.start({ ...common, group: 'workers', name: 'w2' })];
    const audit = procs.start({ ...common, group: 'audit', name: 'a1' });
    await Promise.all(procs.all.map((p) => p.ready));
    const pids = procs.all.map((p) => p.child.pid);

    producer = await createEventSystem({
      transport: redisTransport({ url, keyPrefix, publishTimeoutMs }),
      logger: silentLogger,
      env: {},
      outbox: false,
      taskEvents: false,
      builtins: false,
      config: { eventSourcingEnabled: false },
    });
    const bus = producer;

    const resolved: string[] = [];
    const failed: Array<{ ms: number; err: unknown }> = [];
    let seq = 0;
    const publishFor = async (ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const message = `p${seq++}`;
        const started = Date.now();
        try {
          await bus.publisher.publish({ type: EventType.SYSTEM_WARNING, data: { message } });
          resolved.push(message);
        } catch (err) {
          failed.push({ ms: Date.now() - started, err });
        }
        await sleep(15);
      }
    };
    const missing = (handled: () => string[]) => {
      const got = new Set(handled());
      return resolved.filter((m) => !got.has(m));
    };
    const workersHandled = () => workers.flatMap((p) => p.handled());
    const caughtUp = () => missing(workersHandled).length === 0 && missing(audit.handled).length === 0;

    await publishFor(700);
    // Let the consumers catch up and block in their reads before the server goes away.
    expect(await until(caughtUp, 10_000)).toBe(true);
    await sleep(150);
    const beforeOutage = resolved.length;
    await server!.shutdown();
    await publishFor(1500);
    await server!.start();
    const afterRestart = resolved.length;
    await publishFor(1500);

    await until(caughtUp, 25_000);
    expect(missing(workersHandled)).toEqual([]);
    expect(missing(audit.handled)).toEqual([]);

    // Published before and after the restart; the outage was seen as bounded TransportErrors.
    expect(beforeOutage).toBeGreaterThan(10);
    expect(resolved.length - afterRestart).toBeGreaterThan(20);
    expect(failed.length).toBeGreaterThan(0);
    for (const f of failed) {
      expect(isEventBusError(f.err, 'ERR_TRANSPORT'), String(f.err)).toBe(true);
      // Bounded, not timed: it fails within its wait plus generous slack for a busy machine, never hangs.
      expect(f.ms).toBeLessThan(publishTimeoutMs + 10_000);
    }
    // The same processes, never restarted, each handled events published after the restart.
    for (const p of procs.all) expect(p.alive(), `${p.name} still runs`).toBe(true);
    expect(procs.all.map((p) => p.child.pid)).toEqual(pids);
    const lateMessages = new Set(resolved.slice(afterRestart));
    for (const p of procs.all) expect(p.handled().filter((m) => lateMessages.has(m)).length, `${p.name} resumed`).toBeGreaterThan(0);
  }, 50_000);
});
