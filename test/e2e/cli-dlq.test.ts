/**
 * Task dead letters read the same in `procur-bus dlq list` and on the dashboard (issue 16, item
 * 4): both decode the entry with one decoder (an event envelope, else a task message), so a dead
 * task shows as its task, not `(undecodable)`, even when its context does not name it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { EventSystem } from '@procur/event-bus';
import { startDashboard, type RunningDashboard } from '@procur/event-bus/http';
import { createSystem } from './fixtures/dashboard-app.js';
import { cli } from './fixtures/cli.js';

const APP = 'test/e2e/fixtures/dashboard-app.ts';
const SEED = { PROCUR_TEST_SEED_TASK_DLQ: '1', PROCUR_TEST_SEED_DLQ: '1' };


let bus: EventSystem | undefined;
let dash: RunningDashboard | undefined;
afterEach(async () => {
  await dash?.close();
  dash = undefined;
  await bus?.close();
  bus = undefined;
});

describe('task dead letters', () => {
  it('dlq list shows a dead task as its task, with its id, for people and as JSON', () => {
    const human = cli(['--app', APP, 'dlq', 'list'], SEED);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).not.toContain('(undecodable)');
    expect(human.stdout).toMatch(/task generate_contract\s+1 attempts\s+contract template missing 0\s+\(task id task-seed-0\)/);
    expect(human.stdout).toMatch(/system\.warning\s+3 attempts/);
    const json = JSON.parse(cli(['--app', APP, 'dlq', 'list', '--json'], SEED).stdout) as { kind: string; task?: { id: string; task: string; queue: string } }[];
    expect(json.map((e) => e.kind).sort()).toEqual(['event', 'task']);
    expect(json.find((e) => e.kind === 'task')?.task).toMatchObject({ id: 'task-seed-0', task: 'generate_contract', queue: 'contracts' });
  });

  it('the dashboard shows the same entry the same way', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, SEED);
    try {
      bus = await createSystem();
    } finally {
      for (const k of Object.keys(SEED)) if (saved[k] === undefined) delete process.env[k];
    }
    dash = await startDashboard(bus, { port: 0 });
    const body = (await (await fetch(`${dash.url}api/dlq`)).json()) as { entries: { kind: string; type: string; taskId?: string; queue?: string; preview: string }[] };
    const task = body.entries.find((e) => e.kind === 'task');
    expect(task).toMatchObject({ type: 'generate_contract', taskId: 'task-seed-0', queue: 'contracts' });
    expect(task?.preview).toBe('{"negotiationId":"neg-0"}');
  });
});
