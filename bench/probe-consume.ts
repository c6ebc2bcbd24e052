// Quick probe (not the harness): ours vs the overlapped raw loop draining a backlog, with an
// optional CPU profile of ours (PROBE_PROFILE=/tmp/x). Shared Redis unless PROCUR_BENCH_REDIS_URL.
//   TSX_TSCONFIG_PATH=bench/tsconfig.json node --import tsx bench/probe-consume.ts
import { oursConsume, rawConsume } from './redis.bench.js';
import { profileIfAsked } from './util.js';

const N = Number(process.env.PROBE_N ?? 50_000);
for (let i = 0; i < Number(process.env.PROBE_PAIRS ?? 1); i++) {
  const raw = await rawConsume(N);
  const stop = await profileIfAsked('consume');
  const ours = await oursConsume(N);
  await stop();
  const rate = (c: { ops: number; seconds: number }) => c.ops / c.seconds;
  console.log(`raw ${rate(raw).toFixed(0)}/s cpu ${raw.clientUs.toFixed(1)}µs | ours ${rate(ours).toFixed(0)}/s cpu ${ours.clientUs.toFixed(1)}µs halves ${ours.firstHalf.toFixed(0)}/${ours.secondHalf.toFixed(0)} | ratio ${(rate(ours) / rate(raw)).toFixed(2)}\n  raw: ${raw.top}\n  ours: ${ours.top}`);
}
process.exit(0);
