import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { cpus, loadavg } from 'node:os';
import IORedis from 'ioredis';
import { ENVELOPE_VERSION, newEventId, type EventEnvelope } from '@procur/event-bus';
import { diffCommandStats, fmt, mdTable, median, parseCommandStats, parseServerCpuSeconds, perOpCost, subtractCalls, type CommandStat } from './stats.js';

export { fmt, mdTable, median, percentile, ratioText } from './stats.js';

/** Shared helpers of the benchmarks: sizes, the Redis under test, cost accounting, report sections. */

// ---- sizes ------------------------------------------------------------------------------------

/** `npm run bench -- --quick` (or BENCH_QUICK=1): small sizes, for a smoke run of the harness. */
export const QUICK = process.env.BENCH_QUICK === '1';

/** `full` normally, `quick` in quick mode; an env variable `envName` wins over both. */
export function size(envName: string, full: number, quick: number): number {
  const v = process.env[envName];
  return v !== undefined && v !== '' ? Number(v) : QUICK ? quick : full;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Sends at a fixed rate for `seconds` (`rate x seconds` calls, each at its due time on a schedule
 * from the start, not after the previous call: a late call does not shift the rest), then waits
 * for every call. `send` gets the wall-clock time of its call (ms, sub-ms precision).
 */
export async function paced(rate: number, seconds: number, send: (sentAt: number) => Promise<unknown>): Promise<void> {
  const total = rate * seconds;
  const interval = 1000 / rate;
  const t0 = performance.now();
  const inflight: Promise<unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const wait = t0 + i * interval - performance.now();
    if (wait > 1) await sleep(wait);
    inflight.push(send(now()));
  }
  await Promise.all(inflight);
}
export const now = () => performance.timeOrigin + performance.now();

// ---- the Redis under test ----------------------------------------------------------------------

/**
 * The Redis every Redis benchmark uses: PROCUR_BENCH_REDIS_URL (bench/run.ts sets it to a private
 * `redis-server` it starts, unless given), else PROCUR_TEST_REDIS_URL, else 127.0.0.1:6379.
 */
export function redisUrl(): string {
  return process.env.PROCUR_BENCH_REDIS_URL ?? process.env.PROCUR_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/** True when the Redis under test is the private server bench/run.ts started (its stats are this run's alone). */
export function redisIsPrivate(): boolean {
  return process.env.PROCUR_BENCH_REDIS_PRIVATE === '1';
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/** Starts `redis-server` (no persistence) on a free loopback port; `stop()` ends it by its pid. */
export async function startPrivateRedis(): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  for (let i = 0; i < 200; i++) {
    const probe = new IORedis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    const ok = await probe.connect().then(() => probe.ping()).then(() => true, () => false);
    probe.disconnect();
    if (ok) return { url, pid: child.pid ?? 0, stop };
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server on ${url} did not start`);
}

export const admin = () => new IORedis(redisUrl(), { maxRetriesPerRequest: 1 });

export async function cleanup(redis: IORedis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
}

export async function redisVersion(redis: IORedis): Promise<string> {
  return /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?';
}

/** Stream keys under `prefix` and their consumer groups (found by SCAN, so key layout changes do not break it). */
export async function streamsOf(redis: IORedis, prefix: string): Promise<{ key: string; groups: string[] }[]> {
  const out: { key: string; groups: string[] }[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `*${prefix}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      if ((await redis.type(key)) !== 'stream') continue;
      const info = (await redis.xinfo('GROUPS', key)) as unknown[][];
      out.push({ key, groups: info.map((g) => String(g[1])) });
    }
  } while (cursor !== '0');
  return out;
}

/**
 * Ours is complete when every group of `queues` has nothing pending and the streams without
 * groups (lifecycle events) stopped growing (3 polls 1 ms apart); returns the probe calls sent.
 */
export async function settled(redis: IORedis, streams: { key: string; groups: string[] }[]): Promise<Record<string, number>> {
  let xpending = 0;
  let xlen = 0;
  const grouped = streams.filter((s) => s.groups.length > 0);
  const plain = streams.filter((s) => s.groups.length === 0);
  for (;;) {
    const p = redis.pipeline();
    for (const s of grouped) for (const g of s.groups) p.xpending(s.key, g);
    xpending += grouped.reduce((a, s) => a + s.groups.length, 0);
    const res = (await p.exec()) ?? [];
    if (res.every(([, r]) => Number((r as [number])[0]) === 0)) break;
    await sleep(1);
  }
  if (plain.length === 0) return { xpending };
  let last = -1;
  let still = 0;
  while (still < 3) {
    const p = redis.pipeline();
    for (const s of plain) p.xlen(s.key);
    xlen += plain.length;
    const total = ((await p.exec()) ?? []).reduce((a, [, r]) => a + Number(r), 0);
    still = total === last ? still + 1 : 0;
    last = total;
    if (still < 3) await sleep(1);
  }
  return { xpending, xlen };
}

