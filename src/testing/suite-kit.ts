/**
 * What the role conformance suites share: the per-test harness (fresh adapter, unique names,
 * teardown that always runs), the role checks that decide skips, and small polling helpers.
 *
 * @module
 */

import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isEventBusError, type Delivery, type MessageStreams, type TransportFeatures, type TransportPart, type TransportRole } from '@procur/event-bus';
import { hasRole, runAll } from '@procur/event-bus/adapter-kit';

/** What a role suite's factory returns: a fresh adapter and how to clean up after it. */
export interface RoleFactoryResult<T extends TransportPart> {
  /** A new, open adapter. The suite closes it after each test. */
  transport: T;
  /** Runs after the adapter is closed, even when the test failed (drop keys, stop a server). */
  teardown?: () => Promise<void>;
}

/** Creates a fresh adapter for one test. Called before every test of the suite. */
export type RoleFactory<T extends TransportPart> = () => Promise<RoleFactoryResult<T>> | RoleFactoryResult<T>;

/** What `additionalTests` can use: the current test's adapter and unique names. */
export interface RoleSuiteContext<T extends TransportPart> {
  /** The adapter of the running test (fresh for each test). */
  readonly transport: T;
  /** A stream name unique to the running test. */
  readonly stream: string;
  /** A dead letter queue name unique to the running test. */
  readonly dlq: string;
  /** A new unique name (see {@link uniqueName}). */
  name(prefix: string): string;
}

/** Options of every role suite (`describeMessageStreams`, `describeKeyValue`, ...). */
export interface RoleSuiteOptions<T extends TransportPart> {
  /**
   * The features the adapter declares (pass its `features`). They decide, when the tests are
   * collected, which cases run: a case that needs a role the adapter lacks is skipped
   * (`it.skipIf`). Each test checks that the adapter declares the same roles.
   * @default every role
   */
  features?: TransportFeatures;
  /**
   * Names of suite tests to skip (see `TRANSPORT_SUITE_TESTS`). An unknown name fails the
   * suite, so typos do not go unseen. @default []
   */
  skip?: readonly string[];
  /** Registers extra, adapter-specific tests inside the suite's `describe` (same fresh adapter per test). */
  additionalTests?: (ctx: RoleSuiteContext<T>) => void;
}

/** Every role declared: what the suites assume when no `features` are given. */
export const ALL_ROLES: TransportFeatures = Object.freeze({
  persistent: false,
  distributed: false,
  streams: true,
  deadLetters: true,
  keyValue: true,
  signals: true,
  admin: true,
});

/**
 * A name unique to this run (`prefix:` plus 12 random hex characters), so parallel runs against
 * one shared backend never see each other's streams, groups or keys.
 *
 * @example
 * ```ts
 * const stream = uniqueName('orders'); // 'orders:3f9c0a1b2c4d'
 * ```
 */
export function uniqueName(prefix: string): string {
  return `${prefix}:${randomUUID().replace(/-/g, '').slice(0, 12)}`;
}

/** @internal */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Delays are measured on the adapter's clock and on ours, each truncated to the millisecond. @internal */
export const CLOCK_TOLERANCE_MS = 5;
/** How long polling loops wait for something that should happen (generous for slow CI). @internal */
export const PATIENCE_MS = 5000;

/** Receives until `count` deliveries arrived or `timeoutMs` passed. @internal */
export async function receiveN(
  t: MessageStreams,
  stream: string,
  group: string,
  consumer: string,
  count: number,
  timeoutMs = PATIENCE_MS,
): Promise<Delivery[]> {
  const out: Delivery[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count && Date.now() < deadline) {
    out.push(...(await t.receive(stream, { group, consumer, max: count - out.length, blockMs: 100 })));
  }
  return out;
}

/** Polls `fn` until it returns a value that is not `undefined`, or `timeoutMs` passes. @internal */
export async function eventually<T>(fn: () => Promise<T | undefined>, timeoutMs = PATIENCE_MS, intervalMs = 20): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined || Date.now() >= deadline) return v;
    await sleep(intervalMs);
  }
}

/** @internal */
export function bodies(ds: readonly Delivery[]): string[] {
  return ds.map((d) => d.body);
}

/** Throws at collection time when `skip` names a test that is not in `known`. @internal */
export function checkSkip(suite: string, name: string, skip: readonly string[] | undefined, known: readonly string[]): Set<string> {
  const set = new Set(skip ?? []);
  const unknown = [...set].filter((s) => !known.includes(s));
  if (unknown.length > 0) {
    throw new Error(`[event-bus:testing] ${suite}('${name}'): unknown test name(s) in skip: ${unknown.join(', ')}`);
  }
  return set;
}

