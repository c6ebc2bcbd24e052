import { expect, it } from 'vitest';
import { memoryStore } from '../../adapters/memory/memory-store.js';
import { describeStore } from '../../src/testing/store-suite.js';

describeStore('memory', async () => ({ store: memoryStore() }), {
  additionalTests(context) {
    it('memory: declares itself non-persistent and local', () => {
      expect(context().store.name).toBe('memory');
      expect(context().store.features).toEqual({ persistent: false, distributed: false });
    });

    it('memory: storedAt and publishedAt come from the injected clock', async () => {
      let now = Date.parse('2030-01-02T03:04:05.006Z');
      const store = memoryStore({ clock: { now: () => now } });
      const e = context().event();
      await store.append([e]);
      expect((await store.getEvent(e.id))?.storedAt).toBe('2030-01-02T03:04:05.006Z');
      now += 1000;
      await store.markPublished([e.id]);
      expect((await store.getEvent(e.id))?.publishedAt).toBe('2030-01-02T03:04:06.006Z');
      await store.close();
    });

    it('memory: returned events are copies', async () => {
      const { store, event } = context();
      const e = event({ data: { list: [1] }, metadata: { k: 'v' } });
      await store.append([e]);
      (e.data as { list: number[] }).list.push(2);
      const got = await store.getEvent(e.id);
      (got!.data as { list: number[] }).list.push(3);
      got!.metadata!.k = 'changed';
      expect(await store.getEvent(e.id)).toMatchObject({ data: { list: [1] }, metadata: { k: 'v' } });
    });

    // Speed is the benchmarks' business; this checks a large batch is taken whole (within the test timeout).
    it('memory: a batch of 10,000 events is appended whole', async () => {
      const { store, event } = context();
      const batch = Array.from({ length: 10_000 }, () => event());
      await store.append(batch);
      expect((await store.query({ correlationId: batch[0]!.correlationId, limit: 10_000 })).events).toHaveLength(10_000);
    });
  },
});
