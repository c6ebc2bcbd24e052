/**
 * The seed's four Celery queues and tasks, as @procur/event-bus tasks.
 *
 * | task                       | queue         | concurrency | priority |
 * |----------------------------|---------------|-------------|----------|
 * | process_negotiation_round  | negotiation   | 4           | high     |
 * | enrich_vendor_data         | enrichment    | 2           | normal   |
 * | generate_contract          | contracts     | 2           | high     |
 * | send_notification          | notifications | 4           | normal   |
 *
 * plus the built-in daily `cleanup_old_events` on the `maintenance` queue.
 */
import { z } from 'zod';
import { EventPriority, type EventSystem } from '@procur/event-bus';

/** Worker concurrency per queue (the seed's `start_workers.sh`). */
export const PROCUREMENT_QUEUES = { negotiation: 4, enrichment: 2, contracts: 2, notifications: 4, maintenance: 1 } as const;

/** Defines the procurement tasks on a system and returns them. */
export function defineProcurementTasks(bus: EventSystem) {
  const processNegotiationRound = bus.tasks.define(
    'process_negotiation_round',
    {
      queue: 'negotiation',
      priority: EventPriority.HIGH,
      maxRetries: 3,
      backoff: { type: 'exponential', delayMs: 500, maxDelayMs: 10_000, jitter: 0.2 },
      timeoutMs: 60_000,
      schema: z.object({ negotiationId: z.string(), roundNumber: z.number().int().positive() }),
    },
    async ({ negotiationId, roundNumber }, ctx) => {
      await bus.publisher.publishNegotiationRoundStarted({ negotiationId, roundNumber, correlationId: ctx.correlationId });
      // ... call the vendor, score the offer ...
      const offer = 50_000 - roundNumber * 2_500;
      await bus.publisher.publishNegotiationRoundCompleted({ negotiationId, roundNumber, outcome: 'counter-offer', correlationId: ctx.correlationId });
      return { negotiationId, roundNumber, offer, worker: process.pid };
    },
  );

  const enrichVendorData = bus.tasks.define(
    'enrich_vendor_data',
    { queue: 'enrichment', maxRetries: 5, schema: z.object({ vendorId: z.string(), category: z.string().optional() }) },
    async ({ vendorId, category }, ctx) => {
      await bus.publisher.publishVendorEnrichmentStarted({ vendorId, category, correlationId: ctx.correlationId });
      const enrichedFields = ['employees', 'revenue', 'certifications'];
      await bus.publisher.publishVendorEnrichmentCompleted({ vendorId, enrichedFields, correlationId: ctx.correlationId });
      return { vendorId, enrichedFields, worker: process.pid };
    },
  );

  const generateContract = bus.tasks.define(
    'generate_contract',
    { queue: 'contracts', priority: EventPriority.HIGH, maxRetries: 3, timeoutMs: 120_000, schema: z.object({ negotiationId: z.string() }) },
    async ({ negotiationId }, ctx) => {
      const contractId = `ctr-${negotiationId}`;
      await bus.publisher.publishContractGenerationStarted({ contractId, negotiationId, correlationId: ctx.correlationId });
      const documentUrl = `https://contracts.example/${contractId}.pdf`;
      await bus.publisher.publishContractGenerationCompleted({ contractId, documentUrl, correlationId: ctx.correlationId });
      return { contractId, documentUrl, worker: process.pid };
    },
  );

  const sendNotification = bus.tasks.define(
    'send_notification',
    {
      queue: 'notifications',
      maxRetries: 5,
      schema: z.object({ recipient: z.string(), message: z.string(), channel: z.enum(['email', 'slack', 'webhook', 'sms']).default('email') }),
    },
    async ({ recipient, message, channel }, ctx) => {
      await bus.publisher.publishNotificationSend({ recipient, message, channel, correlationId: ctx.correlationId });
      return { delivered: true, channel, worker: process.pid };
    },
  );

  return { processNegotiationRound, enrichVendorData, generateContract, sendNotification };
}
