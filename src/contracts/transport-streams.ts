/**
 * The message-streams role of the transport: publish, consumer groups, receive, ack, nack,
 * redeliver, claim and touch. Checked by `describeMessageStreams` (from `./testing`).
 *
 * @module
 */

import type { SignalOptions, TransportPart } from './transport.js';

/** A message to publish. */
export interface OutgoingMessage {
  /** The encoded message (the core writes JSON). Opaque to the transport. */
  body: string;
  /**
   * Priority rank, `0` (lowest) to `3` (highest). A group with a backlog is served the highest
   * rank first; within one rank, in publish order. @default 1
   */
  priority?: number;
  /**
   * Deliver no earlier than now + `delayMs` (ETA, countdown). The message is not visible to
   * any group before then and is never pending while it waits. @default 0
   */
  delayMs?: number;
  /**
   * The key a partitioned stream routes by (`eventStreamPartitions`, `partitionTransport`):
   * messages with one key go to one partition, in order. Adapters ignore it. @default the
   * `correlationId` of the JSON envelope in `body`, else partition 0
   */
  partitionKey?: string;
}

/** A message handed back to one group by {@link MessageStreams.redeliver}, with the attempt it continues. */
export interface RedeliverMessage extends OutgoingMessage {
  /** The attempt number the delivery carries (DLQ replay keeps the count). @default 1 */
  attempt?: number;
}

/** A message handed to one consumer of one group. */
export interface Delivery {
  /**
   * Identifies this delivery for `ack`, `nack`, `deadLetter` and `touch`. Opaque; unique within
   * (stream, group) while the delivery is pending.
   */
  deliveryId: string;
  /** The stream it was read from. */
  stream: string;
  /** The group it was delivered to. */
  group: string;
  /** The message body as published. */
  body: string;
  /** Priority rank `0`-`3`. */
  priority: number;
  /**
   * Which delivery this is for the group, from 1. It grows by one with every `nack` (unless
   * `{ countAttempt: false }`) and every `claimStale`.
   */
  attempt: number;
  /** When the message was first published (ms since the epoch). */
  publishedAt: number;
}

/** Options of {@link MessageStreams.ensureGroup}. */
export interface EnsureGroupOptions extends SignalOptions {
  /** Where a new group starts: the beginning of what the stream keeps, or its end (only new messages). @default 'beginning' */
  startAt?: 'beginning' | 'end';
}

/** Options of {@link MessageStreams.receive}. */
export interface ReceiveOptions extends SignalOptions {
  /** The consumer group. It must exist ({@link MessageStreams.ensureGroup}). */
  group: string;
  /** This consumer's name, unique within the group (e.g. `host:pid:name`). */
  consumer: string;
  /** At most this many deliveries. @default 10 */
  max?: number;
  /** Wait up to this long (ms) for a message when none is ready; 0 returns at once. @default 0 */
  blockMs?: number;
  /**
   * Deliveries of this group to acknowledge first, as {@link MessageStreams.ack} would, sent with
   * the read in one round trip where the adapter can (Redis pipelines the `XACK` with the read).
   * They are acknowledged whether or not anything is read. When `receive` throws, or returns early
   * because `signal` was aborted, they may not be: acknowledge them again (acks are idempotent).
   */
  ack?: readonly string[];
}

/** Options of {@link MessageStreams.nack}. */
export interface NackOptions extends SignalOptions {
  /** Redeliver no earlier than now + `delayMs`. @default 0 */
  delayMs?: number;
  /**
   * Whether the redelivery counts as a new attempt (`attempt + 1`). `false` for a message handed
   * back unprocessed (shutdown, `RetryLaterError`). @default true
   */
  countAttempt?: boolean;
}

/** Options of {@link MessageStreams.claimStale}. */
export interface ClaimOptions extends SignalOptions {
  /** The group whose pending deliveries to scan. */
  group: string;
  /** The consumer taking them over. */
  consumer: string;
  /** Only deliveries idle at least this long (ms) are claimed. */
  minIdleMs: number;
  /** At most this many. @default 100 */
  max?: number;
}

/**
 * Message streams with consumer groups: the role that moves messages between publishers and
 * consumers.
 *
 * - a **stream** is an append-only log of messages, named by the core (`procur:events`,
 *   `procur:tasks:contracts`). Adapters may map one stream to several keys (one per priority).
 * - a **group** (consumer group) reads a stream once: each message goes to exactly one member
 *   of the group. Different groups each get every message published after they were created.
 * - a **delivery** is one message handed to one consumer of one group. It stays *pending* until
 *   acked, nacked, dead-lettered, or claimed by another consumer after it has sat idle.
 *
 * Declared by `features.streams` (default `true`).
 */
export interface MessageStreams extends TransportPart {
  /**
   * Appends messages to `stream` in one round trip. Returns the transport's id of each message,
   * in order. Messages with `delayMs` become visible when their delay is over.
   *
   * @throws `TransportError` when the backend cannot be reached within the adapter's bounded wait.
   */
  publish(stream: string, messages: readonly OutgoingMessage[], options?: SignalOptions): Promise<string[]>;

  /**
   * Creates consumer group `group` on `stream` (and the stream) when missing; idempotent (an
   * existing group is never reset). A new group starts at the beginning of what the stream keeps
   * (`'0'`), so nothing published before it existed is skipped, unless `startAt: 'end'` (only
   * messages published after it, `'$'`).
   */
  ensureGroup(stream: string, group: string, options?: EnsureGroupOptions): Promise<void>;

  /**
   * Hands up to `max` ready messages to this consumer, highest priority first, and marks them
   * pending for the consumer. Ready means: new to the group, or due for redelivery to it after a
   * `nack`. When none is ready it waits up to `blockMs`. Returns `[]` when the wait ends empty or
   * `signal` aborts (it never rejects because of an abort), or when the transport closes.
   */
  receive(stream: string, options: ReceiveOptions): Promise<Delivery[]>;

  /**
   * Acknowledges deliveries: they leave the pending list for good. Idempotent: unknown or
   * already-acked ids are ignored.
   */
  ack(stream: string, group: string, deliveryIds: readonly string[], options?: SignalOptions): Promise<void>;

  /**
   * Hands a delivery back: it leaves the pending list and is redelivered to the same group only
   * (no other group sees it again), no earlier than now + `delayMs`, with `attempt + 1` (unless
   * `countAttempt: false`). Atomic: the message is never both pending and scheduled, and is
   * never lost in between. A no-op for an unknown delivery id.
   */
  nack(stream: string, group: string, deliveryId: string, options?: NackOptions): Promise<void>;

  /**
   * Delivers `messages` to one group of `stream` only (DLQ replay, targeted redelivery), after
   * `delayMs` each when given, with the `attempt` each carries. Other groups do not see them.
   * Returns their ids.
   */
  redeliver(stream: string, group: string, messages: readonly RedeliverMessage[], options?: SignalOptions): Promise<string[]>;

  /**
   * Takes over deliveries of the group that have sat pending (not acked, not touched) for at least
   * `minIdleMs`, e.g. because their consumer died. Race-safe: when several consumers claim at once,
   * each delivery goes to exactly one of them. Claimed deliveries come back with `attempt + 1`
   * and count as fresh (idle 0) for their new owner.
   */
  claimStale(stream: string, options: ClaimOptions): Promise<Delivery[]>;

  /** Resets the idle time of pending deliveries (long handlers), so they are not claimed. */
  touch(stream: string, group: string, consumer: string, deliveryIds: readonly string[], options?: SignalOptions): Promise<void>;
}
