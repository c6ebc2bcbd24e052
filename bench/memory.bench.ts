// Memory transport, publish -> handler, store off: ours (with and without payload validation)
// against a bare async queue that calls the same handler (the in-process limit).
import { createEventSystem, EventType, silentLogger } from '@procur/event-bus';
import { measure, printTable, type Row } from './util.js';

const N = Number(process.env.BENCH_EVENTS ?? 200_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const BATCH = 1000;

let handled = 0;
const handler = (_e: unknown) => {
  handled++;
};

async function bareQueue(): Promise<number> {
  // The same work a bus does at minimum: hand N event objects to an async consumer one by one.
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
  return N;
}

async function ours(validate: boolean): Promise<number> {
  const bus = await createEventSystem({
    logger: silentLogger,
    env: {},
    validate,
    outbox: false,
    config: { eventSourcingEnabled: false, eventBlockTime: 1000 },
  });
  handled = 0;
  const c = bus.consumer('bench').registerHandler(EventType.SYSTEM_WARNING, handler);
  await c.start({ batchSize: 500, concurrency: 500 });
  const done = new Promise<void>((resolve) => {
    const t = setInterval(() => {
      if (handled >= N) {
        clearInterval(t);
        resolve();
      }
    }, 1);
  });
  const batch = Array.from({ length: BATCH }, () => ({ type: EventType.SYSTEM_WARNING, data: { message: 'bench' } }));
  for (let b = 0; b < N; b += BATCH) await bus.publisher.publishMany(batch);
  await done;
  await bus.close();
  return N;
}

export async function run(): Promise<Row[]> {
  const rows: Row[] = [
    { name: 'bare async queue', opsPerSec: await measure(RUNS, bareQueue) },
    { name: 'bus, no validation', opsPerSec: await measure(RUNS, () => ours(false)), vs: 'bare async queue' },
    { name: 'bus, zod validation', opsPerSec: await measure(RUNS, () => ours(true)), vs: 'bare async queue' },
  ];
  printTable(`Memory transport: publish -> handler, store off (${N} events, median of ${RUNS})`, rows);
  return rows;
}
