/**
 * A producer: sends a procurement flow's tasks and waits for their results.
 *
 *   PROCUR_EVENT_REDIS_URL=redis://127.0.0.1:6379 npx tsx send-tasks.ts [flows]
 */
import { randomUUID } from 'node:crypto';
import { createSystem } from './app.js';

const flows = Number(process.argv[2] ?? 5);
const bus = await createSystem();
const { tasks } = bus;
const pending = [];
for (let i = 1; i <= flows; i++) {
  const correlationId = randomUUID();
  const negotiationId = `neg-${i}`;
  pending.push(
    (async () => {
      const round = await (await tasks.send('process_negotiation_round', { negotiationId, roundNumber: 1 }, { correlationId })).get({ timeoutMs: 30_000 });
      const vendor = await (await tasks.send('enrich_vendor_data', { vendorId: `vendor-${i}`, category: 'crm' }, { correlationId })).get({ timeoutMs: 30_000 });
      const contract = await (await tasks.send('generate_contract', { negotiationId }, { correlationId })).get({ timeoutMs: 30_000 });
      const note = await (await tasks.send('send_notification', { recipient: 'buyer@acme.example', message: `contract for ${negotiationId} ready` }, { correlationId })).get({ timeoutMs: 30_000 });
      return { negotiationId, round, vendor, contract, note };
    })(),
  );
}
for (const r of await Promise.all(pending)) {
  console.log(
    `${r.negotiationId}: round on pid ${(r.round as { worker: number }).worker}, enrichment on pid ${(r.vendor as { worker: number }).worker}, ` +
      `contract ${(r.contract as { contractId: string }).contractId} on pid ${(r.contract as { worker: number }).worker}, notification on pid ${(r.note as { worker: number }).worker}`,
  );
}
console.log(JSON.stringify(await bus.inspect.stats()));
await bus.close();
