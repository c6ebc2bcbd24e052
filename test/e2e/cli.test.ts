/**
 * The `procur-bus` command line, run as a process: health (exit 1 when unhealthy), dlq
 * list/replay/delete/purge, --json before or after the command, demo, dashboard (binds loopback,
 * refuses to expose itself without credentials, never prints them), usage errors (exit 2).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { progress } from '../../src/cli/progress.js';
import { cli } from './fixtures/cli.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const APP = 'test/e2e/fixtures/dashboard-app.ts';


describe('procur-bus', () => {
  it('documents its commands and exit codes in --help', () => {
    const r = cli(['--help']);
    expect(r.code).toBe(0);
    for (const cmd of ['worker', 'beat', 'dashboard', 'inspect', 'purge', 'dlq', 'replay', 'migrate', 'health', 'demo']) expect(r.stdout).toContain(cmd);
    expect(r.stdout).toMatch(/Exit codes:\n\s+0\s+success/);
    expect(r.stdout).toMatch(/\n\s+2\s+bad usage/);
  });

  it('health: exit 0 when healthy, exit 1 naming the rule when not; --json before or after the command', () => {
    const ok = cli(['--app', APP, 'health']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^healthy: success rate 100%, 0 pending, 0 in the DLQ/);
    const bad = cli(['--app', APP, 'health'], { PROCUR_TEST_SEED_DLQ: '2', PROCUR_TEST_MAX_DLQ: '1' });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^UNHEALTHY/);
    expect(bad.stdout).toContain('[dlq-size] 2 entries in the dead letter queue (more than 1)');
    const after = cli(['--app', APP, 'health', '--json'], { PROCUR_TEST_SEED_DLQ: '2', PROCUR_TEST_MAX_DLQ: '1' });
    expect(after.code).toBe(1);
    expect(JSON.parse(after.stdout)).toMatchObject({ healthy: false, dlqSize: 2, checks: [{ rule: 'dlq-size' }] });
    const before = cli(['--json', '--app', APP, 'health']);
    expect(JSON.parse(before.stdout)).toMatchObject({ healthy: true });
  });

  it('dlq list, replay --all, delete and purge, for people and as JSON', () => {
    const env = { PROCUR_TEST_SEED_DLQ: '3' };
    const list = cli(['--app', APP, 'dlq', 'list'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.trim().split('\n')).toHaveLength(3);
    expect(list.stdout).toMatch(/system\.warning\s+3 attempts\s+handler rejected seeded 0/);
    const json = JSON.parse(cli(['--app', APP, 'dlq', 'list', '--json', '--limit', '2'], env).stdout) as { id: string }[];
    expect(json).toHaveLength(2);
    expect(JSON.parse(cli(['--app', APP, 'dlq', 'replay', '--all', '--json'], env).stdout)).toEqual({ replayed: 3 });
    const missing = cli(['--app', APP, 'dlq', 'delete', '0-1'], env);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('no entry 0-1');
    expect(JSON.parse(cli(['--app', APP, '--json', 'dlq', 'purge'], env).stdout)).toEqual({ purged: 3 });
    const usage = cli(['--app', APP, 'dlq', 'replay'], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('dlq replay needs an id or --all');
  });

  it("worker --queues refuses a queue named __proto__ by name instead of dropping it", () => {
    const r = cli(['--app', APP, 'worker', '--queues', '__proto__=2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('queues.__proto__: the queue name must be');
  });

  it('usage errors exit 2: unknown option, missing --app', () => {
    expect(cli(['health', '--bogus']).code).toBe(2);
    const noApp = cli(['health']);
    expect(noApp.code).toBe(2);
    expect(noApp.stderr).toContain('--app');
  });

  it('demo runs the procurement flow in-process and exits 0', () => {
    const r = cli(['demo']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('negotiation neg-001 with salesforce ran on attempt 3');
    expect(r.stdout).toContain('vendor broken-vendor enriched after replay');
    expect(r.stdout).toMatch(/task generate_contract: ctr-neg-001/);
    expect(r.stdout).toMatch(/summary: \d+ events stored \(memory store\): 6 domain events, 6 of them processed by the flow's handlers, and \d+ task lifecycle events \(task\.\*\) of the 4 tasks run/);
    const json = JSON.parse(cli(['demo', '--json']).stdout) as { ok: boolean; log: string[] };
    expect(json.ok).toBe(true);
    expect(json.log.some((l) => l.includes('dead letter queue: 0 entries'))).toBe(true);
  });

  it('dashboard refuses to bind beyond loopback without credentials (exit 2)', () => {
    const r = cli(['--app', APP, 'dashboard', '--host', '0.0.0.0', '--port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing to serve the dashboard on 0\.0\.0\.0 without credentials/);
  });

  it('dashboard serves on loopback, needs the credentials it was given, never prints them, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', '--app', APP, 'dashboard', '--port', '0', '--json'], {
      cwd: root,
      env: { ...process.env, PROCUR_DASHBOARD_AUTH: 'ops:hunter2-secret' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const deadline = Date.now() + 20_000;
    while (!out.includes('}')) {
      if (Date.now() > deadline) throw new Error(`dashboard did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const info = JSON.parse(out) as { url: string; host: string; auth: string };
    expect(info).toMatchObject({ host: '127.0.0.1', auth: 'basic' });
    expect((await fetch(`${info.url}api/workers`)).status).toBe(401);
    const auth = { authorization: `Basic ${Buffer.from('ops:hunter2-secret').toString('base64')}` };
    expect((await fetch(`${info.url}api/workers`, { headers: auth })).status).toBe(200);
    expect((await fetch(`${info.url}metrics`, { headers: auth })).status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out + err).not.toContain('hunter2');
  });
});

describe('progress line', () => {
  it('draws a bar on a terminal and nothing elsewhere', () => {
    let text = '';
    const tty = { isTTY: true, columns: 120, write: (s: string) => (text += s) } as unknown as NodeJS.WriteStream;
    const bar = progress('replaying', 4, true, tty);
    for (let i = 1; i <= 4; i++) bar.update(i);
    bar.finish();
    expect(text).toMatch(/replaying \[#{30}\] 4\/4/);
    expect(text.endsWith('\n')).toBe(true);
    let piped = '';
    const pipe = { isTTY: false, write: (s: string) => (piped += s) } as unknown as NodeJS.WriteStream;
    const quiet = progress('replaying', 4, true, pipe);
    quiet.update(1);
    quiet.finish();
    expect(piped).toBe('');
  });
});
