// Events on Redis: ours against raw ioredis on the same Redis (the private redis-server bench/run.ts
// starts, or PROCUR_BENCH_REDIS_URL), interleaved (ours, raw, ours, raw, ... after a warm-up of
// each), per-pair ratios and their median, per-event cost from `INFO commandstats` / `INFO cpu` /
// `process.cpuUsage()` deltas over the timed phase.
//
// 1. publish: `publisher.publishMany` (1,000 per call; event sourcing off, validation on) vs raw
//    pipelined XADD (one ioredis pipeline of 1,000 XADDs per round trip: one socket write and one
//    read per batch, the strongest a serial batch loop gets from the driver) of the same 256-byte
//    envelopes.
// 2. consume: a backlog of N events (published before the clock), drained by ours at the
//    consumer's defaults (`consumer.start()` with no options) vs a raw loop that overlaps: each
//    XREADGROUP COUNT 100 is sent the moment the previous one replied (with the acks of the batch
//    handled before), then the batch in hand is handled (JSON.parse). Timed from the first read to
//    the last ack (XPENDING 0). Also the rate of the first half of the drain against the second.
//    Ours with `batchSize` = `concurrency` = 100 is printed too (not a goal row).
// 3. latency: publish -> handler at RATE (2,000/s) for LATENCY_SECONDS: `publisher.publish` + a
//    consumer at defaults vs raw XADD + an XREADGROUP BLOCK loop (acks pipelined with the next read).
import { randomUUID } from 'node:crypto';
import IORedis from 'ioredis';
import { ENVELOPE_VERSION, EventType, createEventSystem, newEventId, silentLogger, type EventSystem, type PublishInput } from '@procur/event-bus';
import { redisTransport } from '@procur/event-bus/redis';
import { percentile } from './stats.js';
import {
  admin,
  alternate,
  cleanup,
  type Cost,
  COST_HEADERS,
  COST_NOTE,
  costCells,
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

const N = size('BENCH_EVENTS', 100_000, 5_000);
const PAIRS = size('BENCH_PAIRS', 3, 1);
const RATE = size('BENCH_RATE', 2000, 2000);
const LATENCY_SECONDS = size('BENCH_LATENCY_SECONDS', 3, 1);
const BATCH = 1000;
export const READ_COUNT = 100;
/** The events stream the publisher writes (config.eventStreamName default). */
const STREAM = 'procur:events';
const BODY_BYTES = 256;

export const SETTINGS = {
  ours: 'ours: `redisTransport({ url, keyPrefix })` defaults, `createEventSystem` with event sourcing off (`eventSourcingEnabled: false`), payload validation on (default), outbox, builtins and task events off (no tasks here)',
  rawPublish: 'raw: ioredis 5, one pipeline of 1,000 `XADD key * body <json>` per round trip, awaited in turn',
  rawConsume: `raw: ioredis 5, \`XREADGROUP GROUP g c COUNT ${READ_COUNT} STREAMS key >\` sent as soon as the previous read replied (the acks of the batch handled before pipelined in front of it), then the batch in hand handled (\`JSON.parse\` of each body)`,
  rawLatency: `raw: \`XADD\` per event; reader: \`XREADGROUP ... COUNT ${READ_COUNT} BLOCK 200\` loop, the acks of the last batch pipelined in front of each read`,
};

// ---- payloads -----------------------------------------------------------------------------------

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

const MESSAGE = 'x'.repeat(BODY_BYTES - envelopeBody('').length);
export const RAW_BODIES = Array.from({ length: BATCH }, () => envelopeBody(MESSAGE));
export const INPUTS: PublishInput[] = Array.from({ length: BATCH }, () => ({ type: EventType.SYSTEM_WARNING, data: { message: MESSAGE } }));

export function bus(prefix: string): Promise<EventSystem> {
  return createEventSystem({
    transport: redisTransport({ url: redisUrl(), keyPrefix: prefix }),
    logger: silentLogger,
    env: {},
    outbox: false,
    taskEvents: false,
    builtins: false,
    config: { eventSourcingEnabled: false },
  });
}

async function pendingIs0(redis: IORedis, key: string, group: string): Promise<number> {
  let polls = 0;
  for (;;) {
    polls++;
    const [count] = (await redis.call('XPENDING', key, group)) as [number];
    if (Number(count) === 0) return polls;
    await sleep(1);
  }
}

let sink = 0;
const noop = (_e: unknown) => {
  sink++;
};

// ---- 1. publish ---------------------------------------------------------------------------------

export async function rawPublish(n = N): Promise<Cost> {
  const redis = admin();
  const key = `{raw-${randomUUID()}}:stream`;
  await redis.ping();
  const cost = await measured(n, async () => {
    for (let i = 0; i < n; i += BATCH) {
      const p = redis.pipeline();
      for (const body of RAW_BODIES) p.xadd(key, '*', 'body', body);
      await p.exec();
    }
  });
  await redis.unlink(key);
  await redis.quit();
  return cost;
}

export async function oursPublish(n = N, groups = 0): Promise<Cost> {
  const prefix = `bench-${randomUUID()}`;
  const b = await bus(prefix);
  for (let g = 0; g < groups; g++) await b.transport.ensureGroup(STREAM, `g${g}`, { startAt: 'beginning' });
  await b.publisher.publishMany(INPUTS.slice(0, 1)); // connects and loads the scripts outside the clock
  const cost = await measured(n, async () => {
    for (let i = 0; i < n; i += BATCH) await b.publisher.publishMany(INPUTS);
  });
  await b.close();
  const redis = admin();
  await cleanup(redis, `*${prefix}*`);
  await redis.quit();
  return cost;
}

// ---- 2. consume ---------------------------------------------------------------------------------

/** A drain's cost plus the rates of its first and second half. */
export interface Drain extends Cost {
  firstHalf: number;
  secondHalf: number;
}

async function fillRaw(redis: IORedis, key: string, n: number): Promise<void> {
  for (let i = 0; i < n; i += BATCH) {
    const p = redis.pipeline();
    for (const body of RAW_BODIES.slice(0, Math.min(BATCH, n - i))) p.xadd(key, '*', 'body', body);
    await p.exec();
  }
}

type ReadReply = [string, [string, string[]][]][] | null;

export async function rawConsume(n = N): Promise<Drain> {
  const redis = admin();
  const key = `{raw-${randomUUID()}}:stream`;
  await redis.xgroup('CREATE', key, 'g', '0', 'MKSTREAM');
  await fillRaw(redis, key, n);
  const read = async (ack: string[]): Promise<[string, string[]][]> => {
    const p = redis.pipeline();
    if (ack.length) p.xack(key, 'g', ...ack);
    p.xreadgroup('GROUP', 'g', 'c', 'COUNT', READ_COUNT, 'STREAMS', key, '>');
    const res = (await p.exec())!;
    return ((res[res.length - 1]![1] as ReadReply)?.[0]?.[1] ?? []) as [string, string[]][];
  };
  let handled = 0;
  let half = 0n;
  let t0 = 0n;
  const cost = (await measured(n, async () => {
    t0 = process.hrtime.bigint();
    let ack: string[] = [];
    let next = read([]);
    for (;;) {
      const entries = await next;
      if (entries.length === 0) break;
      next = read(ack); // the next read (with the acks of the batch handled before) is on its way
      ack = [];
      for (const [id, fields] of entries) {
        noop(JSON.parse(fields[1]!));
        ack.push(id);
        if (++handled === n >> 1) half = process.hrtime.bigint();
      }
    }
    if (ack.length) await redis.xack(key, 'g', ...ack);
    return { probes: { xpending: await pendingIs0(redis, key, 'g') } };
  })) as Drain;
  const end = t0 + BigInt(Math.round(cost.seconds * 1e9));
  cost.firstHalf = (n >> 1) / (Number(half - t0) / 1e9);
  cost.secondHalf = (n - (n >> 1)) / (Number(end - half) / 1e9);
  await redis.unlink(key);
  await redis.quit();
  return cost;
}

/** Ours drains a backlog of n events published with `publishMany`; `start` options as given (defaults when undefined). */
export async function oursConsume(n = N, options?: { batchSize: number; concurrency: number }): Promise<Drain> {
  const prefix = `bench-${randomUUID()}`;
  const b = await bus(prefix);
  const redis = admin();
  await b.transport.ensureGroup(STREAM, 'g', { startAt: 'beginning' });
  for (let i = 0; i < n; i += BATCH) await b.publisher.publishMany(INPUTS.slice(0, Math.min(BATCH, n - i)));
  const streams = (await streamsOf(redis, prefix)).filter((s) => s.groups.length > 0);
  let handled = 0;
  let half = 0n;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const c = b.consumer('bench', { group: 'g', startAt: 'beginning' }).registerHandler(EventType.SYSTEM_WARNING, (e) => {
    noop(e);
    if (++handled === n >> 1) half = process.hrtime.bigint();
    if (handled === n) done();
  });
  let t0 = 0n;
  const cost = (await measured(n, async () => {
    t0 = process.hrtime.bigint();
    await (options ? c.start(options) : c.start());
    await finished;
    return { probes: await settled(redis, streams) };
  })) as Drain;
  const end = t0 + BigInt(Math.round(cost.seconds * 1e9));
  cost.firstHalf = (n >> 1) / (Number(half - t0) / 1e9);
  cost.secondHalf = (n - (n >> 1)) / (Number(end - half) / 1e9);
  await b.close();
  await cleanup(redis, `*${prefix}*`);
  await redis.quit();
  return cost;
}

// ---- 3. latency ---------------------------------------------------------------------------------

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
      const read = res[res.length - 1]![1] as ReadReply;
      ack = [];
      for (const [id, fields] of read?.[0]?.[1] ?? []) {
        const e = JSON.parse(fields[1]!) as { data: { sentAt: number } };
        lat.push(now() - e.data.sentAt);
        ack.push(id);
      }
    }
  })();
  await paced(RATE, LATENCY_SECONDS, (sentAt) => producer.xadd(key, '*', 'body', envelopeBody('latency', { sentAt })));
  await sleep(300);
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
  await c.start();
  // A variable, not a literal: extra fields (context for the handler) are allowed then.
  const warm = { message: 'warm-up', sentAt: now() };
  await b.publisher.publish({ type: EventType.SYSTEM_WARNING, data: warm });
  await sleep(100);
  lat.length = 0;
  await paced(RATE, LATENCY_SECONDS, (sentAt) => {
    const data = { message: 'latency', sentAt };
    return b.publisher.publish({ type: EventType.SYSTEM_WARNING, data });
  });
  await sleep(300);
  await b.close();
  const redis = admin();
  await cleanup(redis, `*${prefix}*`);
  await redis.quit();
  return lat;
}

