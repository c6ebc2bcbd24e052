/**
 * A flow's continuation when the transport fails while a finished step writes it: the worker
 * hands the step back (no attempt counted), the step runs again, and what follows it is still
 * sent once.
 */
import { afterEach, expect, it } from 'vitest';
import { createEventSystem, memoryStore, memoryTransport, silentLogger, type EventSystem } from '../../src/index.js';
import { sleep } from '../../src/adapter-kit.js';

let bus: EventSystem | undefined;
afterEach(async () => {
  await bus?.close();
});

it('a continuation write that fails hands the step back; it runs again (before the other member ends) and the callback still runs once', async () => {
  const transport = memoryTransport();
  const kvIncr = transport.kvIncr.bind(transport);
  let failed = 0;
  // The first count of a chord member fails, as a transport outage would.
  transport.kvIncr = async (key, options) => {
    if (key.includes(':flow:') && failed === 0) {
      failed++;
      throw new Error('transport down');
    }
    return kvIncr(key, options);
  };
  bus = await createEventSystem({ transport, store: memoryStore(), logger: silentLogger, env: {}, outbox: false, builtins: false, config: { retryBackoffMs: 20 } });
  const runs: Record<string, number> = {};
  const double = bus.tasks.define('double', {}, async (n: number) => {
    runs[`double:${n}`] = (runs[`double:${n}`] ?? 0) + 1;
    // Member 2 is still running when member 1 runs again.
    if (n === 2) await sleep(300);
    return n * 2;
  });
  const sum = bus.tasks.define('sum', {}, async (ns: number[]) => {
    runs.sum = (runs.sum ?? 0) + 1;
    return ns.reduce((a, b) => a + b, 0);
  });
  await bus.worker({ queues: { default: 2 } }).start();
  const flow = await bus.tasks.chord([double.sig(1), double.sig(2)], sum.sig());
  expect(await flow.get({ timeoutMs: 10_000 })).toBe(6);
  await sleep(200);
  expect(failed).toBe(1);
  // The member whose count failed ran twice (at least once, as after a crash); the callback once.
  expect(runs['double:1']).toBe(2);
  expect(runs['double:2']).toBe(1);
  expect(runs.sum).toBe(1);
  // Handing back is not an attempt.
  expect((await flow.steps())[0]?.info?.attempt).toBe(1);
});