// ---- cost accounting ----------------------------------------------------------------------------

interface Snapshot {
  cmd: Map<string, CommandStat>;
  serverCpuS: number;
  cpu: NodeJS.CpuUsage;
  t: bigint;
}

async function snapshot(redis: IORedis): Promise<Snapshot> {
  const [cmd, cpuInfo] = await Promise.all([redis.info('commandstats'), redis.info('cpu')]);
  return { cmd: parseCommandStats(cmd), serverCpuS: parseServerCpuSeconds(cpuInfo), cpu: process.cpuUsage(), t: process.hrtime.bigint() };
}

/** What one measured phase cost, per operation. */
export interface Cost {
  ops: number;
  seconds: number;
  rate: number;
  /** Every command in `INFO commandstats` (commands called inside scripts too), per op. */
  commands: number;
  /** Script calls (EVALSHA, FCALL, ...) per op. */
  scripts: number;
  /** Commands' own execution time per op, µs (commandstats usec of every non-script command, inside scripts too). */
  commandUs: number;
  /** Redis server CPU (INFO cpu, user + sys) per op, µs: meaningful on a private Redis only. */
  redisUs: number;
  /** Client process CPU (`process.cpuUsage()`, user + sys) per op, µs. */
  clientUs: number;
  /** The most frequent commands per op. */
  top: string;
}

/**
 * Times one phase: `begin()` runs outside the clock (setup), then the clock, commandstats, the
 * server's CPU and the process's CPU run around `phase()`. `probes` names commands the harness
 * itself sent during the phase (completion polls), removed from the counts.
 */
export async function measured(ops: number, phase: () => Promise<{ probes?: Record<string, number> } | void>): Promise<Cost> {
  const redis = admin();
  try {
    const a = await snapshot(redis);
    const r = await phase();
    const t1 = process.hrtime.bigint();
    const cpu1 = process.cpuUsage(a.cpu);
    const b = await snapshot(redis);
    const delta = diffCommandStats(a.cmd, b.cmd);
    subtractCalls(delta, 'info', 2);
    for (const [name, calls] of Object.entries((r && r.probes) || {})) subtractCalls(delta, name, calls);
    const seconds = Number(t1 - a.t) / 1e9;
    const c = perOpCost(delta, ops);
    return {
      ops,
      seconds,
      rate: ops / seconds,
      commands: c.commands,
      scripts: c.scripts,
      commandUs: c.commandUs,
      redisUs: ((b.serverCpuS - a.serverCpuS) * 1e6) / ops,
      clientUs: (cpu1.user + cpu1.system) / ops,
      top: c.topText,
    };
  } finally {
    redis.disconnect();
  }
}

export function costCells(c: Cost): string[] {
  return [fmt(c.rate), c.commands.toFixed(2), c.scripts.toFixed(2), fmt(c.commandUs), fmt(c.redisUs), fmt(c.clientUs)];
}
/** What the cost columns mean, for the line above a cost table. */
export const COST_NOTE = (op: string) =>
  `Per-${op} cost of the median run of each side. Redis cmds: every command in \`INFO commandstats\` (those called inside scripts too), with the script calls among them; cmd µs: the commands' own execution time (commandstats \`usec\` of every non-script command); Redis CPU: the server's \`INFO cpu\` delta (user + sys: Lua, protocol and networking included; this run's alone on the private server); client CPU: \`process.cpuUsage()\` of the benchmark process over the timed phase.`;
export const COST_HEADERS = ['rate/s', 'Redis cmds/op', 'of them scripts', 'cmd µs/op (commandstats)', 'Redis CPU µs/op (INFO cpu)', 'client CPU µs/op'];

/** Runs a, b, a, b, ... (`pairs` pairs after one warm-up pair); returns each side's runs and the per-pair ratios b/a... of `ratio`. */
export async function alternate<T>(pairs: number, first: () => Promise<T>, second: () => Promise<T>, ratio: (a: T, b: T) => number): Promise<{ a: T[]; b: T[]; ratios: number[] }> {
  await first();
  await second();
  const a: T[] = [];
  const b: T[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const x = await first();
    const y = await second();
    a.push(x);
    b.push(y);
    ratios.push(ratio(x, y));
  }
  return { a, b, ratios };
}

