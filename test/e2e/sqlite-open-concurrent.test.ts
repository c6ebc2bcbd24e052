// Several processes opening one new SQLite file at the same moment (workers of one app started
// together): each switches it to WAL and migrates; none fails with "database is locked".
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

function open(file: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/e2e/fixtures/sqlite-open.ts', file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('SQLite store opened by several processes at once', () => {
  it('every process opens, migrates and appends', async () => {
    for (let round = 0; round < 3; round++) {
      const dir = mkdtempSync(join(tmpdir(), 'procur-sqlite-open-'));
      try {
        const results = await Promise.all(Array.from({ length: 6 }, () => open(join(dir, 'events.db'))));
        for (const r of results) expect(r, r.out).toMatchObject({ code: 0 });
        for (const r of results) expect(r.out).toContain('OK');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }, 120_000);
});
