// Task queues against BullMQ 6.7 on the same Redis (the private redis-server bench/run.ts starts,
// or PROCUR_BENCH_REDIS_URL), unique key prefixes, each side as its users run it in production:
//
// - default pair: ours at createEventSystem's defaults (task lifecycle events on, event sourcing
//   off); BullMQ with `removeOnComplete: true, removeOnFail: true` (docs.bullmq.io, "Auto-removal
//   of jobs") and its events stream at its default (`streams.events.maxLen` 10,000).
// - lean pair: ours with `taskEvents: false`; BullMQ with `streams.events.maxLen: 0` as well (its
//   scripts still XADD each event, then trim the stream to 0).
//
// Parts (BENCH_TASKS_PARTS=process,latency,enqueue,queues; default all):
// 1. process: the same N pre-enqueued no-op tasks, enqueue NOT timed; the clock runs from the
//    worker's start to the last completion (BullMQ: its N-th `completed` event, emitted after the
//    job's completion script returned; ours: the N-th handler return, then the queue's pending
//    list empty (the result was written before the ack) and the lifecycle events stream no longer
//    growing). Alternating pairs (ours, BullMQ, ...) after a warm-up pair; per-pair ratios and
//    their median. Per-task cost from deltas of `INFO commandstats`, `INFO cpu` and
//    `process.cpuUsage()` over the timed phase.
// 2. latency: RATE tasks/s (500) for LATENCY_SECONDS, send -> handler start, worker concurrency 10.
// 3. enqueue: ours `sendMany` vs BullMQ `addBulk`, 1,000 per call; only the calls are timed (the
//    system, queue and connections exist before; close and cleanup after).
// 4. queues: throughput against queues per worker (1, 8, 32; concurrency 10 each), one worker
//    (ours: one `bus.worker` over Q queues; BullMQ: one Worker per queue, as it has no other way).
import { randomUUID } from 'node:crypto';
import { Queue, Worker as BullWorker, type QueueOptions } from 'bullmq';
import IORedis from 'ioredis';
import { createEventSystem, silentLogger, type EventSystem } from '@procur/event-bus';
import { redisTransport } from '@procur/event-bus/redis';
import { lineChart } from './chart.js';
import { percentile } from './stats.js';
import {
  admin,
  alternate,
  cleanup,
  type Cost,
  COST_HEADERS,
  COST_NOTE,
  costCells,
  fmt,
  machineNote,
  measured,
  median,
  medianRun,
  now,
  paced,
  QUICK,
  ratioText,
  redisIsPrivate,
  redisUrl,
  redisVersion,
  Report,
  settled,
  size,
  sleep,
  streamsOf,
} from './util.js';

const N = size('BENCH_TASKS', 20_000, 2_000);
const PAIRS = size('BENCH_PAIRS', 3, 1);
const RATE = size('BENCH_RATE', 500, 500);
const LATENCY_SECONDS = size('BENCH_LATENCY_SECONDS', 4, 1);
const CONCURRENCY = [1, 10, 50];
const QUEUES = [1, 8, 32];
const CHUNK = 1000;

// ---- the two sides ------------------------------------------------------------------------------

type Variant = 'default' | 'lean';

export const SETTINGS = {
  oursDefault:
    'ours: `createEventSystem` defaults (task lifecycle events on: sent, received, started, succeeded per task in the event store when it keeps events, the task-events stream sampled by state change (a task that finishes in the turn it started shows there as sent, succeeded); results kept `taskResultTtlMs` 24 h; read-ahead up to 64 short tasks; eventBlockTime 1000), event sourcing off (`eventSourcingEnabled: false`), outbox and builtins off (they do no per-task work)',
  bullDefault:
    'BullMQ 6.7: `defaultJobOptions: { removeOnComplete: true, removeOnFail: true }` (its docs, "Auto-removal of jobs"), events stream at its default (`maxLen` ~10,000), Worker defaults (autorun after `waitUntilReady`)',
  oursLean: 'ours lean: as above with `taskEvents: false` (no lifecycle events; results still kept)',
  bullLean: 'BullMQ lean: as above with `streams: { events: { maxLen: 0 } }` (the scripts still XADD each event, trimmed to 0)',
};

