// Task queues on the same Redis, side by side with BullMQ: bulk enqueue, processing throughput of
// no-op tasks at concurrency 1, 10 and 50, and end-to-end latency at a fixed rate.
import { randomUUID } from 'node:crypto';
import { Queue, Worker as BullWorker } from 'bullmq';
import IORedis from 'ioredis';
import { createEventSystem, silentLogger, type EventSystem } from '@procur/event-bus';
import { redisTransport } from '@procur/event-bus/redis';
import { fmt, measure, median, percentile, printTable, type Row } from './util.js';

const URL = process.env.PROCUR_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const N = Number(process.env.BENCH_TASKS ?? 20_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const RATE = Number(process.env.BENCH_RATE ?? 500);
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 4);

async function ours(prefix: string): Promise<EventSystem> {
  return createEventSystem({
    transport: redisTransport({ url: URL, keyPrefix: prefix }),
    logger: silentLogger,
    env: {},
    outbox: false,
    taskEvents: false,
    builtins: false,
    config: { eventSourcingEnabled: false, eventBlockTime: 1000, namespace: 'bench' },
  });
}

async function cleanup(pattern: string): Promise<void> {
  const redis = new IORedis(URL);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
  await redis.quit();
}

async function oursEnqueue(): Promise<number> {
  const prefix = `bench-${randomUUID()}`;
  const bus = await ours(prefix);
  bus.tasks.define('noop', { queue: 'q' }, async () => null);
  for (let i = 0; i < N; i += 1000) await bus.tasks.sendMany('noop', Array.from({ length: 1000 }, (_, k) => ({ i: i + k })));
  await bus.close();
  await cleanup(`{${prefix}}*`);
  return N;
}

async function bullEnqueue(): Promise<number> {
  const prefix = `bull-${randomUUID()}`;
  const connection = new IORedis(URL, { maxRetriesPerRequest: null });
  const queue = new Queue('q', { connection, prefix });
  for (let i = 0; i < N; i += 1000) await queue.addBulk(Array.from({ length: 1000 }, (_, k) => ({ name: 'noop', data: { i: i + k } })));
  await queue.close();
  await connection.quit();
  await cleanup(`${prefix}:*`);
  return N;
}

/** Enqueues N no-op tasks, then times a worker of `concurrency` draining them. */
async function oursProcess(concurrency: number): Promise<{ ops: number; seconds: number }> {
  const prefix = `bench-${randomUUID()}`;
  const bus = await ours(prefix);
  let done = 0;
  let resolve!: () => void;
  const finished = new Promise<void>((r) => (resolve = r));
  bus.tasks.define('noop', { queue: 'q' }, async () => {
    if (++done === N) resolve();
    return null;
  });
  for (let i = 0; i < N; i += 1000) await bus.tasks.sendMany('noop', Array.from({ length: 1000 }, (_, k) => ({ i: i + k })));
  const t0 = process.hrtime.bigint();
  const worker = bus.worker({ queues: { q: concurrency } });
  await worker.start();
  await finished;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await bus.close();
  await cleanup(`{${prefix}}*`);
  return { ops: N, seconds };
}

async function bullProcess(concurrency: number): Promise<{ ops: number; seconds: number }> {
  const prefix = `bull-${randomUUID()}`;
  const connection = new IORedis(URL, { maxRetriesPerRequest: null });
  const queue = new Queue('q', { connection, prefix });
  for (let i = 0; i < N; i += 1000) await queue.addBulk(Array.from({ length: 1000 }, (_, k) => ({ name: 'noop', data: { i: i + k } })));
  let done = 0;
  let resolve!: () => void;
  const finished = new Promise<void>((r) => (resolve = r));
  const t0 = process.hrtime.bigint();
  const workerConnection = new IORedis(URL, { maxRetriesPerRequest: null });
  const worker = new BullWorker(
    'q',
    async () => {
      if (++done === N) resolve();
      return null;
    },
    { connection: workerConnection, prefix, concurrency },
  );
  await finished;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await worker.close();
  await workerConnection.quit();
  await queue.close();
  await connection.quit();
  await cleanup(`${prefix}:*`);
  return { ops: N, seconds };
}

