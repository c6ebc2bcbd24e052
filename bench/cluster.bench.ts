// One event stream on a 3-master Redis Cluster, `eventStreamPartitions` 1 against 6 (issue 13).
//
// The bench starts its own cluster: three `redis-server --cluster-enabled yes` on free loopback
// ports, `redis-cli --cluster create` with no replicas, stopped by pid at the end. Each run is a
// fresh `createEventSystem` at its defaults (event sourcing on the memory store, validation on,
// one consumer at its default batch and concurrency) over `redisTransport({ url: <cluster URL
// list> })`, its own key prefix, and the given `eventStreamPartitions`. The consumer is started
// first; N events (`publisher.publishMany`, 1,000 per call, each its own correlation id) are
// published while it consumes; timed from the first publish until the last handler ran and
// nothing is pending. Runs interleave (1, 6, 1, 6, ... after one warm-up of each), medians.
//
// Per master, per run: Redis CPU time (`INFO cpu` used_cpu_sys + used_cpu_user deltas) and the
// `INFO commandstats` deltas (calls and usec, without the bench's own INFO / CLUSTER calls),
// divided by N. The cluster is private, so the deltas are this run alone (plus cluster-bus pings).
//
// BENCH_CLUSTER_EVENTS (50,000), BENCH_PAIRS (3) scale it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import IORedis from 'ioredis';
import { EventType, createEventSystem, silentLogger, type PublishInput } from '@procur/event-bus';
import { redisTransport } from '@procur/event-bus/redis';
import { fmt, median } from './util.js';

const N = Number(process.env.BENCH_CLUSTER_EVENTS ?? 50_000);
const PAIRS = Number(process.env.BENCH_PAIRS ?? 3);
const BATCH = 1000;
const MASTERS = 3;
const SETTINGS = [1, 6] as const;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

interface TestCluster {
  ports: number[];
  urlList: string;
  stop: () => Promise<void>;
}

/** Three masters, no replicas, on free loopback ports, in a temporary directory. */
async function startCluster(): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'procur-cluster-bench-'));
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  const stop = async () => {
    for (const c of children) if (c.pid && c.exitCode === null && c.signalCode === null) process.kill(c.pid, 'SIGKILL');
    await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < MASTERS; i++) {
      const port = await freePort();
      const bus = await freePort();
      ports.push(port);
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-port', String(bus)];
      args.push('--cluster-config-file', `nodes-${port}.conf`, '--dir', dir, '--save', '', '--appendonly', 'no');
      children.push(spawn('redis-server', args, { stdio: 'ignore' }));
    }
    for (const port of ports) {
      for (let i = 0; ; i++) {
        const c = new IORedis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        c.on('error', () => undefined);
        const ok = await c.connect().then(() => c.ping()).then(() => true, () => false);
        c.disconnect();
        if (ok) break;
        if (i > 200) throw new Error(`cluster node on port ${port} did not start`);
        await sleep(50);
      }
    }
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}\n${create.stderr}`);
    for (let i = 0; ; i++) {
      const ok = await Promise.all(ports.map((p) => onNode(p, async (c) => String(await c.call('CLUSTER', 'INFO')).includes('cluster_state:ok')).catch(() => false)));
      if (ok.every(Boolean)) break;
      if (i > 300) throw new Error('the bench cluster did not reach cluster_state:ok');
      await sleep(100);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { ports, urlList: ports.map((p) => `redis://127.0.0.1:${p}`).join(','), stop };
}

async function onNode<T>(port: number, fn: (c: IORedis) => Promise<T>): Promise<T> {
  const c = new IORedis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return await fn(c);
  } finally {
    c.disconnect();
  }
}

interface NodeStats {
  cpuSec: number;
  calls: number;
  usec: number;
  byCommand: Map<string, { calls: number; usec: number }>;
}

/** INFO cpu and INFO commandstats of one node, without the bench's own INFO / CLUSTER calls. */
async function stats(port: number): Promise<NodeStats> {
  return onNode(port, async (c) => {
    const text = String(await c.call('INFO', 'cpu')) + String(await c.call('INFO', 'commandstats'));
    const num = (k: string) => Number(new RegExp(`^${k}:([0-9.]+)`, 'm').exec(text)?.[1] ?? 0);
    const byCommand = new Map<string, { calls: number; usec: number }>();
    for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
      if (m[1] === 'info' || m[1]!.startsWith('cluster')) continue;
      byCommand.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
    }
    let calls = 0;
    let usec = 0;
    for (const v of byCommand.values()) (calls += v.calls), (usec += v.usec);
    return { cpuSec: num('used_cpu_sys') + num('used_cpu_user'), calls, usec, byCommand };
  });
}

interface Run {
  partitions: number;
  rate: number;
  /** Per master (in port order): Redis CPU µs per event, commandstats µs and calls per event. */
  cpuUs: number[];
  cmdUs: number[];
  calls: number[];
  clientCpuUs: number;
  top: string[];
}

const INPUTS: PublishInput[] = Array.from({ length: BATCH }, (_, i) => ({ type: EventType.SYSTEM_WARNING, data: { message: `cluster bench ${i}` } }));

