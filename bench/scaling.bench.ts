// Scaling curves on Redis (the private redis-server bench/run.ts starts, or PROCUR_BENCH_REDIS_URL),
// each drawn as an SVG chart from this run's own measurements (bench/charts/, embedded in
// RESULTS.md). The task curves (throughput against concurrency and queues per worker) are drawn by
// bench/tasks.bench.ts; the soak's memory over time by bench/soak.ts.
//
// 1. backlog: consume rate against the backlog size (10k, 100k, 1M; quick 2k, 10k, 30k; or
//    BENCH_BACKLOGS=a,b,c): ours at defaults, ours with batchSize = concurrency = 100, and the
//    overlapped raw loop (bench/redis.bench.ts), one run of each per size, in turn.
// 2. groups: with G consumer groups (1, 4, 16) on the stream, (a) the publish rate (publishMany vs
//    raw pipelined XADD, nothing consuming) and (b) fan-out: N events published while G groups
//    (one consumer each, at defaults; raw: one overlapped loop each) consume them, timed until every
//    group has handled every event.
// 3. bytes: Redis bytes per retained event (`MEMORY USAGE key SAMPLES 0` summed over the run's keys,
//    and the `used_memory` delta), ours `publishMany` against raw XADD of the same envelope, for
//    bodies of about 128, 256 and 1,024 bytes.
import { randomUUID } from 'node:crypto';
import IORedis from 'ioredis';
import { ENVELOPE_VERSION, EventType, newEventId, type PublishInput } from '@procur/event-bus';
import { lineChart } from './chart.js';
import { INPUTS, READ_COUNT, RAW_BODIES, bus, oursConsume, oursPublish, rawConsume, rawPublish } from './redis.bench.js';
import { QUICK, Report, admin, cleanup, fmt, machineNote, median, redisIsPrivate, redisVersion, settled, size, sleep, streamsOf } from './util.js';

const BACKLOGS = (process.env.BENCH_BACKLOGS?.split(',').map(Number) ?? (QUICK ? [2_000, 10_000, 30_000] : [10_000, 100_000, 1_000_000])).filter((n) => n > 0);
const GROUPS = [1, 4, 16];
const FANOUT_N = size('BENCH_FANOUT_EVENTS', 20_000, 2_000);
const PUBLISH_N = size('BENCH_EVENTS', 100_000, 5_000);
const BYTES_N = size('BENCH_BYTES_EVENTS', 10_000, 2_000);
const BATCH = 1000;
const STREAM = 'procur:events';

// ---- 2b. fan-out ---------------------------------------------------------------------------------

async function oursFanout(groups: number): Promise<number> {
  const prefix = `bench-${randomUUID()}`;
  const b = await bus(prefix);
  const redis = admin();
  let remaining = groups * FANOUT_N;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  for (let g = 0; g < groups; g++) {
    const c = b.consumer(`c${g}`, { group: `g${g}`, startAt: 'beginning' }).registerHandler(EventType.SYSTEM_WARNING, () => {
      if (--remaining === 0) done();
    });
    await c.start();
  }
  await b.publisher.publishMany(INPUTS.slice(0, 1));
  await sleep(50);
  remaining = groups * FANOUT_N;
  const streams = (await streamsOf(redis, prefix)).filter((s) => s.groups.length > 0);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < FANOUT_N; i += BATCH) await b.publisher.publishMany(INPUTS.slice(0, Math.min(BATCH, FANOUT_N - i)));
  await finished;
  await settled(redis, streams);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  await b.close();
  await cleanup(redis, `*${prefix}*`);
  await redis.quit();
  return FANOUT_N / s;
}

async function rawFanout(groups: number): Promise<number> {
  const producer = admin();
  const key = `{raw-${randomUUID()}}:stream`;
  for (let g = 0; g < groups; g++) await producer.xgroup('CREATE', key, `g${g}`, '$', 'MKSTREAM');
  const readers = Array.from({ length: groups }, () => admin());
  let stop = false;
  let remaining = groups * FANOUT_N;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  type Reply = [string, [string, string[]][]][] | null;
  const loops = readers.map(async (reader, g) => {
    const read = async (ack: string[]) => {
      const p = reader.pipeline();
      if (ack.length) p.xack(key, `g${g}`, ...ack);
      p.xreadgroup('GROUP', `g${g}`, 'c', 'COUNT', READ_COUNT, 'BLOCK', 100, 'STREAMS', key, '>');
      const res = (await p.exec())!;
      return ((res[res.length - 1]![1] as Reply)?.[0]?.[1] ?? []) as [string, string[]][];
    };
    let ack: string[] = [];
    let next = read([]);
    while (!stop) {
      const entries = await next;
      next = read(ack);
      ack = [];
      for (const [id, fields] of entries) {
        JSON.parse(fields[1]!);
        ack.push(id);
        if (--remaining === 0) done();
      }
    }
    await next;
    if (ack.length) await reader.xack(key, `g${g}`, ...ack);
  });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < FANOUT_N; i += BATCH) {
    const p = producer.pipeline();
    for (const body of RAW_BODIES.slice(0, Math.min(BATCH, FANOUT_N - i))) p.xadd(key, '*', 'body', body);
    await p.exec();
  }
  await finished;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  stop = true;
  await Promise.all(loops);
  await producer.unlink(key);
  await producer.quit();
  for (const r of readers) await r.quit();
  return FANOUT_N / s;
}

