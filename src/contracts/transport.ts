/**
 * The Transport contract: how messages move between processes. Its TSDoc is the specification
 * every adapter (memory, Redis) implements and `describeTransport` (from `./testing`) checks.
 *
 * Vocabulary, after Redis Streams:
 * - a **stream** is an append-only log of messages, named by the core (`procur:events`,
 *   `procur:tasks:contracts`). Adapters may map one stream to several keys (one per priority).
 * - a **group** (consumer group) reads a stream once: each message goes to exactly one member
 *   of the group. Different groups each get every message published after they were created.
 * - a **delivery** is one message handed to one consumer of one group. It stays *pending* until
 *   acked, nacked, dead-lettered, or claimed by another consumer after it has sat idle.
 *
 * Adapters move bytes and state; retries, backoff, dead-letter decisions, validation and
 * concurrency live in the core. Every method may be called concurrently. After `close()` every
 * method rejects with a `ClosedError` (code `ERR_CLOSED`), except `close()` itself.
 *
 * @module
 */

/** Options every async contract method accepts. */
export interface SignalOptions {
  /** Aborts the call: it rejects (with the signal's reason) as soon as it can. */
  signal?: AbortSignal;
}

/** What an adapter can do, declared so the core and the conformance suite can adapt. */
export interface TransportFeatures {
  /** Messages survive a restart of the process (Redis: yes; memory: no). */
  readonly persistent: boolean;
  /** Several processes can share the transport (Redis: yes; memory: no). */
  readonly distributed: boolean;
}

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

/** Options of {@link Transport.receive}. */
export interface ReceiveOptions extends SignalOptions {
  /** The consumer group. It must exist ({@link Transport.ensureGroup}). */
  group: string;
  /** This consumer's name, unique within the group (e.g. `host:pid:name`). */
  consumer: string;
  /** At most this many deliveries. @default 10 */
  max?: number;
  /** Wait up to this long (ms) for a message when none is ready; 0 returns at once. @default 0 */
  blockMs?: number;
  /**
   * Deliveries of this group to acknowledge first, as {@link Transport.ack} would, sent with the
   * read in one round trip where the adapter can (Redis pipelines the `XACK` with the read). They
   * are acknowledged whether or not anything is read. When `receive` throws, or returns early
   * because `signal` was aborted, they may not be: acknowledge them again (acks are idempotent).
   */
  ack?: readonly string[];
}

/** Options of {@link Transport.nack}. */
export interface NackOptions extends SignalOptions {
  /** Redeliver no earlier than now + `delayMs`. @default 0 */
  delayMs?: number;
  /**
   * Whether the redelivery counts as a new attempt (`attempt + 1`). `false` for a message handed
   * back unprocessed (shutdown, `RetryLaterError`). @default true
   */
  countAttempt?: boolean;
}

/** Options of {@link Transport.claimStale}. */
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

/** Options of {@link Transport.listDeadLetters}. */
export interface ListDeadLettersOptions extends SignalOptions {
  /** At most this many entries, oldest first. @default 100 */
  limit?: number;
  /** Only entries after this DLQ id (cursor paging: pass the last id of the previous page). */
  after?: string;
}

/** Options of {@link Transport.kvSet}. */
export interface KvSetOptions extends SignalOptions {
  /** Expire after this many ms. @default no expiry */
  ttlMs?: number;
  /** Only set when the key does not exist (a lock). */
  ifAbsent?: boolean;
  /** Only set when the key currently holds exactly this value (renew a lock you hold). */
  ifEquals?: string;
}

/** The state of one group on a stream, for the monitor. */
export interface GroupInfo {
  /** The group name. */
  name: string;
  /** Deliveries handed out and not yet acked (Redis: XPENDING count). */
  pending: number;
  /** Messages in the stream the group has not read yet (its backlog). */
  lag: number;
  /** The backlog per priority rank, index 0 (low) to 3 (critical); sums to `lag`. */
  lagByPriority: number[];
  /** Messages waiting for a delayed redelivery to this group. */
  retrying: number;
  /** Consumers known in the group. */
  consumers: number;
  /** Age (ms) of the oldest pending delivery, 0 when none. */
  oldestPendingMs: number;
}

/** The state of a stream, for the monitor. */
export interface StreamInfo {
  /** The stream name. */
  stream: string;
  /** Messages held in the stream (all priorities). */
  length: number;
  /** Messages held per priority rank, index 0 (low) to 3 (critical). */
  lengthByPriority: number[];
  /** Messages published with a delay that is not over yet. */
  delayed: number;
  /** Every group on the stream. */
  groups: GroupInfo[];
}

/** A function that stops a `listen` subscription. */
export type Unsubscribe = () => Promise<void>;

/**
 * Moves messages between publishers and consumer groups, and gives the core the small
 * coordination primitives it needs (key-value with TTL, notifications).
 */
export interface Transport {
  /** Adapter name for messages and metrics, e.g. `'memory'`, `'redis'`. */
  readonly name: string;
  /** What this adapter can do. */
  readonly features: TransportFeatures;

