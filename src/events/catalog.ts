import { z } from 'zod';

/**
 * The catalog of procurement event types (the seed's full list). Values are the wire names.
 *
 * @example
 * ```ts
 * consumer.registerHandler(EventType.NEGOTIATION_STARTED, async (event) => { ... });
 * ```
 */
export const EventType = {
  // request
  REQUEST_CREATED: 'request.created',
  REQUEST_UPDATED: 'request.updated',
  REQUEST_APPROVED: 'request.approved',
  REQUEST_REJECTED: 'request.rejected',
  // vendor
  VENDOR_CREATED: 'vendor.created',
  VENDOR_UPDATED: 'vendor.updated',
  VENDOR_ENRICHMENT_STARTED: 'vendor.enrichment.started',
  VENDOR_ENRICHMENT_COMPLETED: 'vendor.enrichment.completed',
  VENDOR_ENRICHMENT_FAILED: 'vendor.enrichment.failed',
  // negotiation
  NEGOTIATION_STARTED: 'negotiation.started',
  NEGOTIATION_ROUND_STARTED: 'negotiation.round.started',
  NEGOTIATION_ROUND_COMPLETED: 'negotiation.round.completed',
  NEGOTIATION_OFFER_RECEIVED: 'negotiation.offer.received',
  NEGOTIATION_COMPLETED: 'negotiation.completed',
  NEGOTIATION_FAILED: 'negotiation.failed',
  // contract
  CONTRACT_CREATED: 'contract.created',
  CONTRACT_GENERATION_STARTED: 'contract.generation.started',
  CONTRACT_GENERATION_COMPLETED: 'contract.generation.completed',
  CONTRACT_SIGNED: 'contract.signed',
  CONTRACT_ACTIVATED: 'contract.activated',
  // notification
  NOTIFICATION_SEND: 'notification.send',
  NOTIFICATION_EMAIL: 'notification.email',
  NOTIFICATION_SLACK: 'notification.slack',
  NOTIFICATION_WEBHOOK: 'notification.webhook',
  // integration
  INTEGRATION_ERP_SYNC: 'integration.erp.sync',
  INTEGRATION_DOCUSIGN_SEND: 'integration.docusign.send',
  // system
  SYSTEM_ERROR: 'system.error',
  SYSTEM_WARNING: 'system.warning',
} as const;

/** A catalog event type name, e.g. `'negotiation.started'`. */
export type EventType = (typeof EventType)[keyof typeof EventType];

const id = z.string().min(1);
const money = z.number().finite().nonnegative();
const changes = z.record(z.string(), z.unknown());

/**
 * The zod payload schema (`event.data`) of every catalog type. Named fields are checked; extra
 * fields are kept, so producers can add context without a schema change.
 */
export const eventSchemas = {
  [EventType.REQUEST_CREATED]: z.looseObject({
    requestId: id,
    description: z.string().min(1),
    budgetMax: money.optional(),
    category: z.string().optional(),
  }),
  [EventType.REQUEST_UPDATED]: z.looseObject({ requestId: id, changes: changes.optional() }),
  [EventType.REQUEST_APPROVED]: z.looseObject({ requestId: id, approvedBy: z.string().optional() }),
  [EventType.REQUEST_REJECTED]: z.looseObject({ requestId: id, reason: z.string().min(1) }),

  [EventType.VENDOR_CREATED]: z.looseObject({ vendorId: id, name: z.string().min(1), category: z.string().optional() }),
  [EventType.VENDOR_UPDATED]: z.looseObject({ vendorId: id, changes: changes.optional() }),
  [EventType.VENDOR_ENRICHMENT_STARTED]: z.looseObject({ vendorId: id, category: z.string().optional() }),
  [EventType.VENDOR_ENRICHMENT_COMPLETED]: z.looseObject({
    vendorId: id,
    enrichedFields: z.array(z.string()).optional(),
    data: z.record(z.string(), z.unknown()).optional(),
  }),
  [EventType.VENDOR_ENRICHMENT_FAILED]: z.looseObject({ vendorId: id, error: z.string().min(1) }),

  [EventType.NEGOTIATION_STARTED]: z.looseObject({ negotiationId: id, requestId: id, vendorId: id }),
  [EventType.NEGOTIATION_ROUND_STARTED]: z.looseObject({
    negotiationId: id,
    roundNumber: z.number().int().positive(),
  }),
  [EventType.NEGOTIATION_ROUND_COMPLETED]: z.looseObject({
    negotiationId: id,
    roundNumber: z.number().int().positive(),
    outcome: z.string().optional(),
  }),
  [EventType.NEGOTIATION_OFFER_RECEIVED]: z.looseObject({
    negotiationId: id,
    amount: money,
    roundNumber: z.number().int().positive().optional(),
    offerId: z.string().optional(),
    currency: z.string().length(3).optional(),
  }),
  [EventType.NEGOTIATION_COMPLETED]: z.looseObject({
    negotiationId: id,
    outcome: z.enum(['accepted', 'rejected', 'withdrawn']).optional(),
    finalPrice: money.optional(),
  }),
  [EventType.NEGOTIATION_FAILED]: z.looseObject({ negotiationId: id, reason: z.string().min(1) }),

  [EventType.CONTRACT_CREATED]: z.looseObject({ contractId: id, negotiationId: z.string().optional() }),
  [EventType.CONTRACT_GENERATION_STARTED]: z.looseObject({ contractId: id, negotiationId: z.string().optional() }),
  [EventType.CONTRACT_GENERATION_COMPLETED]: z.looseObject({
    contractId: id,
    documentUrl: z.string().optional(),
  }),
  [EventType.CONTRACT_SIGNED]: z.looseObject({ contractId: id, signedBy: z.string().min(1) }),
  [EventType.CONTRACT_ACTIVATED]: z.looseObject({ contractId: id }),

  [EventType.NOTIFICATION_SEND]: z.looseObject({
    recipient: z.string().min(1),
    message: z.string().min(1),
    channel: z.enum(['email', 'slack', 'webhook', 'sms']).optional(),
  }),
  [EventType.NOTIFICATION_EMAIL]: z.looseObject({ to: z.string().min(3), subject: z.string().min(1), body: z.string() }),
  [EventType.NOTIFICATION_SLACK]: z.looseObject({ channel: z.string().min(1), message: z.string().min(1) }),
  [EventType.NOTIFICATION_WEBHOOK]: z.looseObject({ url: z.url(), payload: z.unknown().optional() }),

  [EventType.INTEGRATION_ERP_SYNC]: z.looseObject({
    system: z.string().min(1),
    entityType: z.string().optional(),
    entityId: z.string().optional(),
  }),
  [EventType.INTEGRATION_DOCUSIGN_SEND]: z.looseObject({ contractId: id, signerEmail: z.string().min(3) }),

  [EventType.SYSTEM_ERROR]: z.looseObject({
    message: z.string().min(1),
    component: z.string().optional(),
    stack: z.string().optional(),
  }),
  [EventType.SYSTEM_WARNING]: z.looseObject({ message: z.string().min(1), component: z.string().optional() }),
} satisfies Record<EventType, z.ZodType>;

/** The payload type (`event.data`) of a catalog event type, as accepted by the publisher. */
export type EventDataInput<T extends EventType> = z.input<(typeof eventSchemas)[T]>;
/** The payload type (`event.data`) of a catalog event type, as a handler receives it. */
export type EventData<T extends EventType> = z.output<(typeof eventSchemas)[T]>;
