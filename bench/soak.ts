// Soak: SOAK_EVENTS (default 1,000,000) events through the Redis transport with the PostgreSQL
// store (the built package, one process: a publisher and a consumer group of one member), then
// a drain and SOAK_AFTER_S (default 60) seconds of quiet. Every second it samples the process's
// RSS and heap (after the drain, with a forced GC when `--expose-gc` is on) and Redis
// `used_memory`. The publisher keeps at most SOAK_BACKLOG (default 20,000) events unhandled, as
// a service under steady load does, so the curve shows what the library keeps, not a backlog.
//
// Writes bench/soak-chart.svg (drawn from this run's samples) and rewrites the section between
// the soak markers of bench/RESULTS.md. Run: `npm run bench:soak` (builds first). Settings:
// PROCUR_BENCH_REDIS_URL (default: a private redis-server on a free loopback port, so
// `used_memory` is this run's alone), PROCUR_BENCH_POSTGRES_URL
// (postgres://postgres@127.0.0.1:5432/test; a throw-away schema is created and dropped).
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EventType, createEventSystem, silentLogger } from '@procur/event-bus';
import { postgresStore } from '@procur/event-bus/postgres';
import { redisTransport } from '@procur/event-bus/redis';
import { Redis } from 'ioredis';
import pg from 'pg';
import { machineNote, startPrivateRedis } from './util.js';

/** The machine's load when the soak starts (it is written into the section at the end). */
const START_NOTE = machineNote();

const PG_URL = process.env.PROCUR_BENCH_POSTGRES_URL ?? process.env.PROCUR_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TOTAL = Number(process.env.SOAK_EVENTS ?? 1_000_000);
const BATCH = Number(process.env.SOAK_BATCH ?? 500);
const BACKLOG = Number(process.env.SOAK_BACKLOG ?? 20_000);
const AFTER_S = Number(process.env.SOAK_AFTER_S ?? 60);
/** How often the transport trims acked entries (`trimIntervalMs`). */
const TRIM_MS = Number(process.env.SOAK_TRIM_MS ?? 5000);
/** The marker name of the RESULTS section (and the chart's file name) this run writes. */
const SECTION = process.env.SOAK_SECTION ?? 'soak';
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

interface Sample {
  t: number;
  phase: 'load' | 'drain' | 'after';
  sent: number;
  handled: number;
  rssMb: number;
  heapMb: number;
  redisMb: number;
}

const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const gc = (globalThis as { gc?: () => void }).gc;

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
}

