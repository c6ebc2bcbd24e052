/**
 * The dashboard page as the built package serves it (dist, ESM and CommonJS): the client modules
 * were bundled into it at build time (no bundler at run time), and the served page carries the
 * script under its nonce. `npm test` builds dist first (pretest).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const built = existsSync(`${root}dist/http.js`) && existsSync(`${root}dist/http.cjs`);
if (!built) console.warn('\n!!! [dashboard-build.test] dist/ is missing (run npm run build): SKIPPED.\n');

/** A script that serves the built dashboard once and prints the page; `load(name)` imports dist/<name>. */
const serve = (load: (name: string) => string) => `
  (async () => {
    const { startDashboard } = ${load('http')};
    const { createEventSystem, silentLogger } = ${load('index')};
    const bus = await createEventSystem({ logger: silentLogger, env: {}, outbox: false });
    const dash = await startDashboard(bus, { port: 0 });
    const res = await fetch(dash.url);
    const html = await res.text();
    await dash.close();
    await bus.close();
    console.log(JSON.stringify({ status: res.status, csp: res.headers.get('content-security-policy'), html }));
  })().catch((err) => { console.error(err); process.exit(1); });
`;

describe.skipIf(!built)('the built dashboard', () => {
  const formats = [
    ['ESM', '--input-type=module', (name: string) => `await import(${JSON.stringify(`${root}dist/${name}.js`)})`],
    ['CommonJS', '--input-type=commonjs', (name: string) => `require(${JSON.stringify(`${root}dist/${name}.cjs`)})`],
  ] as const;
  for (const [format, flag, load] of formats) {
    it(`serves the page with the bundled client script (${format})`, () => {
      const out = JSON.parse(execFileSync(process.execPath, [flag, '-e', serve(load)], { cwd: root, encoding: 'utf8', timeout: 60_000 })) as { status: number; csp: string; html: string };
      expect(out.status).toBe(200);
      const nonce = /script-src 'nonce-([^']+)'/.exec(out.csp)?.[1];
      const tag = /<script nonce="([^"]+)">([\s\S]*?)<\/script>/.exec(out.html);
      expect(tag?.[1]).toBe(nonce);
      const js = tag?.[2] ?? '';
      // The bundle: the shared action header and the views' code, not a placeholder.
      expect(js).toContain('x-procur-dashboard');
      expect(js).toContain('api/stream');
      expect(js.length).toBeGreaterThan(5000);
      expect(out.html).not.toMatch(/__(SCRIPT|TITLE|BASE|NONCE|PRINCIPAL)__/);
    });
  }

  it('ships no bundler call: the client is a string in dist', () => {
    for (const f of ['http.js', 'http.cjs']) {
      const text = readFileSync(`${root}dist/${f}`, 'utf8');
      expect(text, f).not.toMatch(/require\(["']esbuild["']\)|from ["']esbuild["']|buildSync/);
    }
  });
});
