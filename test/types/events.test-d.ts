/**
 * Type tests of the typed event API (issue 16, item 1), run by `npm test` (vitest typecheck,
 * see vitest.config.ts) and by `npm run typecheck`. Every `@ts-expect-error` must stay an error:
 * if a regression lets the line compile, the directive itself fails.
 */
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { EventType, defineEvent, type EventEnvelope, type EventSystem, type PublishInput } from '@procur/event-bus';
import { waitForEvent } from '@procur/event-bus/testing';

declare module '@procur/event-bus' {
  interface EventTypeRegistry {
    'typed.registry': { orderId: string; total?: number };
  }
}

declare const bus: EventSystem;
const consumer = bus.consumer('types');
const InvoicePaid = defineEvent('typed.invoice.paid', z.object({ invoiceId: z.string(), amount: z.number(), note: z.string().default('') }));

describe('publish', () => {
  it('checks catalog types and their payloads', () => {
    void bus.publisher.publish({ type: EventType.NEGOTIATION_STARTED, data: { negotiationId: 'n', requestId: 'r', vendorId: 'v' } });
    void bus.publisher.publish({ type: 'negotiation.started', data: { negotiationId: 'n', requestId: 'r', vendorId: 'v' }, priority: 'high' });
    // @ts-expect-error: a misspelled type
    void bus.publisher.publish({ type: 'negotiation.startd', data: { negotiationId: 'n', requestId: 'r', vendorId: 'v' } });
    // @ts-expect-error: negotiationId must be a string
    void bus.publisher.publish({ type: EventType.NEGOTIATION_STARTED, data: { negotiationId: 1, requestId: 'r', vendorId: 'v' } });
    // @ts-expect-error: a required field is missing
    void bus.publisher.publish({ type: EventType.NEGOTIATION_STARTED, data: { negotiationId: 'n', requestId: 'r' } });
    // @ts-expect-error: a misspelled optional field
    void bus.publisher.publish({ type: EventType.REQUEST_CREATED, data: { requestId: 'r', description: 'd', budgetMaxx: 5 } });
    // @ts-expect-error: a bad priority
    void bus.publisher.publish({ type: EventType.CONTRACT_ACTIVATED, data: { contractId: 'c' }, priority: 'urgent' });
  });

  it('checks defineEvent types, by definition and by their .type', () => {
    void bus.publisher.publish({ type: InvoicePaid, data: { invoiceId: 'i', amount: 1 } });
    void bus.publisher.publish({ type: InvoicePaid.type, data: { invoiceId: 'i', amount: 1, note: 'n' } });
    // @ts-expect-error: amount must be a number
    void bus.publisher.publish({ type: InvoicePaid, data: { invoiceId: 'i', amount: '1' } });
    // @ts-expect-error: amount must be a number (by name too)
    void bus.publisher.publish({ type: InvoicePaid.type, data: { invoiceId: 'i', amount: '1' } });
    // @ts-expect-error: an unknown field
    void bus.publisher.publish({ type: InvoicePaid, data: { invoiceId: 'i', amount: 1, amont: 2 } });
  });

  it('checks names declared in EventTypeRegistry', () => {
    void bus.publisher.publish({ type: 'typed.registry', data: { orderId: 'o' } });
    // @ts-expect-error: orderId must be a string
    void bus.publisher.publish({ type: 'typed.registry', data: { orderId: 1 } });
  });

  it('types task lifecycle events', () => {
    consumer.registerHandler('task.succeeded', (e) => {
      expectTypeOf(e.data.taskId).toEqualTypeOf<string>();
    });
  });

  it('keeps a runtime string as the escape hatch (data unknown, checked at run time)', () => {
    const type: string = String(Math.random());
    void bus.publisher.publish({ type, data: { anything: 1 } });
    void bus.publisher.publish({ type: 'made.up' as string, data: 1 });
    const inputs: PublishInput[] = [{ type, data: null }];
    void bus.publisher.publishMany(inputs);
    // A variable (not a literal) may carry extra context fields, as before.
    const data = { message: 'm', sentAt: 1 };
    void bus.publisher.publish({ type: EventType.SYSTEM_WARNING, data });
  });
});

