// Probe: profile of the memory transport's publish -> handler path (PROBE_PROFILE=/tmp/x).
import { createEventSystem, EventType, silentLogger } from '@procur/event-bus';
import { profileIfAsked } from './util.js';

const N = Number(process.env.PROBE_N ?? 200_000);
const validate = process.env.PROBE_VALIDATE === '1';
let handled = 0;
const bus = await createEventSystem({ logger: silentLogger, env: {}, validate, outbox: false, builtins: false, taskEvents: false, config: { eventSourcingEnabled: false } });
const c = bus.consumer('bench').registerHandler(EventType.SYSTEM_WARNING, () => {
  handled++;
});
await c.start({ batchSize: 500, concurrency: 500 });
const batch = Array.from({ length: 1000 }, () => ({ type: EventType.SYSTEM_WARNING, data: { message: 'bench' } }));
const run = async () => {
  const target = handled + N;
  const t0 = performance.now();
  for (let b = 0; b < N; b += 1000) await bus.publisher.publishMany(batch);
  while (handled < target) await new Promise((r) => setTimeout(r, 1));
  return N / ((performance.now() - t0) / 1000);
};
await run();
const stop = await profileIfAsked('memory', 50);
const r = await run();
await stop();
console.log(`${r.toFixed(0)} events/s (validate ${validate})`);
await bus.close();
