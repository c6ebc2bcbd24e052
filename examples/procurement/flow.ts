/**
 * The procurement flow in one process on embedded defaults (memory transport, memory store unless
 * one is passed). `demo.ts` runs it with a SQLite store; the CLI bundles this same file as
 * `procur-bus demo`, so it runs from an installed package too.
 *
 * request -> negotiation -> contract -> notification events under one correlation id, a handler
 * that fails twice then succeeds (retries with backoff), a poison event that lands in the dead
 * letter queue and is replayed after the fix, the seed's four task queues run by a worker, then
 * the audit trail and a summary.
 */
import { randomUUID } from 'node:crypto';
import { createEventSystem, EventPriority, EventType, silentLogger, type EventStore, type EventSystem } from '@procur/event-bus';

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Where the lines go. @default console.log */
  log?: (line: string) => void;
  /** The event store. @default the memory store */
  store?: EventStore;
  /** Leave the system open (the caller closes it), e.g. to look at it in the dashboard. @default false */
  keepOpen?: boolean;
  /** How long to wait for each step, ms. @default 15000 */
  timeoutMs?: number;
}

/** What the demo did. */
export interface DemoResult {
  /** True when every step happened as expected. */
  ok: boolean;
  /** The correlation id of the flow. */
  correlationId: string;
  /** Events stored. */
  events: number;
  /** The system, when `keepOpen`. */
  bus: EventSystem | undefined;
}

