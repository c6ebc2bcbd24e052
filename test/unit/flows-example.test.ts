/**
 * The "Flows" example of docs/tasks.md, compiled (tsc covers test/) and run on the memory
 * transport. The block between the markers is the documented one; the first test checks that
 * docs/tasks.md shows exactly this text, so the two cannot drift apart.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainSig, createEventSystem, memoryStore, memoryTransport, silentLogger, type EventSystem } from '../../src/index.js';

const self = readFileSync(new URL(import.meta.url), 'utf8');
const docs = readFileSync(new URL('../../docs/tasks.md', import.meta.url), 'utf8');

let bus: EventSystem;
beforeAll(async () => {
  bus = await createEventSystem({ transport: memoryTransport(), store: memoryStore(), logger: silentLogger, env: {}, outbox: false, builtins: false });
  await bus.worker({ queues: { offers: 4, notifications: 1 } }).start();
});
afterAll(async () => {
  await bus.close();
});

async function example() {
  // docs:flows-start
  const fetchOffer = bus.tasks.define('fetch_offer', { queue: 'offers' }, async ({ offerId }: { offerId: string }) => ({ offerId, price: offerId === 'o-1' ? 125 : 80 }));
  const score = bus.tasks.define('score_offer', { queue: 'offers' }, async (offer: { offerId: string; price: number }) => 1000 / offer.price);
  const notify = bus.tasks.define('notify', { queue: 'notifications' }, async ([points, channel]: [number, string]) => `${channel}: ${points}`);
  const best = bus.tasks.define('best', { queue: 'offers' }, async (scores: number[]) => Math.max(...scores));

  // One after another: fetch_offer -> score_offer(offer) -> notify([score, 'ops'])
  const flow = await bus.tasks.chain([fetchOffer.sig({ offerId: 'o-1' }), score.sig(), notify.sig(['ops'])]);
  const message = await flow.get({ timeoutMs: 10_000 }); // 'ops: 8' (typed string: the last step's result)

  // In parallel, the results in the order of the steps
  const offers = await bus.tasks.group([fetchOffer.sig({ offerId: 'o-1' }), fetchOffer.sig({ offerId: 'o-2' })]);
  const both = await offers.get({ timeoutMs: 10_000 }); // [{ offerId: 'o-1', price: 125 }, { offerId: 'o-2', price: 80 }]

  // A chord: two chains in parallel, then the callback with the list of their results
  const ranked = await bus.tasks.chord(
    [chainSig([fetchOffer.sig({ offerId: 'o-1' }), score.sig()]), chainSig([fetchOffer.sig({ offerId: 'o-2' }), score.sig()])],
    best.sig(),
  );
  const top = await ranked.get({ timeoutMs: 10_000 }); // 12.5

  const state = await flow.status(); // 'SUCCESS' (PENDING | STARTED | SUCCESS | FAILURE | REVOKED)
  const steps = await flow.steps(); // [{ path: '0', task: 'fetch_offer', taskId: `${flow.id}.0`, state: 'SUCCESS', ... }, ...]
  const again = bus.tasks.flow<string>(flow.id); // the same flow, from any process
  // docs:flows-end
  return { message, both, top, state, steps, again, flowId: flow.id };
}

describe('docs/tasks.md: Flows', () => {
  it('shows the example of this file, as it is here', () => {
    const region = /\/\/ docs:flows-start\n([\s\S]*?)\n\s*\/\/ docs:flows-end/.exec(self)?.[1] ?? '';
    const code = region
      .split('\n')
      .map((l) => l.replace(/^ {2}/, ''))
      .join('\n');
    expect(code.length).toBeGreaterThan(100);
    expect(docs).toContain(`\`\`\`ts\n${code}\n\`\`\``);
  });

  it('runs as documented', async () => {
    const r = await example();
    expect(r.message).toBe('ops: 8');
    expect(r.both).toEqual([
      { offerId: 'o-1', price: 125 },
      { offerId: 'o-2', price: 80 },
    ]);
    expect(r.top).toBe(12.5);
    expect(r.state).toBe('SUCCESS');
    expect(r.steps.map((s) => [s.path, s.task, s.taskId, s.state])).toEqual([
      ['0', 'fetch_offer', `${r.flowId}.0`, 'SUCCESS'],
      ['1', 'score_offer', `${r.flowId}.1`, 'SUCCESS'],
      ['2', 'notify', `${r.flowId}.2`, 'SUCCESS'],
    ]);
    expect(await r.again.get({ timeoutMs: 1000 })).toBe('ops: 8');
  });
});