async function once(cluster: TestCluster, partitions: number): Promise<Run> {
  const keyPrefix = `cb-${randomUUID().slice(0, 8)}`;
  const bus = await createEventSystem({
    transport: redisTransport({ url: cluster.urlList, keyPrefix }),
    logger: silentLogger,
    env: {},
    config: { eventStreamPartitions: partitions },
  });
  let handled = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const consumer = bus.consumer('bench', { group: 'bench' }).registerHandler(EventType.SYSTEM_WARNING, () => {
    if (++handled === N) done();
  });
  await consumer.start();
  const stream = bus.config.eventStreamName;
  await bus.publisher.publishMany(INPUTS.slice(0, 1)); // connect to every node outside the timed part
  for (;;) {
    if (handled === 1) break;
    await sleep(5);
  }
  handled = 0;
  const before = await Promise.all(cluster.ports.map(stats));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i += BATCH) await bus.publisher.publishMany(INPUTS);
  await finished;
  for (;;) {
    const info = await bus.transport.info(stream);
    if (info.groups.every((g) => g.pending === 0 && g.lag === 0)) break;
    await sleep(2);
  }
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const after = await Promise.all(cluster.ports.map(stats));
  await bus.close();
  const perEvent = (f: (a: NodeStats, b: NodeStats) => number) => after.map((a, i) => f(a, before[i]!) / N);
  const commands = new Map<string, number>();
  after.forEach((a, i) => {
    for (const [name, v] of a.byCommand) commands.set(name, (commands.get(name) ?? 0) + v.calls - (before[i]!.byCommand.get(name)?.calls ?? 0));
  });
  return {
    partitions,
    rate: N / s,
    cpuUs: perEvent((a, b) => (a.cpuSec - b.cpuSec) * 1e6),
    cmdUs: perEvent((a, b) => a.usec - b.usec),
    calls: perEvent((a, b) => a.calls - b.calls),
    clientCpuUs: ((cpu.user + cpu.system) / N),
    top: [...commands].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, n]) => `${k} ${(n / N).toFixed(3)}`),
  };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const pct = (xs: number[]) => xs.map((x) => `${Math.round((100 * x) / (sum(xs) || 1))}%`).join(' / ');

export async function run(): Promise<void> {
  const hasTools =
    spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0 && spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!hasTools) {
    console.log('\n## Redis Cluster: partitions across masters\n\nSKIPPED: redis-server / redis-cli not on PATH.');
    return;
  }
  const cluster = await startCluster();
  try {
    console.log(`\n## Redis Cluster: one stream, eventStreamPartitions 1 vs 6, on 3 masters (no replicas)\n`);
    console.log(
      `${N.toLocaleString('en-US')} events per run, publishMany of ${BATCH} while one consumer (defaults) handles them; createEventSystem at its defaults ` +
        `(event sourcing on the memory store, validation on) over redisTransport({ url: '<3 cluster URLs>' }); ${PAIRS} interleaved pairs after one warm-up each; ` +
        `node ${process.version}, ${cpus().length} cores, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}; masters on ports ${cluster.ports.join(', ')}.\n`,
    );
    for (const p of SETTINGS) await once(cluster, p);
    const runs = new Map<number, Run[]>(SETTINGS.map((p) => [p, []]));
    for (let i = 0; i < PAIRS; i++) for (const p of SETTINGS) runs.get(p)!.push(await once(cluster, p));
    console.log('| partitions | events/s (median; runs) | Redis CPU µs/event per master (median) | share of Redis CPU | commandstats µs/event per master | commands/event per master | client CPU µs/event | commands/event (all masters) |');
    console.log('|---:|---:|---|---|---|---|---:|---|');
    for (const p of SETTINGS) {
      const rs = runs.get(p)!;
      const per = (f: (r: Run) => number[]) => Array.from({ length: MASTERS }, (_, m) => median(rs.map((r) => f(r)[m]!)));
      const cpu = per((r) => r.cpuUs);
      const cmd = per((r) => r.cmdUs);
      const calls = per((r) => r.calls);
      console.log(
        `| ${p} | ${fmt(median(rs.map((r) => r.rate)))} (${rs.map((r) => fmt(r.rate)).join(', ')}) | ${cpu.map((x) => x.toFixed(1)).join(' / ')} (sum ${sum(cpu).toFixed(1)}) | ${pct(cpu)} | ` +
          `${cmd.map((x) => x.toFixed(1)).join(' / ')} (sum ${sum(cmd).toFixed(1)}) | ${calls.map((x) => x.toFixed(3)).join(' / ')} | ${median(rs.map((r) => r.clientCpuUs)).toFixed(0)} | ${rs.at(-1)!.top.join(', ')} |`,
      );
    }
    const r1 = runs.get(1)!;
    const r6 = runs.get(6)!;
    const ratios = r6.map((r, i) => r.rate / r1[i]!.rate);
    const busiest = (rs: Run[]) => median(rs.map((r) => Math.max(...r.cpuUs)));
    console.log(
      `\n6 / 1 partitions, per-pair throughput ratios: ${ratios.map((x) => x.toFixed(2)).join(', ')} (median ${median(ratios).toFixed(2)}). ` +
        `Busiest master's Redis CPU per event: ${busiest(r1).toFixed(1)} µs with 1 partition, ${busiest(r6).toFixed(1)} µs with 6.`,
    );
  } finally {
    await cluster.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
