/**
 * More of the dashboard in a real headless Chromium: paging the events and the dead letters
 * through more rows than one page holds, bulk replay / delete of the dead letters a filter
 * selects (checked through the bus), promoting a delayed task from its detail view, a task's
 * flow in its detail view, and the per-partition rows of a partitioned events stream.
 * Skipped (loudly) only outside CI when Chromium is missing.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { EventType, partitionName, partitionOf, type EventSystem } from '@procur/event-bus';
import { startDashboard, type RunningDashboard } from '@procur/event-bus/http';
import { createTestSystem } from '@procur/event-bus/testing';
import { describeDeadLetter } from '../../src/http/dead-letter-view.js';
import { browserSuiteEnabled, launchChromium, until } from './fixtures/dashboard-helpers.js';

const enabled = browserSuiteEnabled('dashboard-views-browser.test');

describe.skipIf(!enabled)('dashboard views in Chromium', () => {
  let browser: Browser;
  let context: BrowserContext | undefined;
  let bus: EventSystem | undefined;
  let dash: RunningDashboard | undefined;
  beforeAll(async () => {
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    await context?.close();
    context = undefined;
    await dash?.close();
    dash = undefined;
    await bus?.close();
    bus = undefined;
  });

  async function open(hash: string): Promise<Page> {
    context = await browser.newContext({ viewport: { width: 1400, height: 860 } });
    const page = await context.newPage();
    page.on('dialog', (d) => void d.accept());
    await page.goto(`${dash!.url}${hash}`);
    await page.locator('#live.on').waitFor({ timeout: 10_000 });
    await page.evaluate('window.__sameDocument = true');
    return page;
  }

  const ids = (page: Page, attr: string) => page.locator(`tr[${attr}]`).evaluateAll((rows, a) => rows.map((r) => r.getAttribute(a) as string), attr);

  it('pages through the events: the live page, then older pages read from the store, each row once', async () => {
    bus = await createTestSystem();
    const published = await bus.publisher.publishMany(Array.from({ length: 120 }, (_, i) => ({ type: EventType.SYSTEM_WARNING, data: { message: `m${i}` } })));
    dash = await startDashboard(bus, { port: 0, pollMs: 100 });
    const page = await open('#/events');
    await page.locator('#events-page', { hasText: 'page 1 (live)' }).waitFor({ timeout: 10_000 });
    await until(async () => (await page.locator('#events-body tr').count()) === 50, 10_000, 'a full first page');
    const seen: string[] = [];
    seen.push(...(await ids(page, 'data-event-id')));
    // The newest event is on the first page.
    expect(seen).toContain(published[published.length - 1]);
    let last = 1;
    while (last < 10 && !(await page.locator('#events-next').isDisabled())) {
      last++;
      await page.locator('#events-next').click();
      await page.locator('#events-page', { hasText: `page ${last} ` }).waitFor({ timeout: 10_000 });
      const rows = await ids(page, 'data-event-id');
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.length).toBeLessThanOrEqual(50);
      seen.push(...rows);
    }
    expect(last).toBeGreaterThanOrEqual(3); // 120 events: more than two pages
    expect(await page.locator('#events-next').isDisabled()).toBe(true);
    expect(new Set(seen).size).toBe(seen.length); // no row twice
    for (const id of published) expect(seen).toContain(id); // every event on some page
    // Back through the newer pages, down to the live one.
    for (let p = last - 1; p >= 2; p--) {
      await page.locator('#events-prev').click();
      await page.locator('#events-page', { hasText: `page ${p} (older events` }).waitFor({ timeout: 10_000 });
    }
    await page.locator('#events-prev').click();
    await page.locator('#events-page', { hasText: 'page 1 (live)' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('#events-prev').isDisabled()).toBe(true);
    expect(await page.evaluate('window.__sameDocument === true')).toBe(true);
  }, 120_000);

  it('pages the dead letters, then deletes and replays what a filter selects (checked through the bus)', async () => {
    bus = await createTestSystem();
    let healed = false;
    let badRuns = 0;
    bus.tasks.define('bad', { queue: 'bad', maxRetries: 0 }, async () => {
      badRuns++;
      if (!healed) throw new Error('bad fails');
      return 'ok';
    });
    bus.tasks.define('worse', { queue: 'bad', maxRetries: 0 }, async () => {
      throw new Error('worse fails');
    });
    await bus.worker({ queues: { bad: 4 } }).start();
    await Promise.all(Array.from({ length: 60 }, async (_, i) => expect((await bus!.tasks.send('bad', { i })).get({ timeoutMs: 20_000 })).rejects.toThrow(/bad fails/)));
    await Promise.all(Array.from({ length: 3 }, async (_, i) => expect((await bus!.tasks.send('worse', { i })).get({ timeoutMs: 20_000 })).rejects.toThrow(/worse fails/)));
    await until(async () => (await bus!.dlq.size()) === 63, 10_000, '63 dead letters');
    dash = await startDashboard(bus, { port: 0, pollMs: 100 });
    const page = await open('#/dlq');

    // Paging: 50 a page, oldest first, each entry once.
    await page.locator('#dlq-page', { hasText: 'page 1 of 2 (63 entries)' }).waitFor({ timeout: 10_000 });
    const first = await ids(page, 'data-dlq-id');
    expect(first).toHaveLength(50);
    await page.locator('#dlq-next').click();
    await page.locator('#dlq-page', { hasText: 'page 2 of 2' }).waitFor({ timeout: 10_000 });
    await until(async () => (await page.locator('#dlq-body tr').count()) === 13, 10_000, 'the second page');
    const second = await ids(page, 'data-dlq-id');
    expect(new Set([...first, ...second]).size).toBe(63);
    expect(await page.locator('#dlq-next').isDisabled()).toBe(true);
    await page.locator('#dlq-prev').click();
    await page.locator('#dlq-page', { hasText: 'page 1 of 2' }).waitFor({ timeout: 10_000 });

    // Delete what the filter selects: the three 'worse' entries only.
    await page.locator('#dlq-f-type').fill('worse');
    await page.locator('#dlq-f-type').dispatchEvent('change');
    await page.locator('#dlq-page', { hasText: 'page 1 of 1 (3 selected)' }).waitFor({ timeout: 10_000 });
    const dialogs: string[] = [];
    page.on('dialog', (d) => void dialogs.push(d.message()));
    await page.locator('#dlq-delete-selected').click();
    await until(async () => (await bus!.dlq.size()) === 60, 10_000, 'the filtered dead letters deleted');
    expect(dialogs.at(-1)).toMatch(/Delete the 3 dead letters the filter selects/);
    const left = await bus.dlq.list({ limit: 1000 });
    expect(left).toHaveLength(60);
    expect(new Set(left.map((e) => describeDeadLetter(e).type))).toEqual(new Set(['bad']));

    // Replay what the filter selects (kind=task): every 'bad' runs again, and now succeeds.
    healed = true;
    const before = badRuns;
    await page.locator('#dlq-f-type').fill('');
    await page.locator('#dlq-f-kind').selectOption('task');
    await page.locator('#dlq-page', { hasText: '(60 selected)' }).waitFor({ timeout: 10_000 });
    await page.locator('#dlq-replay-selected').click();
    await until(async () => (await bus!.dlq.size()) === 0 && badRuns === before + 60, 20_000, 'the 60 replayed tasks ran');
    expect(dialogs.at(-1)).toMatch(/Replay the 60 dead letters the filter selects/);
    expect(await bus.dlq.list()).toEqual([]);
    await page.locator('#dlq-empty:not([hidden])').waitFor({ timeout: 10_000 });
    expect(await page.evaluate('window.__sameDocument === true')).toBe(true);
  }, 120_000);

  it('promotes a delayed task from its detail view and from its row (sent without a taskId too); a queued task without recorded arguments cannot be, and says why', async () => {
    bus = await createTestSystem();
    const ran: string[] = [];
    bus.tasks.define('remind', { queue: 'remind' }, async (a: { who: string }) => {
      ran.push(a.who);
      return a.who;
    });
    bus.tasks.define('idle', { queue: 'idle' }, async () => null);
    await bus.worker({ queues: { remind: 1 } }).start();
    dash = await startDashboard(bus, { port: 0, pollMs: 100 });
    await bus.tasks.send('remind', { who: 'bob' }, { taskId: 'remind-bob', countdownMs: 3_600_000 });
    const page = await open('#/task/remind-bob');
    // Sent while the page is open, without a taskId: a delayed task is recorded with its arguments too.
    const anonymous = await bus.tasks.send('remind', { who: 'eve' }, { countdownMs: 3_600_000 });
    // Queued (not delayed) without a taskId on a queue no worker reads: its arguments are not recorded.
    const queued = await bus.tasks.send('idle', { n: 1 });
    await page.locator('#task-state', { hasText: 'PENDING' }).waitFor({ timeout: 30_000 });
    await page.locator('#promote-task:not([disabled])').click({ timeout: 30_000 });
    await until(() => ran.length === 1, 30_000, 'the promoted task ran');
    expect(ran).toEqual(['bob']);
    expect((await bus.tasks.info('remind-bob'))?.state).toBe('REVOKED');

    await page.evaluate('location.hash = "#/tasks"');
    const eve = page.locator(`tr[data-task-id="${anonymous.id}"] button.promote:not([disabled])`);
    await eve.click({ timeout: 30_000 });
    await until(() => ran.length === 2, 30_000, 'the promoted anonymous task ran');
    expect(ran).toEqual(['bob', 'eve']);
    expect((await bus.tasks.info(anonymous.id))?.state).toBe('REVOKED');

    const button = page.locator(`tr[data-task-id="${queued.id}"] button.promote`);
    await button.waitFor({ timeout: 30_000 });
    expect(await button.isDisabled()).toBe(true);
    expect(await button.getAttribute('title')).toMatch(/only when sent with a taskId/);
    // The promoted one ended REVOKED (its fresh copy ran): no "Run now" on it any more.
    await page.locator('tr[data-task-id="remind-bob"] .pill', { hasText: 'REVOKED' }).waitFor({ timeout: 30_000 });
    expect(await page.locator('tr[data-task-id="remind-bob"] button.promote').count()).toBe(0);
    const r = await fetch(`${dash.url}api/tasks/${queued.id}/promote`, { method: 'POST', headers: { 'x-procur-dashboard': '1' } });
    expect(r.status).toBe(404);
    expect(((await r.json()) as { error: string }).error).toMatch(/is recorded: check the id/);
    expect(ran).toEqual(['bob', 'eve']);
  }, 120_000);

  it("shows a task's flow in its detail: the chain, this step, every step with its state, live, with links", async () => {
    bus = await createTestSystem();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const fetchOffer = bus.tasks.define('fetch_offer', { queue: 'offers' }, async (a: { offerId: string }) => ({ offerId: a.offerId, price: 10 }));
    const score = bus.tasks.define('score_offer', { queue: 'offers' }, async (o: { price: number }) => {
      await gate;
      return o.price * 2;
    });
    const notify = bus.tasks.define('notify', { queue: 'offers' }, async () => 'sent');
    await bus.worker({ queues: { offers: 2 } }).start();
    dash = await startDashboard(bus, { port: 0, pollMs: 100 });
    const page = await open('#/tasks');
    const flow = await bus.tasks.chain([fetchOffer.sig({ offerId: 'o-1' }), score.sig(), notify.si({ channel: 'ops' })], { flowId: 'offer-o-1' });
    await until(async () => (await bus!.tasks.info('offer-o-1.1'))?.state === 'STARTED', 10_000, 'the second step running');

    await page.evaluate('location.hash = "#/task/offer-o-1.1"');
    await page.locator('#task-flow-box:not([hidden])').waitFor({ timeout: 10_000 });
    await page.locator('[data-flow-field="this task"]', { hasText: 'step 1 of 3' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('[data-flow-field="kind"]').textContent()).toBe('chain');
    expect(await page.locator('[data-flow-field="flow"] a').getAttribute('href')).toBe('#/task/offer-o-1');
    expect(await ids(page, 'data-step-id')).toEqual(['offer-o-1.0', 'offer-o-1.1', 'offer-o-1.2']);
    await page.locator('tr[data-step-id="offer-o-1.0"] .pill', { hasText: 'SUCCESS' }).waitFor({ timeout: 10_000 });
    await page.locator('tr[data-step-id="offer-o-1.2"] .pill', { hasText: 'PENDING' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('tr.current').getAttribute('data-step-id')).toBe('offer-o-1.1');

    // The flow goes on: the next step's state changes in place, without a reload.
    release();
    expect(await flow.get({ timeoutMs: 10_000 })).toBe('sent');
    await page.locator('tr[data-step-id="offer-o-1.2"] .pill', { hasText: 'SUCCESS' }).waitFor({ timeout: 10_000 });
    await page.locator('[data-flow-field="flow state"]', { hasText: 'SUCCESS' }).waitFor({ timeout: 10_000 });

    // Links: a step, then the flow's own record.
    await page.locator('tr[data-step-id="offer-o-1.0"] a').click();
    await page.locator('#task-name', { hasText: 'fetch_offer' }).waitFor({ timeout: 10_000 });
    await page.locator('[data-flow-field="this task"]', { hasText: 'step 0 of 3' }).waitFor({ timeout: 10_000 });
    await page.locator('[data-flow-field="flow"] a').click();
    await page.locator('[data-flow-field="this task"]', { hasText: 'own record' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('#task-flow-steps tr').count()).toBe(3);
    expect(await page.evaluate('window.__sameDocument === true')).toBe(true);
  }, 120_000);

  it('shows a row per partition of a partitioned events stream, with its depth, drained live by a consumer', async () => {
    const P = 3;
    bus = await createTestSystem({ config: { eventStreamPartitions: P } });
    await bus.transport.ensureGroup(bus.config.eventStreamName, bus.config.eventConsumerGroup);
    await bus.publisher.publishMany(Array.from({ length: 12 }, (_, i) => ({ type: EventType.SYSTEM_WARNING, data: { message: `m${i}` }, correlationId: `order-${i}` })));
    const expected = Array.from({ length: P }, () => 0);
    for (let i = 0; i < 12; i++) expected[partitionOf(`order-${i}`, P)]!++;
    expect(expected.filter((n) => n > 0).length).toBeGreaterThan(1);
    dash = await startDashboard(bus, { port: 0, pollMs: 100 });
    const page = await open('#/queues');
    await page.locator('#partitions-box:not([hidden])').waitFor({ timeout: 10_000 });
    expect(await page.locator('#partitions-body tr').count()).toBe(P);
    for (let i = 0; i < P; i++) {
      const row = page.locator(`tr[data-partition="${i}"]`);
      expect(await row.locator('td.depth').textContent()).toBe(String(expected[i]));
      expect(await row.locator('td.mono').textContent()).toBe(partitionName(bus.config.eventStreamName, i));
    }
    await page.locator('#stream-depth', { hasText: '12 waiting over 3 partitions' }).waitFor({ timeout: 10_000 });

    // A consumer drains every partition: the rows go to 0 without a reload.
    let handled = 0;
    const c = bus.consumer('audit');
    c.registerHandler(EventType.SYSTEM_WARNING, () => void handled++);
    await c.start();
    await until(() => handled === 12, 10_000, 'the events handled');
    for (let i = 0; i < P; i++) await page.locator(`tr[data-partition="${i}"] td.depth`, { hasText: /^0$/ }).waitFor({ timeout: 10_000 });
    await c.stop();
    expect(await page.evaluate('window.__sameDocument === true')).toBe(true);
  }, 120_000);
});
