// perf2's quick probe (not the harness): client CPU and wall time of `tasks.sendMany` (1,000 per
// call, task events on) and `publisher.publishMany` (1,000 per call) on the Redis named by
// PROBE_URL (default the shared 127.0.0.1:6379, unique key prefix, cleaned up after).
//   TSX_TSCONFIG_PATH= node --import tsx bench/probe-perf2.ts [send|publish] (PROBE_N, PROBE_PROFILE=/tmp/x.cpuprofile)
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import IORedis from 'ioredis';
import { createEventSystem, EventType, silentLogger } from '@procur/event-bus';
import { redisTransport } from '@procur/event-bus/redis';

const URL = process.env.PROBE_URL ?? 'redis://127.0.0.1:6379';
const N = Number(process.env.PROBE_N ?? 20_000);
const what = process.argv[2] ?? 'send';
const prefix = `perf2-probe-${randomUUID()}`;
const bus = await createEventSystem({
  transport: redisTransport({ url: URL, keyPrefix: prefix }),
  logger: silentLogger, env: {}, taskEvents: true, outbox: false, builtins: false,
  config: { eventSourcingEnabled: false },
});
bus.tasks.define('noop', { queue: 'q' }, () => null);
const INPUTS = Array.from({ length: 1000 }, (_, i) => ({ type: EventType.SYSTEM_WARNING, data: { message: `m${i}` } }));
const step = what === 'send'
  ? (i: number) => bus.tasks.sendMany('noop', Array.from({ length: 1000 }, (_, k) => ({ i: i + k })))
  : () => bus.publisher.publishMany(INPUTS as never);
await step(-1000);
const session = process.env.PROBE_PROFILE ? new Session() : undefined;
if (session) { session.connect(); await session.post('Profiler.enable'); await session.post('Profiler.start'); }
const c0 = process.cpuUsage(); const t0 = performance.now();
for (let i = 0; i < N; i += 1000) await step(i);
const ms = performance.now() - t0; const cpu = process.cpuUsage(c0);
if (session) { const { profile } = await session.post('Profiler.stop'); writeFileSync(process.env.PROBE_PROFILE!, JSON.stringify(profile)); }
console.log(`${what}: ${Math.round(N / ms * 1000)}/s, client CPU ${((cpu.user + cpu.system) / N).toFixed(1)} µs/op`);
await bus.close();
const r = new IORedis(URL);
const keys = await r.keys(`*${prefix}*`); if (keys.length) await r.del(...keys); r.disconnect();
