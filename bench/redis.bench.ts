// Redis transport against raw ioredis on the same Redis (PROCUR_TEST_REDIS_URL, default
// redis://127.0.0.1:6379), interleaved runs (raw, ours, raw, ours, ...) after one warm-up each,
// medians and ratios:
// 1. publish throughput: `bus.publisher.publishMany` (event sourcing off, zod validation on,
//    batches of 1,000) vs raw pipelined XADD (1,000 per pipeline) of the same 256-byte bodies.
// 2. consume + ack throughput of a backlog of N events: a bus consumer (no-op handler, store
//    off, batchSize = concurrency = 100) vs raw XREADGROUP COUNT 100 + XACK of the batch
//    pipelined with the next XREADGROUP; the raw loop JSON-parses each body too. Timed from the
//    start of reading until every entry is acked (XPENDING = 0). Also: the consumer with
//    concurrency 200 (the next read overlaps handling).
// 3. publish -> handler latency at a fixed rate (BENCH_RATE, 2,000/s) for BENCH_LATENCY_SECONDS:
//    `publisher.publish` + a bus consumer vs raw XADD + an XREADGROUP BLOCK loop; medians of the
//    p50 / p99 of each run.
// BENCH_EVENTS, BENCH_RUNS, BENCH_RATE, BENCH_LATENCY_SECONDS, BENCH_LATENCY_RUNS scale it. The
// 1-minute load average is printed: on a busy machine the ratios are noise.
import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import IORedis from 'ioredis';
import { ENVELOPE_VERSION, EventType, createEventSystem, newEventId, silentLogger, type EventSystem, type PublishInput } from '@procur/event-bus';
import { redisTransport } from '@procur/event-bus/redis';
import { fmt, median, percentile, printTable, type Row } from './util.js';

const URL = process.env.PROCUR_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const N = Number(process.env.BENCH_EVENTS ?? 100_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const RATE = Number(process.env.BENCH_RATE ?? 2000);
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 3);
const LATENCY_RUNS = Number(process.env.BENCH_LATENCY_RUNS ?? 3);
const BATCH = 1000;
const READ_COUNT = 100;
const STREAM = 'procur:events';
const BODY_BYTES = 256;

// ---- payloads -------------------------------------------------------------------------------

/** The envelope the publisher writes for `system.warning` with this message (same field order). */
function envelopeBody(message: string, extra: Record<string, unknown> = {}): string {
  const id = newEventId();
  return JSON.stringify({
    id,
    type: EventType.SYSTEM_WARNING,
    data: { message, ...extra },
    priority: 'normal',
    correlationId: id,
    occurredAt: new Date().toISOString(),
    version: ENVELOPE_VERSION,
  });
}

/** A message that makes the encoded envelope exactly BODY_BYTES long. */
const MESSAGE = 'x'.repeat(BODY_BYTES - envelopeBody('').length);
const RAW_BODIES = Array.from({ length: BATCH }, () => envelopeBody(MESSAGE));
const INPUTS: PublishInput[] = Array.from({ length: BATCH }, () => ({ type: EventType.SYSTEM_WARNING, data: { message: MESSAGE } }));

// ---- helpers --------------------------------------------------------------------------------

const admin = () => new IORedis(URL, { maxRetriesPerRequest: 1 });

async function cleanup(redis: IORedis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
}

function bus(prefix: string): Promise<EventSystem> {
  return createEventSystem({
    transport: redisTransport({ url: URL, keyPrefix: prefix }),
    logger: silentLogger,
    env: {},
    outbox: false,
    taskEvents: false,
    builtins: false,
    config: { eventSourcingEnabled: false, eventBlockTime: 1000 },
  });
}

const now = () => performance.timeOrigin + performance.now();