describe('publishMany', () => {
  it('checks each input by its own type', () => {
    void bus.publisher.publishMany([
      { type: EventType.CONTRACT_ACTIVATED, data: { contractId: 'c' } },
      { type: InvoicePaid, data: { invoiceId: 'i', amount: 2 } },
      { type: 'typed.registry', data: { orderId: 'o' } },
    ]);
    void bus.publisher.publishMany([
      { type: EventType.CONTRACT_ACTIVATED, data: { contractId: 'c' } },
      // @ts-expect-error: contract.signed needs signedBy
      { type: EventType.CONTRACT_SIGNED, data: { contractId: 'c' } },
    ]);
    // @ts-expect-error: a misspelled type
    void bus.publisher.publishMany([{ type: 'contract.activatd', data: { contractId: 'c' } }]);
  });
});

describe('catalog helpers', () => {
  it('take the named payload fields and envelope fields only', () => {
    void bus.publisher.publishRequestCreated({ requestId: 'r', description: 'd', budgetMax: 5, correlationId: 'c', userId: 7 });
    // @ts-expect-error: a misspelled field
    void bus.publisher.publishRequestCreated({ requestId: 'r', description: 'd', budgetMaxx: 5 });
    // @ts-expect-error: a misspelled envelope field
    void bus.publisher.publishRequestCreated({ requestId: 'r', description: 'd', correlationID: 'c' });
    // @ts-expect-error: a missing required field
    void bus.publisher.publishNegotiationStarted({ negotiationId: 'n', requestId: 'r' });
  });
});

describe('registerHandler', () => {
  it('narrows event.data by type', () => {
    consumer.registerHandler(EventType.NEGOTIATION_STARTED, (event) => {
      expectTypeOf(event.data.vendorId).toEqualTypeOf<string>();
      // Consumers accept extra fields of other producers.
      expectTypeOf(event.data).toHaveProperty('anythingElse').toEqualTypeOf<unknown>();
    });
    consumer.registerHandler(InvoicePaid, (event) => {
      expectTypeOf(event.data).toEqualTypeOf<{ invoiceId: string; amount: number; note: string }>();
    });
    consumer.registerHandler(InvoicePaid.type, (event) => {
      expectTypeOf(event.data.amount).toEqualTypeOf<number>();
    });
    consumer.registerHandler('typed.registry', (event) => {
      expectTypeOf(event.data.orderId).toEqualTypeOf<string>();
    });
    consumer.registerHandler('*', (event) => {
      expectTypeOf(event.data).toEqualTypeOf<unknown>();
    });
    // @ts-expect-error: a misspelled type
    consumer.registerHandler('negotiation.startd', () => {});
    consumer.registerHandler(EventType.NEGOTIATION_STARTED, (event) => {
      // @ts-expect-error: not a field of negotiation.started
      event.data.budgetMax.toFixed();
    });
    const dynamic: string = 'x';
    consumer.registerHandler(dynamic, (event) => {
      expectTypeOf(event.data).toEqualTypeOf<unknown>();
    });
  });
});

describe('waitForEvent', () => {
  it('narrows by type and definition', async () => {
    const e = await waitForEvent(bus, InvoicePaid);
    expectTypeOf(e).toEqualTypeOf<EventEnvelope<{ invoiceId: string; amount: number; note: string }>>();
    const c = await waitForEvent(bus, EventType.CONTRACT_SIGNED, { predicate: (ev) => ev.data.signedBy === 'x' });
    expectTypeOf(c.data.signedBy).toEqualTypeOf<string>();
    // @ts-expect-error: a misspelled type
    await waitForEvent(bus, 'contract.signd');
  });
});
