// The Redis transport's priority layout against a simpler one, on the same Redis
// (PROCUR_TEST_REDIS_URL, default redis://127.0.0.1:6379), same pre-published backlog, interleaved
// pairs (ours, simple, ours, simple, ... after one warm-up of each), per-pair ratios and medians.
//
// Ours reads a (stream, group) from eight sources (four shared rank streams and four private
// retry streams of the group, plus the delayed set and the group's retry set moved in by the
// scripts): a full READ script (receive-11.lua), and a fast path (receive-guard-11.lua + a plain
// XREADGROUP of one source) while a full batch keeps coming from one source.
//
// a. ours: `redisTransport()` through the public Transport API only: `receive({ max: BATCH, ack })`
//    in a loop (the acks of the last batch carried by the next read, as the consumer does), at
//    the transport's defaults otherwise.
// b. ours with the fast path off: NOT MEASURED. There is no switch (receive.ts takes the fast path
//    for any `max` >= 32; the only lever is a batch under 32, which changes the batch too), and this
//    bench does not change library code.
// c. a simpler layout written here with raw ioredis: four rank streams, one consumer group, each
//    read one `XREADGROUP GROUP g c COUNT BATCH STREAMS p3 p2 p1 p0 > > > >` (Redis returns up to
//    BATCH from EACH stream), the acks of the last read pipelined in front of it; the client
//    handles what came back highest rank first. No retry streams, no delayed set.
//
// c'. the same with COUNT BATCH/4, so a read hands out at most BATCH, like ours (round order a, c, c').
//
// Both sides JSON-parse every body (the same work per event). Only the consume phase is timed,
// from the first read until the last ack's reply. Priority inversions: a message of rank r handed
// out by a read after which a message of a higher rank was still waiting (never handed out yet);
// with a pre-published backlog that is exact.
//
// Client CPU per event (process.cpuUsage) and Redis server CPU per event (INFO cpu: the whole
// server, so only meaningful on a Redis nobody else uses) are printed too.
//
// BENCH_EVENTS (20,000), BENCH_PAIRS (3), BENCH_LAYOUT_BATCH (100) scale it.
import { randomUUID } from 'node:crypto';
import { cpus, loadavg } from 'node:os';
import IORedis from 'ioredis';
import { ENVELOPE_VERSION, EventType, newEventId, type Transport } from '@procur/event-bus';
import { redisTransport } from '@procur/event-bus/redis';
import { fmt, median } from './util.js';

const URL = process.env.PROCUR_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const N = Number(process.env.BENCH_EVENTS ?? 20_000);
const PAIRS = Number(process.env.BENCH_PAIRS ?? 3);
const BATCH = Number(process.env.BENCH_LAYOUT_BATCH ?? 100);
const FILL = 1000;
/** COUNT of the second simple side (c'): at most BATCH per read, like ours. */
const QUARTER = Math.max(1, Math.floor(BATCH / 4));
const STREAM = 'layout:events';
const RANKS = 4;

type Variant = 'uniform' | 'mixed';
/** Rank of the i-th published event: all rank 1 (`normal`), or ranks 0-3 in turn. */
const rankOf = (variant: Variant, i: number) => (variant === 'uniform' ? 1 : i % RANKS);

/** A small envelope as the publisher writes it (about 200 bytes). */
function body(i: number): string {
  const id = newEventId();
  return JSON.stringify({
    id,
    type: EventType.SYSTEM_WARNING,
    data: { message: `layout ${i}` },
    priority: 'normal',
    correlationId: id,
    occurredAt: new Date().toISOString(),
    version: ENVELOPE_VERSION,
  });
}
const BODIES = Array.from({ length: N }, (_, i) => body(i));

const admin = () => new IORedis(URL, { maxRetriesPerRequest: 1 });

async function cleanup(redis: IORedis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
}

let sink = 0;