function oursSystem(prefix: string, variant: Variant): Promise<EventSystem> {
  return createEventSystem({
    transport: redisTransport({ url: redisUrl(), keyPrefix: prefix }),
    logger: silentLogger,
    env: {},
    taskEvents: variant === 'default',
    outbox: false,
    builtins: false,
    config: { eventSourcingEnabled: false },
  });
}

function bullQueueOptions(connection: IORedis, prefix: string, variant: Variant): QueueOptions {
  return {
    connection,
    prefix,
    defaultJobOptions: { removeOnComplete: true, removeOnFail: true },
    ...(variant === 'lean' ? { streams: { events: { maxLen: 0 } } } : {}),
  };
}

const bullConnection = () => new IORedis(redisUrl(), { maxRetriesPerRequest: null });
const queueName = (i: number) => `q${i}`;

/** Splits n tasks over q queues (round robin in chunks). */
function shares(n: number, q: number): number[] {
  return Array.from({ length: q }, (_, i) => Math.floor(n / q) + (i < n % q ? 1 : 0));
}

async function oursProcess(variant: Variant, concurrency: number, queues = 1): Promise<Cost> {
  const prefix = `bench-${randomUUID()}`;
  const names = Array.from({ length: queues }, (_, i) => queueName(i));
  const producer = await oursSystem(prefix, variant);
  for (const q of names) producer.tasks.define(`noop-${q}`, { queue: q }, () => null);
  const per = shares(N, queues);
  for (let i = 0; i < queues; i++) {
    for (let k = 0; k < per[i]!; k += CHUNK) {
      await producer.tasks.sendMany(`noop-${names[i]}`, Array.from({ length: Math.min(CHUNK, per[i]! - k) }, (_, j) => ({ i: k + j })));
    }
  }
  await producer.close();
  const redis = admin();
  const bus = await oursSystem(prefix, variant);
  let done = 0;
  let resolve!: () => void;
  const finished = new Promise<void>((r) => (resolve = r));
  for (const q of names) {
    bus.tasks.define(`noop-${q}`, { queue: q }, () => {
      if (++done === N) resolve();
      return null;
    });
  }
  const streams = await streamsOf(redis, prefix);
  const worker = bus.worker({ queues: Object.fromEntries(names.map((q) => [q, concurrency])) });
  const cost = await measured(N, async () => {
    await worker.start();
    await finished;
    return { probes: await settled(redis, streams) };
  });
  await bus.close();
  await cleanup(redis, `*${prefix}*`);
  redis.disconnect();
  return cost;
}

async function bullProcess(variant: Variant, concurrency: number, queues = 1): Promise<Cost> {
  const prefix = `bull-${randomUUID()}`;
  const connection = bullConnection();
  const names = Array.from({ length: queues }, (_, i) => queueName(i));
  const qs = names.map((q) => new Queue(q, bullQueueOptions(connection, prefix, variant)));
  const per = shares(N, queues);
  for (let i = 0; i < queues; i++) {
    await qs[i]!.waitUntilReady();
    for (let k = 0; k < per[i]!; k += CHUNK) {
      await qs[i]!.addBulk(Array.from({ length: Math.min(CHUNK, per[i]! - k) }, (_, j) => ({ name: 'noop', data: { i: k + j } })));
    }
  }
  let done = 0;
  let resolve!: () => void;
  const finished = new Promise<void>((r) => (resolve = r));
  const workerConnection = bullConnection();
  const workers = names.map((q) => {
    const w = new BullWorker(q, async () => null, { connection: workerConnection, prefix, concurrency, autorun: false });
    w.on('completed', () => {
      if (++done === N) resolve();
    });
    return w;
  });
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  const cost = await measured(N, async () => {
    for (const w of workers) void w.run();
    await finished;
  });
  await Promise.all(workers.map((w) => w.close()));
  await Promise.all(qs.map((q) => q.close()));
  await workerConnection.quit();
  const redis = admin();
  await cleanup(redis, `${prefix}:*`);
  redis.disconnect();
  await connection.quit();
  return cost;
}

