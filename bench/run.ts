export {};
// npm run bench: every benchmark side by side, medians of several runs, ratios printed.
// BENCH_ONLY=memory,sqlite picks some; BENCH_RUNS and BENCH_EVENTS scale them.
const all = ['memory', 'sqlite'] as const;
const only = process.env.BENCH_ONLY?.split(',');
console.log(`# @procur/event-bus benchmarks (${new Date().toISOString()}, node ${process.version})`);
for (const name of all) {
  if (only && !only.includes(name)) continue;
  const mod = (await import(`./${name}.bench.ts`)) as { run: () => Promise<unknown> };
  await mod.run();
}
