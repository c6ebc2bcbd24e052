// The task state owner's flush: a task's transient steps written in the batch of its final state
// are left out (a short task's RECEIVED, STARTED and SUCCESS usually are one batch), final states
// always reach waiters and watchers, and a longer task's steps are all still announced.
import { describe, expect, it } from 'vitest';
import { createEventSystem, memoryTransport, type TaskInfo } from '../../src/index.js';

async function system() {
  const transport = memoryTransport();
  const announced: string[] = [];
  const notify = transport.notify.bind(transport);
  transport.notify = async (channel, message) => {
    if (channel.endsWith('task-state') || channel.endsWith('task-done')) announced.push(message);
    return notify(channel, message);
  };
  const bus = await createEventSystem({ transport, env: {}, outbox: false, builtins: false, config: { eventSourcingEnabled: false } });
  return { bus, announced };
}

const statesIn = (messages: string[]) => messages.flatMap((m) => (JSON.parse(m.startsWith('[') ? m : `[${m}]`) as TaskInfo[]).map((i) => `${i.id}:${i.state}`));

describe('task states', () => {
  it('announces and stores only the last state of a short task, and every final state', async () => {
    const { bus, announced } = await system();
    try {
      bus.tasks.define('quick', { queue: 'q' }, (n: number) => n * 2);
      const seen: TaskInfo[] = [];
      await bus.tasks.watch((i) => seen.push(i));
      const worker = bus.worker({ queues: { q: 4 } });
      await worker.start();
      const handles = await Promise.all(Array.from({ length: 50 }, (_, i) => bus.tasks.send('quick', i)));
      expect(await Promise.all(handles.map((h) => h.get({ timeoutMs: 30_000 })))).toEqual(Array.from({ length: 50 }, (_, i) => i * 2));
      const states = statesIn(announced);
      for (const h of handles) {
        const mine = states.filter((s) => s.startsWith(`${h.id}:`));
        expect(mine.at(-1)).toBe(`${h.id}:SUCCESS`);
        expect(mine.filter((s) => s.endsWith(':SUCCESS'))).toHaveLength(1);
        // RECEIVED, STARTED and SUCCESS were written in one turn: the first two are superseded.
        expect(mine).not.toContain(`${h.id}:STARTED`);
        expect((await h.info())?.state).toBe('SUCCESS');
      }
      expect(seen.filter((i) => i.state === 'SUCCESS')).toHaveLength(50);
      await worker.stop();
    } finally {
      await bus.close();
    }
  });

  it('still announces every step of a task that runs across turns, in order', async () => {
    const { bus, announced } = await system();
    try {
      bus.tasks.define('slow', { queue: 'q' }, async () => {
        await new Promise((r) => setTimeout(r, 30));
        return 'done';
      });
      const worker = bus.worker({ queues: { q: 1 } });
      await worker.start();
      const h = await bus.tasks.send('slow', {});
      expect(await h.get({ timeoutMs: 30_000 })).toBe('done');
      const mine = statesIn(announced).filter((s) => s.startsWith(`${h.id}:`)).map((s) => s.slice(h.id.length + 1));
      expect(mine.slice(-3)).toEqual(['RECEIVED', 'STARTED', 'SUCCESS']);
      await worker.stop();
    } finally {
      await bus.close();
    }
  });
});
