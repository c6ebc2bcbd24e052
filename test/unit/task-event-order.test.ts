/**
 * The order of a task's lifecycle events when the worker is in the sending process: the worker
 * can take the task, run it and record its steps before the send's publish has resolved. Its
 * events wait behind the send's stamped `sent`, so the stream and the store show `sent` first.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { memoryTransport, type EventSystem, type Transport } from '../../src/index.js';
import { createTestSystem, waitUntil } from '../../src/testing/index.js';

const systems: EventSystem[] = [];
afterEach(async () => {
  for (const bus of systems.splice(0)) await bus.close();
});

type Publish = (stream: string, messages: Array<{ body: string }>, ...rest: unknown[]) => Promise<string[]>;

/** A memory transport whose `publish` goes through `around` (given the real one). */
function wrapPublish(around: (stream: string, messages: Array<{ body: string }>, publish: () => Promise<string[]>) => Promise<string[]>): Transport {
  const real = memoryTransport();
  return new Proxy(real, {
    get(target, key, receiver) {
      if (key === 'publish') {
        return (stream: string, messages: Array<{ body: string }>, ...rest: unknown[]) =>
          around(stream, messages, () => (target.publish as Publish).call(target, stream, messages, ...rest));
      }
      const v = Reflect.get(target, key, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** A memory transport whose publishes to task queues resolve `ms` after the messages are there. */
function slowSends(ms: number): { transport: Transport; inFlight: () => number } {
  let inFlight = 0;
  const transport = wrapPublish(async (stream, _messages, publish) => {
    const ids = await publish();
    if (stream.includes(':tasks:')) {
      inFlight++;
      await new Promise((r) => setTimeout(r, ms));
      inFlight--;
    }
    return ids;
  });
  return { transport, inFlight: () => inFlight };
}

describe('task lifecycle events of a send and a worker in one process', () => {
  it('the stream and the store show sent first when the worker finished the task before the send resolved', async () => {
    const { transport, inFlight } = slowSends(150);
    const bus = await createTestSystem({ transport, taskEvents: true });
    systems.push(bus);
    const stream = `${bus.config.namespace}:task-events`;
    await transport.ensureGroup(stream, 'audit', { startAt: 'end' });
    const ran: string[] = [];
    bus.tasks.define('quick', { queue: 'q' }, async (_a: null, ctx) => {
      // The send has not resolved yet: the worker is ahead of it.
      ran.push(`${ctx.taskId}:${inFlight()}`);
      return 'ok';
    });
    await bus.worker({ queues: { q: 2 } }).start();
    const results = await Promise.all([bus.tasks.send('quick', null), bus.tasks.send('quick', null)]);
    for (const r of results) expect(await r.get({ timeoutMs: 10_000 })).toBe('ok');
    expect(ran.every((x) => !x.endsWith(':0'))).toBe(true);
    const byTask = new Map<string, string[]>();
    await waitUntil(async () => {
      for (const d of await transport.receive(stream, { group: 'audit', consumer: 'a', max: 100 })) {
        const e = JSON.parse(d.body) as { type: string; data: { taskId: string } };
        byTask.set(e.data.taskId, [...(byTask.get(e.data.taskId) ?? []), e.type]);
        await transport.ack(stream, 'audit', [d.deliveryId]);
      }
      return results.every((r) => (byTask.get(r.id) ?? []).includes('task.succeeded'));
    }, 10_000, 'both tasks succeeded on the stream');
    for (const r of results) {
      expect(byTask.get(r.id)?.[0]).toBe('task.sent');
      expect(byTask.get(r.id)?.at(-1)).toBe('task.succeeded');
    }
  });

  it('a send that fails releases what waited behind it', async () => {
    const transport = wrapPublish(async (stream, messages, publish) => {
      if (stream.includes(':tasks:') && messages.some((m) => m.body.includes('refuse-me'))) {
        await new Promise((r) => setTimeout(r, 200));
        throw new Error('publish refused');
      }
      return publish();
    });
    const bus = await createTestSystem({ transport, taskEvents: true });
    systems.push(bus);
    const stream = `${bus.config.namespace}:task-events`;
    await transport.ensureGroup(stream, 'audit', { startAt: 'end' });
    bus.tasks.define('t', { queue: 'q' }, async () => 'ok');
    await bus.worker({ queues: { q: 1 } }).start();
    // The refused send is on its way (stamped) while another task is sent and runs.
    const refused = bus.tasks.send('t', { note: 'refuse-me' });
    const good = await bus.tasks.send('t', null);
    expect(await good.get({ timeoutMs: 10_000 })).toBe('ok');
    await expect(refused).rejects.toThrow(/publish refused/);
    // The good task's events waited behind the refused send's stamp, and went out once it failed.
    const seen: string[] = [];
    await waitUntil(async () => {
      for (const d of await transport.receive(stream, { group: 'audit', consumer: 'a', max: 100 })) {
        const e = JSON.parse(d.body) as { type: string; data: { taskId: string } };
        if (e.data.taskId === good.id) seen.push(e.type);
        await transport.ack(stream, 'audit', [d.deliveryId]);
      }
      return seen.includes('task.succeeded');
    }, 10_000, 'the good task on the stream while the system is open');
    expect(seen[0]).toBe('task.sent');
  });
});
