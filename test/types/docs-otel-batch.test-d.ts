// The examples of docs/tracing.md and of docs/events.md "Batch handlers", verbatim, type-checked
// (test/unit/docs-examples.test.ts checks that each block of those docs is here).
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, BatchSpanProcessor, ConsoleSpanExporter } from '@opentelemetry/sdk-trace-base';
import { createEventSystem } from '@procur/event-bus';
import { BatchError, UnrecoverableError, defineEvent, type EventSystem } from '@procur/event-bus';
import { z } from 'zod';

declare const bus: EventSystem;
declare const ledger: { insertMany(rows: { invoiceId: string; amount: number }[]): Promise<string[]> };

export async function tracingSetup(): Promise<EventSystem> {
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(new ConsoleSpanExporter())] }));
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

const bus = await createEventSystem(); // tracing: true is the default
  return bus;
}

export async function batchHandlers(): Promise<void> {
const InvoicePaid = defineEvent('invoice.paid', z.object({ invoiceId: z.string(), amount: z.number() }));

const ledgerConsumer = bus.consumer('ledger');
ledgerConsumer.registerBatchHandler(
  InvoicePaid,
  async (events, ctx) => {
    const valid = events.filter((e) => {
      if (e.data.amount >= 0) return true;
      ctx.fail(e, new UnrecoverableError('negative amount')); // dead-lettered at once, alone
      return false;
    });
    const refused = await ledger.insertMany(valid.map((e) => e.data)); // a throw here retries the batch
    if (refused.length > 0) throw new BatchError(refused.map((id) => [id, new Error('refused by the ledger')] as const));
  },
  { maxSize: 500, maxWaitMs: 100 },
);
await ledgerConsumer.start();
}
