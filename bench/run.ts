import { existsSync } from 'node:fs';
// npm run bench: every benchmark side by side, medians of several runs, ratios printed.
// BENCH_ONLY=memory,sqlite,postgres picks some (layout: bench/layout.bench.ts); BENCH_RUNS and BENCH_EVENTS scale them.
const all = ['memory', 'sqlite', 'postgres', 'redis', 'tasks', 'layout', 'pg-transport'] as const;
const only = process.env.BENCH_ONLY?.split(',');
console.log(`# @procur/event-bus benchmarks (${new Date().toISOString()}, node ${process.version})`);
for (const name of all) {
  if (only && !only.includes(name)) continue;
  const file = new URL(`./${name}.bench.ts`, import.meta.url);
  if (!existsSync(file)) continue;
  const mod = (await import(file.href)) as { run: () => Promise<unknown> };
  await mod.run();
}