async function pendingIs0(redis: IORedis, key: string, group: string): Promise<void> {
  for (;;) {
    const [count] = (await redis.call('XPENDING', key, group)) as [number];
    if (Number(count) === 0) return;
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** A warm-up of each, then RUNS rounds running each once, in turn; returns each one's per-run rates. */
async function interleaved(...fns: Array<() => Promise<number>>): Promise<number[][]> {
  for (const fn of fns) await fn();
  const rates = fns.map(() => [] as number[]);
  for (let i = 0; i < RUNS; i++) for (let k = 0; k < fns.length; k++) rates[k]!.push(await fns[k]!());
  return rates;
}

// ---- 1. publish -----------------------------------------------------------------------------

async function rawPublish(): Promise<number> {
  const redis = admin();
  const key = `{raw-${randomUUID()}}:stream`;
  const t0 = performance.now();
  for (let i = 0; i < N; i += BATCH) {
    const p = redis.pipeline();
    for (const body of RAW_BODIES) p.xadd(key, '*', 'body', body);
    await p.exec();
  }
  const s = (performance.now() - t0) / 1000;
  await redis.unlink(key);
  await redis.quit();
  return N / s;
}

async function oursPublish(): Promise<number> {
  const prefix = `bench-${randomUUID()}`;
  const b = await bus(prefix);
  await b.publisher.publishMany(INPUTS.slice(0, 1)); // connect outside the timed part, like raw's first command
  const t0 = performance.now();
  for (let i = 0; i < N; i += BATCH) await b.publisher.publishMany(INPUTS);
  const s = (performance.now() - t0) / 1000;
  await b.close();
  const redis = admin();
  await cleanup(redis, `{${prefix}}*`);
  await redis.quit();
  return N / s;
}

// ---- 2. consume + ack -----------------------------------------------------------------------

async function fill(redis: IORedis, key: string): Promise<void> {
  for (let i = 0; i < N; i += BATCH) {
    const p = redis.pipeline();
    for (const body of RAW_BODIES) p.xadd(key, '*', 'body', body);
    await p.exec();
  }
}

let sink = 0;
const noop = (_e: unknown) => {
  sink++;
};

async function rawConsume(): Promise<number> {
  const redis = admin();
  const key = `{raw-${randomUUID()}}:stream`;
  await redis.xgroup('CREATE', key, 'g', '0', 'MKSTREAM');
  await fill(redis, key);
  const t0 = performance.now();
  let ack: string[] = [];
  for (;;) {
    const p = redis.pipeline();
    if (ack.length) p.xack(key, 'g', ...ack);
    p.xreadgroup('GROUP', 'g', 'c', 'COUNT', READ_COUNT, 'STREAMS', key, '>');
    const res = (await p.exec())!;
    const read = res[res.length - 1]![1] as [string, [string, string[]][]][] | null;
    const entries = read?.[0]?.[1] ?? [];
    if (entries.length === 0) break;
    ack = [];
    for (const [id, fields] of entries) {
      noop(JSON.parse(fields[1]!));
      ack.push(id);
    }
  }
  await pendingIs0(redis, key, 'g');
  const s = (performance.now() - t0) / 1000;
  await redis.unlink(key);
  await redis.quit();
  return N / s;
}

async function oursConsume(concurrency: number): Promise<number> {
  const prefix = `bench-${randomUUID()}`;
  const b = await bus(prefix);
  const redis = admin();
  await b.transport.ensureGroup(STREAM, 'g', { startAt: 'beginning' });
  const key = `{${prefix}}:stream:${STREAM}:1`;
  await fill(redis, key);
  let handled = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const c = b.consumer('bench', { group: 'g', startAt: 'beginning' }).registerHandler(EventType.SYSTEM_WARNING, (e) => {
    noop(e);
    if (++handled === N) done();
  });
  const t0 = performance.now();
  await c.start({ batchSize: READ_COUNT, concurrency });
  await finished;
  await pendingIs0(redis, key, 'g');
  const s = (performance.now() - t0) / 1000;
  await b.close();
  await cleanup(redis, `{${prefix}}*`);
  await redis.quit();
  return N / s;
}

// ---- 3. latency -----------------------------------------------------------------------------

async function paced(send: (sentAt: number) => Promise<unknown>): Promise<void> {
  const total = RATE * LATENCY_SECONDS;
  const interval = 1000 / RATE;
  const t0 = performance.now();
  const inflight: Promise<unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const wait = t0 + i * interval - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inflight.push(send(now()));
  }
  await Promise.all(inflight);
}

async function rawLatency(): Promise<number[]> {
  const producer = admin();
  const reader = admin();
  const key = `{raw-${randomUUID()}}:stream`;
  await producer.xgroup('CREATE', key, 'g', '$', 'MKSTREAM');
  const lat: number[] = [];
  let stop = false;
  const loop = (async () => {
    let ack: string[] = [];
    while (!stop) {
      const p = reader.pipeline();
      if (ack.length) p.xack(key, 'g', ...ack);
      p.xreadgroup('GROUP', 'g', 'c', 'COUNT', READ_COUNT, 'BLOCK', 200, 'STREAMS', key, '>');
      const res = (await p.exec())!;
      const read = res[res.length - 1]![1] as [string, [string, string[]][]][] | null;
      ack = [];
      for (const [id, fields] of read?.[0]?.[1] ?? []) {
        const e = JSON.parse(fields[1]!) as { data: { sentAt: number } };
        lat.push(now() - e.data.sentAt);
        ack.push(id);
      }
    }
  })();
  await paced((sentAt) => producer.xadd(key, '*', 'body', envelopeBody('latency', { sentAt })));
  await new Promise((r) => setTimeout(r, 300));
  stop = true;
  await loop;
  await producer.unlink(key);
  await producer.quit();
  await reader.quit();
  return lat;
}

async function oursLatency(): Promise<number[]> {
  const prefix = `bench-${randomUUID()}`;
  const b = await bus(prefix);
  const lat: number[] = [];
  const c = b.consumer('lat', { group: 'g' }).registerHandler(EventType.SYSTEM_WARNING, (e) => {
    lat.push(now() - (e.data as unknown as { sentAt: number }).sentAt);
  });
  await c.start({ batchSize: READ_COUNT, concurrency: READ_COUNT });
  await paced((sentAt) => {
    // A variable, not a literal: extra fields (context for the handler) are allowed then.
    const data = { message: 'latency', sentAt };
    return b.publisher.publish({ type: EventType.SYSTEM_WARNING, data });
  });
  await new Promise((r) => setTimeout(r, 300));
  await b.close();
  const redis = admin();
  await cleanup(redis, `{${prefix}}*`);
  await redis.quit();
  return lat;
}

// ---- run ------------------------------------------------------------------------------------

export async function run(): Promise<Row[]> {
  const bodyBytes = Buffer.byteLength(RAW_BODIES[0]!);
  const info = await (async () => {
    const r = admin();
    const v = /redis_version:(\S+)/.exec(await r.info('server'))?.[1] ?? '?';
    await r.quit();
    return v;
  })();

  const load0 = loadavg()[0]!;
  const [rawPub, oursPub] = (await interleaved(rawPublish, oursPublish)) as [number[], number[]];
  const [rawCon, oursCon, oursCon2] = (await interleaved(rawConsume, () => oursConsume(READ_COUNT), () => oursConsume(2 * READ_COUNT))) as [
    number[],
    number[],
    number[],
  ];
  const ratios = (ours: number[], raw: number[]) => {
    const r = ours.map((o, i) => o / raw[i]!);
    return `median of per-run ratios ${median(r).toFixed(2)} (${r.map((x) => x.toFixed(2)).join(', ')})`;
  };
  const RAW_PUB = 'raw ioredis pipelined XADD (1,000 per pipeline)';
  const RAW_CON = 'raw XREADGROUP COUNT 100 + pipelined XACK';
  const rows: Row[] = [
    { name: RAW_PUB, opsPerSec: median(rawPub) },
    {
      name: 'ours publisher.publishMany (1,000 per call, validation on)',
      opsPerSec: median(oursPub),
      vs: RAW_PUB,
      note: `goal >= 0.7; ${ratios(oursPub, rawPub)}`,
    },
    { name: RAW_CON, opsPerSec: median(rawCon) },
    {
      name: 'ours consumer (no-op handler, batchSize = concurrency = 100)',
      opsPerSec: median(oursCon),
      vs: RAW_CON,
      note: `goal >= 0.6; ${ratios(oursCon, rawCon)}`,
    },
    {
      name: 'ours consumer (batchSize 100, concurrency 200)',
      opsPerSec: median(oursCon2),
      vs: RAW_CON,
      note: `the next read overlaps handling; ${ratios(oursCon2, rawCon)}`,
    },
  ];
  printTable(`Redis ${info} transport: ${N} events of ${bodyBytes} bytes (events/s, median of ${RUNS} interleaved runs)`, rows);

  const lat = { raw: [] as number[][], ours: [] as number[][] };
  for (let i = 0; i < LATENCY_RUNS + 1; i++) {
    const r = await rawLatency();
    const o = await oursLatency();
    if (i === 0) continue; // warm-up
    lat.raw.push(r);
    lat.ours.push(o);
  }
  console.log(`\n## Redis: publish -> handler latency at ${RATE} events/s for ${LATENCY_SECONDS} s (ms, median over ${LATENCY_RUNS} runs)\n`);
  console.log('| case | p50 | p99 | max | samples per run |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [name, runs] of [
    ['raw XADD -> XREADGROUP BLOCK loop', lat.raw],
    ['ours publisher.publish -> consumer handler', lat.ours],
  ] as const) {
    const p50 = median(runs.map((l) => percentile(l, 50)));
    const p99 = median(runs.map((l) => percentile(l, 99)));
    const max = median(runs.map((l) => Math.max(...l)));
    console.log(`| ${name} | ${fmt(p50)} | ${fmt(p99)} | ${fmt(max)} | ${runs.map((l) => l.length).join(', ')} |`);
  }
  console.log(`\n1-minute load average: ${load0.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} at the end (${cpus().length} CPUs: near or above that, other work competes).`);
  if (sink < 0) console.log(sink); // keeps the no-op handlers' work observable
  return rows;
}
