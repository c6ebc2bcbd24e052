// Task queues on the same PostgreSQL, side by side with pg-boss 12 (issue 14): enqueue of N tasks
// (bulk and one by one), processing of N pre-enqueued no-op tasks at concurrency 1, 10 and 50, and
// send-to-start latency at a fixed rate. Each run uses its own schema, dropped after. Pairs are
// interleaved (pg-boss, ours, pg-boss, ours, ...) after one warm-up of each; the ratio printed is
// the median of the per-pair ratios.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { PgBoss } from 'pg-boss';
import { Queue, Worker as BullWorker, createPostgresBackend } from 'bullmq';
import { createEventSystem, silentLogger, type EventSystem } from '@procur/event-bus';
import { postgresStore, postgresTransport } from '@procur/event-bus/postgres';
import { fmt, median, paced, percentile } from './util.js';

const DB = process.env.PROCUR_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = Number(process.env.BENCH_PG_TASKS ?? 5_000);
/** Tasks of the one-by-one enqueue (each an awaited round trip and commit). */
const ONE_BY_ONE = Number(process.env.BENCH_PG_ONE_BY_ONE ?? N);
const PAIRS = Number(process.env.BENCH_RUNS ?? 3);
const RATE = Number(process.env.BENCH_RATE ?? 200);
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 10);
/** Jobs one pg-boss fetch claims (each of its `localConcurrency` workers runs them one at a time). */
const BOSS_BATCH = Number(process.env.BENCH_PGBOSS_BATCH ?? 20);
/** BENCH_PG_PARTS=enqueue,process,latency (default all); BENCH_PG_CONCURRENCY=1,10,50. */
const PARTS = new Set((process.env.BENCH_PG_PARTS ?? 'enqueue,process,latency').split(','));
const CONCURRENCY = (process.env.BENCH_PG_CONCURRENCY ?? '1,10,50').split(',').map(Number);
/** BENCH_PG_RIVALS=pgboss,bullmq (default both): pg-boss 12 and BullMQ 6.7's PostgreSQL backend. */
const RIVALS = new Set((process.env.BENCH_PG_RIVALS ?? 'pgboss,bullmq').split(','));

interface Timed {
  ops: number;
  seconds: number;
}

const schemaName = (who: string) => `bench_${who}_${randomUUID().replaceAll('-', '').slice(0, 12)}`;

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: DB });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await client.end();
}

// ---- ours: createEventSystem on postgresTransport + postgresStore, both at their defaults ----

async function ours(schema: string): Promise<EventSystem> {
  return createEventSystem({
    transport: postgresTransport({ connectionString: DB, schema }),
    store: postgresStore({ connectionString: DB, schema }),
    logger: silentLogger,
    env: {},
    // As the Redis task benchmark (issue 12): task lifecycle events on, event sourcing off (pg-boss
    // keeps no audit log of its jobs either).
    config: { eventSourcingEnabled: false },
  });
}

