/**
 * Property-based test of the CLI's argument parsing (issue 10): for arbitrary argv, `procur-bus`
 * exits by itself with 0, 1 or 2, never by a signal or a crash (no stack trace, no raw
 * `TypeError`), and never hangs. Spawns the built CLI (`dist/cli.js`, which `npm test` builds
 * first) or, without a build, `src/cli/index.ts` through tsx. A bounded number of runs, several
 * processes at once.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const SEED = 20261202;
const root = fileURLToPath(new URL('../../', import.meta.url));
const built = existsSync(`${root}dist/cli.js`);
const entry = built ? ['dist/cli.js'] : ['--import', 'tsx', 'src/cli/index.ts'];
const APP = 'test/e2e/fixtures/dashboard-app.ts';
const HANG_MS = 45_000;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  hung: boolean;
}

function run(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    // With the built CLI, a .ts app module needs tsx in the process.
    const child = spawn(process.execPath, [...(built ? ['--import', 'tsx'] : []), ...entry, ...args], {
      cwd: root,
      env: { ...process.env, PROCUR_BUS_APP: '', PROCUR_DASHBOARD_AUTH: '', PROCUR_DASHBOARD_TOKEN: '', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, HANG_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, hung });
    });
  });
}

/** Commands that return by themselves (run against the fixture app, memory transport). */
const SHORT = [['health'], ['dlq', 'list'], ['dlq', 'replay'], ['dlq', 'delete'], ['dlq', 'purge'], ['inspect'], ['purge'], ['replay'], ['migrate'], ['dlq'], []];
/** Commands that serve until a signal: only without an app, so they must refuse and exit. */
const LONG = [['worker'], ['beat'], ['dashboard']];
const OPTIONS = ['--json', '--help', '-h', '--app', '--queues', '--concurrency', '--name', '--port', '--host', '--auth', '--token', '--group', '--public', '--type', '--since', '--until', '--correlation-id', '--all', '--limit', '--queue', '--', '-', '--version'];
const VALUES = ['0', '-1', '1', '65536', 'NaN', '1e3', 'active', 'registered', 'stats', 'queues', 'workers', 'toString', '__proto__', '', ' ', 'a=b', 'x=0', '0.0.0.0', 'user:pass', '2026-13-45', '\u001b[2J', '%E0%A4%A', 'nope.mjs'];
const word = fc.oneof(fc.constantFrom(...OPTIONS), fc.constantFrom(...VALUES), fc.string({ maxLength: 12 }).filter((s) => !s.includes('\u0000')));

const argvArb = fc.oneof(
  fc.tuple(fc.boolean(), fc.constantFrom(...SHORT), fc.array(word, { maxLength: 5 })).map(([json, cmd, rest]) => [...(json ? ['--json'] : []), '--app', APP, ...cmd, ...rest]),
  fc.tuple(fc.constantFrom(...LONG, ...SHORT), fc.array(word, { maxLength: 5 })).map(([cmd, rest]) => [...cmd, ...rest.filter((w) => w !== '--app')]),
  fc.array(word, { maxLength: 6 }).map((a) => a.filter((w) => w !== '--app' && w !== 'demo')),
);

describe('procur-bus argv (property)', () => {
  it('exits 0, 1 or 2 by itself for arbitrary argv: no crash, no signal, no hang', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(argvArb, { minLength: 3, maxLength: 3 }), async (argvs) => {
        const results = await Promise.all(argvs.map((a) => run(a)));
        results.forEach((r, i) => {
          const what = `procur-bus ${JSON.stringify(argvs[i])}\nstdout: ${r.stdout.slice(0, 500)}\nstderr: ${r.stderr.slice(0, 1500)}`;
          expect(r.hung, `hung: ${what}`).toBe(false);
          expect(r.signal, what).toBeNull();
          expect([0, 1, 2], what).toContain(r.code);
          expect(r.stderr, what).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
          expect(r.stderr, what).not.toMatch(/\b(TypeError|ReferenceError|RangeError|SyntaxError|Unhandled)\b/);
        });
      }),
      { seed: SEED, numRuns: 5, endOnFailure: true },
    );
  }, 600_000);
});
