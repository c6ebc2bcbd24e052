// Memory transport, publish -> handler, event sourcing off: ours (with and without payload
// validation) against a bare async queue that hands the same objects to the same handler (the
// in-process limit). Alternating pairs (ours, bare, ...) after a warm-up pair; median of the
// per-pair ratios (goal >= 0.25 of the bare queue).
import { createEventSystem, EventType, silentLogger } from '@procur/event-bus';
import { QUICK, Report, alternate, fmt, machineNote, median, ratioText, size } from './util.js';

const N = size('BENCH_EVENTS', 200_000, 20_000);
const PAIRS = size('BENCH_PAIRS', 5, 1);
const BATCH = 1000;

let handled = 0;
const handler = (_e: unknown) => {
  handled++;
};

/** Events per second of one run of `fn` (which handles N events). */
async function rate(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return N / (Number(process.hrtime.bigint() - t0) / 1e9);
}

function bareQueue(): Promise<number> {
  // The same work a bus does at minimum: hand N event objects to an async consumer one by one.
  return rate(async () => {
    const queue: unknown[] = [];
    let wake: (() => void) | undefined;
    handled = 0;
    const consumer = (async () => {
      let i = 0;
      while (i < N) {
        if (i >= queue.length) await new Promise<void>((r) => (wake = r));
        while (i < queue.length) await handler(queue[i++]);
      }
    })();
    for (let b = 0; b < N; b += BATCH) {
      for (let k = 0; k < BATCH; k++) queue.push({ type: EventType.SYSTEM_WARNING, data: { message: 'bench' } });
      wake?.();
      await Promise.resolve();
    }
    wake?.();
    await consumer;
  });
}

async function ours(validate: boolean): Promise<number> {
  const bus = await createEventSystem({
    logger: silentLogger,
    env: {},
    validate,
    outbox: false,
    builtins: false,
    taskEvents: false,
    config: { eventSourcingEnabled: false },
  });
  handled = 0;
  const c = bus.consumer('bench').registerHandler(EventType.SYSTEM_WARNING, handler);
  await c.start({ batchSize: 500, concurrency: 500 });
  const batch = Array.from({ length: BATCH }, () => ({ type: EventType.SYSTEM_WARNING, data: { message: 'bench' } }));
  const r = await rate(async () => {
    const done = new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (handled >= N) {
          clearInterval(t);
          resolve();
        }
      }, 1);
    });
    for (let b = 0; b < N; b += BATCH) await bus.publisher.publishMany(batch);
    await done;
  });
  await bus.close();
  return r;
}

export async function run(): Promise<Report> {
  const r = new Report('memory', 'Memory transport: publish -> handler');
  r.line(`${N.toLocaleString('en-US')} events published with \`publishMany\` (1,000 per call) to a consumer (\`start({ batchSize: 500, concurrency: 500 })\`) whose handler counts them; Node ${process.version}, ${machineNote()} at the start; ${PAIRS} measured pairs after a warm-up pair${QUICK ? ' (QUICK sizes)' : ''}.`);
  r.line();
  r.line('- ours: `createEventSystem()` with the memory transport (the default), event sourcing off, task events, outbox and builtins off; with `validate: false` and with zod validation (default)');
  r.line('- bare: an array and one async consumer awaiting the same handler for each object (no copy, no ids, no acks): the in-process limit');
  r.line();
  const plain = await alternate(PAIRS, () => ours(false), bareQueue, (o, b) => o / b);
  const zod = await alternate(PAIRS, () => ours(true), bareQueue, (o, b) => o / b);
  r.table(
    ['case', 'events/s (median)', 'of the bare queue (median of pairs)', 'bare queue in the same pairs (events/s)'],
    [
      ['ours, `validate: false`', fmt(median(plain.a)), ratioText(plain.ratios), fmt(median(plain.b))],
      ['ours, zod validation (default)', fmt(median(zod.a)), ratioText(zod.ratios), fmt(median(zod.b))],
    ],
  );
  r.goal({ goal: 'memory transport publish -> handler: >= 0.25 of a bare async queue (validation on)', measured: ratioText(zod.ratios), value: median(zod.ratios), target: 0.25, better: 'higher' });
  return r;
}