/** Counts what each read hands out and how many of those were priority inversions. */
class Tally {
  readonly left: number[];
  handed = 0;
  reads = 0;
  inversions = 0;
  constructor(variant: Variant) {
    this.left = Array<number>(RANKS).fill(0);
    for (let i = 0; i < N; i++) this.left[rankOf(variant, i)]!++;
  }
  /** One read returned `ranks` (one per message). */
  read(ranks: number[]): void {
    if (ranks.length === 0) return;
    this.reads++;
    this.handed += ranks.length;
    for (const r of ranks) this.left[r]!--;
    let higherWaiting = -1; // the highest rank still waiting after this read
    for (let r = RANKS - 1; r >= 0; r--) if (this.left[r]! > 0) {
      higherWaiting = r;
      break;
    }
    for (const r of ranks) if (r < higherWaiting) this.inversions++;
  }
}

interface Run {
  rate: number;
  inversions: number;
  perRead: number;
  /** Client CPU (user + system) per event during the timed phase, µs. */
  cpuUs: number;
  /** Redis server CPU (INFO cpu, the whole server) per event during the timed phase, µs. */
  redisUs: number;
  /** Commands per 1,000 events in the timed phase (INFO commandstats, whole server). */
  commands: string;
}

type Stats = Map<string, { calls: number; usec: number }>;

