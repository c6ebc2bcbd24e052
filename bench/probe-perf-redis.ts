// perf-redis's quick probe (not the official harness, which is bench/run.ts): interleaved pairs
// of BullMQ 6.7 (removeOnComplete/removeOnFail) and ours at defaults (task events on, event
// sourcing off) draining N pre-enqueued no-op tasks on a private redis-server, processing timed
// only; per task: Redis commands (INFO commandstats) and client CPU µs.
//
//   npm run build && TSX_TSCONFIG_PATH=bench/tsconfig.json node --import tsx bench/probe-perf-redis.ts
//   PROBE_N=20000 PROBE_PAIRS=3 PROBE_C=1,10,50 PROBE_SIDES=ours,bull PROBE_LAT=1 (send->start at 500/s)
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Queue, Worker as BullWorker } from 'bullmq';
import IORedis from 'ioredis';
import { createEventSystem, silentLogger, type EventSystem } from '@procur/event-bus';
import { redisTransport } from '@procur/event-bus/redis';
import { paced, profileIfAsked } from './util.js';

const PORT = Number(process.env.PROBE_PORT ?? 6391);
const URL = `redis://127.0.0.1:${PORT}`;
const N = Number(process.env.PROBE_N ?? 20_000);
const PAIRS = Number(process.env.PROBE_PAIRS ?? 3);
const CS = (process.env.PROBE_C ?? '1,10,50').split(',').map(Number);
const SIDES = new Set((process.env.PROBE_SIDES ?? 'ours,bull').split(','));
const TASK_EVENTS = process.env.PROBE_TASK_EVENTS !== '0';

interface Run {
  rate: number;
  cmds: number;
  redisUs: number;
  cpuUs: number;
  top: string;
}

async function stats(r: IORedis): Promise<Map<string, { calls: number; usec: number }>> {
  const text = (await r.info('commandstats')) as string;
  const m = new Map<string, { calls: number; usec: number }>();
  for (const line of text.split('\n')) {
    const x = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (x) m.set(x[1]!, { calls: Number(x[2]), usec: Number(x[3]) });
  }
  return m;
}

async function timed(admin: IORedis, fn: () => Promise<void>): Promise<Run> {
  const s0 = await stats(admin);
  const stop = await profileIfAsked(String(Date.now()));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const secs = (performance.now() - t0) / 1000;
  const c1 = process.cpuUsage(c0);
  await stop();
  const s1 = await stats(admin);
  let calls = 0;
  let usec = 0;
  const per: string[] = [];
  for (const [k, v] of s1) {
    if (k === 'info') continue;
    const b = s0.get(k) ?? { calls: 0, usec: 0 };
    const dc = v.calls - b.calls;
    if (dc <= 0) continue;
    calls += dc;
    usec += v.usec - b.usec;
    per.push(`${k}=${(dc / N).toFixed(2)}`);
  }
  return { rate: N / secs, cmds: calls / N, redisUs: usec / N, cpuUs: (c1.user + c1.system) / N, top: per.join(' ') };
}

async function ours(prefix: string): Promise<EventSystem> {
  return createEventSystem({
    transport: redisTransport({ url: URL, keyPrefix: prefix }),
    logger: silentLogger,
    env: {},
    taskEvents: TASK_EVENTS,
    config: { eventSourcingEnabled: false, namespace: 'probe' },
  });
}

async function oursProcess(admin: IORedis, c: number): Promise<Run> {
  const bus = await ours(`probe-${randomUUID()}`);
  let done = 0;
  let resolve!: () => void;
  const finished = new Promise<void>((r) => (resolve = r));
  bus.tasks.define('noop', { queue: 'q' }, async () => {
    if (++done === N) resolve();
    return null;
  });
  for (let i = 0; i < N; i += 1000) await bus.tasks.sendMany('noop', Array.from({ length: Math.min(1000, N - i) }, (_, k) => ({ i: i + k })));
  await new Promise((r) => setTimeout(r, 500));
  const G = globalThis as unknown as { __cnt?: Record<string, number> };
  G.__cnt = {};
  const r = await timed(admin, async () => {
    const worker = bus.worker({ queues: { q: c }, ...(process.env.PROBE_PREFETCH ? { prefetch: Number(process.env.PROBE_PREFETCH) } : {}) });
    await worker.start();
    await finished;
  });
  if (process.env.PROBE_COUNT) console.log(Object.entries(G.__cnt ?? {}).map(([k, v]) => `${k}=${(v / N).toFixed(2)}`).join(' '));
  await bus.close();
  return r;
}

