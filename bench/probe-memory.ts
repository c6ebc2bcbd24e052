// Probe (perf-memory helper): memory transport publish -> handler against a bare async queue.
//
// Both sides hand the same N event objects, 1,000 at a time, to the same async handler; only
// the measured phase is timed (system creation, consumer start and close are not). Runs are
// interleaved pairs (bare, bus), and the figure is the median of the per-pair ratios.
//
//   node --import tsx bench/probe-memory.ts                    # src/ (root tsconfig paths)
//   TSX_TSCONFIG_PATH=bench/tsconfig.json node --import tsx bench/probe-memory.ts   # dist/
//
// PROBE_EVENTS (200000), PROBE_RUNS (5), PROBE_MODE (publish | many | both; default both),
// PROBE_VALIDATE (1 = zod validation on; default both off and on), PROBE_HANDLER (async | sync),
// PROBE_GROUPS (1: number of consumer groups; the bare queue then hands each object to that many handlers).
import { createEventSystem, EventType, silentLogger } from '@procur/event-bus';

const N = Number(process.env.PROBE_EVENTS ?? 200_000);
const RUNS = Number(process.env.PROBE_RUNS ?? 5);
const BATCH = 1000;
const MODES = (process.env.PROBE_MODE ?? 'both') === 'both' ? ['publish', 'many'] : [process.env.PROBE_MODE as string];
const VALIDATE = process.env.PROBE_VALIDATE === undefined ? [false, true] : [process.env.PROBE_VALIDATE === '1'];
const SYNC = process.env.PROBE_HANDLER === 'sync';
const GROUPS = Number(process.env.PROBE_GROUPS ?? 1);

let handled = 0;
let target = 0;
let finish: (() => void) | undefined;
function count(): void {
  if (++handled === target) finish?.();
}
const handler = SYNC
  ? (_e: unknown): void => count()
  : async (_e: unknown): Promise<void> => count();

function allHandled(n: number): Promise<void> {
  handled = 0;
  target = n;
  return new Promise<void>((resolve) => (finish = resolve));
}

function inputs(): { type: typeof EventType.SYSTEM_WARNING; data: { message: string } }[] {
  return Array.from({ length: N }, (_, i) => ({ type: EventType.SYSTEM_WARNING, data: { message: `bench ${i}` } }));
}

/** An array and a resolver loop handing each object to the handler (once per group). */
async function bare(): Promise<number> {
  const objects = inputs();
  const queue: unknown[] = [];
  let wake: (() => void) | undefined;
  const done = allHandled(N * GROUPS);
  const t0 = process.hrtime.bigint();
  const consumer = (async () => {
    let i = 0;
    while (i < N) {
      if (i >= queue.length) await new Promise<void>((r) => (wake = r));
      while (i < queue.length) {
        const e = queue[i++];
        for (let g = 0; g < GROUPS; g++) await handler(e);
      }
    }
  })();
  for (let b = 0; b < N; b += BATCH) {
    for (let k = b; k < b + BATCH && k < N; k++) queue.push(objects[k]);
    wake?.();
    await Promise.resolve();
  }
  wake?.();
  await consumer;
  await done;
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function bus(mode: string, validate: boolean): Promise<number> {
  const objects = inputs();
  const system = await createEventSystem({
    logger: silentLogger,
    env: {},
    validate,
    outbox: false,
    config: { eventSourcingEnabled: false, eventBlockTime: 1000 },
  });
  for (let g = 0; g < GROUPS; g++) {
    const c = system.consumer(`probe${g}`, { group: `probe-${g}` }).registerHandler(EventType.SYSTEM_WARNING, handler);
    await c.start({ batchSize: 500, concurrency: 500 });
  }
  const done = allHandled(N * GROUPS);
  const t0 = process.hrtime.bigint();
  for (let b = 0; b < N; b += BATCH) {
    const chunk = objects.slice(b, b + BATCH);
    if (mode === 'many') await system.publisher.publishMany(chunk);
    else await Promise.all(chunk.map((e) => system.publisher.publish(e)));
  }
  await done;
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await system.close();
  return ms;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

async function main(): Promise<void> {
  console.log(`probe-memory: N=${N} runs=${RUNS} handler=${SYNC ? 'sync' : 'async'} groups=${GROUPS} (${process.version})`);
  for (const mode of MODES) {
    for (const validate of VALIDATE) {
      await bare();
      await bus(mode, validate); // warm-up pair
      const ratios: number[] = [];
      const bareRates: number[] = [];
      const busRates: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const a = await bare();
        const b = await bus(mode, validate);
        bareRates.push((N / a) * 1000);
        busRates.push((N / b) * 1000);
        ratios.push(a / b);
      }
      console.log(
        `${mode.padEnd(7)} validate=${validate ? 'on ' : 'off'} bare ${Math.round(median(bareRates)).toLocaleString('en-US')}/s  bus ${Math.round(median(busRates)).toLocaleString('en-US')}/s  ratio median ${median(ratios).toFixed(3)} (${ratios.map((x) => x.toFixed(3)).join(', ')})`,
      );
    }
  }
}

await main();