/** The cost of the median run (by rate) of a list. */
export function medianRun(runs: Cost[]): Cost {
  const s = [...runs].sort((x, y) => x.rate - y.rate);
  return s[(s.length - 1) >> 1] as Cost;
}

// ---- report sections ----------------------------------------------------------------------------

/** A goal of issue 12 and what this run measured against it. */
export interface Goal {
  goal: string;
  measured: string;
  /** ours / rival (or rival / ours for latencies, so that > 1 is better... see `better`). */
  value: number;
  target: number;
  /** Whether a higher value is better (throughput) or a lower one (latency ratios). */
  better: 'higher' | 'lower';
}

export const goalMet = (g: Goal) => (g.better === 'higher' ? g.value >= g.target : g.value <= g.target);

/** One benchmark's output: printed as it goes and kept as markdown for RESULTS.md. */
export class Report {
  readonly lines: string[] = [];
  readonly goals: Goal[] = [];
  readonly charts = new Map<string, string>();
  constructor(
    readonly name: string,
    readonly title: string,
  ) {}

  line(s = ''): void {
    console.log(s);
    this.lines.push(s);
  }

  table(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>, align?: readonly ('l' | 'r')[]): void {
    this.line(mdTable(headers, rows, align));
    this.line();
  }

  goal(g: Goal): void {
    this.goals.push(g);
  }

  /** An SVG chart: written to bench/charts/<file> by bench/run.ts and linked here. */
  chart(file: string, svg: string, alt: string): void {
    this.charts.set(file, svg);
    this.line(`![${alt}](charts/${file})`);
    this.line();
  }

  markdown(): string {
    return this.lines.join('\n');
  }
}

/** Machine line for a table's header: load average and CPUs. */
export function machineNote(): string {
  const [l1] = loadavg();
  return `load average ${(l1 ?? 0).toFixed(2)} on ${cpus().length} CPUs`;
}

// ---- legacy helpers (layout/sqlite benches) ----------------------------------------------------

/** Shared helpers of the benchmarks: timing, medians, table printing. */
export interface Row {
  name: string;
  /** Median operations per second over the runs. */
  opsPerSec: number;
  /** The baseline row's name this one is compared with. */
  vs?: string;
  note?: string;
}

/** Runs `fn` (which returns ops done) `runs` times after one warm-up and returns the median ops/s. */
export async function measure(runs: number, fn: () => Promise<number>): Promise<number> {
  await fn();
  const rates: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const ops = await fn();
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    rates.push(ops / s);
  }
  return median(rates);
}

export function printTable(title: string, rows: Row[]): void {
  const byName = new Map(rows.map((r) => [r.name, r]));
  console.log(`\n## ${title}\n`);
  console.log('| case | ops/s (median) | ratio | note |');
  console.log('|---|---:|---:|---|');
  for (const r of rows) {
    const base = r.vs ? byName.get(r.vs) : undefined;
    const ratio = base ? `${(r.opsPerSec / base.opsPerSec).toFixed(3)} of ${base.name}` : '';
    console.log(`| ${r.name} | ${fmt(r.opsPerSec)} | ${ratio} | ${r.note ?? ''} |`);
  }
}

/** `n` offer events of 100 negotiations and 1,000 flows, as the store benchmarks append them. */
export function events(n: number): EventEnvelope[] {
  const now = new Date().toISOString();
  return Array.from({ length: n }, (_, i) => ({
    id: newEventId(),
    type: 'negotiation.offer.received',
    data: { negotiationId: `neg-${i % 100}`, amount: 1000 + i, roundNumber: 1 + (i % 5) },
    priority: 'normal' as const,
    correlationId: `corr-${i % 1000}`,
    userId: String(i % 50),
    organizationId: 'acme-corp',
    source: 'bench',
    occurredAt: now,
    version: ENVELOPE_VERSION,
  }));
}

/**
 * A CPU profile of what runs until the returned stop, when `PROBE_PROFILE` names a path prefix
 * (written to `<prefix>-<tag>.cpuprofile`, sampled every `intervalUs`); without it a no-op. For
 * the probes (not the harness, whose timings a profiler would change).
 */
export async function profileIfAsked(tag: string, intervalUs = 100): Promise<() => Promise<void>> {
  const prefix = process.env.PROBE_PROFILE;
  if (!prefix) return async () => {};
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(`${prefix}-${tag}.cpuprofile`, JSON.stringify(profile));
    session.disconnect();
  };
}