async function bullProcess(admin: IORedis, c: number): Promise<Run> {
  const prefix = `bull-${randomUUID()}`;
  const connection = new IORedis(URL, { maxRetriesPerRequest: null });
  const queue = new Queue('q', { connection, prefix, defaultJobOptions: { removeOnComplete: true, removeOnFail: true } });
  for (let i = 0; i < N; i += 1000) await queue.addBulk(Array.from({ length: Math.min(1000, N - i) }, (_, k) => ({ name: 'noop', data: { i: i + k } })));
  let done = 0;
  let resolve!: () => void;
  const finished = new Promise<void>((r) => (resolve = r));
  const workerConnection = new IORedis(URL, { maxRetriesPerRequest: null });
  let worker!: BullWorker;
  const r = await timed(admin, async () => {
    worker = new BullWorker(
      'q',
      async () => {
        if (++done === N) resolve();
        return null;
      },
      { connection: workerConnection, prefix, concurrency: c },
    );
    await finished;
  });
  await worker.close();
  await workerConnection.quit();
  await queue.close();
  await connection.quit();
  return r;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
}

async function oursLatency(): Promise<number[]> {
  const bus = await ours(`probe-${randomUUID()}`);
  const lat: number[] = [];
  bus.tasks.define('stamp', { queue: 'lat' }, async (sentAt: number) => {
    lat.push(performance.timeOrigin + performance.now() - sentAt);
    return null;
  });
  await bus.worker({ queues: { lat: 10 } }).start();
  await paced(500, 4, () => bus.tasks.send('stamp', performance.timeOrigin + performance.now()));
  await new Promise((r) => setTimeout(r, 300));
  await bus.close();
  return lat;
}

async function bullLatency(): Promise<number[]> {
  const prefix = `bull-${randomUUID()}`;
  const connection = new IORedis(URL, { maxRetriesPerRequest: null });
  const queue = new Queue('lat', { connection, prefix, defaultJobOptions: { removeOnComplete: true, removeOnFail: true } });
  const lat: number[] = [];
  const workerConnection = new IORedis(URL, { maxRetriesPerRequest: null });
  const worker = new BullWorker(
    'lat',
    async (job) => {
      lat.push(performance.timeOrigin + performance.now() - (job.data as { sentAt: number }).sentAt);
      return null;
    },
    { connection: workerConnection, prefix, concurrency: 10 },
  );
  await worker.waitUntilReady();
  await paced(500, 4, () => queue.add('stamp', { sentAt: performance.timeOrigin + performance.now() }));
  await new Promise((r) => setTimeout(r, 300));
  await worker.close();
  await workerConnection.quit();
  await queue.close();
  await connection.quit();
  return lat;
}

function show(label: string, r: Run): void {
  console.log(`${label.padEnd(10)} ${r.rate.toFixed(0).padStart(7)}/s  cmds ${r.cmds.toFixed(2)}  redis ${r.redisUs.toFixed(1)}µs  cpu ${r.cpuUs.toFixed(1)}µs  [${r.top}]`);
}

async function main(): Promise<void> {
  const server: ChildProcess = spawn('redis-server', ['--port', String(PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  try {
    const admin = new IORedis(URL);
    for (let i = 0; i < 50; i++) {
      try {
        await admin.ping();
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    for (const c of CS) {
      const ratios: number[] = [];
      for (let p = 0; p <= PAIRS; p++) {
        const b = SIDES.has('bull') ? await bullProcess(admin, c) : undefined;
        const o = SIDES.has('ours') ? await oursProcess(admin, c) : undefined;
        await admin.flushall();
        if (p === 0) continue; // warm-up
        if (b) show(`bull c=${c}`, b);
        if (o) show(`ours c=${c}`, o);
        if (b && o) ratios.push(o.rate / b.rate);
      }
      if (ratios.length) console.log(`c=${c} ratios ${ratios.map((x) => x.toFixed(2)).join(', ')} median ${pct(ratios, 50).toFixed(2)}`);
    }
    if (process.env.PROBE_LAT === '1') {
      const ratios: number[] = [];
      for (let p = 0; p < PAIRS; p++) {
        const b = await bullLatency();
        const o = await oursLatency();
        await admin.flushall();
        console.log(`latency bull p50 ${pct(b, 50).toFixed(2)} p99 ${pct(b, 99).toFixed(2)} | ours p50 ${pct(o, 50).toFixed(2)} p99 ${pct(o, 99).toFixed(2)}`);
        ratios.push(pct(o, 99) / pct(b, 99));
      }
      console.log(`latency p99 ratios ${ratios.map((x) => x.toFixed(2)).join(', ')} median ${pct(ratios, 50).toFixed(2)}`);
    }
    await admin.quit();
  } finally {
    server.kill('SIGTERM');
  }
}

await main();