/** INFO commandstats: calls and µs per command (commands run inside scripts are counted too). */
async function commandStats(redis: IORedis): Promise<Stats> {
  const out: Stats = new Map();
  for (const m of (await redis.info('commandstats')).matchAll(/cmdstat_([^:]+):calls=(\d+),usec=(\d+)/g)) {
    out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}

/** Commands per 1,000 events between two snapshots, busiest first (the admin INFO calls left out). */
function statsDelta(a: Stats, b: Stats): string {
  const rows: string[] = [];
  for (const [cmd, v] of [...b].sort((x, y) => y[1].usec - (a.get(y[0])?.usec ?? 0) - (x[1].usec - (a.get(x[0])?.usec ?? 0)))) {
    const calls = v.calls - (a.get(cmd)?.calls ?? 0);
    if (calls <= 0 || cmd === 'info') continue;
    const usec = v.usec - (a.get(cmd)?.usec ?? 0);
    rows.push(`${cmd} ${((calls * 1000) / N).toFixed(1)} (${(usec / N).toFixed(2)} µs/event)`);
  }
  return rows.join(', ');
}

/** The Redis server's CPU time so far (used_cpu_user + used_cpu_sys), µs. */
async function serverCpu(redis: IORedis): Promise<number> {
  const info = await redis.info('cpu');
  const f = (name: string) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  return (f('used_cpu_user') + f('used_cpu_sys')) * 1e6;
}

async function finish(t: Tally, t0: number, cpu0: NodeJS.CpuUsage, redis: IORedis, server0: number, stats0: Stats): Promise<Run> {
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const server = (await serverCpu(redis)) - server0;
  const commands = statsDelta(stats0, await commandStats(redis));
  if (t.handed !== N) throw new Error(`handed out ${t.handed} of ${N}`);
  return { rate: N / s, inversions: t.inversions, perRead: t.handed / t.reads, cpuUs: (cpu.user + cpu.system) / N, redisUs: server / N, commands };
}

async function assertNothingPending(redis: IORedis, keys: string[], group: string): Promise<void> {
  for (const k of keys) {
    const exists = await redis.exists(k);
    if (!exists) continue;
    const [count] = (await redis.call('XPENDING', k, group)) as [number];
    if (Number(count) !== 0) throw new Error(`${k}: ${count} still pending`);
  }
}

// ---- a. ours, through the Transport API -------------------------------------------------------

async function ours(variant: Variant): Promise<Run> {
  const prefix = `layout-ours-${randomUUID()}`;
  const t: Transport = redisTransport({ url: URL, keyPrefix: prefix });
  const redis = admin();
  try {
    await t.ensureGroup(STREAM, 'g', { startAt: 'beginning' });
    for (let i = 0; i < N; i += FILL) {
      await t.publish(
        STREAM,
        BODIES.slice(i, i + FILL).map((b, j) => ({ body: b, priority: rankOf(variant, i + j) })),
      );
    }
    const tally = new Tally(variant);
    const stats0 = await commandStats(redis);
    const server0 = await serverCpu(redis);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let ack: string[] = [];
    for (;;) {
      const batch = await t.receive(STREAM, { group: 'g', consumer: 'c', max: BATCH, ack });
      if (batch.length === 0) break;
      const ranks = new Array<number>(batch.length);
      ack = new Array<string>(batch.length);
      for (let i = 0; i < batch.length; i++) {
        const d = batch[i]!;
        sink += (JSON.parse(d.body) as { id: string }).id.length;
        ranks[i] = d.priority;
        ack[i] = d.deliveryId;
      }
      tally.read(ranks);
    }
    if (ack.length) await t.ack(STREAM, 'g', ack);
    const run = await finish(tally, t0, cpu0, redis, server0, stats0);
    await assertNothingPending(redis, [0, 1, 2, 3].map((r) => `{${prefix}}:stream:${STREAM}:${r}`), 'g');
    return run;
  } finally {
    await t.close();
    await cleanup(redis, `{${prefix}}*`);
    await redis.quit();
  }
}

// ---- c. the simpler layout, raw ioredis -------------------------------------------------------

type XRead = [string, [string, string[]][]][] | null;

async function simple(variant: Variant, count: number): Promise<Run> {
  const tag = `{layout-raw-${randomUUID()}}`;
  const keys = [0, 1, 2, 3].map((r) => `${tag}:${STREAM}:${r}`);
  const rankOfKey = new Map(keys.map((k, r) => [k, r]));
  const byPriority = [...keys].reverse(); // p3 p2 p1 p0
  const redis = admin();
  try {
    for (const k of keys) await redis.xgroup('CREATE', k, 'g', '0', 'MKSTREAM');
    for (let i = 0; i < N; i += FILL) {
      const p = redis.pipeline();
      for (let j = i; j < Math.min(N, i + FILL); j++) p.xadd(keys[rankOf(variant, j)]!, '*', 'body', BODIES[j]!);
      await p.exec();
    }
    const tally = new Tally(variant);
    const stats0 = await commandStats(redis);
    const server0 = await serverCpu(redis);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let acks: Array<[string, string[]]> = [];
    const queueAcks = (p: ReturnType<IORedis['pipeline']>) => {
      for (const [k, ids] of acks) p.xack(k, 'g', ...ids);
    };
    for (;;) {
      const p = redis.pipeline();
      queueAcks(p);
      p.xreadgroup('GROUP', 'g', 'c', 'COUNT', count, 'STREAMS', ...byPriority, '>', '>', '>', '>');
      const res = (await p.exec())!;
      for (const [err] of res) if (err) throw err;
      const read = (res[res.length - 1]![1] as XRead) ?? [];
      acks = [];
      if (read.length === 0) break;
      // Highest rank first (Redis answers in the order of STREAMS; sorted to be sure).
      read.sort((x, y) => rankOfKey.get(y[0])! - rankOfKey.get(x[0])!);
      const ranks: number[] = [];
      for (const [k, entries] of read) {
        const rank = rankOfKey.get(k)!;
        const ids = new Array<string>(entries.length);
        for (let i = 0; i < entries.length; i++) {
          const [id, fields] = entries[i]!;
          sink += (JSON.parse(fields[1]!) as { id: string }).id.length;
          ids[i] = id;
          ranks.push(rank);
        }
        acks.push([k, ids]);
      }
      tally.read(ranks);
    }
    if (acks.length) {
      const p = redis.pipeline();
      queueAcks(p);
      await p.exec();
    }
    const run = await finish(tally, t0, cpu0, redis, server0, stats0);
    await assertNothingPending(redis, keys, 'g');
    return run;
  } finally {
    await cleanup(redis, `${tag}*`);
    await redis.quit();
  }
}

// ---- run ------------------------------------------------------------------------------------

export async function run(): Promise<void> {
  const version = await (async () => {
    const r = admin();
    const v = /redis_version:(\S+)/.exec(await r.info('server'))?.[1] ?? '?';
    await r.quit();
    return v;
  })();
  const bytes = Math.round(BODIES.reduce((n, b) => n + Buffer.byteLength(b), 0) / N);
  console.log(`\n## Priority layout: eight sources and the fast path vs a simpler layout (Redis ${version})\n`);
  console.log(`${N} pre-published events of about ${bytes} bytes; ${PAIRS} interleaved rounds (a, c, c') after one warm-up of each; only the consume phase is timed.`);
  console.log(`- a. ours: redisTransport({ url, keyPrefix }) at its defaults, Transport API receive({ group, consumer, max: ${BATCH}, ack: <last batch> }) until empty, then ack(); ${BATCH >= 32 ? 'the fast path is on (max >= 32)' : 'max < 32: the fast path is never taken'}.`);
  console.log('- b. ours with the fast path off: not measured (no switch; the library code is not changed for a benchmark).');
  console.log(`- c. simple: raw ioredis, 4 rank streams, 1 group, pipeline [XACK of the last read per stream] + XREADGROUP GROUP g c COUNT ${BATCH} STREAMS p3 p2 p1 p0 > > > > (up to ${BATCH} from each stream per read), handled highest rank first; no retry streams, no delayed set.`);
  console.log(`- c'. the same simple loop with COUNT ${QUARTER} (at most ${4 * QUARTER} per read, like ours' ${BATCH}). Order of each round: a, c, c'.`);
  console.log('Both sides JSON.parse every body. Inversions: messages handed out by a read after which a higher rank was still waiting.');
  console.log('Client CPU: process.cpuUsage() of this process. Redis CPU: INFO cpu of the whole server (every client of it: meaningful on a private Redis only).');
  const load0 = loadavg()[0]!;
  for (const variant of ['uniform', 'mixed'] as const) {
    await ours(variant);
    await simple(variant, BATCH);
    await simple(variant, QUARTER);
    const a: Run[] = [];
    const c: Run[] = [];
    const c4: Run[] = [];
    for (let i = 0; i < PAIRS; i++) {
      a.push(await ours(variant));
      c.push(await simple(variant, BATCH));
      c4.push(await simple(variant, QUARTER));
    }
    const ratios = a.map((x, i) => x.rate / c[i]!.rate);
    const ratios4 = a.map((x, i) => x.rate / c4[i]!.rate);
    const label = variant === 'uniform' ? 'uniform (all rank 1)' : 'mixed (ranks 0-3 in turn)';
    console.log(`\n### ${label}\n`);
    console.log('| side | events/s (median) | per pair | msgs per read | inversions (median) | client CPU µs/event | Redis CPU µs/event |');
    console.log('|---|---:|---|---:|---:|---:|---:|');
    for (const [name, runs] of [
      ['a. ours (8 sources + fast path)', a],
      [`c. simple (4 streams, 1 XREADGROUP, COUNT ${BATCH})`, c],
      [`c'. simple (COUNT ${QUARTER}: at most ${4 * QUARTER} per read)`, c4],
    ] as const) {
      console.log(
        `| ${name} | ${fmt(median(runs.map((r) => r.rate)))} | ${runs.map((r) => fmt(r.rate)).join(', ')} | ${median(runs.map((r) => r.perRead)).toFixed(1)} | ${fmt(median(runs.map((r) => r.inversions)))} | ${median(runs.map((r) => r.cpuUs)).toFixed(1)} | ${median(runs.map((r) => r.redisUs)).toFixed(1)} |`,
      );
    }
    console.log('\nINFO commandstats of the last round, per 1,000 events (whole server; script-internal commands counted too):');
    console.log(`- a: ${a[a.length - 1]!.commands}`);
    console.log(`- c: ${c[c.length - 1]!.commands}`);
    console.log(`- c': ${c4[c4.length - 1]!.commands}`);
    console.log(`\nours / simple (c), per pair: ${ratios.map((r) => r.toFixed(2)).join(', ')}; median ${median(ratios).toFixed(2)}`);
    console.log(`ours / simple (c'), per pair: ${ratios4.map((r) => r.toFixed(2)).join(', ')}; median ${median(ratios4).toFixed(2)}`);
  }
  console.log(`\n1-minute load average: ${load0.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} at the end (${cpus().length} CPUs; the machine was shared with other work).`);
  if (sink < 0) console.log(sink);
}
