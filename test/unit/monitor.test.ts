import { waitUntil as until } from '../../src/testing/index.js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConfigError,
  EventType,
  UnrecoverableError,
  memoryStore,
  memoryTransport,
  type EventStore,
  type EventSystem,
  type HealthRule,
  type Transport,
  type WorkerInfo,
} from '../../src/index.js';
import { taskKeys } from '../../src/tasks/message.js';
import { createTestSystem } from '../../src/testing/index.js';

let bus: EventSystem | undefined;
afterEach(async () => {
  await bus?.close();
  bus = undefined;
});

const warning = (message: string) => ({ type: EventType.SYSTEM_WARNING, data: { message } });
const rules = (checks: { rule: HealthRule }[]) => checks.map((c) => c.rule).sort();

describe('monitor figures', () => {
  it('match a run with a known number of successes and failures', async () => {
    bus = await createTestSystem();
    const c = bus.consumer('audit');
    c.registerHandler(EventType.SYSTEM_WARNING, async (e) => {
      await new Promise((r) => setTimeout(r, 2));
      if ((e.data as { message: string }).message.startsWith('bad')) throw new UnrecoverableError('rejected');
    });
    c.registerHandler(EventType.SYSTEM_ERROR, () => {});
    await c.start({ concurrency: 4 });
    for (let i = 0; i < 57; i++) await bus.publisher.publish(warning(`ok-${i}`));
    for (let i = 0; i < 3; i++) await bus.publisher.publish(warning(`bad-${i}`));
    for (let i = 0; i < 5; i++) await bus.publisher.publish({ type: EventType.SYSTEM_ERROR, data: { message: `e-${i}`, component: 'erp' } });
    await until(async () => {
      const s = await bus!.monitor.getProcessingStats({ hours: 1 });
      return s.processedEvents + s.failedEvents === 65;
    });

    const stats = await bus.monitor.getProcessingStats({ hours: 1 });
    expect(stats).toMatchObject({ hours: 1, totalEvents: 65, processedEvents: 62, failedEvents: 3, pendingEvents: 0 });
    expect(stats.successRate).toBe(Math.round((62 / 65) * 10_000) / 100);
    expect(stats.throughputPerSecond).toBe(Math.round((65 / 3600) * 100) / 100);
    expect(stats.p50Ms).toBeGreaterThan(0);
    expect(stats.p95Ms).toBeGreaterThanOrEqual(stats.p50Ms);

    expect(await bus.monitor.getEventTypeStats({ hours: 1 })).toEqual({ [EventType.SYSTEM_WARNING]: 60, [EventType.SYSTEM_ERROR]: 5 });

    const stream = await bus.monitor.getStreamInfo();
    expect(stream).toMatchObject({ stream: bus.config.eventStreamName, pending: 0, lag: 0, retrying: 0, oldestPendingMs: 0 });
    expect(stream.groups.map((g) => g.name)).toEqual([bus.config.eventConsumerGroup]);

    const health = await bus.monitor.getHealthStatus();
    expect(health).toMatchObject({ dlqSize: 3, pendingEvents: 0, successRate: stats.successRate, healthy: true });
    const report = await bus.monitor.getComprehensiveReport();
    expect(report.processing).toMatchObject({ totalEvents: 65, processedEvents: 62, failedEvents: 3 });
    expect(report.eventTypes[EventType.SYSTEM_WARNING]).toBe(60);
    expect(report.dlqSize).toBe(3);
    expect(report.queues.maintenance).toBeDefined();
  });

  it('a window with nothing in it reports a 100% success rate and zeros', async () => {
    bus = await createTestSystem();
    const s = await bus.monitor.getProcessingStats();
    expect(s).toMatchObject({ hours: 24, totalEvents: 0, processedEvents: 0, failedEvents: 0, successRate: 100, throughputPerSecond: 0 });
    await expect(bus.monitor.getProcessingStats({ hours: 0 })).rejects.toBeInstanceOf(ConfigError);
  });

  it('counts backlog, pending and delayed events on the stream', async () => {
    bus = await createTestSystem();
    await bus.transport.ensureGroup(bus.config.eventStreamName, 'slow');
    for (let i = 0; i < 4; i++) await bus.publisher.publish(warning(`w-${i}`));
    await bus.transport.receive(bus.config.eventStreamName, { group: 'slow', consumer: 'c1', max: 1 });
    const info = await bus.monitor.getStreamInfo();
    expect(info).toMatchObject({ pending: 1, lag: 3 });
    expect((await bus.monitor.getProcessingStats()).pendingEvents).toBe(4);
  });
});

