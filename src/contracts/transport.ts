/**
 * The transport contracts: how messages move between processes and how processes coordinate.
 * Their TSDoc is the specification every adapter (memory, Redis) implements and the conformance
 * suites of `./testing` check. The transport is split by role, each a small contract of its own:
 *
 * | Role | Contract | File | Suite |
 * | --- | --- | --- | --- |
 * | message streams | {@link MessageStreams} | `transport-streams.ts` | `describeMessageStreams` |
 * | dead letters | {@link DeadLetters} | `transport-dead-letters.ts` | `describeDeadLetters` |
 * | key-value | {@link KeyValue} | `transport-key-value.ts` | `describeKeyValue` |
 * | signals | {@link Signals} | `transport-signals.ts` | `describeSignals` |
 * | admin (optional) | {@link TransportAdmin} | `transport-admin.ts` | `describeAdmin` |
 *
 * {@link Transport} is the composition of every role: an adapter that provides them all (memory,
 * Redis) implements it, and `createEventSystem({ transport })` takes every role from it. An
 * adapter may also provide only some roles, declared by its {@link TransportFeatures}; then
 * `createEventSystem({ streams, keyValue, signals, admin })` takes each role from its own adapter.
 *
 * Adapters move bytes and state; retries, backoff, dead-letter decisions, validation and
 * concurrency live in the core. Every method may be called concurrently. After `close()` every
 * method rejects with a `ClosedError` (code `ERR_CLOSED`), except `close()` itself.
 *
 * @module
 */

import type { TransportAdmin } from './transport-admin.js';
import type { DeadLetters } from './transport-dead-letters.js';
import type { KeyValue } from './transport-key-value.js';
import type { Signals } from './transport-signals.js';
import type { MessageStreams } from './transport-streams.js';

export type * from './transport-streams.js';
export type * from './transport-dead-letters.js';
export type * from './transport-key-value.js';
export type * from './transport-signals.js';
export type * from './transport-admin.js';

/** Options every async contract method accepts. */
export interface SignalOptions {
  /** Aborts the call: it rejects (with the signal's reason) as soon as it can. */
  signal?: AbortSignal;
}

/** The roles of the transport, as named in {@link TransportFeatures}. */
export type TransportRole = 'streams' | 'deadLetters' | 'keyValue' | 'signals' | 'admin';

/**
 * What an adapter can do, declared so the core and the conformance suites can adapt: the role
 * flags say which role contracts it implements (`createEventSystem` refuses an adapter for a role
 * it does not declare; `describeTransport` runs the suite of each declared role and skips the
 * others). A missing role flag means `true`, so an adapter written against the single Transport
 * contract declares every role.
 */
export interface TransportFeatures {
  /** Messages survive a restart of the process (Redis: yes; memory: no). */
  readonly persistent: boolean;
  /** Several processes can share the transport (Redis: yes; memory: no). */
  readonly distributed: boolean;
  /** Implements {@link MessageStreams}. @default true */
  readonly streams?: boolean;
  /** Implements {@link DeadLetters} (beside its streams). @default true */
  readonly deadLetters?: boolean;
  /** Implements {@link KeyValue}. @default true */
  readonly keyValue?: boolean;
  /** Implements {@link Signals}. @default true */
  readonly signals?: boolean;
  /** Implements {@link TransportAdmin}. @default true */
  readonly admin?: boolean;
}

/** What every role contract has: a name, its features, and one lifecycle. */
export interface TransportPart {
  /** Adapter name for messages and metrics, e.g. `'memory'`, `'redis'`. */
  readonly name: string;
  /** What this adapter can do. */
  readonly features: TransportFeatures;
  /**
   * Releases what the adapter opened: stops timers, wakes blocked `receive` calls (they resolve
   * `[]`), closes connections it created. A client passed in by the user stays open. Memoised
   * and idempotent.
   */
  close(): Promise<void>;
}

/**
 * Every role in one adapter: message streams with dead letters, key-value, signals and admin.
 * What the memory and Redis adapters implement and what the core's parts use.
 */
export interface Transport extends MessageStreams, DeadLetters, KeyValue, Signals, TransportAdmin {}