async function rawPublishWithGroups(groups: number): Promise<number> {
  // rawPublish writes a fresh key; groups on a raw stream do not change XADD, so the same run stands.
  void groups;
  return (await rawPublish(PUBLISH_N)).rate;
}

// ---- 3. bytes per retained event -------------------------------------------------------------------

function envelope(message: string): string {
  const id = newEventId();
  return JSON.stringify({ id, type: EventType.SYSTEM_WARNING, data: { message }, priority: 'normal', correlationId: id, occurredAt: new Date().toISOString(), version: ENVELOPE_VERSION });
}

async function keyBytes(redis: IORedis, pattern: string): Promise<number> {
  let total = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) total += Number((await redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')) ?? 0);
  } while (cursor !== '0');
  return total;
}

async function usedMemory(redis: IORedis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0);
}

async function bytesPerEvent(bodyBytes: number): Promise<{ oursKey: number; rawKey: number; oursUsed: number; rawUsed: number; body: number }> {
  const message = 'x'.repeat(Math.max(1, bodyBytes - envelope('').length));
  const body = envelope(message);
  const inputs: PublishInput[] = Array.from({ length: BATCH }, () => ({ type: EventType.SYSTEM_WARNING, data: { message } }));
  const redis = admin();
  // ours
  const prefix = `bench-${randomUUID()}`;
  const b = await bus(prefix);
  await b.publisher.publishMany(inputs.slice(0, 1));
  const keys0 = await keyBytes(redis, `*${prefix}*`);
  const used0 = await usedMemory(redis);
  for (let i = 0; i < BYTES_N; i += BATCH) await b.publisher.publishMany(inputs.slice(0, Math.min(BATCH, BYTES_N - i)));
  const oursUsed = (await usedMemory(redis)) - used0;
  const oursKey = (await keyBytes(redis, `*${prefix}*`)) - keys0;
  await b.close();
  await cleanup(redis, `*${prefix}*`);
  // raw
  const key = `{raw-${randomUUID()}}:stream`;
  await redis.xadd(key, '*', 'body', body);
  const rawKeys0 = await keyBytes(redis, key);
  const rawUsed0 = await usedMemory(redis);
  for (let i = 0; i < BYTES_N; i += BATCH) {
    const p = redis.pipeline();
    for (let k = 0; k < Math.min(BATCH, BYTES_N - i); k++) p.xadd(key, '*', 'body', envelope(message));
    await p.exec();
  }
  const rawUsed = (await usedMemory(redis)) - rawUsed0;
  const rawKey = (await keyBytes(redis, key)) - rawKeys0;
  await redis.unlink(key);
  await redis.quit();
  return { oursKey: oursKey / BYTES_N, rawKey: rawKey / BYTES_N, oursUsed: oursUsed / BYTES_N, rawUsed: rawUsed / BYTES_N, body: Buffer.byteLength(body) };
}

// ---- run --------------------------------------------------------------------------------------------

const PARTS = new Set((process.env.BENCH_SCALING_PARTS ?? 'groups,bytes').split(','));

/** `npm run bench -- backlog`: the consume-rate-against-backlog curve alone (its own section; the 1M point is the slowest part). */
export function runBacklog(): Promise<Report> {
  return run(new Set(['backlog']), 'backlog');
}