// ---- 2. latency ---------------------------------------------------------------------------------

async function oursLatency(): Promise<number[]> {
  const prefix = `bench-${randomUUID()}`;
  const bus = await oursSystem(prefix, 'default');
  const lat: number[] = [];
  const stamp = bus.tasks.define('stamp', { queue: 'lat' }, (args: { sentAt: number }) => {
    lat.push(now() - args.sentAt);
    return null;
  });
  await bus.worker({ queues: { lat: 10 } }).start();
  await stamp.applyAsync({ sentAt: now() }); // the queue's group exists before the clock
  await sleep(50);
  lat.length = 0;
  await paced(RATE, LATENCY_SECONDS, (sentAt) => stamp.applyAsync({ sentAt }));
  await sleep(300);
  await bus.close();
  const redis = admin();
  await cleanup(redis, `*${prefix}*`);
  redis.disconnect();
  return lat;
}

async function bullLatency(): Promise<number[]> {
  const prefix = `bull-${randomUUID()}`;
  const connection = bullConnection();
  const queue = new Queue('lat', bullQueueOptions(connection, prefix, 'default'));
  const lat: number[] = [];
  const workerConnection = bullConnection();
  const worker = new BullWorker(
    'lat',
    async (job) => {
      lat.push(now() - (job.data as { sentAt: number }).sentAt);
      return null;
    },
    { connection: workerConnection, prefix, concurrency: 10 },
  );
  await worker.waitUntilReady();
  await queue.add('stamp', { sentAt: now() });
  await sleep(50);
  lat.length = 0;
  await paced(RATE, LATENCY_SECONDS, (sentAt) => queue.add('stamp', { sentAt }));
  await sleep(300);
  await worker.close();
  await workerConnection.quit();
  await queue.close();
  const redis = admin();
  await cleanup(redis, `${prefix}:*`);
  redis.disconnect();
  await connection.quit();
  return lat;
}

// ---- 3. enqueue ---------------------------------------------------------------------------------

async function oursEnqueue(): Promise<Cost> {
  const prefix = `bench-${randomUUID()}`;
  const bus = await oursSystem(prefix, 'default');
  bus.tasks.define('noop', { queue: 'q' }, () => null);
  await bus.tasks.sendMany('noop', [{ i: -1 }]); // connects and creates the queue's group
  const redis = admin();
  await sleep(20);
  const streams = (await streamsOf(redis, prefix)).filter((s) => s.groups.length === 0);
  const cost = await measured(N, async () => {
    for (let i = 0; i < N; i += CHUNK) await bus.tasks.sendMany('noop', Array.from({ length: Math.min(CHUNK, N - i) }, (_, k) => ({ i: i + k })));
    // The lifecycle events of the last call are written after it resolved: wait for them.
    return { probes: await settled(redis, streams) };
  });
  await bus.close();
  await cleanup(redis, `*${prefix}*`);
  redis.disconnect();
  return cost;
}

async function bullEnqueue(): Promise<Cost> {
  const prefix = `bull-${randomUUID()}`;
  const connection = bullConnection();
  const queue = new Queue('q', bullQueueOptions(connection, prefix, 'default'));
  await queue.addBulk([{ name: 'noop', data: { i: -1 } }]);
  const cost = await measured(N, async () => {
    for (let i = 0; i < N; i += CHUNK) await queue.addBulk(Array.from({ length: Math.min(CHUNK, N - i) }, (_, k) => ({ name: 'noop', data: { i: i + k } })));
  });
  await queue.close();
  const redis = admin();
  await cleanup(redis, `${prefix}:*`);
  redis.disconnect();
  await connection.quit();
  return cost;
}

// ---- run ----------------------------------------------------------------------------------------

const PARTS = new Set((process.env.BENCH_TASKS_PARTS ?? 'process,latency,enqueue,queues').split(','));

