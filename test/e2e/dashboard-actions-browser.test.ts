/**
 * The dashboard's actions clicked in a real headless Chromium, in one page load: retry a failed
 * task from its row, run a delayed task now, page the task list, pause and resume a queue, and
 * replay a dead letter from its row. Skipped (loudly) only outside CI when Chromium is missing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startDashboard } from '@procur/event-bus/http';
import { createTestSystem } from '@procur/event-bus/testing';
import { browserSuiteEnabled, launchChromium, until } from './fixtures/dashboard-helpers.js';

const enabled = browserSuiteEnabled('dashboard-actions-browser.test');

describe.skipIf(!enabled)('dashboard actions in Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('retry, run now, paging, pause/resume and a DLQ row replay, without a reload', async () => {
    const bus = await createTestSystem();
    const dash = await startDashboard(bus, { port: 0, pollMs: 100 });
    const context = await browser.newContext({ viewport: { width: 1400, height: 860 } });
    try {
      let calls = 0;
      const ran: string[] = [];
      bus.tasks.define('flaky', { queue: 'flaky', maxRetries: 0 }, async () => {
        if (++calls === 1) throw new Error('first call fails');
        return 'ok';
      });
      bus.tasks.define('remind', { queue: 'remind' }, async (a: { who: string }) => void ran.push(a.who));
      bus.tasks.define('noop', { queue: 'noop' }, async () => null);
      await bus.worker({ queues: { flaky: 1, remind: 1, noop: 2 } }).start();
      await Promise.all(Array.from({ length: 55 }, async () => (await bus.tasks.send('noop', null)).get({ timeoutMs: 20_000 })));
      const failed = await bus.tasks.send('flaky', null);
      await expect(failed.get({ timeoutMs: 10_000 })).rejects.toThrow(/first call/);
      await bus.tasks.send('remind', { who: 'ann' }, { taskId: 'remind-ann', countdownMs: 3_600_000 });
      await until(async () => (await bus.dlq.size()) === 1, 10_000, 'the failure dead-lettered');

      const page = await context.newPage();
      page.on('dialog', (d) => void d.accept());
      await page.goto(`${dash.url}#/tasks`);
      await page.locator('#live.on').waitFor({ timeout: 10_000 });
      await page.evaluate('window.__sameDocument = true');

      // Retry the failed task from its row: it runs again (under a new id) and succeeds.
      await page.locator(`tr[data-task-id="${failed.id}"] button.retry`).click({ timeout: 10_000 });
      await until(() => calls === 2, 10_000, 'the retried task ran');

      // Run the delayed task now from its row: it runs once, at once.
      await page.locator('tr[data-task-id="remind-ann"] button.promote').click({ timeout: 10_000 });
      await until(() => ran.length === 1, 10_000, 'the promoted task ran');
      expect((await bus.tasks.info('remind-ann'))?.state).toBe('REVOKED');

      // Paging: 50 rows a page.
      await page.locator('#tasks-page', { hasText: 'page 1 of 2' }).waitFor({ timeout: 10_000 });
      expect(await page.locator('#tasks-body tr').count()).toBe(50);
      await page.locator('#tasks-next').click();
      await page.locator('#tasks-page', { hasText: 'page 2 of 2' }).waitFor({ timeout: 10_000 });
      expect(await page.locator('#tasks-body tr').count()).toBeGreaterThan(0);
      expect(await page.locator('#tasks-body tr').count()).toBeLessThan(50);

      // Pause and resume a queue; the paused state shows in its row.
      await page.evaluate('location.hash = "#/queues"');
      await page.locator('tr[data-queue="remind"] button.pause').click({ timeout: 10_000 });
      await page.locator('tr[data-queue="remind"] .paused').waitFor({ timeout: 10_000 });
      expect(await bus.tasks.isPaused('remind')).toBe(true);
      await page.locator('tr[data-queue="remind"] button.resume').click();
      await page.locator('tr[data-queue="remind"] .paused').waitFor({ state: 'detached', timeout: 10_000 });
      expect(await bus.tasks.isPaused('remind')).toBe(false);

      // Replay the dead letter from its row: the DLQ empties and the task runs again.
      await page.evaluate('location.hash = "#/dlq"');
      await page.locator('#dlq-body tr button.replay').first().click({ timeout: 10_000 });
      await until(async () => (await bus.dlq.size()) === 0 && calls === 3, 10_000, 'the replayed task ran');
      expect(await page.evaluate('window.__sameDocument === true')).toBe(true);
    } finally {
      await context.close();
      await dash.close();
      await bus.close();
    }
  }, 120_000);
});
