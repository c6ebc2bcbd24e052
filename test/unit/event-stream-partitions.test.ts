// `eventStreamPartitions`: validated by loadConfig (typed ConfigError), applied by
// createEventSystem to the event stream only, and end to end over the memory transport.
import { describe, expect, it } from 'vitest';
import { ConfigError, EventType, createEventSystem, loadConfig, memoryTransport, partitionName, partitionTransport } from '@procur/event-bus';
import { waitUntil } from '@procur/event-bus/testing';

describe('eventStreamPartitions', () => {
  it('defaults to 1 and reads PROCUR_EVENT_EVENT_STREAM_PARTITIONS', () => {
    expect(loadConfig({}).eventStreamPartitions).toBe(1);
    expect(loadConfig({ PROCUR_EVENT_EVENT_STREAM_PARTITIONS: '6' }).eventStreamPartitions).toBe(6);
  });

  it('refuses a value that is not a whole number from 1 to 1024, naming the variable', () => {
    for (const bad of ['0', '-1', '1.5', 'six', '1025']) {
      let caught: unknown;
      try {
        loadConfig({ PROCUR_EVENT_EVENT_STREAM_PARTITIONS: bad });
      } catch (err) {
        caught = err;
      }
      expect(caught, bad).toBeInstanceOf(ConfigError);
      expect((caught as Error).message).toContain('PROCUR_EVENT_EVENT_STREAM_PARTITIONS');
    }
  });

  it('splits the event stream: events spread over the partitions, every group gets each once', async () => {
    const inner = memoryTransport();
    const bus = await createEventSystem({ transport: inner, config: { eventStreamPartitions: 4, eventSourcingEnabled: false } });
    try {
      const seen = { a: new Set<string>(), b: new Set<string>() };
      let handled = 0;
      for (const [g, member] of [['a', 'a1'], ['a', 'a2'], ['b', 'b1']] as const) {
        const c = bus.consumer(member, { group: g }).registerHandler(EventType.REQUEST_CREATED, (e) => {
          seen[g].add(e.id);
          handled++;
        });
        await c.start();
      }
      const ids = await bus.publisher.publishMany(Array.from({ length: 80 }, (_, i) => ({ type: EventType.REQUEST_CREATED, data: { requestId: `r${i}`, description: 'd', budgetMax: 1, userId: 1 } })));
      const per = await Promise.all([0, 1, 2, 3].map((p) => inner.info(partitionName(bus.config.eventStreamName, p))));
      expect(per.filter((p) => p.length > 0).length).toBeGreaterThan(1);
      expect(per.reduce((a, p) => a + p.length, 0)).toBe(80);
      await waitUntil(() => seen.a.size === 80 && seen.b.size === 80, 20_000, 'both groups handled every event');
      expect([...seen.a].sort()).toEqual([...ids].sort());
      expect(handled).toBe(160);
      const info = await bus.transport.info(bus.config.eventStreamName);
      expect(info.partitions).toHaveLength(4);
      expect(info.length).toBe(80);
    } finally {
      await bus.close();
    }
  });

  it('waits on many partitions with one abort signal without a MaxListenersExceededWarning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const t = partitionTransport(memoryTransport(), { partitions: 12, streams: (s) => s === 's' });
    try {
      await t.ensureGroup('s', 'g');
      const ac = new AbortController();
      // Three blocking reads in a row on the same signal, as a consumer loop makes them.
      for (let i = 0; i < 3; i++) {
        const read = t.receive('s', { group: 'g', consumer: 'c', max: 10, blockMs: 50, signal: ac.signal });
        expect(await read).toEqual([]);
      }
      const pending = t.receive('s', { group: 'g', consumer: 'c', max: 10, blockMs: 60_000, signal: ac.signal });
      ac.abort();
      expect(await pending).toEqual([]);
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await t.close();
    }
  });
});
