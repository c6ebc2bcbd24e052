// Probe: profile of the memory transport's publish -> handler path (PROBE_PROFILE=/tmp/x).
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { createEventSystem, EventType, silentLogger } from '@procur/event-bus';

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
const prof = process.env.PROBE_PROFILE ? new Session() : undefined;
if (prof) {
  prof.connect();
  await prof.post('Profiler.enable');
  await prof.post('Profiler.setSamplingInterval', { interval: 50 });
  await prof.post('Profiler.start');
}
const r = await run();
if (prof) writeFileSync(`${process.env.PROBE_PROFILE}-memory.cpuprofile`, JSON.stringify((await prof.post('Profiler.stop')).profile));
console.log(`${r.toFixed(0)} events/s (validate ${validate})`);
await bus.close();
