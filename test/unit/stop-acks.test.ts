// stop() resolves only once every ack is written, also an ack a flush of an earlier turn already
// took and still has on the wire (a slow transport, such as PostgreSQL committing a batch).
import { describe, expect, it } from 'vitest';
import { EventType, createEventSystem, memoryTransport } from '../../src/index.js';
import { waitUntil } from '../../src/testing/index.js';

describe('consumer stop and acks in flight', () => {
  it('waits for an ack flush already on the wire', async () => {
    const transport = memoryTransport();
    const ack = transport.ack.bind(transport);
    let inFlight = 0;
    transport.ack = async (stream, group, ids, options) => {
      inFlight++;
      try {
        await new Promise((r) => setTimeout(r, 300));
        return await ack(stream, group, ids, options);
      } finally {
        inFlight--;
      }
    };
    const bus = await createEventSystem({ transport, env: {}, outbox: false, builtins: false, taskEvents: false, config: { eventSourcingEnabled: false } });
    try {
      let handled = 0;
      // Slower than a read: the loop is already waiting on its next read when the acks are queued,
      // so they go out on their own flush (not with a read).
      const c = bus.consumer('c', { group: 'g' }).registerHandler(EventType.SYSTEM_WARNING, async () => {
        await new Promise((r) => setTimeout(r, 50));
        handled++;
      });
      await c.start();
      await bus.publisher.publishMany(Array.from({ length: 5 }, (_, i) => ({ type: EventType.SYSTEM_WARNING, data: { message: `m${i}` } })));
      await waitUntil(() => handled === 5, 10_000, 'handled');
      // The acks of that turn are being written now.
      await waitUntil(() => inFlight > 0, 10_000, 'an ack on the wire');
      await c.stop();
      expect(inFlight).toBe(0);
      const info = await bus.transport.info(bus.config.eventStreamName);
      expect(info.groups.find((g) => g.name === 'g')?.pending ?? 0).toBe(0);
    } finally {
      await bus.close();
    }
  });
});
