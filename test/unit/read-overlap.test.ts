// A consumer at its defaults draining a backlog over a transport with a wire (not the in-process
// path): its next read is sent while the batch in hand is still held, as a loop that sends its
// next read the moment the last one replied; acks queued while such a read is out ride on the
// next read instead of a command of their own; and held acks still go out when the read on the
// wire does not come back soon (the backlog ended and it waits for new events).
import { describe, expect, it } from 'vitest';
import { EventType, createEventSystem, memoryTransport, type EventSystem, type Transport } from '../../src/index.js';
import { waitUntil } from '../../src/testing/index.js';

const IN_PROCESS = Symbol.for('@procur/event-bus:in-process-values');

interface Wire {
  transport: Transport;
  /** Per receive call: deliveries returned so far by earlier reads and not handled yet. */
  heldAtRead: number[];
  /** Ids acknowledged with a read (`receive({ ack })`) and by `ack` calls of their own. */
  carried: number;
  ackCalls: number;
  returned: number;
  /** [asked, returned] of each read that came back. */
  reads: [number, number][];
}

/**
 * The memory transport without its in-process mark (events travel as text, as on Redis), whose
 * reads reply two event-loop turns after they were sent: like a network reply, after the work
 * started meanwhile.
 */
function wire(handled: () => number): Wire {
  const inner = memoryTransport();
  const w: Wire = { transport: undefined as unknown as Transport, heldAtRead: [], carried: 0, ackCalls: 0, returned: 0, reads: [] };
  w.transport = new Proxy(inner, {
    get(target, key) {
      if (key === IN_PROCESS) return undefined;
      if (key === 'receive') {
        return async (stream: string, options: Parameters<Transport['receive']>[1]) => {
          if (stream === 'procur:events') {
            w.heldAtRead.push(w.returned - handled());
            w.carried += options.ack?.length ?? 0;
          }
          const out = await inner.receive(stream, options);
          // Two turns, as a round trip takes: the work started in this turn, and what that work
          // scheduled for the next (an ack flush), run before the reply.
          await new Promise<void>((resolve) => setImmediate(resolve));
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (stream === 'procur:events') {
            w.returned += out.length;
            w.reads.push([options.max ?? 0, out.length]);
          }
          return out;
        };
      }
      if (key === 'ack') {
        return (stream: string, group: string, ids: readonly string[], options?: Parameters<Transport['ack']>[3]) => {
          if (stream === 'procur:events') w.ackCalls++;
          return inner.ack(stream, group, ids, options);
        };
      }
      const v = Reflect.get(target, key) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return w;
}

async function system(transport: Transport): Promise<EventSystem> {
  return createEventSystem({ transport, env: {}, outbox: false, builtins: false, taskEvents: false, config: { eventSourcingEnabled: false } });
}

async function backlog(bus: EventSystem, n: number): Promise<void> {
  await bus.transport.ensureGroup(bus.config.eventStreamName, 'g', { startAt: 'beginning' });
  for (let i = 0; i < n; i += 500) {
    await bus.publisher.publishMany(Array.from({ length: Math.min(500, n - i) }, (_, k) => ({ type: EventType.SYSTEM_WARNING, data: { message: `m${i + k}` } })));
  }
}

async function pending(bus: EventSystem): Promise<number> {
  const info = await bus.transport.info(bus.config.eventStreamName);
  return info.groups.find((g) => g.name === 'g')?.pending ?? 0;
}

describe('reading a backlog over a wire at the defaults', () => {
  it('sends the next read while the deliveries of the last one are still held', async () => {
    let handled = 0;
    const w = wire(() => handled);
    const bus = await system(w.transport);
    try {
      const n = bus.config.eventBatchSize * 100;
      await backlog(bus, n);
      const c = bus.consumer('c', { group: 'g', startAt: 'beginning' }).registerHandler(EventType.SYSTEM_WARNING, () => {
        handled++;
      });
      await c.start();
      await waitUntil(() => handled === n, 30_000, 'every event handled');
      // Handlers are synchronous: a read sent only once its batch was handled would see 0 held.
      expect(Math.max(...w.heldAtRead)).toBeGreaterThanOrEqual(bus.config.eventBatchSize);
      await c.stop();
      expect(await pending(bus)).toBe(0);
    } finally {
      await bus.close();
    }
  });

  it('acks a batch handled while a full read is out with the next read', async () => {
    let handled = 0;
    const w = wire(() => handled);
    const bus = await system(w.transport);
    try {
      const n = bus.config.eventBatchSize * 100;
      await backlog(bus, n);
      const c = bus.consumer('c', { group: 'g', startAt: 'beginning' }).registerHandler(EventType.SYSTEM_WARNING, () => {
        handled++;
      });
      await c.start();
      await waitUntil(() => handled === n, 30_000, 'every event handled');
      await waitUntil(async () => (await pending(bus)) === 0, 10_000, 'every event acknowledged');
      // Each batch is handled while the next read is out: its acks wait for that read and ride
      // on the one after. Only the tail of the backlog is acked on its own.
      expect(w.carried).toBeGreaterThanOrEqual(n * 0.8);
      expect(w.ackCalls).toBeLessThanOrEqual(3);
      await c.stop();
    } finally {
      await bus.close();
    }
  });

  it('sends held acks on their own when the read out does not come back (the backlog ended)', async () => {
    let handled = 0;
    const w = wire(() => handled);
    const bus = await system(w.transport);
    try {
      // Reads of 2 and then 10 batch sizes (the read-ahead grows once run times are known): the
      // backlog ends with a full read, so the read after it is sent with acks held for it.
      const b = bus.config.eventBatchSize;
      const n = 2 * b + 3 * 10 * b;
      await backlog(bus, n);
      const c = bus.consumer('c', { group: 'g', startAt: 'beginning' }).registerHandler(EventType.SYSTEM_WARNING, () => {
        handled++;
      });
      // The read after the backlog waits up to a minute for new events.
      await c.start({ blockMs: 60_000 });
      await waitUntil(() => handled === n, 30_000, 'every event handled');
      await waitUntil(async () => (await pending(bus)) === 0, 10_000, 'every event acknowledged while the read still waits');
      const last = w.reads[w.reads.length - 1]!;
      expect(last[1]).toBe(last[0]);
      expect(w.returned).toBe(n);
      expect(c.running).toBe(true);
      await c.stop();
    } finally {
      await bus.close();
    }
  });
});