// ---- run ----------------------------------------------------------------------------------------

const PARTS = new Set((process.env.BENCH_REDIS_PARTS ?? 'publish,consume,latency').split(','));

export async function run(): Promise<Report> {
  const r = new Report('redis', 'Events on Redis against raw ioredis');
  const redis = admin();
  const version = await redisVersion(redis);
  redis.disconnect();
  r.line(
    `Redis ${version} (${redisIsPrivate() ? 'a private redis-server started by the harness' : `${redisUrl()}, shared`}), Node ${process.version}, ${machineNote()} at the start; ${N.toLocaleString('en-US')} events of ${Buffer.byteLength(RAW_BODIES[0]!)} bytes; ${PAIRS} measured pairs after a warm-up pair${QUICK ? ' (QUICK run: small sizes, figures not comparable)' : ''}.`,
  );
  r.line();
  r.line('Settings of each side:');
  r.line();
  for (const s of Object.values(SETTINGS)) r.line(`- ${s}`);
  r.line();

  if (PARTS.has('publish')) {
    const res = await alternate(PAIRS, () => oursPublish(), () => rawPublish(), (o, w) => o.rate / w.rate);
    r.line('### Publish: `publishMany` (1,000 per call) vs raw pipelined XADD (1,000 per pipeline), events/s');
    r.line();
    r.line(COST_NOTE('event'));
    r.line();
    r.table(['side', ...COST_HEADERS, 'top commands per event'], [['ours `publishMany`', ...costCells(medianRun(res.a)), medianRun(res.a).top], ['raw pipelined XADD', ...costCells(medianRun(res.b)), medianRun(res.b).top]], ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'l']);
    r.line(`ours / raw, median of per-pair ratios: **${ratioText(res.ratios)}** (goal >= 0.85).`);
    r.line();
    r.goal({ goal: 'publishMany: >= 0.85 of raw pipelined XADD', measured: ratioText(res.ratios), value: median(res.ratios), target: 0.85, better: 'higher' });
  }

  if (PARTS.has('consume')) {
    const res = await alternate(PAIRS, () => oursConsume(), () => rawConsume(), (o, w) => o.rate / w.rate);
    const big = await alternate(Math.max(1, PAIRS - 1), () => oursConsume(N, { batchSize: READ_COUNT, concurrency: READ_COUNT }), () => rawConsume(), (o, w) => o.rate / w.rate);
    const half = (runs: Drain[]) => `${Math.round(median(runs.map((x) => x.firstHalf))).toLocaleString('en-US')} / ${Math.round(median(runs.map((x) => x.secondHalf))).toLocaleString('en-US')}`;
    r.line(`### Consume a backlog of ${N.toLocaleString('en-US')} events: ours at defaults vs the overlapped raw loop (events/s)`);
    r.line();
    r.table(
      ['side', ...COST_HEADERS, 'first half / second half of the drain (events/s)', 'top commands per event'],
      [
        ['ours `consumer.start()` (defaults)', ...costCells(medianRun(res.a)), half(res.a), medianRun(res.a).top],
        ['raw overlapped XREADGROUP COUNT 100', ...costCells(medianRun(res.b)), half(res.b), medianRun(res.b).top],
        ['ours `start({ batchSize: 100, concurrency: 100 })`', ...costCells(medianRun(big.a)), half(big.a), medianRun(big.a).top],
      ],
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
    );
    const steady = median(res.a.map((x) => x.firstHalf / x.secondHalf));
    r.line(`ours (defaults) / raw, median of per-pair ratios: **${ratioText(res.ratios)}** (goal >= 0.85); with batchSize = concurrency = 100: ${ratioText(big.ratios)}. Ours first half / second half of the drain: ${steady.toFixed(2)} (1.00 = the rate holds from the first event).`);
    r.line();
    r.goal({ goal: 'Redis consume at defaults: >= 0.85 of the overlapped raw loop', measured: ratioText(res.ratios), value: median(res.ratios), target: 0.85, better: 'higher' });
    r.goal({ goal: 'consume rate holds from the first event (first half / second half of the drain >= 0.9)', measured: steady.toFixed(2), value: steady, target: 0.9, better: 'higher' });
  }

  if (PARTS.has('latency')) {
    const res = await alternate(PAIRS, oursLatency, rawLatency, (o, w) => percentile(o, 99) / percentile(w, 99));
    r.line(`### Publish -> handler latency at ${RATE} events/s for ${LATENCY_SECONDS} s (ms)`);
    r.line();
    const row = (label: string, runs: number[][]) => [
      label,
      median(runs.map((l) => percentile(l, 50))),
      median(runs.map((l) => percentile(l, 99))),
      median(runs.map((l) => Math.max(...l))),
      runs.map((l) => `${percentile(l, 50).toFixed(2)}/${percentile(l, 99).toFixed(2)} (${l.length})`).join(', '),
    ];
    r.table(['side', 'p50 (median of runs)', 'p99 (median of runs)', 'max', 'p50/p99 (samples) of each run'], [row('ours `publish` -> consumer at defaults', res.a), row('raw XADD -> XREADGROUP BLOCK loop', res.b)]);
    r.line(`ours p99 / raw p99, median of per-pair ratios: **${ratioText(res.ratios)}** (goal <= 1.5).`);
    r.line();
    r.goal({ goal: 'event publish-to-handler p99 at 2,000/s: <= 1.5x raw', measured: ratioText(res.ratios), value: median(res.ratios), target: 1.5, better: 'lower' });
  }
  if (sink < 0) console.log(sink);
  return r;
}