describe('health rules', () => {
  it('is healthy with nothing going on', async () => {
    bus = await createTestSystem();
    const h = await bus.monitor.getHealthStatus();
    expect(h).toMatchObject({ healthy: true, issues: [], checks: [], successRate: 100, dlqSize: 0, pendingEvents: 0, workers: [] });
    expect(h.thresholds).toEqual({ minSuccessRate: 95, maxPendingEvents: 1000, maxDlqSize: 100, workerSilentBeats: 3 });
  });

  it('names the success-rate rule when it drops under the threshold', async () => {
    bus = await createTestSystem({ health: { minSuccessRate: 80 } });
    const c = bus.consumer('audit');
    c.registerHandler(EventType.SYSTEM_WARNING, (e) => {
      if ((e.data as { message: string }).message === 'bad') throw new UnrecoverableError('no');
    });
    await c.start();
    for (const m of ['ok', 'ok', 'ok', 'ok', 'bad']) await bus.publisher.publish(warning(m));
    await until(async () => (await bus!.monitor.getProcessingStats()).failedEvents === 1 && (await bus!.monitor.getProcessingStats()).processedEvents === 4);
    expect((await bus.monitor.getHealthStatus()).healthy).toBe(true); // 80% is not under 80%
    await bus.publisher.publish(warning('bad'));
    await until(async () => (await bus!.monitor.getProcessingStats()).failedEvents === 2);
    const h = await bus.monitor.getHealthStatus();
    expect(h.healthy).toBe(false);
    expect(rules(h.checks)).toEqual(['success-rate']);
    expect(h.checks[0]).toMatchObject({ value: 66.67, threshold: 80 });
    expect(h.issues[0]).toMatch(/success rate 66.67% is under 80%/);
  });

  it('names the pending-events rule past the threshold', async () => {
    bus = await createTestSystem({ health: { maxPendingEvents: 3 } });
    await bus.transport.ensureGroup(bus.config.eventStreamName, 'offline-consumer');
    for (let i = 0; i < 3; i++) await bus.publisher.publish(warning(`w-${i}`));
    expect((await bus.monitor.getHealthStatus()).healthy).toBe(true);
    await bus.publisher.publish(warning('one too many'));
    const h = await bus.monitor.getHealthStatus();
    expect(h).toMatchObject({ healthy: false, pendingEvents: 4 });
    expect(rules(h.checks)).toEqual(['pending-events']);
    expect(h.issues).toEqual(['4 pending events (more than 3)']);
  });

  it('names the dlq-size rule past the threshold', async () => {
    bus = await createTestSystem({ health: { maxDlqSize: 1 } });
    const dead = (n: number) =>
      bus!.transport.deadLetter(bus!.config.eventStreamName, 'g', { deliveryId: `gone-${n}`, body: '{"not":"an event"}', priority: 1 }, { dlq: bus!.config.dlqStreamName, error: 'boom', attempts: 3 });
    await dead(1);
    expect((await bus.monitor.getHealthStatus()).healthy).toBe(true);
    await dead(2);
    const h = await bus.monitor.getHealthStatus();
    expect(h).toMatchObject({ healthy: false, dlqSize: 2 });
    expect(rules(h.checks)).toEqual(['dlq-size']);
    expect(h.issues[0]).toBe('2 entries in the dead letter queue (more than 1)');
  });

  it('names the worker-silent rule for a worker online but past its heartbeat, not for stopped or fresh ones', async () => {
    bus = await createTestSystem({ config: { workerHeartbeatMs: 100 } });
    bus.tasks.define('noop', { queue: 'q' }, () => null);
    const w = bus.worker({ queues: { q: 1 } });
    await w.start();
    const keys = taskKeys(bus.config.namespace);
    const now = Date.now();
    const fake = (id: string, state: 'online' | 'offline', ageMs: number): WorkerInfo => ({
      id, host: 'h', pid: 1, queues: { q: 2 }, tasks: ['noop'], state, online: true, startedAt: new Date(now - 60_000).toISOString(),
      lastSeen: new Date(now - ageMs).toISOString(), heartbeatMs: 1000, active: 0, processed: 5, failed: 0, retried: 0, activeTasks: [],
    });
    await bus.transport.kvSet(keys.worker('ghost@h:1:1'), JSON.stringify(fake('ghost@h:1:1', 'online', 10_000)));
    await bus.transport.kvSet(keys.worker('late@h:1:2'), JSON.stringify(fake('late@h:1:2', 'online', 2_500)));
    await bus.transport.kvSet(keys.worker('stopped@h:1:3'), JSON.stringify(fake('stopped@h:1:3', 'offline', 60_000)));
    const h = await bus.monitor.getHealthStatus();
    expect(h.healthy).toBe(false);
    expect(rules(h.checks)).toEqual(['worker-silent']);
    expect(h.checks[0]).toMatchObject({ worker: 'ghost@h:1:1', threshold: 3000 });
    expect(h.issues[0]).toMatch(/^worker ghost@h:1:1 is silent: no heartbeat for 1\d s/);
    const byId = Object.fromEntries(h.workers.map((x) => [x.id, x]));
    expect(byId['ghost@h:1:1']).toMatchObject({ silent: true, online: false, state: 'online' });
    expect(byId['late@h:1:2']).toMatchObject({ silent: false, online: true });
    expect(byId['stopped@h:1:3']).toMatchObject({ silent: false, online: false, state: 'offline' });
    expect(byId[w.id]).toMatchObject({ silent: false, online: true, queues: { q: 1 } });
    await w.stop();
  });

  it('a smaller workerSilentBeats makes a late worker silent', async () => {
    bus = await createTestSystem({ health: { workerSilentBeats: 2 } });
    const keys = taskKeys(bus.config.namespace);
    const lastSeen = new Date(Date.now() - 2_500).toISOString();
    const info = { id: 'late', host: 'h', pid: 1, queues: {}, tasks: [], state: 'online', online: true, startedAt: lastSeen, lastSeen, heartbeatMs: 1000, active: 0, processed: 0, failed: 0, retried: 0, activeTasks: [] };
    await bus.transport.kvSet(keys.worker('late'), JSON.stringify(info));
    expect(rules((await bus.monitor.getHealthStatus()).checks)).toEqual(['worker-silent']);
  });

  it('reports an unreachable transport or store as an issue instead of throwing', async () => {
    const transport = memoryTransport();
    const store = memoryStore();
    const broken = new Proxy(transport, {
      get(t, k, r) {
        if (k === 'info') return () => Promise.reject(new Error('connection refused'));
        return Reflect.get(t, k, r);
      },
    }) as Transport;
    const brokenStore = new Proxy(store, {
      get(s, k, r) {
        if (k === 'stats') return () => Promise.reject(new Error('database is down'));
        return Reflect.get(s, k, r);
      },
    }) as EventStore;
    bus = await createTestSystem({ transport: broken, store: brokenStore });
    const h = await bus.monitor.getHealthStatus();
    expect(h.healthy).toBe(false);
    expect(rules(h.checks)).toEqual(['store', 'transport']);
    expect(h.transport).toMatchObject({ ok: false, error: 'connection refused' });
    expect(h.store).toMatchObject({ ok: false, error: 'database is down' });
    const report = await bus.monitor.getComprehensiveReport();
    expect(report.health.healthy).toBe(false);
    expect(report.processing.totalEvents).toBe(0);
  });

  it('refuses malformed thresholds with ConfigError naming the setting', async () => {
    const err = await createTestSystem({ health: { maxDlqSize: -1 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe('health.maxDlqSize');
  });
});