/** Runs the procurement demo. @internal */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const timeoutMs = options.timeoutMs ?? 15_000;
  const t0 = Date.now();
  const ms = () => `${String(Date.now() - t0).padStart(5)} ms`;
  const waitFor = async (check: () => boolean | Promise<boolean>, what: string) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`demo: timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  const bus = await createEventSystem({
    ...(options.store ? { store: options.store } : {}),
    logger: silentLogger,
    source: 'procurement-demo',
    env: {},
    config: { retryBackoffMs: 100, retryBackoffMaxMs: 1000, dlqMaxRetries: 2, eventBlockTime: 100, workerHeartbeatMs: 1000 },
  });
  try {
    bus.on('failed', ({ event, attempt, error, retryInMs }) => {
      const next = retryInMs === undefined ? 'no retries left' : `retry in ${retryInMs} ms`;
      log(`${ms()}  !  ${event.type} attempt ${attempt} failed: ${error.message} (${next})`);
    });
    bus.on('dead-lettered', ({ event, attempts }) => log(`${ms()}  x  ${event?.type} moved to the dead letter queue after ${attempts} attempts`));

    // The seed's four task queues.
    bus.tasks.define('process_negotiation_round', { queue: 'negotiation', priority: EventPriority.HIGH, maxRetries: 3 }, async (a: { negotiationId: string; roundNumber: number }) => ({
      negotiationId: a.negotiationId,
      offer: 50_000 - a.roundNumber * 2_500,
    }));
    bus.tasks.define('enrich_vendor_data', { queue: 'enrichment', maxRetries: 5 }, async (a: { vendorId: string }) => ({ vendorId: a.vendorId, enrichedFields: ['employees', 'revenue'] }));
    bus.tasks.define('generate_contract', { queue: 'contracts', priority: EventPriority.HIGH, maxRetries: 3 }, async (a: { negotiationId: string }) => ({
      contractId: `ctr-${a.negotiationId}`,
    }));
    bus.tasks.define('send_notification', { queue: 'notifications', maxRetries: 5 }, async (a: { recipient: string }) => ({ delivered: true, recipient: a.recipient }));
    const worker = bus.worker({ name: 'demo', queues: { negotiation: 4, enrichment: 2, contracts: 2, notifications: 4 } });
    await worker.start();

    const flow = bus.consumer('procurement-flow');
    let vendorApiCalls = 0;
    let enrichmentFixed = false;
    let notified = false;
    let enriched = false;

    flow.registerHandler(EventType.REQUEST_CREATED, async (e) => {
      log(`${ms()}  >  request ${e.data.requestId} created: "${e.data.description}", budget ${e.data.budgetMax}`);
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
      log(`${ms()}  >  negotiation ${e.data.negotiationId} with ${e.data.vendorId} ran on attempt ${ctx.attempt}`);
      const round = await (await bus.tasks.send('process_negotiation_round', { negotiationId: e.data.negotiationId, roundNumber: 1 }, { correlationId: e.correlationId })).get({ timeoutMs });
      log(`${ms()}  >  task process_negotiation_round: offer ${(round as { offer: number }).offer}`);
      await bus.publisher.publishNegotiationCompleted({
        negotiationId: e.data.negotiationId, outcome: 'accepted', finalPrice: 42_000,
        userId: e.userId, organizationId: e.organizationId, correlationId: e.correlationId, causationId: e.id,
      });
    });
    flow.registerHandler(EventType.NEGOTIATION_COMPLETED, async (e) => {
      log(`${ms()}  >  negotiation ${e.data.negotiationId} ${e.data.outcome} at ${e.data.finalPrice}`);
      const contract = await (await bus.tasks.send('generate_contract', { negotiationId: e.data.negotiationId }, { correlationId: e.correlationId })).get({ timeoutMs });
      const contractId = (contract as { contractId: string }).contractId;
      log(`${ms()}  >  task generate_contract: ${contractId}`);
      await bus.publisher.publishContractGenerationCompleted({
        contractId, documentUrl: `https://contracts.example/${contractId}.pdf`,
        userId: e.userId, organizationId: e.organizationId, correlationId: e.correlationId, causationId: e.id,
      });
    });
    flow.registerHandler(EventType.CONTRACT_GENERATION_COMPLETED, async (e) => {
      log(`${ms()}  >  contract ${e.data.contractId} generated: ${e.data.documentUrl}`);
      await bus.tasks.send('send_notification', { recipient: 'buyer@acme.example' }, { correlationId: e.correlationId });
      await bus.publisher.publishNotificationSend({
        recipient: 'buyer@acme.example', message: `Contract ${e.data.contractId} is ready to sign`, channel: 'email',
        userId: e.userId, organizationId: e.organizationId, correlationId: e.correlationId, causationId: e.id,
      });
    });
    flow.registerHandler(EventType.NOTIFICATION_SEND, (e) => {
      log(`${ms()}  >  notified ${e.data.recipient}: ${e.data.message}`);
      notified = true;
    });
    flow.registerHandler(EventType.VENDOR_ENRICHMENT_STARTED, async (e) => {
      // A poison event: the enrichment source rejects this vendor until the bug is fixed.
      if (!enrichmentFixed) throw new Error(`enrichment source rejects vendor '${e.data.vendorId}'`);
      await bus.tasks.send('enrich_vendor_data', { vendorId: e.data.vendorId }, { correlationId: e.correlationId });
      log(`${ms()}  >  vendor ${e.data.vendorId} enriched after replay`);
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
      const trail = (await bus.store.getEventsByCorrelationId(correlationId)).filter((e) => !e.type.startsWith('task.'));
      const records = await Promise.all(trail.map((e) => bus.store.processingOf(e.id)));
      return trail.length === 5 && records.every((r) => r.some((x) => x.outcome === 'processed'));
    }, 'the audit trail');
    await waitFor(async () => (await bus.inspect.stats())[worker.id]?.processed === 4, 'the four tasks');

    log(`\naudit trail of ${correlationId}:`);
    for (const e of await bus.store.getEventsByCorrelationId(correlationId)) {
      if (e.type.startsWith('task.')) continue;
      const [rec] = await bus.store.processingOf(e.id);
      log(`  ${e.occurredAt}  ${e.type.padEnd(30)} ${e.priority.padEnd(8)} ${rec?.outcome ?? '-'} (attempt ${rec?.attempt ?? '-'})`);
    }
    const stats = await bus.monitor.getProcessingStats({ hours: 1 });
    const byType = await bus.monitor.getEventTypeStats({ hours: 1 });
    const health = await bus.monitor.getHealthStatus();
    const w = (await bus.inspect.stats())[worker.id];
    // The store keeps two kinds of events: the flow's domain events (handled by the consumer) and
    // the task lifecycle events the task queues write (task.sent, task.started, task.succeeded, ...).
    let domainEvents = 0;
    let taskEvents = 0;
    for (const [type, count] of Object.entries(byType)) {
      if (type.startsWith('task.')) taskEvents += count;
      else domainEvents += count;
    }
    log(
      `\nsummary: ${stats.totalEvents} events stored (${options.store?.name ?? 'memory'} store): ` +
        `${domainEvents} domain events, ${stats.processedEvents} of them processed by the flow's handlers, ` +
        `and ${taskEvents} task lifecycle events (task.*) of the ${w?.processed ?? 0} tasks run by worker ${worker.id}; ` +
        `${vendorApiCalls} vendor API calls (2 retried), ${await bus.dlq.size()} in the DLQ, success rate ${stats.successRate}%, healthy: ${health.healthy}`,
    );
    log(`done in ${Date.now() - t0} ms`);
    if (!options.keepOpen) await bus.close();
    return { ok: notified && enriched, correlationId, events: stats.totalEvents, bus: options.keepOpen ? bus : undefined };
  } catch (err) {
    await bus.close().catch(() => {});
    throw err;
  }
}
