/**
 * The dead-letter role of the transport: a small verb set beside the message streams. Checked by
 * `describeDeadLetters` (from `./testing`).
 *
 * Why verbs and not a stream family: moving a delivery to the DLQ must leave the pending list in
 * the same atomic step, so it belongs to the adapter that holds the streams; and a DLQ is read by
 * id and by page, counted and deleted by id, which are not consumer-group verbs. Modelling the
 * DLQ as ordinary streams would add range reads and deletes to every stream and push the entry's
 * metadata (error, stack, attempts, context) into the body. So the streams adapter provides these
 * six verbs too (`createEventSystem({ streams })` takes both from one object).
 *
 * @module
 */

import type { Delivery, MessageStreams } from './transport-streams.js';
import type { SignalOptions, TransportPart } from './transport.js';

/** A message to move to the dead letter queue. */
export interface DeadLetterInput {
  /** The DLQ to write to (a stream name, `procur:dlq` by default). */
  dlq: string;
  /** Why the message failed (the last error's message, or a decode error). */
  error: string;
  /** The last error's stack, when there is one. */
  stack?: string;
  /** How many attempts were made. */
  attempts: number;
  /** Extra string context kept with the entry (e.g. event type, consumer name). */
  context?: Record<string, string>;
}

/** An entry of a dead letter queue. */
export interface DeadLetter {
  /** The entry's id in the DLQ. */
  id: string;
  /** The stream the message was read from. */
  stream: string;
  /** The group that failed to process it. */
  group: string;
  /** The message body as published. */
  body: string;
  /** Priority rank `0`-`3`. */
  priority: number;
  /** The error message. */
  error: string;
  /** The error stack, when there was one. */
  stack?: string;
  /** Attempts made before it was dead-lettered. */
  attempts: number;
  /** When it was dead-lettered (ms since the epoch). */
  failedAt: number;
  /** Extra context given by the core. */
  context: Record<string, string>;
}

/** Options of {@link DeadLetters.listDeadLetters}. */
export interface ListDeadLettersOptions extends SignalOptions {
  /** At most this many entries, oldest first. @default 100 */
  limit?: number;
  /** Only entries after this DLQ id (cursor paging: pass the last id of the previous page). */
  after?: string;
}

/**
 * Dead letter queues: where the core moves deliveries that failed for good. Provided by the
 * adapter that provides the {@link MessageStreams} (the move is atomic with the pending list).
 * Declared by `features.deadLetters` (default `true`).
 */
export interface DeadLetters extends TransportPart {
  /**
   * Moves a pending delivery to the dead letter queue `input.dlq` and removes it from the
   * pending list, atomically. Returns the DLQ entry id. For an unknown delivery id it still
   * records the entry only when `body` is given, else it is a no-op returning `undefined`.
   */
  deadLetter(
    stream: string,
    group: string,
    delivery: Pick<Delivery, 'deliveryId' | 'body' | 'priority'>,
    input: DeadLetterInput,
    options?: SignalOptions,
  ): Promise<string | undefined>;

  /** Lists DLQ entries, oldest first (at most `limit`, after the cursor `after`). */
  listDeadLetters(dlq: string, options?: ListDeadLettersOptions): Promise<DeadLetter[]>;
  /** One DLQ entry, or `undefined`. */
  getDeadLetter(dlq: string, id: string, options?: SignalOptions): Promise<DeadLetter | undefined>;
  /** Deletes DLQ entries; returns how many existed. Idempotent. */
  deleteDeadLetters(dlq: string, ids: readonly string[], options?: SignalOptions): Promise<number>;
  /** The number of entries in a DLQ. */
  countDeadLetters(dlq: string, options?: SignalOptions): Promise<number>;
  /** Deletes every entry of a DLQ; returns how many there were. */
  purgeDeadLetters(dlq: string, options?: SignalOptions): Promise<number>;
}