/** Three stacked line panels (RSS, heap, Redis used_memory) over time, phases shaded. */
function chart(samples: Sample[]): string {
  const W = 760;
  const panelH = 150;
  const left = 64;
  const right = 16;
  const top = 36;
  const gap = 34;
  const series: { key: 'rssMb' | 'heapMb' | 'redisMb'; label: string; color: string }[] = [
    { key: 'rssMb', label: 'process RSS (MB)', color: '#1f77b4' },
    { key: 'heapMb', label: 'V8 heap used (MB)', color: '#2ca02c' },
    { key: 'redisMb', label: 'Redis used_memory (MB)', color: '#d62728' },
  ];
  const H = top + series.length * (panelH + gap) + 10;
  const tMax = Math.max(1, samples[samples.length - 1]?.t ?? 1);
  const x = (t: number) => left + ((W - left - right) * t) / tMax;
  const drainAt = samples.find((s) => s.phase === 'drain')?.t;
  const afterAt = samples.find((s) => s.phase === 'after')?.t;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${left}" y="18" font-size="13" font-weight="bold">Soak: ${samples[samples.length - 1]?.handled.toLocaleString('en-US')} events, Redis transport + PostgreSQL store (${samples.length} samples, 1/s)</text>`,
  ];
  series.forEach((s, i) => {
    const y0 = top + i * (panelH + gap);
    const values = samples.map((p) => p[s.key]);
    const vMax = Math.max(1, ...values) * 1.1;
    const y = (v: number) => y0 + panelH - (panelH * v) / vMax;
    if (afterAt !== undefined) {
      out.push(`<rect x="${x(afterAt)}" y="${y0}" width="${x(tMax) - x(afterAt)}" height="${panelH}" fill="#f2f2f2"/>`);
    }
    if (drainAt !== undefined) out.push(`<line x1="${x(drainAt)}" y1="${y0}" x2="${x(drainAt)}" y2="${y0 + panelH}" stroke="#999" stroke-dasharray="4 3"/>`);
    out.push(`<rect x="${left}" y="${y0}" width="${W - left - right}" height="${panelH}" fill="none" stroke="#ccc"/>`);
    for (let k = 0; k <= 4; k++) {
      const v = (vMax * k) / 4;
      out.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" fill="#555">${Math.round(v)}</text>`);
      out.push(`<line x1="${left}" y1="${y(v)}" x2="${W - right}" y2="${y(v)}" stroke="#eee"/>`);
    }
    const pts = samples.map((p) => `${x(p.t).toFixed(1)},${y(p[s.key]).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
    out.push(`<text x="${left + 6}" y="${y0 + 14}" fill="${s.color}" font-weight="bold">${s.label}</text>`);
  });
  const yAxis = top + series.length * (panelH + gap) - gap + 14;
  for (let k = 0; k <= 5; k++) {
    const t = (tMax * k) / 5;
    out.push(`<text x="${x(t)}" y="${yAxis}" text-anchor="middle" fill="#555">${Math.round(t)} s</text>`);
  }
  out.push(`<text x="${W - right}" y="${yAxis + 14}" text-anchor="end" fill="#555">dashed: publishing done (drain); grey: after the drain</text>`);
  out.push('</svg>');
  return out.join('\n');
}

/** The Redis to use: PROCUR_BENCH_REDIS_URL, else a private server (no persistence) on a free port. */
async function redisServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const given = process.env.PROCUR_BENCH_REDIS_URL;
  if (given) return { url: given, stop: async () => undefined };
  return startPrivateRedis();
}

async function main(): Promise<void> {
  const redisSrv = await redisServer();
  const REDIS_URL = redisSrv.url;
  const schema = `procur_soak_${Date.now().toString(36)}`;
  const keyPrefix = `soak-${Date.now().toString(36)}`;
  const admin = new Redis(REDIS_URL);
  const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
  const redisStart = await usedMemory(admin);
  const bus = await createEventSystem({
    transport: redisTransport({ url: REDIS_URL, keyPrefix, trimIntervalMs: TRIM_MS }),
    store: postgresStore({ connectionString: PG_URL, schema, poolSize: 8 }),
    logger: silentLogger,
    env: {},
    taskEvents: false,
    builtins: false,
    outbox: { intervalMs: 5000 },
    config: { eventBlockTime: 200 },
  });
  let handled = 0;
  const consumer = bus.consumer('soak', { startAt: 'beginning' });
  consumer.registerHandler(EventType.SYSTEM_WARNING, () => {
    handled++;
  });
  await consumer.start({ concurrency: 50, batchSize: 200 });

  const samples: Sample[] = [];
  let sent = 0;
  let phase = 'load' as Sample['phase'];
  const t0 = Date.now();
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      if (phase === 'after') gc?.();
      const m = process.memoryUsage();
      samples.push({
        t: Math.round((Date.now() - t0) / 100) / 10,
        phase,
        sent,
        handled,
        rssMb: mb(m.rss),
        heapMb: mb(m.heapUsed),
        redisMb: mb(await usedMemory(admin)),
      });
      const last = samples[samples.length - 1]!;
      if (samples.length % 10 === 1) console.log(`${last.t}s ${phase} sent=${sent} handled=${handled} rss=${last.rssMb}MB heap=${last.heapMb}MB redis=${last.redisMb}MB`);
      await sleep(1000);
    }
  })();

  const data = { message: 'soak' };
  while (sent < TOTAL) {
    while (sent - handled > BACKLOG) await sleep(5);
    const n = Math.min(BATCH, TOTAL - sent);
    await bus.publisher.publishMany(Array.from({ length: n }, (_, i) => ({ type: EventType.SYSTEM_WARNING, data: { ...data, component: `bench-${(sent + i) % 100}` } })));
    sent += n;
  }
  const publishedAt = Date.now();
  phase = 'drain';
  while (handled < TOTAL) await sleep(50);
  const drainedAt = Date.now();
  phase = 'after';
  await sleep(AFTER_S * 1000);
  sampling = false;
  await sampler;
  await bus.close();
  const redisEnd = await usedMemory(admin);
  admin.disconnect();
  await redisSrv.stop();
  await pool.query(`drop schema if exists "${schema}" cascade`);
  await pool.end();

  writeFileSync(here(`./${SECTION}-chart.svg`), `${chart(samples)}\n`);
  const load = samples.filter((s) => s.phase === 'load');
  const after = samples.filter((s) => s.phase === 'after');
  const firstAfter = after.slice(0, Math.max(1, Math.floor(after.length / 4)));
  const lastAfter = after.slice(-Math.max(1, Math.floor(after.length / 4)));
  const avg = (xs: Sample[], k: 'rssMb' | 'heapMb' | 'redisMb') => Math.round((xs.reduce((a, s) => a + s[k], 0) / Math.max(1, xs.length)) * 10) / 10;
  const peak = (k: 'rssMb' | 'heapMb' | 'redisMb') => Math.max(...samples.map((s) => s[k]));
  const rate = Math.round(TOTAL / ((drainedAt - t0) / 1000));
  const rows = (['rssMb', 'heapMb', 'redisMb'] as const).map((k) => {
    const label = { rssMb: 'process RSS', heapMb: 'V8 heap used', redisMb: 'Redis used_memory' }[k];
    const start = k === 'redisMb' ? mb(redisStart) : samples[0]![k];
    return `| ${label} | ${start} | ${peak(k)} | ${avg(firstAfter, k)} | ${avg(lastAfter, k)} |`;
  });
  const section = [
    `<!-- ${SECTION}:start (written by bench/soak.ts; rerun \`npm run bench:soak\`) -->`,
    `Run of ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: ${TOTAL.toLocaleString('en-US')} events (batches of ${BATCH}, at most ${BACKLOG.toLocaleString('en-US')} unhandled), Node ${process.version}, ${process.env.SOAK_NOTE ?? `${START_NOTE} at the start`}, ${process.env.PROCUR_BENCH_REDIS_URL ? 'the Redis at PROCUR_BENCH_REDIS_URL' : 'a private redis-server (its used_memory is this run alone)'}.`,
    `Published in ${Math.round((publishedAt - t0) / 1000)} s, all handled after ${Math.round((drainedAt - t0) / 1000)} s (${rate.toLocaleString('en-US')} events/s end to end, each one appended to PostgreSQL, marked published, sent through Redis, handled and its processing recorded in PostgreSQL), then ${AFTER_S} s of quiet${gc ? ' with a forced GC before each sample' : ''}.`,
    '',
    '| MB | at start | peak | after the drain (first quarter) | after the drain (last quarter) |',
    '|---|---:|---:|---:|---:|',
    ...rows,
    '',
    `![Soak: RSS, heap and Redis used_memory over the run](${SECTION}-chart.svg)`,
    '',
    `Redis \`used_memory\` at start ${mb(redisStart)} MB, after close ${mb(redisEnd)} MB (the streams are trimmed every ${TRIM_MS / 1000} s here, \`trimIntervalMs\`; the default is 60 s). Load phase: ${load.length} samples.`,
    `<!-- ${SECTION}:end -->`,
  ].join('\n');
  const resultsPath = here('./RESULTS.md');
  const results = readFileSync(resultsPath, 'utf8');
  const re = new RegExp(`<!-- ${SECTION}:start[\\s\\S]*?<!-- ${SECTION}:end -->`);
  if (re.test(results)) writeFileSync(resultsPath, results.replace(re, section));
  else console.log('\n(no soak markers in bench/RESULTS.md; the section follows)\n');
  console.log(`\n${section}\n`);
}

await main();
