/**
 * `procur-bus --app ./app.ts` from a project, with the built CLI and no loader (issue 16, item
 * 2): with tsx installed in the project the CLI loads the TypeScript module itself (relative
 * `.js` imports of `.ts` files included); without it, it fails with exit 2 and says how to fix it
 * (install tsx, or build to .js) instead of Node's bare `Unknown file extension ".ts"`.
 *
 * The project is made from dist/ (built by `npm test`'s pretest) and this checkout's
 * node_modules, with or without tsx.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const built = existsSync(join(root, 'dist/cli.js'));
if (!built) console.warn('\n!!! [cli-typescript-app.test] dist/ is missing (run npm run build): SKIPPED.\n');

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A project with the packed files of this package and its dependencies; tsx only when asked. */
function project(withTsx: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), `procur-ts-app-${withTsx ? 'tsx' : 'plain'}-`));
  made.push(dir);
  const pkg = join(dir, 'node_modules', '@procur', 'event-bus');
  mkdirSync(pkg, { recursive: true });
  cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true });
  cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
  for (const name of readdirSync(join(root, 'node_modules'))) {
    if (name.startsWith('.') || name === '@procur' || (!withTsx && name === 'tsx')) continue;
    symlinkSync(join(root, 'node_modules', name), join(dir, 'node_modules', name));
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  writeFileSync(join(dir, 'tasks.ts'), `export const QUEUE: string = 'contracts';\n`);
  writeFileSync(
    join(dir, 'app.ts'),
    `import { createEventSystem, silentLogger, type EventSystem } from '@procur/event-bus';
import { QUEUE } from './tasks.js';
interface Args { negotiationId: string }
export async function createSystem(): Promise<EventSystem> {
  const bus = await createEventSystem({ logger: silentLogger, env: {}, outbox: false });
  bus.tasks.define('generate_contract', { queue: QUEUE }, (a: Args) => ({ contractId: \`ctr-\${a.negotiationId}\` }));
  return bus;
}
`,
  );
  return dir;
}

function run(dir: string, args: string[]) {
  const r = spawnSync(process.execPath, [join(dir, 'node_modules/@procur/event-bus/dist/cli.js'), ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, PROCUR_BUS_APP: '', PROCUR_EVENT_REDIS_URL: '', NODE_OPTIONS: '' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(!built)('--app with a TypeScript module', () => {
  it('loads it through tsx when the project has tsx', () => {
    const r = run(project(true), ['--app', './app.ts', '--json', 'health']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ healthy: true });
  });

  it('without tsx, exits 2 and says how to load it', () => {
    const r = run(project(false), ['--app', './app.ts', 'health']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot load the TypeScript module '\.\/app\.ts'/);
    expect(r.stderr).toContain('npm install --save-dev tsx');
    expect(r.stderr).toContain('build the module to JavaScript');
    expect(r.stderr).not.toContain('ERR_UNKNOWN_FILE_EXTENSION');
  });
});
