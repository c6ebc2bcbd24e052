import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

// Examples import '@procur/event-bus' by name, which resolves to the built package (dist/):
// `npm test` builds first.
describe('examples', () => {
  it('the README quick start is examples/quick-start.ts, and it runs', async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const block = /## Quick start\n\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBe(readFileSync(join(root, 'examples/quick-start.ts'), 'utf8'));
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/quick-start.ts'], { cwd: root, timeout: 30_000 });
    expect(stdout).toContain('negotiation neg-001 (attempt 1)');
    expect(stdout).toContain("type: 'request.created'");
    expect(stdout).toContain("type: 'negotiation.started'");
  });

  it('the procurement demo runs the whole flow and exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'procur-demo-'));
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/procurement/demo.ts'], {
      cwd: root,
      timeout: 60_000,
      env: { ...process.env, PROCUR_DEMO_DIR: dir },
    });
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
    expect(stdout).toMatch(/summary: \d+ events stored \(sqlite store\), 6 processed, 3 vendor API calls \(2 retried\), 4 tasks run/);
    expect(stdout).toContain("events kept in");
  });
});
