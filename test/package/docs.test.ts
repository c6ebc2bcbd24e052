// The API reference builds with typedoc without a single warning (every export documented,
// every link resolving); typedoc.json turns warnings into errors.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));

it('typedoc builds the reference without warnings', () => {
  let out = '';
  try {
    out = execFileSync(process.execPath, ['node_modules/typedoc/bin/typedoc', '--emit', 'none'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 240_000 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    throw new Error(`typedoc failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
  expect(out).not.toMatch(/\[warning\]|\[error\]/);
}, 240_000);
