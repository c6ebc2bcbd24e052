// The code blocks of docs/tracing.md and of the "Batch handlers" section of docs/events.md are
// compiled: each is in test/types/docs-otel-batch.test-d.ts verbatim (its imports at the top),
// which the type tests check with tsc.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const read = (p: string) => readFileSync(fileURLToPath(new URL(`../../${p}`, import.meta.url)), 'utf8');

function blocks(markdown: string): string[] {
  return [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
}

it('every TypeScript example of tracing.md and events.md "Batch handlers" is compiled', () => {
  const compiled = read('test/types/docs-otel-batch.test-d.ts');
  const events = read('docs/events.md');
  const section = events.slice(events.indexOf('## Batch handlers'));
  const all = [...blocks(read('docs/tracing.md')), ...blocks(section)];
  expect(all.length).toBeGreaterThanOrEqual(2);
  for (const block of all) {
    const lines = block.split('\n');
    for (const imp of lines.filter((l) => l.startsWith('import '))) expect(compiled).toContain(imp);
    const body = lines.filter((l) => !l.startsWith('import ')).join('\n').replace(/^\n+|\n+$/g, '');
    expect(compiled).toContain(body);
  }
});