async function oursEnqueue(bulk: boolean): Promise<Timed> {
  const schema = schemaName('ours');
  const bus = await ours(schema);
  bus.tasks.define('noop', { queue: 'q' }, async () => null);
  await bus.tasks.send('noop', { warm: true }); // tables and statements ready before timing
  const t0 = process.hrtime.bigint();
  if (bulk) {
    for (let i = 0; i < N; i += 1000) await bus.tasks.sendMany('noop', Array.from({ length: Math.min(1000, N - i) }, (_, k) => ({ i: i + k })));
  } else {
    for (let i = 0; i < ONE_BY_ONE; i++) await bus.tasks.send('noop', { i });
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await bus.close();
  await dropSchema(schema);
  return { ops: bulk ? N : ONE_BY_ONE, seconds };
}

async function oursProcess(concurrency: number): Promise<Timed> {
  const schema = schemaName('ours');
  const bus = await ours(schema);
  let done = 0;
  let resolve!: () => void;
  const finished = new Promise<void>((r) => (resolve = r));
  bus.tasks.define('noop', { queue: 'q' }, async () => {
    if (++done === N) resolve();
    return null;
  });
  for (let i = 0; i < N; i += 1000) await bus.tasks.sendMany('noop', Array.from({ length: Math.min(1000, N - i) }, (_, k) => ({ i: i + k })));
  const t0 = process.hrtime.bigint();
  const worker = bus.worker({ queues: { q: concurrency } });
  await worker.start();
  await finished;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await bus.close();
  await dropSchema(schema);
  return { ops: N, seconds };
}

async function oursLatency(): Promise<number[]> {
  const schema = schemaName('ours');
  const bus = await ours(schema);
  const lat: number[] = [];
  bus.tasks.define('stamp', { queue: 'lat' }, async (sentAt: number) => {
    lat.push(performance.timeOrigin + performance.now() - sentAt);
    return null;
  });
  await bus.worker({ queues: { lat: 10 } }).start();
  await paced(RATE, LATENCY_SECONDS, () => bus.tasks.send('stamp', performance.timeOrigin + performance.now()));
  await drain(lat);
  await bus.close();
  await dropSchema(schema);
  return lat;
}

// ---- pg-boss 12 at its defaults; only the worker options say how many jobs run at once ----

const BOSS_SETTINGS = `new PgBoss({ connectionString, schema }) (defaults: pool max 10, pollingIntervalSeconds 2, useListenNotify false); createQueue(name) with default policy; work(name, { localConcurrency: c, batchSize: ${BOSS_BATCH}, burstWhenBatchFull: true }) with each batch's jobs run one at a time, so c handlers run at once (with batchSize 1 a worker waits pollingIntervalSeconds between fetches: 0.5 jobs/s each)`;
const BOSS_NOTIFY_SETTINGS = 'latency also with new PgBoss({ ..., useListenNotify: true }) and createQueue(name, { notify: true }), its documented low-latency setting';

async function boss(schema: string, notify = false): Promise<PgBoss> {
  const b = new PgBoss({ connectionString: DB, schema, ...(notify ? { useListenNotify: true } : {}) });
  b.on('error', () => {});
  await b.start();
  await b.createQueue('q', notify ? { notify: true } : {});
  return b;
}

async function bossEnqueue(bulk: boolean): Promise<Timed> {
  const schema = schemaName('boss');
  const b = await boss(schema);
  await b.send('q', { warm: true });
  const t0 = process.hrtime.bigint();
  if (bulk) {
    for (let i = 0; i < N; i += 1000) await b.insert('q', Array.from({ length: Math.min(1000, N - i) }, (_, k) => ({ data: { i: i + k } })));
  } else {
    for (let i = 0; i < ONE_BY_ONE; i++) await b.send('q', { i });
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await b.stop({ graceful: false });
  await dropSchema(schema);
  return { ops: bulk ? N : ONE_BY_ONE, seconds };
}

async function bossProcess(concurrency: number): Promise<Timed> {
  const schema = schemaName('boss');
  const b = await boss(schema);
  for (let i = 0; i < N; i += 1000) await b.insert('q', Array.from({ length: Math.min(1000, N - i) }, (_, k) => ({ data: { i: i + k } })));
  let done = 0;
  let resolve!: () => void;
  const finished = new Promise<void>((r) => (resolve = r));
  const t0 = process.hrtime.bigint();
  await b.work('q', { localConcurrency: concurrency, batchSize: BOSS_BATCH, burstWhenBatchFull: true }, async (jobs) => {
    for (const _job of jobs) {
      await null; // one no-op handler call per job
      if (++done === N) resolve();
    }
  });
  await finished;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await b.stop({ graceful: false });
  await dropSchema(schema);
  return { ops: N, seconds };
}

async function bossLatency(notify: boolean): Promise<number[]> {
  const schema = schemaName('boss');
  const b = await boss(schema, notify);
  const lat: number[] = [];
  await b.work<{ sentAt: number }>('q', { localConcurrency: 10 }, async (jobs) => {
    for (const job of jobs) lat.push(performance.timeOrigin + performance.now() - job.data.sentAt);
  });
  await paced(RATE, LATENCY_SECONDS, () => b.send('q', { sentAt: performance.timeOrigin + performance.now() }));
  await drain(lat);
  await b.stop({ graceful: false });
  await dropSchema(schema);
  return lat;
}

// ---- BullMQ 6.7's PostgreSQL backend (createPostgresBackend), removeOnComplete as on Redis ----

const BULLPG_SETTINGS =
  "BullMQ 6.7 with its PostgreSQL backend: new Queue(name, { connection: { connectionString, schema, migrate: true }, defaultJobOptions: { removeOnComplete: true, removeOnFail: true } }, createPostgresBackend), new Worker(name, fn, { connection, concurrency: c }, createPostgresBackend), everything else at its defaults";

function bullPgConnection(schema: string) {
  return { connectionString: DB, schema, migrate: true };
}

async function bullPgQueue(schema: string): Promise<Queue> {
  const q = new Queue('q', { connection: bullPgConnection(schema), defaultJobOptions: { removeOnComplete: true, removeOnFail: true } } as never, createPostgresBackend as never);
  q.on('error', () => {});
  await q.waitUntilReady();
  return q;
}

async function bullPgEnqueue(bulk: boolean): Promise<Timed> {
  const schema = schemaName('bullpg');
  const q = await bullPgQueue(schema);
  await q.add('noop', { warm: true });
  const t0 = process.hrtime.bigint();
  if (bulk) {
    for (let i = 0; i < N; i += 1000) await q.addBulk(Array.from({ length: Math.min(1000, N - i) }, (_, k) => ({ name: 'noop', data: { i: i + k } })));
  } else {
    for (let i = 0; i < ONE_BY_ONE; i++) await q.add('noop', { i });
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await q.close();
  await dropSchema(schema);
  return { ops: bulk ? N : ONE_BY_ONE, seconds };
}

async function bullPgProcess(concurrency: number): Promise<Timed> {
  const schema = schemaName('bullpg');
  const q = await bullPgQueue(schema);
  for (let i = 0; i < N; i += 1000) await q.addBulk(Array.from({ length: Math.min(1000, N - i) }, (_, k) => ({ name: 'noop', data: { i: i + k } })));
  let done = 0;
  let resolve!: () => void;
  const finished = new Promise<void>((r) => (resolve = r));
  const t0 = process.hrtime.bigint();
  const w = new BullWorker(
    'q',
    async () => {
      if (++done === N) resolve();
      return null;
    },
    { connection: bullPgConnection(schema), concurrency } as never,
    createPostgresBackend as never,
  );
  w.on('error', () => {});
  await finished;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await w.close();
  await q.close();
  await dropSchema(schema);
  return { ops: N, seconds };
}

async function bullPgLatency(): Promise<number[]> {
  const schema = schemaName('bullpg');
  const q = await bullPgQueue(schema);
  const lat: number[] = [];
  const w = new BullWorker(
    'q',
    async (job: { data: { sentAt: number } }) => {
      lat.push(performance.timeOrigin + performance.now() - job.data.sentAt);
      return null;
    },
    { connection: bullPgConnection(schema), concurrency: 10 } as never,
    createPostgresBackend as never,
  );
  w.on('error', () => {});
  await w.waitUntilReady();
  await paced(RATE, LATENCY_SECONDS, () => q.add('stamp', { sentAt: performance.timeOrigin + performance.now() }));
  await drain(lat);
  await w.close();
  await q.close();
  await dropSchema(schema);
  return lat;
}

// ---- shared ----

const TOTAL_LATENCY = () => RATE * LATENCY_SECONDS;

/** Waits (bounded, 30 s) until every paced task has started. */
async function drain(lat: number[]): Promise<void> {
  const until = Date.now() + 30_000;
  while (lat.length < TOTAL_LATENCY() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
}

async function paired(label: string, a: () => Promise<Timed>, b: () => Promise<Timed>): Promise<void> {
  await a();
  await b();
  const ra: number[] = [];
  const rb: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < PAIRS; i++) {
    const x = await a();
    const y = await b();
    ra.push(x.ops / x.seconds);
    rb.push(y.ops / y.seconds);
    ratios.push(y.ops / y.seconds / (x.ops / x.seconds));
  }
  console.log(
    `| ${label} | ${fmt(median(ra))} | ${fmt(median(rb))} | ${median(ratios).toFixed(2)}x | ${ratios.map((r) => r.toFixed(2)).join(', ')} |`,
  );
}

export async function run(): Promise<void> {
  console.log(`\n## PostgreSQL transport against pg-boss 12 (${DB.replace(/\/\/[^@]*@/, '//')})\n`);
  console.log(`N=${N} tasks (one-by-one enqueue: ${ONE_BY_ONE}), ${PAIRS} interleaved pairs after one warm-up each, latency ${RATE}/s for ${LATENCY_SECONDS} s.`);
  console.log('ours: createEventSystem({ transport: postgresTransport({ connectionString, schema }), store: postgresStore({ connectionString, schema }) }), everything else default (task events on, pool 10, poll 2000 ms backstop, NOTIFY wake-ups) but event sourcing off (eventSourcingEnabled: false, as in the Redis task benchmark); worker({ queues: { q: c } }).');
  console.log(`pg-boss: ${BOSS_SETTINGS}; ${BOSS_NOTIFY_SETTINGS}.`);
  const boss1 = RIVALS.has('pgboss');
  if (boss1 && (PARTS.has('enqueue') || PARTS.has('process'))) {
    console.log('\n| case | pg-boss tasks/s (median) | ours tasks/s (median) | ours/pg-boss (median of pairs) | per-pair ratios |');
    console.log('|---|---:|---:|---:|---|');
  }
  if (boss1 && PARTS.has('enqueue')) {
    await paired('enqueue bulk (boss.insert ×1000 / tasks.sendMany ×1000)', () => bossEnqueue(true), () => oursEnqueue(true));
    await paired('enqueue one by one (boss.send / tasks.send, awaited)', () => bossEnqueue(false), () => oursEnqueue(false));
  }
  if (boss1 && PARTS.has('process')) {
    for (const c of CONCURRENCY) await paired(`process no-op, concurrency ${c}`, () => bossProcess(c), () => oursProcess(c));
  }
  if (RIVALS.has('bullmq') && (PARTS.has('enqueue') || PARTS.has('process'))) {
    console.log(`\nAgainst ${BULLPG_SETTINGS}.\n`);
    console.log('| case | BullMQ (PostgreSQL) tasks/s (median) | ours tasks/s (median) | ours/BullMQ (median of pairs) | per-pair ratios |');
    console.log('|---|---:|---:|---:|---|');
    if (PARTS.has('enqueue')) await paired('enqueue bulk (queue.addBulk ×1000 / tasks.sendMany ×1000)', () => bullPgEnqueue(true), () => oursEnqueue(true));
    if (PARTS.has('process')) {
      for (const c of CONCURRENCY) await paired(`process no-op, concurrency ${c}`, () => bullPgProcess(c), () => oursProcess(c));
    }
  }
  if (PARTS.has('latency')) {
    console.log('\n| send-to-start latency | p50 ms | p99 ms | max ms | started |');
    console.log('|---|---:|---:|---:|---:|');
    const rows: Record<string, { p50: number[]; p99: number[]; max: number[]; n: number[] }> = {};
    const add = (name: string, lat: number[]) => {
      const r = (rows[name] ??= { p50: [], p99: [], max: [], n: [] });
      r.p50.push(percentile(lat, 50));
      r.p99.push(percentile(lat, 99));
      r.max.push(Math.max(0, ...lat));
      r.n.push(lat.length);
    };
    for (let i = 0; i < PAIRS; i++) {
      if (boss1) add('pg-boss defaults (polling 2 s), localConcurrency 10', await bossLatency(false));
      if (boss1) add('pg-boss useListenNotify + queue notify, localConcurrency 10', await bossLatency(true));
      if (RIVALS.has('bullmq')) add('BullMQ 6.7 PostgreSQL backend, concurrency 10', await bullPgLatency());
      add('ours, worker concurrency 10', await oursLatency());
    }
    for (const [name, r] of Object.entries(rows)) {
      console.log(`| ${name} (median of ${r.p50.length}) | ${median(r.p50).toFixed(1)} | ${median(r.p99).toFixed(1)} | ${median(r.max).toFixed(1)} | ${Math.min(...r.n)}/${TOTAL_LATENCY()} |`);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
