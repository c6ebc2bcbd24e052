import { createEventSystem, EventType, EventPriority } from '@procur/event-bus';

const bus = await createEventSystem(); // memory transport + memory store: no infrastructure

const consumer = bus.consumer('negotiation-service');
consumer.registerHandler(EventType.NEGOTIATION_STARTED, async (event, ctx) => {
  console.log(`negotiation ${event.data.negotiationId} (attempt ${ctx.attempt})`);
});
await consumer.start();
const handled = new Promise((resolve) => bus.on('handled', resolve)); // a local lifecycle hook

const correlationId = crypto.randomUUID();
await bus.publisher.publishRequestCreated({
  requestId: 'req-001', userId: 1, organizationId: 'acme-corp',
  description: 'Need CRM', budgetMax: 50_000, correlationId,
});
await bus.publisher.publishNegotiationStarted({
  negotiationId: 'neg-001', requestId: 'req-001', vendorId: 'salesforce', userId: 1, correlationId,
});
await bus.publisher.publish({
  type: EventType.VENDOR_ENRICHMENT_STARTED,
  data: { vendorId: 'salesforce', category: 'crm' },
  priority: EventPriority.HIGH,
});

await handled;
console.log(await bus.store.getEventsByCorrelationId(correlationId)); // the audit trail
await bus.close();
