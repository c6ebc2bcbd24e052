/**
 * `publish(input, { transaction })` straight onto a transport that can write in the application's
 * own transaction (the PostgreSQL transport's `publishWithin`), so the event needs no outbox relay.
 *
 * @module
 * @internal
 */

import type { SystemContext } from './context.js';
import type { OutgoingMessage, SignalOptions } from './contracts/transport.js';
import type { EventEnvelope } from './events/envelope.js';

/** A transport that writes messages through the application's open transaction. */
interface TransactionalTransport {
  publishWithin(client: unknown, stream: string, messages: readonly OutgoingMessage[]): Promise<string[]>;
}

/** A `pg` client (not a pool, not a kysely handle): the handle `publishWithin` writes through. */
function isPgClient(handle: unknown): boolean {
  if (typeof handle !== 'object' || handle === null) return false;
  const h = handle as Record<string, unknown>;
  if (typeof h.query !== 'function' || typeof h.executeQuery === 'function') return false;
  return !(typeof h.totalCount === 'number' && typeof h.idleCount === 'number');
}

/**
 * When the transport has `publishWithin` and `transaction` is a `pg` client inside `BEGIN`,
 * appends the events to the store as published and puts them on the transport, both in that
 * transaction: they exist (and are delivered once it commits) exactly when it commits. Returns
 * `false`, doing nothing, when this path does not apply (another transport, a kysely handle);
 * the caller then writes to the outbox as before.
 *
 * Store and transport must live in the database of that client (the same database; their
 * schemas may differ). A failure rejects and leaves the application's transaction aborted.
 *
 * @internal
 */
export async function publishInTransaction(
  ctx: SystemContext,
  transaction: unknown,
  envelopes: readonly EventEnvelope[],
  messages: readonly OutgoingMessage[],
  options: SignalOptions | undefined,
): Promise<boolean> {
  const transport = ctx.transport as Partial<TransactionalTransport>;
  if (typeof transport.publishWithin !== 'function' || !isPgClient(transaction)) return false;
  // The store checks the handle first (a client outside BEGIN is refused before anything is written).
  await ctx.store.append(envelopes, { transaction, published: true, ...(options?.signal ? { signal: options.signal } : {}) });
  await transport.publishWithin(transaction, ctx.config.eventStreamName, messages);
  return true;
}
