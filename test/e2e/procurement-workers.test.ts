/**
 * examples/procurement as its README runs it: two `procur-bus worker` processes on Redis (the
 * seed's four queues) and a producer process sending flows of tasks. Uses the built CLI (dist/),
 * which `npm test` builds first.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { TEST_REDIS_URL, adminClient, deleteKeys, probeRedis, uniquePrefix, whenRedis } from './fixtures/redis-helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);
const reachable = await probeRedis(TEST_REDIS_URL);
const prefix = uniquePrefix();
const env = {
  ...process.env,
  PROCUR_EVENT_REDIS_URL: TEST_REDIS_URL,
  PROCUR_DEMO_KEY_PREFIX: prefix,
  PROCUR_EVENT_WORKER_HEARTBEAT_MS: '200',
  PROCUR_DEMO_DB: join(mkdtempSync(join(tmpdir(), 'procur-workers-')), 'events.db'),
};
const children: ChildProcess[] = [];

function worker(name: string): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'dist/cli.js', '--app', 'examples/procurement/app.ts', 'worker', '--name', name, '--queues', 'negotiation=4,enrichment=2,contracts=2,notifications=4,maintenance=1'],
    { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`worker ${name} did not start: ${out}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) {
        clearTimeout(t);
        resolve(child);
      }
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => reject(new Error(`worker ${name} exited with ${code}: ${out}`)));
  });
}

afterAll(async () => {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
          setTimeout(() => c.kill('SIGKILL'), 10_000).unref();
        }),
    ),
  );
  if (reachable) {
    const admin = adminClient();
    await admin.connect();
    await deleteKeys(admin, prefix);
    await admin.quit();
  }
});

await whenRedis('procurement-workers', () => {
  it('runs the seed queues on two worker processes and a producer', async () => {
    const [w1, w2] = await Promise.all([worker('procurement-1'), worker('procurement-2')]);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/procurement/send-tasks.ts', '8'], { cwd: root, env, timeout: 60_000 });
    const lines = stdout.split('\n').filter((l) => l.startsWith('neg-'));
    expect(lines).toHaveLength(8);
    const pids = new Set([...stdout.matchAll(/pid (\d+)/g)].map((m) => Number(m[1])));
    expect(pids).toEqual(new Set([w1.pid, w2.pid]));
    // Worker counters travel with heartbeats (every 200 ms here).
    await new Promise((r) => setTimeout(r, 600));
    const { stdout: stats } = await run(process.execPath, ['--import', 'tsx', 'dist/cli.js', '--app', 'examples/procurement/app.ts', 'inspect', 'stats', '--json'], { cwd: root, env, timeout: 30_000 });
    const workers = JSON.parse(stats) as { online: boolean; processed: number }[];
    expect(workers.filter((w) => w.online)).toHaveLength(2);
    expect(workers.reduce((n, w) => n + w.processed, 0)).toBe(32);
  }, 120_000);
});
