// Send -> start latency probe (issue 12's p99 goal; not the harness, which is bench/tasks.bench.ts):
// ours at defaults (task events on, event sourcing off) at RATE tasks/s for SECONDS, one process
// sending and working as in the harness; prints the percentiles and, for the slowest 1%, what
// overlapped each one: GC pauses (PerformanceObserver 'gc') and event-loop stalls.
//
//   npm run build && TSX_TSCONFIG_PATH=bench/tsconfig.json node --import tsx bench/probe-latency.ts
//   PROBE_RATE=500 PROBE_SECONDS=6 PROBE_SIDES=ours,bull
import { randomUUID } from 'node:crypto';
import { PerformanceObserver } from 'node:perf_hooks';
import { Queue, Worker as BullWorker } from 'bullmq';
import IORedis from 'ioredis';
import { createEventSystem, silentLogger } from '@procur/event-bus';
import { redisTransport } from '@procur/event-bus/redis';
import { admin, cleanup, now, paced, redisUrl, sleep } from './util.js';

const RATE = Number(process.env.PROBE_RATE ?? 500);
const SECONDS = Number(process.env.PROBE_SECONDS ?? 6);
const SIDES = (process.env.PROBE_SIDES ?? 'ours,bull').split(',');

const gcs: Array<{ start: number; end: number; kind: number }> = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push({ start: performance.timeOrigin + e.startTime, end: performance.timeOrigin + e.startTime + e.duration, kind: (e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0 });
}).observe({ entryTypes: ['gc'] });

// Event-loop stalls: a 1 ms interval timer that notes when it fired late by more than 1 ms.
const stalls: Array<{ start: number; end: number }> = [];
let last = now();
setInterval(() => {
  const t = now();
  if (t - last > 2) stalls.push({ start: last + 1, end: t });
  last = t;
}, 1).unref();

interface Sample { sent: number; start: number; }

async function ours(): Promise<Sample[]> {
  const prefix = `probe-lat-${randomUUID()}`;
  const bus = await createEventSystem({
    transport: redisTransport({ url: redisUrl(), keyPrefix: prefix }),
    logger: silentLogger, env: {}, outbox: false, builtins: false, config: { eventSourcingEnabled: false },
  });
  const out: Sample[] = [];
  const stamp = bus.tasks.define('stamp', { queue: 'lat' }, (args: { sentAt: number }) => {
    out.push({ sent: args.sentAt, start: now() });
    return null;
  });
  await bus.worker({ queues: { lat: 10 } }).start();
  await stamp.applyAsync({ sentAt: now() });
  await sleep(50);
  out.length = 0;
  await paced(RATE, SECONDS, (sentAt) => stamp.applyAsync({ sentAt }));
  await sleep(300);
  await bus.close();
  const r = admin();
  await cleanup(r, `*${prefix}*`);
  r.disconnect();
  return out;
}

async function bull(): Promise<Sample[]> {
  const prefix = `probe-bull-${randomUUID()}`;
  const connection = new IORedis(redisUrl(), { maxRetriesPerRequest: null });
  const wc = new IORedis(redisUrl(), { maxRetriesPerRequest: null });
  const queue = new Queue('lat', { connection, prefix, defaultJobOptions: { removeOnComplete: true, removeOnFail: true } });
  const out: Sample[] = [];
  const worker = new BullWorker('lat', async (job) => { out.push({ sent: (job.data as { sentAt: number }).sentAt, start: now() }); return null; }, { connection: wc, prefix, concurrency: 10 });
  await worker.waitUntilReady();
  await queue.add('stamp', { sentAt: now() });
  await sleep(50);
  out.length = 0;
  await paced(RATE, SECONDS, (sentAt) => queue.add('stamp', { sentAt }));
  await sleep(300);
  await worker.close();
  await wc.quit();
  await queue.close();
  const r = admin();
  await cleanup(r, `${prefix}:*`);
  r.disconnect();
  await connection.quit();
  return out;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

for (let round = 0; round < 2; round++) {
  for (const side of SIDES) {
    gcs.length = 0;
    stalls.length = 0;
    const samples = side === 'ours' ? await ours() : await bull();
    const lat = samples.map((s) => s.start - s.sent);
    const slow = samples.filter((s) => s.start - s.sent >= pct(lat, 99)).sort((a, b) => b.start - b.sent - (a.start - a.sent));
    let withGc = 0;
    let withStall = 0;
    for (const s of slow) {
      if (gcs.some((g) => g.end > s.sent && g.start < s.start)) withGc++;
      if (stalls.some((g) => g.end > s.sent && g.start < s.start)) withStall++;
    }
    const gcMs = gcs.reduce((a, g) => a + g.end - g.start, 0);
    console.log(
      `${side.padEnd(5)} n=${lat.length} p50 ${pct(lat, 50).toFixed(3)} p90 ${pct(lat, 90).toFixed(3)} p99 ${pct(lat, 99).toFixed(3)} max ${Math.max(...lat).toFixed(2)} ms;` +
        ` slowest 1% (${slow.length}): ${withGc} overlap a GC, ${withStall} an event-loop stall; GCs ${gcs.length} (${gcMs.toFixed(1)} ms), stalls ${stalls.length}`,
    );
    console.log(`      slowest: ${slow.slice(0, 8).map((s) => (s.start - s.sent).toFixed(2)).join(' ')}`);
  }
}
process.exit(0);
