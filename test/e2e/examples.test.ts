/**
 * The examples are starter templates: each folder of examples/ is copied out of the repository,
 * gets the packed package (`npm pack` of the built dist/, which `npm test` builds first) and its own
 * dependencies from the npm registry, and runs there as its README says.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../../src/testing/index.js';
import { TEST_REDIS_URL, REDIS_REQUIRED, adminClient, deleteKeys, freePort, probeRedis, uniquePrefix } from './fixtures/redis-helpers.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
const examples = join(root, 'examples');
const work = mkdtempSync(join(tmpdir(), 'procur-examples-'));
const redisReachable = await probeRedis(TEST_REDIS_URL);
const children: ChildProcess[] = [];
let tarball = '';

/** Every file of an example, relative to examples/. */
function filesOf(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules' || name === '.demo') return [];
    return statSync(path).isDirectory() ? filesOf(path) : [relative(examples, path)];
  });
}

/**
 * Copies `examples/<name>` to a temporary folder and installs the packed package there with the
 * example's own dependencies. better-sqlite3, when the example needs it, is seeded from the
 * repository's node_modules first (the same version, already compiled): npm keeps it, which saves a
 * native build of about a minute; every other dependency comes from the registry.
 */
async function install(name: string): Promise<string> {
  const dir = join(work, name);
  cpSync(join(examples, name), dir, { recursive: true, filter: (src) => !/[/\\](node_modules|\.demo)$/.test(src) });
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  if (manifest.dependencies?.['better-sqlite3']) {
    cpSync(join(root, 'node_modules/better-sqlite3'), join(dir, 'node_modules/better-sqlite3'), { recursive: true });
  }
  try {
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: dir, timeout: 180_000 });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`npm install in a copy of examples/${name} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
  return dir;
}

/** Starts a long-running process of an example and resolves once its output matches `ready`. */
function start(cmd: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; ready: RegExp }): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} ${args.join(' ')} did not get ready in 60 s:\n${out}`)), 60_000);
    const check = () => {
      if (options.ready.test(out)) {
        clearTimeout(timer);
        resolve({ child, output: () => out });
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} ${args.join(' ')} exited with ${code} before it was ready:\n${out}`));
    });
  });
}

/** Sends SIGTERM to a started process by its pid and resolves with its exit code. */
function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    process.kill(child.pid!, 'SIGTERM');
  });
}

beforeAll(async () => {
  if (!existsSync(join(root, 'dist/index.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test builds first)');
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, timeout: 60_000 });
  tarball = join(work, (JSON.parse(stdout) as { filename: string }[])[0]!.filename);
}, 90_000);

afterAll(async () => {
  for (const child of children) {
    // The process group of a child this file started (start-workers.sh and the workers it runs).
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  rmSync(work, { recursive: true, force: true });
});

describe('examples as starter templates', () => {
  it('each example has its own package.json on @procur/event-bus and nothing that reaches into the repository', () => {
    const folders = readdirSync(examples).filter((n) => statSync(join(examples, n)).isDirectory());
    expect(folders).toEqual(expect.arrayContaining(['quickstart', 'procurement', 'express-app']));
    for (const folder of folders) {
      const manifest = JSON.parse(readFileSync(join(examples, folder, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
      expect(manifest.dependencies?.['@procur/event-bus'], `examples/${folder}/package.json`).toBeDefined();
    }
    for (const file of filesOf(examples)) {
      const text = readFileSync(join(examples, file), 'utf8');
      expect(text, file).not.toMatch(/\.\.\/\.\.\/|npm run build|dist\/cli/);
    }
  });

  it('quickstart: the README quick start is its index.ts, and it runs from a copy', async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const block = /## Quick start\n[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBe(readFileSync(join(examples, 'quickstart/index.ts'), 'utf8'));
    const dir = await install('quickstart');
    const { stdout } = await run('npm', ['start'], { cwd: dir, timeout: 60_000 });
    expect(stdout).toContain('negotiation neg-001 (attempt 1)');
    expect(stdout).toContain("type: 'request.created'");
    expect(stdout).toContain("type: 'negotiation.started'");
  }, 240_000);

  it('procurement: `npm run demo` runs the whole flow from a copy, on the SQLite store, and exits 0', async () => {
    const dir = await install('procurement');
    const { stdout } = await run('npm', ['run', 'demo'], { cwd: dir, timeout: 90_000 });
    expect(stdout).toMatch(/negotiation.started attempt 1 failed: vendor API timeout \(retry in \d+ ms\)/);
    expect(stdout).toMatch(/negotiation.started attempt 2 failed/);
    expect(stdout).toContain('negotiation neg-001 with salesforce ran on attempt 3');
    expect(stdout).toContain('moved to the dead letter queue after 3 attempts');
    expect(stdout).toContain('vendor broken-vendor enriched after replay');
    expect(stdout).toContain('dead letter queue: 0 entries');
    expect(stdout).toMatch(/audit trail of [0-9a-f-]{36}:/);
    for (const type of ['request.created', 'negotiation.started', 'negotiation.completed', 'contract.generation.completed', 'notification.send']) {
      expect(stdout).toMatch(new RegExp(`${type.replace(/\./g, '\\.')}\\s+\\w+\\s+processed`));
    }
    // The summary names its counts: domain events (handled by the flow) apart from task lifecycle events.
    const summary = /summary: (\d+) events stored \(sqlite store\): (\d+) domain events, 6 of them processed by the flow's handlers, and (\d+) task lifecycle events \(task\.\*\) of the 4 tasks run by worker \S+; 3 vendor API calls \(2 retried\), 0 in the DLQ/.exec(stdout);
    expect(summary, stdout).not.toBeNull();
    const [, total, domain, task] = summary!.map(Number);
    expect(domain).toBe(6);
    expect(task).toBeGreaterThanOrEqual(8); // at least sent and succeeded for each of the 4 tasks
    expect(total).toBe(domain! + task!);
    expect(stdout).toContain(`events kept in ${join(dir, '.demo/procur-demo.db')}`);
  }, 240_000);

  it('in the repository, `npm run demo` runs examples/procurement from the sources, with no build first', async () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    // Set-up time: the demo compiles nothing (tsx maps @procur/event-bus to the sources through
    // tsconfig.json's paths); `npm test` builds the whole package.
    expect(pkg.scripts.predemo).toBeUndefined();
    expect(pkg.scripts.pretest).toBe('npm run build');
    const dir = mkdtempSync(join(work, 'repo-demo-'));
    const { stdout } = await run('npm', ['run', 'demo'], { cwd: root, timeout: 90_000, env: { ...process.env, PROCUR_DEMO_DIR: dir } });
    expect(stdout).toContain('vendor broken-vendor enriched after replay');
    expect(stdout).toMatch(/summary: \d+ events stored \(sqlite store\): 6 domain events/);
    expect(stdout).toContain(`events kept in ${join(dir, 'procur-demo.db')}`);
  }, 120_000);

  it.skipIf(!redisReachable && !REDIS_REQUIRED)('procurement: start-workers.sh and send-tasks.ts run the flows on Redis from the copy', async () => {
    const dir = existsSync(join(work, 'procurement/node_modules')) ? join(work, 'procurement') : await install('procurement');
    const prefix = uniquePrefix();
    const env = {
      ...process.env,
      PROCUR_EVENT_REDIS_URL: TEST_REDIS_URL,
      PROCUR_DEMO_KEY_PREFIX: prefix,
      PROCUR_EVENT_WORKER_HEARTBEAT_MS: '200',
      PROCUR_DEMO_DB: join(dir, '.demo/workers.db'),
    };
    try {
      const workers = await start('./start-workers.sh', [], { cwd: dir, env, ready: /worker \S+ ready[\s\S]*worker \S+ ready/ });
      const { stdout } = await run('npm', ['run', 'send', '--', '3'], { cwd: dir, env, timeout: 90_000 });
      for (const n of [1, 2, 3]) expect(stdout).toMatch(new RegExp(`neg-${n}: round on pid \\d+, enrichment on pid \\d+, contract ctr-neg-${n} on pid \\d+, notification on pid \\d+`));
      await stop(workers.child);
      await waitUntil(() => !/procur-bus|cli\.js/.test(processesOfGroup(workers.child.pid!)), 30_000, 'the workers to stop');
    } finally {
      const admin = adminClient();
      await deleteKeys(admin, prefix);
      admin.disconnect();
    }
  }, 240_000);

  it('express-app: type-checks, serves /health/events, /metrics and the dashboard from a copy, and stops on SIGTERM', async () => {
    const dir = await install('express-app');
    await run('npm', ['run', 'typecheck'], { cwd: dir, timeout: 120_000 }).catch((err: Error & { stdout?: string }) => {
      throw new Error(`examples/express-app does not type-check against the packed package:\n${err.stdout ?? err.message}`);
    });
    const port = await freePort();
    const app = await start(process.execPath, ['--import', 'tsx', 'server.ts'], { cwd: dir, env: { ...process.env, PORT: String(port), HOST: '127.0.0.1' }, ready: /listening on/ });
    const base = `http://127.0.0.1:${port}`;

    const created = await fetch(`${base}/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ requestId: 'req-1', description: 'Need CRM' }) });
    expect(created.status).toBe(202);
    await waitUntil(() => app.output().includes('request req-1 created: Need CRM'), 15_000, 'the consumer to log the request');
    const invalid = await fetch(`${base}/requests`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ requestId: 42 }) });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: string }).error).toMatch(/requestId|description/);

    const health = await fetch(`${base}/health/events`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { healthy: boolean }).healthy).toBe(true);
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^procur_\w+/m);
    const page = await fetch(`${base}/dashboard/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);

    expect(await stop(app.child)).toBe(0);
    expect(app.output()).toContain('closed');
  }, 300_000);
});

/** The command lines of the live processes in a process group (Linux /proc). */
function processesOfGroup(pgid: number): string {
  const lines: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') lines.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '));
    } catch {
      // the process ended meanwhile
    }
  }
  return lines.join('\n');
}
