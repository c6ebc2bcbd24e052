/**
 * The dashboard's JSON API shows the task features: a task's progress and log lines in its
 * detail, live as the stream's `progress` event; the paused queues; `EXPIRED` as a state filter.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { EventSystem } from '@procur/event-bus';
import { startDashboard, type RunningDashboard } from '@procur/event-bus/http';
import { createTestSystem } from '@procur/event-bus/testing';
import { until } from './fixtures/dashboard-helpers.js';

let bus: EventSystem | undefined;
let dash: RunningDashboard | undefined;
afterEach(async () => {
  await dash?.close();
  dash = undefined;
  await bus?.close();
  bus = undefined;
});

describe('dashboard: progress, logs, paused queues, expired tasks', () => {
  it('task detail carries progress and logs; the stream announces them live', async () => {
    bus = await createTestSystem();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    bus.tasks.define('import_rows', { queue: 'imports' }, async (_a: null, ctx) => {
      await ctx.log('started');
      await ctx.progress({ done: 1, total: 2 });
      await held;
      await ctx.progress({ done: 2, total: 2 });
      return 'ok';
    });
    await bus.worker({ queues: { imports: 1 } }).start();
    dash = await startDashboard(bus, { port: 0 });

    // Open the live stream first, and collect its `progress` events.
    const ac = new AbortController();
    const res = await fetch(`${dash.url}api/stream`, { signal: ac.signal });
    const reader = res.body!.getReader();
    let text = '';
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        text += new TextDecoder().decode(value);
      }
    })();
    await until(() => text.includes('event: hello'), 5000, 'the stream opened');

    const r = await bus.tasks.send('import_rows', null);
    await until(async () => JSON.stringify(await r.progress()) === '{"done":1,"total":2}', 10_000, 'progress recorded');
    const detail = (await (await fetch(`${dash.url}api/tasks/${r.id}`)).json()) as { task: { progress: unknown; logs: { message: string; attempt: number }[] } };
    expect(detail.task.progress).toEqual({ done: 1, total: 2 });
    expect(detail.task.logs).toMatchObject([{ message: 'started', attempt: 1 }]);
    await until(() => /event: progress\ndata: .*"done":1/.test(text), 10_000, 'the live progress event');
    expect(text).toMatch(/event: progress\ndata: .*"message":"started"/);
    release();
    await r.get({ timeoutMs: 10_000 });
    const after = (await (await fetch(`${dash.url}api/tasks/${r.id}`)).json()) as { task: { progress: unknown; state: string } };
    expect(after.task.progress).toEqual({ done: 2, total: 2 });
    ac.abort();
    await reading;
  });

  it('lists paused queues and filters expired tasks', async () => {
    bus = await createTestSystem();
    bus.tasks.define('quote', { queue: 'quotes' }, async () => 1);
    dash = await startDashboard(bus, { port: 0 });
    await bus.tasks.pause('quotes');
    const queues = (await (await fetch(`${dash.url}api/queues`)).json()) as { paused: string[] };
    expect(queues.paused).toEqual(['quotes']);
    const snapshot = (await (await fetch(`${dash.url}api/snapshot`)).json()) as { pausedQueues: string[] };
    expect(snapshot.pausedQueues).toEqual(['quotes']);
    await bus.tasks.resume('quotes');

    const r = await bus.tasks.send('quote', null, { expiresInMs: 50 });
    await new Promise((res) => setTimeout(res, 100));
    await bus.worker({ queues: { quotes: 1 } }).start();
    await expect(r.get({ timeoutMs: 10_000 })).rejects.toThrow(/expired/);
    await until(async () => {
      const list = (await (await fetch(`${dash!.url}api/tasks?state=EXPIRED`)).json()) as { tasks: { id: string }[] };
      return list.tasks.some((t) => t.id === r.id);
    }, 10_000, 'the expired task in the filtered list');
    const detail = (await (await fetch(`${dash.url}api/tasks/${r.id}`)).json()) as { task: { state: string; expiresAt: string } };
    expect(detail.task.state).toBe('EXPIRED');
    expect(Date.parse(detail.task.expiresAt)).toBeGreaterThan(0);
  });
});
