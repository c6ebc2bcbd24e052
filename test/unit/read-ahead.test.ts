// Read-ahead at the consumer's defaults grows with short runs, synchronous handlers included: a
// loop of synchronous handlers used to keep the minimum read-ahead (its run times were never
// recorded) and drained a backlog in reads of 2 x eventBatchSize.
import { describe, expect, it } from 'vitest';
import { EventType, createEventSystem, memoryTransport, type Transport } from '@procur/event-bus';
import { waitUntil } from '@procur/event-bus/testing';

function recording(inner: Transport, stream: string): { transport: Transport; asked: number[] } {
  const asked: number[] = [];
  const receive = inner.receive.bind(inner);
  inner.receive = async (s, o) => {
    if (s === stream) asked.push(o.max ?? 0);
    return receive(s, o);
  };
  return { transport: inner, asked };
}

describe('read-ahead at defaults', () => {
  for (const kind of ['synchronous', 'async'] as const) {
    it(`grows past the minimum while a ${kind} handler drains a backlog`, async () => {
      const { transport, asked } = recording(memoryTransport(), 'procur:events');
      const bus = await createEventSystem({ transport, env: {}, outbox: false, builtins: false, taskEvents: false, config: { eventSourcingEnabled: false } });
      try {
        const batch = bus.config.eventBatchSize;
        const n = batch * 200;
        await bus.transport.ensureGroup(bus.config.eventStreamName, 'g', { startAt: 'beginning' });
        for (let i = 0; i < n; i += 500) {
          await bus.publisher.publishMany(Array.from({ length: 500 }, (_, k) => ({ type: EventType.SYSTEM_WARNING, data: { message: `m${i + k}` } })));
        }
        let handled = 0;
        const c = bus.consumer('c', { group: 'g', startAt: 'beginning' }).registerHandler(
          EventType.SYSTEM_WARNING,
          kind === 'synchronous'
            ? () => {
                handled++;
              }
            : async () => {
                handled++;
              },
        );
        await c.start();
        await waitUntil(() => handled === n, 60_000, 'every event handled');
        // The minimum is concurrency + prefetchMin = 2 x eventBatchSize; grown reads ask for more.
        expect(Math.max(...asked)).toBeGreaterThan(2 * batch);
      } finally {
        await bus.close();
      }
    });
  }
});