/**
 * Registers, in the current `describe`, the hooks that give each test a fresh adapter and unique
 * names, and returns the context that reads them. `onEach` receives the names of each test.
 * @internal
 */
export function harness<T extends TransportPart>(
  factory: RoleFactory<T>,
  features: TransportFeatures,
  onEach?: (names: { stream: string; dlq: string }) => void,
): RoleSuiteContext<T> {
  let current: RoleFactoryResult<T> | undefined;
  let stream = '';
  let dlq = '';
  beforeEach(async () => {
    stream = uniqueName('test:stream');
    dlq = uniqueName('test:dlq');
    onEach?.({ stream, dlq });
    current = await factory();
    const declared = current.transport.features;
    const differ = (['streams', 'deadLetters', 'keyValue', 'signals', 'admin'] as const).filter(
      (r) => hasRole(declared, r) !== hasRole(features, r),
    );
    if (differ.length > 0) {
      throw new Error(
        `[event-bus:testing] the adapter '${current.transport.name}' declares other roles than the suite's \`features\` option (${differ.join(', ')}): pass its features`,
      );
    }
  });
  afterEach(async () => {
    const done = current;
    current = undefined;
    if (!done) return;
    await runAll([() => done.transport.close(), () => done.teardown?.()]);
  });
  return {
    get transport() {
      if (!current) throw new Error('[event-bus:testing] the transport exists only while a test runs');
      return current.transport;
    },
    get stream() {
      return stream;
    },
    get dlq() {
      return dlq;
    },
    name: uniqueName,
  };
}

/**
 * A test registrar: `test(title, fn)` or `test(title, needs, fn)`, skipped (`it.skipIf`) when the
 * title is in `skip` or a needed role is not declared by `features`. @internal
 */
export function registrar(features: TransportFeatures, skip: ReadonlySet<string>) {
  return (title: string, needsOrFn: readonly TransportRole[] | (() => Promise<void>), maybeFn?: () => Promise<void>): void => {
    const needs = typeof needsOrFn === 'function' ? [] : needsOrFn;
    const fn = typeof needsOrFn === 'function' ? needsOrFn : maybeFn!;
    it.skipIf(skip.has(title) || needs.some((r) => !hasRole(features, r)))(title, fn);
  };
}

/** A test registrar made by {@link registrar}. @internal */
export type Registrar = ReturnType<typeof registrar>;

/** What a role suite's body gets. @internal */
export interface RoleSuiteBody<T extends TransportPart> {
  /** The current test's adapter and names. */
  ctx: RoleSuiteContext<T>;
  /** Registers a case (skipped by name or missing role). */
  test: Registrar;
  /** The features the suite was given. */
  features: TransportFeatures;
  /** The stream and DLQ names of the running test. */
  names: { stream: string; dlq: string };
}

/** The description of one role suite. @internal */
export interface RoleSuiteSpec<T extends TransportPart> {
  /** The exported function's name, for error messages. */
  readonly suite: string;
  /** The title of the suite's `describe`. */
  readonly title: string;
  /** The role the whole suite needs. */
  readonly role: TransportRole;
  /** The names of its cases. */
  readonly tests: readonly string[];
  /** Registers the cases. */
  readonly body: (b: RoleSuiteBody<T>) => void;
}

/**
 * Registers one role suite in a `describe` of its own, skipped (`describe.skipIf`) when the
 * features do not declare its role. @internal
 */
export function runRoleSuite<T extends TransportPart>(spec: RoleSuiteSpec<T>, title: string, factory: RoleFactory<T>, options: RoleSuiteOptions<T>): void {
  const features = options.features ?? ALL_ROLES;
  const skip = new Set((options.skip ?? []).filter((s) => spec.tests.includes(s)));
  describe.skipIf(!hasRole(features, spec.role))(title, () => {
    const names = { stream: '', dlq: '' };
    const ctx = harness(factory, features, (n) => Object.assign(names, n));
    spec.body({ ctx, test: registrar(features, skip), features, names });
    options.additionalTests?.(ctx);
  });
}

/**
 * Checks that each call, made on a closed adapter, rejects with `ERR_CLOSED` (a promise that
 * rejects, not a synchronous throw), naming the method that does not.
 */
export async function expectClosedRejections(calls: ReadonlyArray<readonly [string, () => Promise<unknown>]>): Promise<void> {
  for (const [method, call] of calls) {
    let promise: Promise<unknown>;
    try {
      promise = call();
    } catch (err) {
      throw new Error(`${method} threw synchronously after close instead of rejecting: ${String(err)}`);
    }
    const outcome = await promise.then(
      () => 'resolved',
      (err: unknown) => err,
    );
    expect(isEventBusError(outcome, 'ERR_CLOSED'), `${method} after close should reject with ERR_CLOSED`).toBe(true);
  }
}
