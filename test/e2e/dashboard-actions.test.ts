/**
 * The dashboard's actions (POST): retry a finished task, promote a delayed one, pause / resume /
 * purge a queue, bulk retry of failed tasks, bulk replay / delete of dead letters, paging of the
 * task list. Bad input is a 400 saying what to fix; an unknown id a 404.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EventType, type EventSystem } from '@procur/event-bus';
import { startDashboard, type RunningDashboard } from '@procur/event-bus/http';
import { createTestSystem } from '@procur/event-bus/testing';
import { until } from './fixtures/dashboard-helpers.js';
import { deletePrefixes, probeRedis, REDIS_REQUIRED, redisBus, TEST_REDIS_URL, uniquePrefix } from './fixtures/redis-helpers.js';

const redisUp = (await probeRedis(TEST_REDIS_URL)) || REDIS_REQUIRED;
if (!redisUp) console.warn(`\n!!! [dashboard-actions.test] Redis unreachable at ${TEST_REDIS_URL}: the Redis cases are SKIPPED.\n`);
const prefixes: string[] = [];
const systems: [string, boolean, () => Promise<EventSystem>][] = [
  ['memory', true, () => createTestSystem()],
  [
    'redis',
    redisUp,
    () => {
      const prefix = uniquePrefix();
      prefixes.push(prefix);
      return redisBus(prefix);
    },
  ],
];

const ACTION = { 'x-procur-dashboard': '1' };
let bus: EventSystem | undefined;
let dash: RunningDashboard | undefined;
afterEach(async () => {
  await dash?.close();
  dash = undefined;
  await bus?.close();
  bus = undefined;
  await deletePrefixes(prefixes);
});

async function post(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`${dash!.url}${path}`, { method: 'POST', headers: ACTION });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

// One suite per transport: the memory one and the real Redis.
for (const [label, enabled, createSystem] of systems) describe.skipIf(!enabled)(`dashboard actions (${label})`, () => {
  it('retries a failed task under a new id with its arguments and correlation id; bulk retry counts', async () => {
    bus = await createSystem();
    let calls = 0;
    bus.tasks.define('flaky', { queue: 'flaky', maxRetries: 0 }, async (a: { n: number }) => {
      calls++;
      if (calls <= 2) throw new Error('boom');
      return a.n * 2;
    });
    await bus.worker({ queues: { flaky: 1 } }).start();
    dash = await startDashboard(bus, { port: 0 });
    const r = await bus.tasks.send('flaky', { n: 21 }, { correlationId: 'corr-1' });
    await expect(r.get({ timeoutMs: 10_000 })).rejects.toThrow(/boom/);

    expect((await post('api/tasks/no-such-task/retry')).status).toBe(404);
    const ok = await bus.tasks.send('flaky', { n: 1 });
    await expect(ok.get({ timeoutMs: 10_000 })).rejects.toThrow(/boom/); // the second call fails too

    const one = await post(`api/tasks/${r.id}/retry`);
    expect(one.status).toBe(200);
    const newId = one.body.newId as string;
    expect(newId).not.toBe(r.id);
    expect(await bus.tasks.result(newId).get({ timeoutMs: 10_000 })).toBe(42);
    expect((await bus.tasks.info(newId))?.correlationId).toBe('corr-1');
    expect((await bus.tasks.info(r.id))?.state).toBe('FAILURE');
    // A SUCCESS is not retried.
    const refused = await post(`api/tasks/${newId}/retry`);
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatch(/only a FAILURE/);

    // Bulk: the one FAILURE left (ok) is re-sent; bad state is a 400.
    expect((await post('api/tasks/retry?state=SUCCESS')).status).toBe(400);
    await until(async () => ((await (await fetch(`${dash!.url}api/tasks?state=FAILURE`)).json()) as { total: number }).total === 2, 10_000, 'both failures listed');
    const bulk = await post('api/tasks/retry?queue=flaky');
    expect(bulk.status).toBe(200);
    expect(bulk.body.retried).toBe(2);
    expect(calls).toBeGreaterThanOrEqual(3);
    expect((await fetch(`${dash!.url}api/tasks/x/retry`)).status).toBe(405);
  });

  it('promotes a delayed task: it runs now, once', async () => {
    bus = await createSystem();
    const ran: string[] = [];
    bus.tasks.define('remind', { queue: 'remind' }, async (a: { who: string }) => {
      ran.push(a.who);
      return a.who;
    });
    await bus.worker({ queues: { remind: 1 } }).start();
    dash = await startDashboard(bus, { port: 0 });
    const r = await bus.tasks.send('remind', { who: 'ann' }, { taskId: 'remind-ann', countdownMs: 60 * 60_000 });
    expect((await bus.tasks.info(r.id))?.state).toBe('PENDING');
    const p = await post(`api/tasks/${r.id}/promote`);
    expect(p.status).toBe(200);
    expect(await bus.tasks.result(p.body.newId as string).get({ timeoutMs: 10_000 })).toBe('ann');
    expect((await bus.tasks.info(r.id))?.state).toBe('REVOKED');
    expect(ran).toEqual(['ann']);
    // Promoting again: not waiting any more.
    expect((await post(`api/tasks/${r.id}/promote`)).status).toBe(409);
    expect((await post('api/tasks/nope/promote')).status).toBe(404);
  });

  it('promotes a delayed task sent without a taskId (sendMany too): it is recorded with its arguments when sent', async () => {
    bus = await createSystem();
    const ran: string[] = [];
    bus.tasks.define('later', { queue: 'later' }, async (a: { who: string }) => {
      ran.push(a.who);
      return a.who;
    });
    await bus.worker({ queues: { later: 1 } }).start();
    dash = await startDashboard(bus, { port: 0 });
    const r = await bus.tasks.send('later', { who: 'bo' }, { countdownMs: 60 * 60_000 });
    const info = await bus.tasks.info(r.id);
    expect(info?.state).toBe('PENDING');
    expect(info?.args).toEqual({ who: 'bo' });
    const many = await bus.tasks.sendMany('later', [{ who: 'cy' }, { who: 'di' }], { countdownMs: 60 * 60_000 });
    expect((await Promise.all(many.map((m) => bus!.tasks.info(m.id)))).map((i) => i?.args)).toEqual([{ who: 'cy' }, { who: 'di' }]);
    const p = await post(`api/tasks/${r.id}/promote`);
    expect(p.status).toBe(200);
    expect(await bus.tasks.result(p.body.newId as string).get({ timeoutMs: 10_000 })).toBe('bo');
    expect((await bus.tasks.info(r.id))?.state).toBe('REVOKED');
    // A short delay: the record written at send never overwrites the result.
    const soon = await bus.tasks.send('later', { who: 'ed' }, { countdownMs: 1 });
    expect(await soon.get({ timeoutMs: 10_000 })).toBe('ed');
    expect((await bus.tasks.info(soon.id))?.state).toBe('SUCCESS');
    expect(ran).toEqual(['bo', 'ed']);
  });

  it('pages events with a cursor (tasks=false leaves out task events) and dead letters by filter', async () => {
    bus = await createSystem();
    bus.tasks.define('bad', { queue: 'bad', maxRetries: 0 }, async () => {
      throw new Error('nope');
    });
    bus.tasks.define('worse', { queue: 'bad', maxRetries: 0 }, async () => {
      throw new Error('nope');
    });
    await bus.worker({ queues: { bad: 1 } }).start();
    dash = await startDashboard(bus, { port: 0 });
    const published = await bus.publisher.publishMany(Array.from({ length: 7 }, (_, i) => ({ type: EventType.SYSTEM_WARNING, data: { message: `m${i}` } })));
    for (let i = 0; i < 5; i++) await expect((await bus.tasks.send(i < 3 ? 'bad' : 'worse', { i })).get({ timeoutMs: 10_000 })).rejects.toThrow(/nope/);
    await until(async () => (await bus!.dlq.size()) === 5, 10_000, 'five dead letters');

    // Events: 3 a page, newest first, no task event, each event once.
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const r = (await (await fetch(`${dash.url}api/events?limit=3&tasks=false${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)).json()) as { events: { id: string; type: string }[]; nextCursor?: string };
      expect(r.events.length).toBeLessThanOrEqual(3);
      expect(r.events.filter((e) => e.type.startsWith('task.'))).toEqual([]);
      seen.push(...r.events.map((e) => e.id));
      cursor = r.nextCursor;
      if (!cursor) break;
    }
    expect(cursor).toBeUndefined();
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.slice(0, 7)).toEqual([...published].reverse());
    const withTasks = (await (await fetch(`${dash.url}api/events?limit=1000`)).json()) as { events: { type: string }[] };
    expect(withTasks.events.some((e) => e.type.startsWith('task.'))).toBe(true);
    expect((await fetch(`${dash.url}api/events?tasks=maybe`)).status).toBe(400);

    // Dead letters: filtered, paged by `after`, `total` counts the selection.
    const page1 = (await (await fetch(`${dash.url}api/dlq?type=bad&limit=2`)).json()) as { size: number; total: number; entries: { id: string; type: string }[] };
    expect(page1).toMatchObject({ size: 5, total: 3 });
    expect(page1.entries.map((e) => e.type)).toEqual(['bad', 'bad']);
    const page2 = (await (await fetch(`${dash.url}api/dlq?type=bad&limit=2&after=${page1.entries[1]!.id}`)).json()) as { entries: { id: string; type: string }[] };
    expect(page2.entries.map((e) => e.type)).toEqual(['bad']);
    expect(page1.entries.map((e) => e.id)).not.toContain(page2.entries[0]!.id);
    const all = (await (await fetch(`${dash.url}api/dlq?limit=4`)).json()) as { total: number; entries: unknown[] };
    expect(all.total).toBe(5);
    expect(all.entries).toHaveLength(4);
    expect((await fetch(`${dash.url}api/dlq?kind=nonsense`)).status).toBe(400);
  });

  it("shows a task's flow in its detail: the chain / chord it is a step of, its step path, every step with its state", async () => {
    bus = await createSystem();
    const add = bus.tasks.define('add', { queue: 'math' }, async (a: number[]) => a.reduce((x, y) => x + y, 0));
    const sum = bus.tasks.define('sum', { queue: 'math' }, async (a: number[]) => a.reduce((x, y) => x + y, 0));
    bus.tasks.define('plain', { queue: 'math' }, async () => 1);
    await bus.worker({ queues: { math: 2 } }).start();
    dash = await startDashboard(bus, { port: 0 });
    const chain = await bus.tasks.chain([add.sig([1, 2]), add.sig([3]), add.sig([4])], { flowId: 'calc.7' });
    expect(await chain.get({ timeoutMs: 10_000 })).toBe(10);
    const chord = await bus.tasks.chord([add.sig([1, 1]), add.sig([2, 2])], sum.sig());
    expect(await chord.get({ timeoutMs: 10_000 })).toBe(6);
    const plain = await bus.tasks.send('plain', null, { taskId: 'calc.7.9' });
    await plain.get({ timeoutMs: 10_000 });

    type Detail = { task: { id: string }; flow?: { id: string; kind: string; state: string; path?: string; stepCount: number; steps: { path: string; task: string; taskId: string; state: string }[] } };
    const detail = async (id: string) => (await (await fetch(`${dash!.url}api/tasks/${encodeURIComponent(id)}`)).json()) as Detail;
    const step = await detail('calc.7.1');
    expect(step.flow).toMatchObject({ id: 'calc.7', kind: 'chain', state: 'SUCCESS', path: '1', stepCount: 3 });
    expect(step.flow!.steps).toEqual([
      { path: '0', task: 'add', queue: 'math', taskId: 'calc.7.0', state: 'SUCCESS' },
      { path: '1', task: 'add', queue: 'math', taskId: 'calc.7.1', state: 'SUCCESS' },
      { path: '2', task: 'add', queue: 'math', taskId: 'calc.7.2', state: 'SUCCESS' },
    ]);
    // The flow's own record: its steps, no path.
    const record = await detail('calc.7');
    expect(record.flow).toMatchObject({ id: 'calc.7', kind: 'chain', stepCount: 3 });
    expect(record.flow!.path).toBeUndefined();
    // A chord's header member (path 0.1) and its callback (path 1).
    const member = await detail(`${chord.id}.0.1`);
    expect(member.flow).toMatchObject({ id: chord.id, kind: 'chord', path: '0.1', stepCount: 3 });
    expect(member.flow!.steps.map((s) => [s.path, s.task])).toEqual([['0.0', 'add'], ['0.1', 'add'], ['1', 'sum']]);
    expect((await detail(`${chord.id}.1`)).flow).toMatchObject({ id: chord.id, path: '1' });
    // A task of no flow, even one whose id looks like a step's, has none.
    expect((await detail('calc.7.9')).flow).toBeUndefined();
    expect((await detail('nothing.0')).flow).toBeUndefined();
  });

  it('pauses, resumes and purges a queue', async () => {
    bus = await createSystem();
    bus.tasks.define('quote', { queue: 'quotes' }, async () => 1);
    dash = await startDashboard(bus, { port: 0 });
    expect((await post('api/queues/quotes/pause')).body).toMatchObject({ paused: true, changed: true });
    expect(await bus.tasks.isPaused('quotes')).toBe(true);
    const queues = (await (await fetch(`${dash.url}api/queues`)).json()) as { paused: string[] };
    expect(queues.paused).toEqual(['quotes']);
    expect((await post('api/queues/quotes/resume')).body).toMatchObject({ paused: false, changed: true });
    expect(await bus.tasks.isPaused('quotes')).toBe(false);
    await bus.tasks.send('quote', null);
    await bus.tasks.send('quote', null);
    expect((await post('api/queues/quotes/purge')).body).toMatchObject({ purged: 2 });
    const bad = await post('api/queues/quotes/explode');
    expect(bad.status).toBe(404);
    expect(bad.body.error).toMatch(/pause, resume or purge/);
    expect((await post('api/queues/bad%20name/pause')).status).toBe(400);
    // Without the action header a POST is refused (cross-site check).
    expect((await fetch(`${dash.url}api/queues/quotes/pause`, { method: 'POST' })).status).toBe(403);
  });

  it('bulk replays and deletes the dead letters a filter selects; pages the task list', async () => {
    bus = await createSystem();
    bus.tasks.define('bad', { queue: 'bad', maxRetries: 0 }, async () => {
      throw new Error('nope');
    });
    await bus.worker({ queues: { bad: 1 } }).start();
    dash = await startDashboard(bus, { port: 0 });
    for (let i = 0; i < 3; i++) await expect((await bus.tasks.send('bad', { i })).get({ timeoutMs: 10_000 })).rejects.toThrow(/nope/);
    await until(async () => (await bus!.dlq.size()) === 3, 10_000, 'three dead letters');
    expect((await post('api/dlq/delete?kind=nonsense')).status).toBe(400);
    expect((await post('api/dlq/delete?type=other')).body).toEqual({ count: 0 });
    expect((await post('api/dlq/delete?type=bad')).body).toEqual({ count: 3 });
    expect(await bus.dlq.size()).toBe(0);

    await until(async () => ((await (await fetch(`${dash!.url}api/tasks?queue=bad`)).json()) as { total: number }).total === 3, 10_000, 'three tasks');
    const page1 = (await (await fetch(`${dash.url}api/tasks?queue=bad&limit=2`)).json()) as { tasks: { id: string }[]; total: number };
    const page2 = (await (await fetch(`${dash.url}api/tasks?queue=bad&limit=2&offset=2`)).json()) as { tasks: { id: string }[] };
    expect(page1.tasks).toHaveLength(2);
    expect(page2.tasks).toHaveLength(1);
    expect(page1.tasks.map((t) => t.id)).not.toContain(page2.tasks[0]!.id);
    const bad = await fetch(`${dash.url}api/tasks?offset=-1`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/offset/);
  });
});
