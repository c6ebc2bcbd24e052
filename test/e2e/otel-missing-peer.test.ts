/**
 * The built package when `@opentelemetry/api` cannot be resolved (a resolve hook refuses it, as
 * if it were not installed): events and tasks flow as before, from ESM and from CommonJS, and
 * the only contact with the API is the guarded import at system creation. Also: no entry of
 * dist imports the API at top level. Needs `npm run build` (the `pretest` script).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dist = join(root, 'dist');

const HOOKS = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  if (specifier === '@opentelemetry/api' || specifier.startsWith('@opentelemetry/')) {
    appendFileSync(process.env.OTEL_ASKED_LOG, specifier + '\\n');
    const err = new Error("Cannot find package '" + specifier + "'");
    err.code = 'ERR_MODULE_NOT_FOUND';
    throw err;
  }
  return next(specifier, context);
}
`;

const body = (lib: string) => `
const bus = await lib.createEventSystem({ logger: lib.silentLogger, env: {}, taskEvents: false, builtins: false, allowUnknownTypes: true });
let seen;
const c = bus.consumer('c');
c.registerHandler('x.happened', (e) => { seen = e; });
await c.start();
const double = bus.tasks.define('double', { queue: 'q' }, async (n) => n * 2);
await bus.worker({ queues: { q: 1 } }).start();
await bus.publisher.publish({ type: 'x.happened', data: { a: 1 } });
for (let i = 0; i < 500 && !seen; i++) await new Promise((r) => setTimeout(r, 10));
const result = await (await double.delay(21)).get({ timeoutMs: 10000 });
await bus.close();
console.log(JSON.stringify({ handled: Boolean(seen), traceparent: seen?.traceparent ?? null, result, lib: ${JSON.stringify(lib)} }));
`;

describe('without @opentelemetry/api', () => {
  let dir: string;
  beforeAll(() => {
    if (!existsSync(join(dist, 'index.js'))) throw new Error('dist/index.js is missing: run `npm run build` first');
    dir = mkdtempSync(join(tmpdir(), 'otel-missing-'));
    writeFileSync(join(dir, 'hooks.mjs'), HOOKS);
    writeFileSync(join(dir, 'esm.mjs'), `import * as lib from ${JSON.stringify(pathToFileURL(join(dist, 'index.js')).href)};\n${body('esm')}`);
    writeFileSync(join(dir, 'cjs.cjs'), `(async () => {\nconst lib = require(${JSON.stringify(join(dist, 'index.cjs'))});\n${body('cjs')}\n})().catch((e) => { console.error(e); process.exit(1); });`);
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const kind of ['esm.mjs', 'cjs.cjs']) {
    it(`events and tasks work and nothing of OpenTelemetry loads (${kind})`, () => {
      const asked = join(dir, `${kind}.asked`);
      writeFileSync(asked, '');
      const register = `data:text/javascript,import{register}from'node:module';register(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)})`;
      const out = execFileSync(process.execPath, ['--import', register, join(dir, kind)], {
        cwd: dir,
        env: { ...process.env, OTEL_ASKED_LOG: asked },
        encoding: 'utf8',
        timeout: 60_000,
      });
      const line = JSON.parse(out.trim().split('\n').pop() as string) as { handled: boolean; traceparent: string | null; result: number };
      expect(line).toMatchObject({ handled: true, traceparent: null, result: 42 });
      // Asked for once (the guarded import at system creation), refused, and never again.
      expect(readFileSync(asked, 'utf8').trim().split('\n')).toEqual(['@opentelemetry/api']);
    });
  }

  it('no built entry imports @opentelemetry at top level', () => {
    for (const f of readdirSync(dist).filter((n) => /\.(c?js)$/.test(n))) {
      const code = readFileSync(join(dist, f), 'utf8');
      expect(code, f).not.toMatch(/^\s*import[^(]*['"]@opentelemetry\//m);
      expect(code, f).not.toMatch(/require\(\s*['"]@opentelemetry\//);
      expect(code, f).not.toMatch(/from\s*['"]@opentelemetry\//);
    }
  });
});
