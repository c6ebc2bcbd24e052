// npm run bench [-- <name> ...] [--quick] [--write | --no-write]
//
// Runs the benchmarks (all of DEFAULT, or the ones named; BENCH_ONLY=a,b works too), on a private
// redis-server started on a free loopback port for this run (stopped by its pid at the end) unless
// PROCUR_BENCH_REDIS_URL names a Redis. A full run (not --quick) writes each benchmark's section
// between its markers in bench/RESULTS.md (`<!-- bench:<name>:start -->`), its charts to
// bench/charts/, its figures to bench/results/<name>.json, and rebuilds the summary table at the
// top of RESULTS.md from every bench/results/*.json; --quick writes nothing unless --write.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const args = process.argv.slice(2);
if (args.includes('--quick')) process.env.BENCH_QUICK = '1';
const quick = process.env.BENCH_QUICK === '1';
const write = args.includes('--write') || (!quick && !args.includes('--no-write'));

/** Name -> file; `events` is an alias of `redis`. */
const FILES: Record<string, string> = {
  tasks: 'tasks.bench.ts',
  redis: 'redis.bench.ts',
  events: 'redis.bench.ts',
  postgres: 'postgres.bench.ts',
  memory: 'memory.bench.ts',
  scaling: 'scaling.bench.ts',
  backlog: 'scaling.bench.ts#runBacklog',
  sqlite: 'sqlite.bench.ts',
  layout: 'layout.bench.ts',
  cluster: 'cluster.bench.ts',
  'pg-transport': 'pg-transport.bench.ts',
};
const DEFAULT = ['tasks', 'redis', 'postgres', 'memory', 'scaling', 'backlog', 'sqlite'];
const named = [...args.filter((a) => !a.startsWith('--')), ...(process.env.BENCH_ONLY?.split(',').filter(Boolean) ?? [])];
for (const n of named) if (!FILES[n]) throw new Error(`unknown benchmark '${n}': one of ${Object.keys(FILES).join(', ')}`);
const selected = [...new Set((named.length ? named : DEFAULT).map((n) => (n === 'events' ? 'redis' : n)))];

interface ReportLike {
  name: string;
  title: string;
  goals: { goal: string; measured: string; value: number; target: number; better: 'higher' | 'lower' }[];
  charts: Map<string, string>;
  markdown(): string;
}

function writeResults(reports: ReportLike[]): void {
  mkdirSync(here('./charts'), { recursive: true });
  mkdirSync(here('./results'), { recursive: true });
  const resultsPath = here('./RESULTS.md');
  let results = readFileSync(resultsPath, 'utf8');
  for (const r of reports) {
    for (const [file, svg] of r.charts) writeFileSync(here(`./charts/${file}`), svg);
    writeFileSync(here(`./results/${r.name}.json`), `${JSON.stringify({ name: r.name, title: r.title, at: startedAt, quick, node: process.version, goals: r.goals }, null, 2)}\n`);
    const body = `<!-- bench:${r.name}:start (written by bench/run.ts; rerun \`npm run bench -- ${r.name}\`) -->\nRun of ${startedAt.slice(0, 16).replace('T', ' ')} UTC${quick ? ' (QUICK sizes)' : ''}.\n\n${r.markdown().trim()}\n<!-- bench:${r.name}:end -->`;
    const re = new RegExp(`<!-- bench:${r.name}:start[\\s\\S]*?<!-- bench:${r.name}:end -->`);
    if (re.test(results)) results = results.replace(re, body);
    else console.log(`\n(no bench:${r.name} markers in bench/RESULTS.md; section not written)`);
  }
  // The summary: every goal of every benchmark's latest results file.
  const rows: string[] = [];
  const order = ['tasks', 'redis', 'memory', 'postgres', 'scaling', 'backlog'];
  const rank = (f: string) => (order.indexOf(f.replace(/\.json$/, '')) + 1 || 99);
  for (const f of readdirSync(here('./results')).filter((x) => x.endsWith('.json')).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))) {
    const j = JSON.parse(readFileSync(here(`./results/${f}`), 'utf8')) as { name: string; at: string; quick: boolean; goals: ReportLike['goals'] };
    for (const g of j.goals) {
      const met = g.better === 'higher' ? g.value >= g.target : g.value <= g.target;
      rows.push(`| ${g.goal} | ${g.measured} | ${met ? 'met' : '**missed**'} | \`${j.name}\`, ${j.at.slice(0, 16).replace('T', ' ')}${j.quick ? ' (quick)' : ''} |`);
    }
  }
  const summary = [
    '<!-- bench:summary:start (written by bench/run.ts from bench/results/*.json) -->',
    '| goal (issue 12) | measured: median of per-pair ratios (each pair) | met | benchmark, run (UTC) |',
    '|---|---|---|---|',
    ...rows,
    '<!-- bench:summary:end -->',
  ].join('\n');
  results = results.replace(/<!-- bench:summary:start[\s\S]*?<!-- bench:summary:end -->/, summary);
  writeFileSync(resultsPath, results);
}

const { startPrivateRedis } = await import('./util.js');
let privateRedis: Awaited<ReturnType<typeof startPrivateRedis>> | undefined;
if (!process.env.PROCUR_BENCH_REDIS_URL && selected.some((n) => !['postgres', 'sqlite', 'memory', 'cluster', 'pg-transport'].includes(n))) {
  privateRedis = await startPrivateRedis();
  process.env.PROCUR_BENCH_REDIS_URL = privateRedis.url;
  process.env.PROCUR_BENCH_REDIS_PRIVATE = '1';
  // The layout benchmark reads PROCUR_TEST_REDIS_URL.
  process.env.PROCUR_TEST_REDIS_URL = privateRedis.url;
}

const startedAt = new Date().toISOString();
console.log(`# @procur/event-bus benchmarks (${startedAt}, node ${process.version}, ${cpus().length} CPUs${quick ? ', QUICK sizes' : ''}; Redis ${process.env.PROCUR_BENCH_REDIS_URL ?? 'n/a'}${privateRedis ? ' (private)' : ''})`);
const reports: ReportLike[] = [];
try {
  for (const name of selected) {
    const [fileName, fn = 'run'] = (FILES[name] as string).split('#') as [string, string?];
    const file = new URL(`./${fileName}`, import.meta.url);
    if (!existsSync(file)) continue;
    console.log(`\n## ${name}\n`);
    const mod = (await import(file.href)) as Record<string, () => Promise<unknown>>;
    const out = await mod[fn]!();
    if (out && typeof out === 'object' && 'markdown' in out) {
      reports.push(out as ReportLike);
      // Written as each one finishes, so a long run that is stopped keeps what it measured.
      if (write) writeResults([out as ReportLike]);
    }
  }
} finally {
  await privateRedis?.stop();
}

if (write && reports.length) console.log(`\nwrote bench/RESULTS.md (${reports.map((r) => r.name).join(', ')}), bench/charts/, bench/results/`);