  /**
   * Appends messages to `stream` in one round trip. Returns the transport's id of each message,
   * in order. Messages with `delayMs` become visible when their delay is over.
   *
   * @throws `TransportError` when the backend cannot be reached within the adapter's bounded wait.
   */
  publish(stream: string, messages: readonly OutgoingMessage[], options?: SignalOptions): Promise<string[]>;

  /**
   * Creates consumer group `group` on `stream` (and the stream) when missing; idempotent. A new
   * group starts at the beginning of what the stream keeps (`'0'`), so nothing published before it
   * existed is skipped, unless `startAt: 'end'` (only messages published after it, `'$'`).
   */
  ensureGroup(stream: string, group: string, options?: SignalOptions & { startAt?: 'beginning' | 'end' }): Promise<void>;

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
   * Takes over deliveries of the group that have sat pending (not acked, not touched) for at least
   * `minIdleMs`, e.g. because their consumer died. Race-safe: when several consumers claim at once,
   * each delivery goes to exactly one of them. Claimed deliveries come back with `attempt + 1`
   * and count as fresh (idle 0) for their new owner.
   */
  claimStale(stream: string, options: ClaimOptions): Promise<Delivery[]>;

  /** Resets the idle time of pending deliveries (long handlers), so they are not claimed. */
  touch(stream: string, group: string, consumer: string, deliveryIds: readonly string[], options?: SignalOptions): Promise<void>;

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

  /** Lists DLQ entries, oldest first. */
  listDeadLetters(dlq: string, options?: ListDeadLettersOptions): Promise<DeadLetter[]>;
  /** One DLQ entry, or `undefined`. */
  getDeadLetter(dlq: string, id: string, options?: SignalOptions): Promise<DeadLetter | undefined>;
  /** Deletes DLQ entries; returns how many existed. Idempotent. */
  deleteDeadLetters(dlq: string, ids: readonly string[], options?: SignalOptions): Promise<number>;
  /** The number of entries in a DLQ. */
  countDeadLetters(dlq: string, options?: SignalOptions): Promise<number>;
  /** Deletes every entry of a DLQ; returns how many there were. */
  purgeDeadLetters(dlq: string, options?: SignalOptions): Promise<number>;

  /**
   * Delivers `messages` to one group of `stream` only (DLQ replay, targeted redelivery), after
   * `delayMs` each when given. Other groups do not see them. Returns their ids.
   */
  redeliver(stream: string, group: string, messages: readonly (OutgoingMessage & { attempt?: number })[], options?: SignalOptions): Promise<string[]>;

  /** State of a stream and its groups, for the monitor. A stream that does not exist reports zeros. */
  info(stream: string, options?: SignalOptions): Promise<StreamInfo>;

  /**
   * Deletes every message of a stream that no group has been handed yet, and every delayed one.
   * Pending deliveries stay (they are being processed). Returns how many were removed.
   */
  purge(stream: string, options?: SignalOptions): Promise<number>;

  /** Reads a key, or `null` when missing or expired. */
  kvGet(key: string, options?: SignalOptions): Promise<string | null>;
  /**
   * Writes a key. With `ifAbsent` or `ifEquals` it is a compare-and-set and returns whether it
   * wrote; otherwise it always writes and returns `true`.
   */
  kvSet(key: string, value: string, options?: KvSetOptions): Promise<boolean>;
  /**
   * Writes several keys unconditionally in one round trip, each expiring after `ttlMs` when
   * given (task results of many tasks at once). Not atomic across keys.
   */
  kvSetMany(entries: ReadonlyArray<{ key: string; value: string }>, options?: SignalOptions & { ttlMs?: number }): Promise<void>;
  /** Deletes a key (only if it holds `ifEquals`, when given). Returns whether it deleted. */
  kvDelete(key: string, options?: SignalOptions & { ifEquals?: string }): Promise<boolean>;
  /**
   * Adds `by` (default 1, may be negative) to an integer counter and returns the new value,
   * atomically across processes. A missing or expired key starts at 0; `ttlMs` sets the expiry
   * when the key is created (an existing key keeps its expiry). Rate limits, fencing tokens.
   */
  kvIncr(key: string, options?: SignalOptions & { by?: number; ttlMs?: number }): Promise<number>;
  /** Every live key starting with `prefix`, with its value. Meant for small sets (worker registry). */
  kvScan(prefix: string, options?: SignalOptions): Promise<Array<{ key: string; value: string }>>;

  /** Sends `message` to every current listener of `channel`, in every process (fire and forget). */
  notify(channel: string, message: string, options?: SignalOptions): Promise<void>;
  /**
   * Calls `handler` for each message sent to `channel` from now on. Resolves once the
   * subscription is active. A handler that throws does not stop the subscription.
   */
  listen(channel: string, handler: (message: string) => void, options?: SignalOptions): Promise<Unsubscribe>;

  /**
   * Releases what the adapter opened: stops timers, wakes blocked `receive` calls (they resolve
   * `[]`), closes connections it created. A client passed in by the user stays open. Memoised
   * and idempotent.
   */
  close(): Promise<void>;
}