export async function run(parts = PARTS, name = 'scaling'): Promise<Report> {
  const r = new Report(name, name === 'backlog' ? 'Consume rate against backlog size' : 'Scaling curves');
  const a = admin();
  const version = await redisVersion(a);
  a.disconnect();
  const note = `${machineNote()}; Redis ${version}${redisIsPrivate() ? ' (private)' : ' (shared)'}`;
  r.line(`Redis ${version} (${redisIsPrivate() ? 'a private redis-server started by the harness' : 'shared'}), Node ${process.version}, ${machineNote()} at the start${QUICK ? ' (QUICK sizes)' : ''}. Settings as in the Redis events section: ours \`redisTransport\` defaults, event sourcing off, validation on; raw ioredis 5.`);
  r.line();

  if (parts.has('backlog')) {
    const rows: (string | number)[][] = [];
    const pts = { ours: [] as { x: number; y: number }[], ours100: [] as { x: number; y: number }[], raw: [] as { x: number; y: number }[] };
    for (const n of BACKLOGS) {
      const o = await oursConsume(n);
      const w = await rawConsume(n);
      const o100 = await oursConsume(n, { batchSize: READ_COUNT, concurrency: READ_COUNT });
      pts.ours.push({ x: n, y: o.rate });
      pts.ours100.push({ x: n, y: o100.rate });
      pts.raw.push({ x: n, y: w.rate });
      rows.push([n.toLocaleString('en-US'), fmt(o.rate), `${fmt(o.firstHalf)} / ${fmt(o.secondHalf)}`, fmt(o100.rate), fmt(w.rate), `${fmt(w.firstHalf)} / ${fmt(w.secondHalf)}`, (o.rate / w.rate).toFixed(2), (o100.rate / w.rate).toFixed(2)]);
    }
    r.line('### Consume rate against backlog size (events/s, one run each)');
    r.line();
    r.table(['backlog', 'ours defaults', 'ours first / second half', 'ours batch 100', 'raw overlapped', 'raw first / second half', 'ours / raw', 'ours batch 100 / raw'], rows);
    r.chart(
      'consume-backlog.svg',
      lineChart({
        title: 'Consume rate vs backlog size (256-byte events)',
        xLabel: 'events in the backlog',
        yLabel: 'events/s',
        logX: true,
        series: [
          { name: 'ours, consumer defaults', points: pts.ours },
          { name: 'ours, batchSize = concurrency = 100', points: pts.ours100 },
          { name: 'raw ioredis, overlapped XREADGROUP COUNT 100', points: pts.raw, dashed: true },
        ],
        note,
      }),
      'Consume rate against backlog size',
    );
  }

  if (parts.has('groups')) {
    const rows: (string | number)[][] = [];
    const pub = { ours: [] as { x: number; y: number }[], raw: [] as { x: number; y: number }[] };
    const fan = { ours: [] as { x: number; y: number }[], raw: [] as { x: number; y: number }[] };
    for (const g of GROUPS) {
      const op = (await oursPublish(PUBLISH_N, g)).rate;
      const rp = await rawPublishWithGroups(g);
      const of = await oursFanout(g);
      const rf = await rawFanout(g);
      pub.ours.push({ x: g, y: op });
      pub.raw.push({ x: g, y: rp });
      fan.ours.push({ x: g, y: of * g });
      fan.raw.push({ x: g, y: rf * g });
      rows.push([String(g), fmt(op), fmt(rp), (op / rp).toFixed(2), fmt(of), fmt(rf), fmt(of * g), fmt(rf * g), (of / rf).toFixed(2)]);
    }
    r.line(`### Publish rate and fan-out against consumer groups (publish: ${PUBLISH_N.toLocaleString('en-US')} events, nothing consuming; fan-out: ${FANOUT_N.toLocaleString('en-US')} events, one consumer per group, timed until every group handled every event)`);
    r.line();
    r.table(['groups', 'ours publishMany events/s', 'raw XADD events/s', 'ours / raw', 'ours fan-out events/s', 'raw fan-out events/s', 'ours deliveries/s', 'raw deliveries/s', 'ours / raw (fan-out)'], rows);
    r.chart(
      'publish-groups.svg',
      lineChart({
        title: 'Publish rate vs consumer groups on the stream',
        xLabel: 'consumer groups',
        yLabel: 'events/s published',
        logX: true,
        series: [
          { name: 'ours publishMany (1,000 per call)', points: pub.ours },
          { name: 'raw pipelined XADD (1,000 per pipeline)', points: pub.raw, dashed: true },
        ],
        note,
      }),
      'Publish rate against the number of consumer groups',
    );
    r.chart(
      'fanout-groups.svg',
      lineChart({
        title: 'Fan-out: deliveries/s vs consumer groups (publish while every group consumes)',
        xLabel: 'consumer groups (one consumer each)',
        yLabel: 'deliveries/s (events x groups)',
        logX: true,
        series: [
          { name: 'ours (consumers at defaults)', points: fan.ours },
          { name: 'raw (overlapped loop per group)', points: fan.raw, dashed: true },
        ],
        note,
      }),
      'Fan-out deliveries per second against the number of consumer groups',
    );
  }

  if (parts.has('bytes')) {
    const rows: (string | number)[][] = [];
    const pts = { ours: [] as { x: number; y: number }[], raw: [] as { x: number; y: number }[] };
    for (const body of [256, 1024, 4096]) {
      const m = await bytesPerEvent(body);
      pts.ours.push({ x: m.body, y: m.oursKey });
      pts.raw.push({ x: m.body, y: m.rawKey });
      rows.push([m.body, fmt(m.oursKey), fmt(m.rawKey), (m.oursKey / m.rawKey).toFixed(2), fmt(m.oursUsed), fmt(m.rawUsed)]);
    }
    r.line(`### Redis bytes per retained event (${BYTES_N.toLocaleString('en-US')} events published, none consumed)`);
    r.line();
    r.table(['envelope bytes', 'ours (MEMORY USAGE)', 'raw XADD (MEMORY USAGE)', 'ours / raw', 'ours (used_memory delta)', 'raw (used_memory delta)'], rows);
    r.chart(
      'bytes-per-event.svg',
      lineChart({
        title: 'Redis bytes per retained event vs envelope size',
        xLabel: 'envelope bytes (JSON)',
        yLabel: 'bytes in Redis per event',
        series: [
          { name: 'ours publishMany', points: pts.ours },
          { name: 'raw XADD body <json>', points: pts.raw, dashed: true },
        ],
        note,
      }),
      'Redis bytes per retained event against envelope size',
    );
  }
  void median;
  return r;
}