function costRows(label: string, runs: Cost[]): (string | number)[] {
  const m = medianRun(runs);
  return [label, ...costCells(m), m.top];
}

export async function run(): Promise<Report> {
  const r = new Report('tasks', 'Task queues against BullMQ 6.7');
  const redis = admin();
  const version = await redisVersion(redis);
  redis.disconnect();
  r.line(
    `Redis ${version} (${redisIsPrivate() ? 'a private redis-server started by the harness: its commandstats and CPU are this run alone' : `${redisUrl()}, shared: other clients' commands are in the Redis figures`}), Node ${process.version}, ${machineNote()} at the start; ${N.toLocaleString('en-US')} no-op tasks; ${PAIRS} measured pairs after a warm-up pair${QUICK ? ' (QUICK run: small sizes, figures not comparable)' : ''}.`,
  );
  r.line();
  r.line('Settings of each side:');
  r.line();
  for (const s of Object.values(SETTINGS)) r.line(`- ${s}`);
  r.line();

  const curves: Record<string, { x: number; y: number }[]> = { 'ours (defaults)': [], 'BullMQ (removeOnComplete)': [], 'ours lean': [], 'BullMQ lean': [] };
  if (PARTS.has('process')) {
    r.line('### Processing: pre-enqueued no-op tasks, worker start to last completion (tasks/s)');
    r.line();
    const rows: (string | number)[][] = [];
    const costs: (string | number)[][] = [];
    for (const variant of ['default', 'lean'] as const) {
      for (const c of CONCURRENCY) {
        const res = await alternate(PAIRS, () => oursProcess(variant, c), () => bullProcess(variant, c), (o, b) => o.rate / b.rate);
        const label = variant === 'default' ? 'default pair' : 'lean pair';
        rows.push([`${label}, concurrency ${c}`, median(res.a.map((x) => x.rate)), median(res.b.map((x) => x.rate)), `**${median(res.ratios).toFixed(2)}**`, res.ratios.map((x) => x.toFixed(2)).join(', ')]);
        costs.push(costRows(`ours ${variant === 'default' ? '' : 'lean '}c=${c}`, res.a), costRows(`BullMQ ${variant === 'default' ? '' : 'lean '}c=${c}`, res.b));
        curves[variant === 'default' ? 'ours (defaults)' : 'ours lean']!.push({ x: c, y: median(res.a.map((x) => x.rate)) });
        curves[variant === 'default' ? 'BullMQ (removeOnComplete)' : 'BullMQ lean']!.push({ x: c, y: median(res.b.map((x) => x.rate)) });
        if (variant === 'default') {
          r.goal({ goal: `task processing, concurrency ${c}, at defaults: >= 2x BullMQ`, measured: `${ratioText(res.ratios)}`, value: median(res.ratios), target: 2, better: 'higher' });
        }
      }
    }
    r.table(['case', 'ours tasks/s (median)', 'BullMQ tasks/s (median)', 'ours / BullMQ (median of pairs)', 'per-pair ratios'], rows);
    r.line(COST_NOTE('task'));
    r.line();
    r.table(['side', ...COST_HEADERS, 'top commands per task'], costs, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'l']);
    r.chart(
      'tasks-concurrency.svg',
      lineChart({
        title: `Task throughput vs worker concurrency (${N.toLocaleString('en-US')} no-op tasks)`,
        xLabel: 'concurrency (one queue)',
        yLabel: 'tasks/s (median)',
        logX: true,
        series: [
          { name: 'ours (defaults)', points: curves['ours (defaults)']! },
          { name: 'BullMQ (removeOnComplete)', points: curves['BullMQ (removeOnComplete)']! },
          { name: 'ours lean (taskEvents off)', points: curves['ours lean']!, dashed: true },
          { name: 'BullMQ lean (events maxLen 0)', points: curves['BullMQ lean']!, dashed: true },
        ],
        note: `${machineNote()}; Redis ${version}`,
      }),
      'Task throughput against concurrency, ours and BullMQ',
    );
  }

  if (PARTS.has('latency')) {
    const res = await alternate(PAIRS, oursLatency, bullLatency, (o, b) => percentile(o, 99) / percentile(b, 99));
    r.line(`### Send -> handler start at ${RATE} tasks/s for ${LATENCY_SECONDS} s (ms; worker concurrency 10; default settings of both)`);
    r.line();
    const row = (label: string, runs: number[][]) => [
      label,
      median(runs.map((l) => percentile(l, 50))),
      median(runs.map((l) => percentile(l, 99))),
      median(runs.map((l) => Math.max(...l))),
      runs.map((l) => `${percentile(l, 50).toFixed(2)}/${percentile(l, 99).toFixed(2)}`).join(', '),
    ];
    r.table(['side', 'p50 (median of runs)', 'p99 (median of runs)', 'max', 'p50/p99 of each run'], [row('ours `applyAsync`', res.a), row('BullMQ `queue.add`', res.b)]);
    r.line(`ours p99 / BullMQ p99, median of per-pair ratios: **${ratioText(res.ratios)}** (goal <= 0.5).`);
    r.line();
    r.goal({ goal: 'task send-to-start p99 at 500/s: <= 0.5x BullMQ', measured: ratioText(res.ratios), value: median(res.ratios), target: 0.5, better: 'lower' });
  }

  if (PARTS.has('enqueue')) {
    const res = await alternate(PAIRS, oursEnqueue, bullEnqueue, (o, b) => o.rate / b.rate);
    r.line(`### Bulk enqueue: ${N.toLocaleString('en-US')} tasks, 1,000 per call (only the calls timed; ours with its lifecycle "sent" events on, waited for)`);
    r.line();
    r.line(COST_NOTE('task'));
    r.line();
    r.table(['side', ...COST_HEADERS, 'top commands per task'], [costRows('ours `sendMany`', res.a), costRows('BullMQ `addBulk`', res.b)], ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'l']);
    r.line(`ours / BullMQ, median of per-pair ratios: **${ratioText(res.ratios)}** (goal >= 3).`);
    r.line();
    r.goal({ goal: 'bulk enqueue: >= 3x BullMQ addBulk', measured: ratioText(res.ratios), value: median(res.ratios), target: 3, better: 'higher' });
  }

  if (PARTS.has('queues')) {
    const ours: { x: number; y: number }[] = [];
    const bull: { x: number; y: number }[] = [];
    const rows: (string | number)[][] = [];
    for (const q of QUEUES) {
      const res = await alternate(Math.max(1, PAIRS - 2), () => oursProcess('default', 10, q), () => bullProcess('default', 10, q), (o, b) => o.rate / b.rate);
      ours.push({ x: q, y: median(res.a.map((x) => x.rate)) });
      bull.push({ x: q, y: median(res.b.map((x) => x.rate)) });
      rows.push([`${q} queue${q > 1 ? 's' : ''}`, median(res.a.map((x) => x.rate)), median(res.b.map((x) => x.rate)), ratioText(res.ratios), fmt(medianRun(res.a).clientUs), fmt(medianRun(res.b).clientUs)]);
    }
    r.line(`### Throughput against queues per worker (concurrency 10 per queue, ${N.toLocaleString('en-US')} tasks spread evenly, default settings of both)`);
    r.line();
    r.table(['queues', 'ours tasks/s', 'BullMQ tasks/s', 'ours / BullMQ', 'ours client µs/task', 'BullMQ client µs/task'], rows);
    r.chart(
      'tasks-queues.svg',
      lineChart({
        title: 'Task throughput vs queues per worker (concurrency 10 each)',
        xLabel: 'queues per worker',
        yLabel: 'tasks/s',
        logX: true,
        series: [
          { name: 'ours (one worker, Q queues)', points: ours },
          { name: 'BullMQ (one Worker per queue)', points: bull },
        ],
        note: `${machineNote()}; Redis ${version}`,
      }),
      'Task throughput against queues per worker',
    );
  }
  return r;
}
