/**
 * The dashboard in a real headless Chromium (Debian's chromium driven by playwright-core): a
 * worker comes online, a task moves from received to succeeded without a reload, a revoke from
 * the page stops a pending task, a DLQ replay from the page gets the event handled, and a request
 * without credentials is refused when auth is on.
 *
 * Skipped (loudly) only outside CI when Chromium is missing; in CI a missing Chromium fails.
 * Screenshots go to a temporary folder, and to docs/ with PROCUR_UPDATE_SCREENSHOTS=1.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { EventType, UnrecoverableError, type EventSystem } from '@procur/event-bus';
import { startDashboard, type RunningDashboard } from '@procur/event-bus/http';
import { createTestSystem } from '@procur/event-bus/testing';
import { runDemo } from '../../src/cli/demo.js';
import { browserSuiteEnabled, launchChromium, until } from './fixtures/dashboard-helpers.js';

const enabled = browserSuiteEnabled('dashboard-browser.test');

const root = fileURLToPath(new URL('../../', import.meta.url));
const shotDir = process.env.PROCUR_UPDATE_SCREENSHOTS === '1' ? join(root, 'docs') : mkdtempSync(join(tmpdir(), 'procur-shots-'));

describe.skipIf(!enabled)('dashboard in Chromium', () => {
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let bus: EventSystem | undefined;
  let dash: RunningDashboard | undefined;

  beforeAll(async () => {
    browser = await launchChromium();
    mkdirSync(shotDir, { recursive: true });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    await context?.close();
    await dash?.close();
    dash = undefined;
    await bus?.close();
    bus = undefined;
  });

  async function open(path: string, options: { httpCredentials?: { username: string; password: string } } = {}): Promise<Page> {
    context = await browser.newContext({ viewport: { width: 1400, height: 860 }, ...options });
    page = await context.newPage();
    page.on('dialog', (d) => void d.accept());
    await page.goto(`${dash!.url}${path}`);
    await page.locator('#live.on').waitFor({ timeout: 10_000 });
    // Marks this document: if the page reloaded, the mark would be gone.
    await page.evaluate('window.__sameDocument = true');
    return page;
  }
  const sameDocument = () => page.evaluate('window.__sameDocument === true');
  const shot = (name: string) => page.screenshot({ path: join(shotDir, `dashboard-${name}.png`) });

  it('shows a worker coming online, then a task moving from received to succeeded without reload', async () => {
    bus = await createTestSystem({ config: { workerHeartbeatMs: 200 } });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    bus.tasks.define('generate_contract', { queue: 'contracts' }, async (a: { negotiationId: string }) => {
      await gate;
      return { contractId: `ctr-${a.negotiationId}` };
    });
    dash = await startDashboard(bus, { port: 0, pollMs: 200 });
    await open('#/workers');
    expect(await page.locator('#workers-empty').isVisible()).toBe(true);

    const worker = bus.worker({ name: 'contracts', queues: { contracts: 2 } });
    await worker.start();
    const row = page.locator(`tr[data-worker-id="${worker.id}"]`);
    await row.locator('.status', { hasText: 'online' }).waitFor({ timeout: 15_000 });
    expect(await row.textContent()).toContain('contracts (2)');

    await page.locator('a[data-view="tasks"]').click();
    const r = await bus.tasks.send('generate_contract', { negotiationId: 'neg-42' }, { correlationId: 'flow-42' });
    const state = page.locator(`tr[data-task-id="${r.id}"] .state`);
    await state.filter({ hasText: /RECEIVED|STARTED/ }).waitFor({ timeout: 15_000 });
    await shot('tasks-running');
    release();
    await state.filter({ hasText: 'SUCCESS' }).waitFor({ timeout: 15_000 });
    expect(await sameDocument()).toBe(true);

    await page.locator(`tr[data-task-id="${r.id}"]`).click();
    await page.locator('#task-state', { hasText: 'SUCCESS' }).waitFor({ timeout: 15_000 });
    await page.locator('#task-result', { hasText: 'ctr-neg-42' }).waitFor({ timeout: 15_000 });
    const timeline = await page.locator('#task-timeline').textContent();
    expect(timeline).toMatch(/RECEIVED.*STARTED.*SUCCESS/s);
    expect(await page.locator('#task-args').textContent()).toContain('neg-42');
    await shot('task-detail');

    await page.locator('a[data-view="workers"]').click();
    await row.locator('td', { hasText: /^1$/ }).first().waitFor({ timeout: 15_000 });
    await shot('workers');
    await worker.stop();
    await row.locator('.status', { hasText: 'offline' }).waitFor({ timeout: 15_000 });
  });

  it('revokes a pending task (sent with a countdown) from the page: it never runs', async () => {
    bus = await createTestSystem();
    let ran = 0;
    bus.tasks.define('send_notification', { queue: 'notifications' }, () => {
      ran++;
    });
    const worker = bus.worker({ queues: { notifications: 1 } });
    await worker.start();
    dash = await startDashboard(bus, { port: 0, pollMs: 200 });
    // Long enough to open the page and revoke on a loaded machine, before a worker may take it.
    const r = await bus.tasks.send('send_notification', { recipient: 'buyer@acme.example' }, { countdownMs: 6000 });
    await open('#/tasks');
    await page.locator('#task-go').fill(r.id);
    await page.locator('#task-go').press('Enter');
    await page.locator('#task-state', { hasText: 'PENDING' }).waitFor({ timeout: 15_000 });
    await page.locator('#revoke-task').click();
    await page.locator('#task-state', { hasText: 'REVOKED' }).waitFor({ timeout: 15_000 });
    expect(await r.status()).toBe('REVOKED');
    // Past the countdown the worker takes the task, sees the revoke and drops it.
    await until(async () => {
      const q = await bus!.tasks.queueInfo('notifications');
      return q.delayed === 0 && (q.groups[0]?.pending ?? 0) === 0 && (q.groups[0]?.lag ?? 0) === 0;
    }, 20_000);
    await new Promise((x) => setTimeout(x, 100));
    expect(ran).toBe(0);
    expect(await page.locator('#revoke-task').isDisabled()).toBe(true);
    await worker.stop();
  });

  it('replays a dead letter from the page and the event gets handled', async () => {
    bus = await createTestSystem();
    let fixed = false;
    const handled: string[] = [];
    const c = bus.consumer('vendor-enrichment');
    c.registerHandler(EventType.VENDOR_ENRICHMENT_STARTED, (e) => {
      if (!fixed) throw new UnrecoverableError(`enrichment source rejects vendor '${e.data.vendorId}'`);
      handled.push(e.data.vendorId);
    });
    await c.start();
    await bus.publisher.publishVendorEnrichmentStarted({ vendorId: 'broken-vendor', category: 'crm', organizationId: 'acme-corp' });
    await until(async () => (await bus!.dlq.size()) === 1);
    const [entry] = await bus.dlq.list();
    dash = await startDashboard(bus, { port: 0, pollMs: 200 });
    await open('#/dlq');
    const row = page.locator(`tr[data-dlq-id="${entry!.id}"]`);
    await row.waitFor({ timeout: 15_000 });
    expect(await row.textContent()).toContain('rejects vendor');
    await row.locator('button.inspect').click();
    await page.locator('#dlq-stack', { hasText: 'UnrecoverableError' }).waitFor({ timeout: 15_000 });
    await shot('dlq');
    fixed = true;
    await row.locator('button.replay').click();
    await until(() => handled.length === 1, 5000);
    expect(handled).toEqual(['broken-vendor']);
    await page.locator('#dlq-empty').waitFor({ state: 'visible', timeout: 15_000 });
    expect(await page.locator('#dlq-count').textContent()).toBe('0');
  });

  it('refuses a request without credentials when auth is on, and works with them; other sites cannot act', async () => {
    bus = await createTestSystem();
    await bus.transport.deadLetter('s', 'g', { deliveryId: 'x', body: '{}', priority: 1 }, { dlq: bus.config.dlqStreamName, error: 'boom', attempts: 1 });
    dash = await startDashboard(bus, { port: 0, auth: { username: 'ops', password: 'correct horse' } });
    context = await browser.newContext();
    page = await context.newPage();
    // Headless Chromium cannot show the Basic prompt: the 401 challenge ends the navigation.
    const refused = await page.goto(dash.url).then(
      (r) => String(r?.status()),
      (err: Error) => err.message,
    );
    expect(refused).toMatch(/401|ERR_INVALID_AUTH_CREDENTIALS/);
    expect((await page.request.get(`${dash.url}api/snapshot`)).status()).toBe(401);
    expect((await page.request.get(`${dash.url}api/stream`)).status()).toBe(401);
    await context.close();

    await open('#/overview', { httpCredentials: { username: 'ops', password: 'correct horse' } });
    await page.locator('#ov-health', { hasText: /healthy/ }).waitFor({ timeout: 15_000 });
    expect(await page.locator('#dlq-count').textContent()).toBe('1');
    // Even with the credentials cached, an action needs the page's own header...
    const bare = await page.evaluate(async (url) => (await fetch(`${url}api/dlq/replay-all`, { method: 'POST' })).status, dash.url);
    expect(bare).toBe(403);
    // ...which another origin cannot send: the CORS preflight is never granted.
    const other = await context.newPage();
    await other.goto('about:blank');
    const crossSite = await other.evaluate(async (url) => {
      try {
        const r = await fetch(`${url}api/dlq/replay-all`, { method: 'POST', headers: { 'x-procur-dashboard': '1' }, credentials: 'include' });
        return `status ${r.status}`;
      } catch (err) {
        return `blocked: ${(err as Error).message}`;
      }
    }, dash.url);
    expect(crossSite).toMatch(/^blocked/);
    expect(await bus.dlq.size()).toBe(1);
  });

  it('shows markup in events, task arguments, errors and the title as text: nothing is parsed as HTML', async () => {
    const XSS = '<img src=x class=injected onerror="window.__xss=1"><b class=injected>bold</b>';
    bus = await createTestSystem();
    bus.tasks.define('render_offer', { queue: 'offers', maxRetries: 0 }, () => {
      throw new Error(`offer rejected: ${XSS}`);
    });
    const worker = bus.worker({ queues: { offers: 1 } });
    await worker.start();
    const c = bus.consumer('audit');
    c.registerHandler(EventType.SYSTEM_WARNING, () => {
      throw new UnrecoverableError(`cannot audit ${XSS}`);
    });
    await c.start();
    dash = await startDashboard(bus, { port: 0, pollMs: 200, title: `ops ${XSS}` });
    await open('#/events');
    await bus.publisher.publish({ type: EventType.SYSTEM_WARNING, data: { message: XSS, component: XSS } });
    const sent = await bus.tasks.send('render_offer', { html: XSS });
    await expect(sent.get()).rejects.toThrow('offer rejected');
    // The event's dead letter and the task's.
    await until(async () => (await bus!.dlq.size()) === 2);
    await page.locator('#events-body tr', { hasText: '<img src=x' }).first().waitFor({ timeout: 15_000 });
    await page.locator('a[data-view="tasks"]').click();
    await page.locator(`tr[data-task-id="${sent.id}"]`, { hasText: '<img src=x' }).waitFor({ timeout: 15_000 });
    await page.locator(`tr[data-task-id="${sent.id}"]`).click();
    await page.locator('#task-error', { hasText: 'offer rejected: <img src=x' }).waitFor({ timeout: 15_000 });
    expect(await page.locator('#task-args').textContent()).toContain('<img src=x');
    await page.locator('a[data-view="dlq"]').click();
    await page.locator('#dlq-body tr', { hasText: 'cannot audit <img src=x' }).waitFor({ timeout: 15_000 });
    await page.locator('#dlq-body tr', { hasText: 'cannot audit' }).locator('button.inspect').click();
    await page.locator('#dlq-body-text', { hasText: '<img src=x' }).waitFor({ timeout: 15_000 });
    expect(await page.locator('.brand').textContent()).toBe(`ops ${XSS}`);
    expect(await page.title()).toBe(`ops ${XSS}`);
    // Had any of it been written as HTML, these elements would exist.
    expect(await page.locator('.injected').count()).toBe(0);
    expect(await page.evaluate('document.querySelectorAll("main img, header img").length')).toBe(0);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
    await worker.stop();
  });

  it('shows the procurement demo: overview, events and queues (screenshots for the docs)', async () => {
    const demo = await runDemo({ keepOpen: true, log: () => {} });
    bus = demo.bus!;
    dash = await startDashboard(bus, { port: 0, pollMs: 250 });
    await open('#/overview');
    await bus.publisher.publishSystemWarning({ message: 'disk 85% full', component: 'event-store' });
    await page.waitForFunction("document.querySelectorAll('#ov-chart polyline').length === 1", undefined, { timeout: 10_000 });
    await page.locator('#ov-workers', { hasText: '1 / 1' }).waitFor({ timeout: 15_000 });
    await shot('overview');
    await page.locator('a[data-view="events"]').click();
    await page.locator('#events-body tr').first().waitFor({ timeout: 15_000 });
    await shot('events');
    await page.locator('a[data-view="queues"]').click();
    await page.locator('tr[data-queue="contracts"]').waitFor({ timeout: 15_000 });
    await shot('queues');
    await page.locator('a[data-view="tasks"]').click();
    await page.locator('#tasks-body tr').nth(3).waitFor({ timeout: 15_000 });
    await shot('tasks');
    expect(await sameDocument()).toBe(true);
  });
});