/**
 * One warm-up of each, then RUNS pairs run back to back (BullMQ, ours, BullMQ, ours, ...), so
 * both see the same machine state. Returns the median rates and the median per-pair ratio.
 */
async function paired(
  bull: () => Promise<{ ops: number; seconds: number }>,
  ours: () => Promise<{ ops: number; seconds: number }>,
): Promise<{ bull: number; ours: number; ratios: number[] }> {
  await bull();
  await ours();
  const b: number[] = [];
  const o: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const rb = await bull();
    const ro = await ours();
    b.push(rb.ops / rb.seconds);
    o.push(ro.ops / ro.seconds);
    ratios.push(ro.ops / ro.seconds / (rb.ops / rb.seconds));
  }
  return { bull: median(b), ours: median(o), ratios };
}

/** Sends at RATE tasks/s for LATENCY_SECONDS; latency = send -> handler start. */
async function oursLatency(): Promise<number[]> {
  const prefix = `bench-${randomUUID()}`;
  const bus = await ours(prefix);
  const lat: number[] = [];
  bus.tasks.define('stamp', { queue: 'lat' }, async (sentAt: number) => {
    lat.push(performance.timeOrigin + performance.now() - sentAt);
    return null;
  });
  await bus.worker({ queues: { lat: 10 } }).start();
  await paced(() => bus.tasks.send('stamp', performance.timeOrigin + performance.now()));
  await new Promise((r) => setTimeout(r, 300));
  await bus.close();
  await cleanup(`{${prefix}}*`);
  return lat;
}

async function bullLatency(): Promise<number[]> {
  const prefix = `bull-${randomUUID()}`;
  const connection = new IORedis(URL, { maxRetriesPerRequest: null });
  const queue = new Queue('lat', { connection, prefix });
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
  await paced(() => queue.add('stamp', { sentAt: performance.timeOrigin + performance.now() }));
  await new Promise((r) => setTimeout(r, 300));
  await worker.close();
  await workerConnection.quit();
  await queue.close();
  await connection.quit();
  await cleanup(`${prefix}:*`);
  return lat;
}

async function paced(send: () => Promise<unknown>): Promise<void> {
  const total = RATE * LATENCY_SECONDS;
  const interval = 1000 / RATE;
  const t0 = performance.now();
  const inflight: Promise<unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inflight.push(send());
  }
  await Promise.all(inflight);
}

/** BENCH_TASKS_PARTS=enqueue,process,latency (default all). */
const PARTS = new Set((process.env.BENCH_TASKS_PARTS ?? 'enqueue,process,latency').split(','));

export async function run(): Promise<Row[]> {
  const rows: Row[] = [];
  if (PARTS.has('enqueue')) {
    rows.push({ name: 'BullMQ 6.7 addBulk', opsPerSec: await measure(RUNS, bullEnqueue) });
    rows.push({ name: 'ours sendMany', opsPerSec: await measure(RUNS, oursEnqueue), vs: 'BullMQ 6.7 addBulk' });
  }
  if (PARTS.has('process')) {
    for (const c of [1, 10, 50]) {
      const r = await paired(() => bullProcess(c), () => oursProcess(c));
      const note = `median of per-pair ratios ${median(r.ratios).toFixed(2)} (${r.ratios.map((x) => x.toFixed(2)).join(', ')})`;
      rows.push({ name: `BullMQ worker, concurrency ${c}`, opsPerSec: r.bull });
      rows.push({ name: `ours worker, concurrency ${c}`, opsPerSec: r.ours, vs: `BullMQ worker, concurrency ${c}`, note });
    }
  }
  if (rows.length) printTable(`Task queues on one Redis: ${N} no-op tasks (tasks/s, median of ${RUNS})`, rows);
  if (!PARTS.has('latency')) return rows;

  const bl = await bullLatency();
  const ol = await oursLatency();
  console.log(`\n## End-to-end latency at ${RATE} tasks/s for ${LATENCY_SECONDS} s (send -> handler start, ms)\n`);
  console.log('| case | p50 | p99 | max | samples |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [name, l] of [['BullMQ 6.7', bl], ['ours', ol]] as const) {
    console.log(`| ${name} | ${fmt(percentile(l, 50))} | ${fmt(percentile(l, 99))} | ${fmt(Math.max(...l))} | ${l.length} |`);
  }
  return rows;
}
