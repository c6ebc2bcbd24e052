/**
 * The procurement flow on embedded defaults: memory transport, SQLite file store.
 *
 *   npm run demo
 *
 * request -> negotiation -> contract -> notification under one correlation id, a handler that
 * fails twice then succeeds, a poison event that lands in the dead letter queue and is replayed
 * after the fix, then the audit trail of the flow and a summary.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createEventSystem, EventPriority, EventType, silentLogger, type EventSystem } from '@procur/event-bus';
import { sqliteStore } from '@procur/event-bus/sqlite';

const dir = process.env.PROCUR_DEMO_DIR ?? join(process.cwd(), '.demo');
const filename = join(dir, 'procur-demo.db');
const log = (line: string) => console.log(line);
const ms = (t0: number) => `${String(Date.now() - t0).padStart(5)} ms`;

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`demo: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function runDemo(): Promise<{ ok: boolean; bus?: EventSystem }> {
  mkdirSync(dir, { recursive: true });
  for (const suffix of ['', '-wal', '-shm']) rmSync(filename + suffix, { force: true });
  const t0 = Date.now();

  const bus = await createEventSystem({
    store: sqliteStore({ filename }),
    logger: silentLogger,
    source: 'procurement-demo',
    config: { retryBackoffMs: 100, retryBackoffMaxMs: 1000, dlqMaxRetries: 2, eventBlockTime: 100 },
  });

  bus.on('failed', ({ event, attempt, error, retryInMs }) => {
    const next = retryInMs === undefined ? 'no retries left' : `retry in ${retryInMs} ms`;
    log(`${ms(t0)}  !  ${event.type} attempt ${attempt} failed: ${error.message} (${next})`);
  });
  bus.on('dead-lettered', ({ event, attempts }) => log(`${ms(t0)}  x  ${event?.type} moved to the dead letter queue after ${attempts} attempts`));

  const flow = bus.consumer('procurement-flow');
  let vendorApiCalls = 0;
  let enrichmentFixed = false;
  let notified = false;
  let enriched = false;

  flow.registerHandler(EventType.REQUEST_CREATED, async (e) => {
    log(`${ms(t0)}  >  request ${e.data.requestId} created: "${e.data.description}", budget ${e.data.budgetMax}`);
    await bus.publisher.publishNegotiationStarted({
      negotiationId: 'neg-001', requestId: e.data.requestId, vendorId: 'salesforce',
      userId: e.userId, organizationId: e.organizationId, correlationId: e.correlationId, causationId: e.id,
      priority: EventPriority.HIGH,
    });
  });

  flow.registerHandler(EventType.NEGOTIATION_STARTED, async (e, ctx) => {
    vendorApiCalls++;
    // The vendor's API times out twice; the consumer retries with exponential backoff.
    if (ctx.attempt <= 2) throw new Error('vendor API timeout');
    log(`${ms(t0)}  >  negotiation ${e.data.negotiationId} with ${e.data.vendorId} ran on attempt ${ctx.attempt}`);
    await bus.publisher.publishNegotiationCompleted({
      negotiationId: e.data.negotiationId, outcome: 'accepted', finalPrice: 42_000,
      userId: e.userId, organizationId: e.organizationId, correlationId: e.correlationId, causationId: e.id,
    });
  });

  flow.registerHandler(EventType.NEGOTIATION_COMPLETED, async (e) => {
    log(`${ms(t0)}  >  negotiation ${e.data.negotiationId} ${e.data.outcome} at ${e.data.finalPrice}`);
    await bus.publisher.publishContractGenerationCompleted({
      contractId: 'ctr-001', documentUrl: 'https://contracts.example/ctr-001.pdf',
      userId: e.userId, organizationId: e.organizationId, correlationId: e.correlationId, causationId: e.id,
    });
  });

  flow.registerHandler(EventType.CONTRACT_GENERATION_COMPLETED, async (e) => {
    log(`${ms(t0)}  >  contract ${e.data.contractId} generated: ${e.data.documentUrl}`);
    await bus.publisher.publishNotificationSend({
      recipient: 'buyer@acme.example', message: `Contract ${e.data.contractId} is ready to sign`, channel: 'email',
      userId: e.userId, organizationId: e.organizationId, correlationId: e.correlationId, causationId: e.id,
    });
  });

  flow.registerHandler(EventType.NOTIFICATION_SEND, (e) => {
    log(`${ms(t0)}  >  notified ${e.data.recipient}: ${e.data.message}`);
    notified = true;
  });

  flow.registerHandler(EventType.VENDOR_ENRICHMENT_STARTED, (e) => {
    // A poison event: the enrichment source rejects this vendor until the bug is fixed.
    if (!enrichmentFixed) throw new Error(`enrichment source rejects vendor '${e.data.vendorId}'`);
    log(`${ms(t0)}  >  vendor ${e.data.vendorId} enriched after replay`);
    enriched = true;
  });

  await flow.start({ concurrency: 4 });

  const correlationId = randomUUID();
  log(`procurement flow, correlation id ${correlationId}`);
  await bus.publisher.publishRequestCreated({
    requestId: 'req-001', description: 'Need CRM', budgetMax: 50_000, userId: 1, organizationId: 'acme-corp', correlationId,
  });
  await bus.publisher.publishVendorEnrichmentStarted({ vendorId: 'broken-vendor', category: 'crm', organizationId: 'acme-corp' });

  await waitFor(() => notified, 'the notification');
  await waitFor(async () => (await bus.dlq.size()) === 1, 'the poison event in the DLQ');

  const [dead] = await bus.dlq.list();
  log(`\ndead letter queue: 1 entry: ${dead?.event?.type} (${dead?.attempts} attempts, "${dead?.error}")`);
  log('fixing the enrichment source and replaying it...');
  enrichmentFixed = true;
  await bus.dlq.replay(dead!.id);
  await waitFor(() => enriched, 'the replayed event');
  log(`dead letter queue: ${await bus.dlq.size()} entries`);

  await waitFor(async () => {
    const trail = await bus.store.getEventsByCorrelationId(correlationId);
    const records = await Promise.all(trail.map((e) => bus.store.processingOf(e.id)));
    return trail.length === 5 && records.every((r) => r.some((x) => x.outcome === 'processed'));
  }, 'the audit trail');

  log(`\naudit trail of ${correlationId}:`);
  for (const e of await bus.store.getEventsByCorrelationId(correlationId)) {
    const [rec] = await bus.store.processingOf(e.id);
    log(`  ${e.occurredAt}  ${e.type.padEnd(30)} ${e.priority.padEnd(8)} ${rec?.outcome ?? '-'} (attempt ${rec?.attempt ?? '-'})`);
  }

  const stats = await bus.monitor.getProcessingStats({ hours: 1 });
  const health = await bus.monitor.getHealthStatus();
  log(`\nsummary: ${stats.totalEvents} events stored in ${filename}, ${stats.processedEvents} processed, ` +
    `${vendorApiCalls} vendor API calls (2 retried), ${await bus.dlq.size()} in the DLQ, ` +
    `success rate ${stats.successRate}%, healthy: ${health.healthy}`);
  await bus.close();
  log(`done in ${Date.now() - t0} ms`);
  return { ok: notified && enriched };
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop()!);
if (isMain) {
  runDemo().then(
    ({ ok }) => {
      process.exitCode = ok ? 0 : 1;
    },
    (err) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
