/**
 * The EventStore conformance suite: the executable definition of the {@link EventStore}
 * contract. Every adapter (memory, SQLite, Postgres, third-party) runs it.
 *
 * @module
 */

import { afterEach, beforeEach, describe, expect, it, type TestContext } from 'vitest';
import type { EventStore, ProcessingRecord, StoredEvent } from '@procur/event-bus';
import { newEventId, type EventEnvelope } from '@procur/event-bus';

/** What a {@link describeStore} factory returns for one test. */
export interface StoreSuiteHandle {
  /** A fresh, empty store. The suite closes it after the test. */
  store: EventStore;
  /** Runs after the store is closed (drop the schema, delete the file). */
  teardown?: () => Promise<void>;
  /**
   * Opens another store on the same data (a restart, or a second process). Enables the reopen
   * and multi-instance cases. The suite closes what it returns.
   */
  reopen?: () => Promise<EventStore>;
  /**
   * Opens an application transaction the store accepts as `append`'s `transaction` (Postgres: a
   * pg client after `BEGIN`; SQLite: a kysely transaction on another connection). Enables the
   * application-transaction cases. The suite commits or rolls back what it opens.
   */
  transaction?: () => Promise<StoreSuiteTransaction>;
}

/** An application transaction opened by {@link StoreSuiteHandle.transaction}. */
export interface StoreSuiteTransaction {
  /** What to pass as `append(events, { transaction })`. */
  handle: unknown;
  /** Commits (and releases the connection). */
  commit(): Promise<void>;
  /** Rolls back (and releases the connection). */
  rollback(): Promise<void>;
}

/** Alias of {@link StoreSuiteHandle}, named like the transport suite's `TransportFactoryResult`. */
export type StoreFactoryResult = StoreSuiteHandle;

/** Creates a fresh, empty store for one test of {@link describeStore}. */
export type StoreFactory = () => Promise<StoreSuiteHandle> | StoreSuiteHandle;

/** What additional tests get: the current test's store and helpers. */
export interface StoreSuiteContext {
  /** The store of the running test. */
  readonly store: EventStore;
  /** The factory's handle of the running test. */
  readonly handle: StoreSuiteHandle;
  /** A valid envelope with a unique id, overridable field by field. */
  event(overrides?: Partial<EventEnvelope>): EventEnvelope;
  /** Another store on the same data (closed after the test); throws when the factory has no `reopen`. */
  reopen(): Promise<EventStore>;
}

/** Options of {@link describeStore}. */
export interface DescribeStoreOptions {
  /** Titles of cases to skip (for a documented limitation of the adapter). @default [] */
  skip?: readonly string[];
  /**
   * Registers adapter-specific tests inside the suite's `describe`; they run with a fresh store
   * like every case. Call `context()` inside a test to get the current store.
   */
  additionalTests?: (context: () => StoreSuiteContext) => void;
}

/** Every case title of the suite, to pass to {@link DescribeStoreOptions.skip}. */
export const STORE_SUITE_CASES = [
  'append/getEvent round trip keeps every field',
  'getEvent of an unknown id is undefined',
  'append is idempotent on id',
  'append with published: true records publishedAt',
  'append of a large batch stores every event',
  'query by type and by several types',
  'query by correlationId, userId and organizationId',
  'query by since (inclusive) and until (exclusive)',
  'query orders by occurredAt then id',
  'query in descending order',
  'pagination over 3+ pages never repeats or skips',
  'pagination is stable when events are appended between pages',
  'descending pagination',
  'unpublished lists the outbox oldest first; markPublished is idempotent',
  'recordProcessing keeps one record per (event, group)',
  'recordProcessing ignores unknown events',
  'unprocessed without and with a group',
  'stats counts, byType and percentiles',
  "stats counts types named like Object.prototype's members (toString, __proto__, constructor)",
  'cleanup deletes only older events, in batches, with their processing records',
  'migrate is idempotent and safe concurrently',
  'a reopened store sees earlier data',
  'handleOnce runs fn once per (event, group) and passes its result',
  'handleOnce: a throwing fn leaves the pair unrecorded, so a later call runs',
  'handleOnce: concurrent calls for one pair run fn once',
  'handleOnce: groups and events are independent',
  'cleanup also deletes handled pairs of deleted events and old orphans',
  'append rejects a transaction handle the store cannot use',
  'append in an application transaction: rollback leaves nothing, commit waits in the outbox',
  'close is idempotent and later calls reject ERR_CLOSED',
  'invalid input rejects with ERR_VALIDATION',
  'an aborted signal rejects the call',
  'NUL characters round trip in data, metadata, ids and errors; queries by such ids work',
] as const;

const BASE = Date.parse('2024-03-01T00:00:00.000Z');

/** ISO time `seconds` after the suite's base time. */
function at(seconds: number): string {
  return new Date(BASE + seconds * 1000).toISOString();
}

function key(e: { occurredAt: string; id: string }): string {
  return `${e.occurredAt}|${e.id}`;
}

function byKey(a: { occurredAt: string; id: string }, b: { occurredAt: string; id: string }): number {
  if (a.occurredAt !== b.occurredAt) return a.occurredAt < b.occurredAt ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function ids(events: readonly { id: string }[]): string[] {
  return events.map((e) => e.id);
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  let error: unknown;
  try {
    await promise;
  } catch (err) {
    error = err;
  }
  expect(error, `expected a rejection with ${code}`).toBeInstanceOf(Error);
  expect((error as { code?: unknown }).code).toBe(code);
}

async function allPages(store: EventStore, query: Parameters<EventStore['query']>[0]): Promise<StoredEvent[][]> {
  const pages: StoredEvent[][] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 1000; i++) {
    const page = await store.query({ ...query, cursor });
    pages.push(page.events);
    if (page.nextCursor === undefined) return pages;
    cursor = page.nextCursor;
  }
  throw new Error('pagination did not end');
}

/**
 * Declares the EventStore conformance suite with vitest. Each case gets a fresh store from
 * `factory` (and the store is closed and `teardown` run afterwards, even when the case fails),
 * and uses unique ids and types, so suites of several adapters can run side by side.
 *
 * @param name - the adapter's name, used as the `describe` title.
 * @param factory - creates a fresh, empty store for one test; `reopen` enables the persistence cases.
 * @param options - {@link DescribeStoreOptions}: cases to skip, adapter-specific tests.
 * @example
 * ```ts
 * import { describeStore } from '@procur/event-bus/testing';
 * describeStore('memory', async () => ({ store: memoryStore() }));
 * ```
 */
export function describeStore(
  name: string,
  factory: StoreFactory,
  options: DescribeStoreOptions = {},
): void {
  const skip = new Set(options.skip ?? []);

  describe(`EventStore conformance: ${name}`, () => {
    let handle: StoreSuiteHandle | undefined;
    let extra: EventStore[] = [];
    let tag = '';

    const current = (): StoreSuiteHandle => {
      if (!handle) throw new Error('describeStore: no store (the factory failed?)');
      return handle;
    };
    const store = (): EventStore => current().store;
    const reopen = async (): Promise<EventStore> => {
      const h = current();
      if (!h.reopen) throw new Error(`describeStore: the '${name}' factory has no reopen()`);
      const s = await h.reopen();
      extra.push(s);
      return s;
    };
    let seq = 0;
    const event = (overrides: Partial<EventEnvelope> = {}): EventEnvelope => {
      seq++;
      return {
        id: `${tag}-${String(seq).padStart(5, '0')}-${newEventId()}`,
        type: `${tag}.created`,
        data: { n: seq },
        priority: 'normal',
        correlationId: `${tag}-corr`,
        occurredAt: at(seq),
        version: 1,
        ...overrides,
      };
    };
    const context = (): StoreSuiteContext => ({ store: store(), handle: current(), event, reopen });

    beforeEach(async () => {
      tag = `t${Math.random().toString(36).slice(2, 10)}`;
      seq = 0;
      extra = [];
      handle = await factory();
    });

    afterEach(async () => {
      const h = handle;
      handle = undefined;
      const errors: unknown[] = [];
      for (const s of [...extra, ...(h ? [h.store] : [])]) {
        await s.close().catch((err: unknown) => errors.push(err));
      }
      if (h?.teardown) await h.teardown().catch((err: unknown) => errors.push(err));
      if (errors.length > 0) throw errors[0];
    });

    const test = (title: (typeof STORE_SUITE_CASES)[number], fn: (tc: TestContext) => Promise<void>) => it.skipIf(skip.has(title))(title, fn);

    test('append/getEvent round trip keeps every field', async () => {
      const full = event({
        type: `${tag}.full`,
        data: {
          text: 'héllo wörld ✓ 🚀 "quoted" \\ back',
          int: 42,
          negative: -7,
          float: 3.25,
          big: 9007199254740991,
          yes: true,
          no: false,
          nothing: null,
          empty: '',
          list: [1, 'two', { three: [3] }, []],
          nested: { a: { b: { c: 'deep' } }, emptyObject: {} },
        },
        priority: 'critical',
        correlationId: `${tag}-flow`,
        causationId: `${tag}-cause`,
        userId: `${tag}-user`,
        organizationId: `${tag}-org`,
        source: 'suite',
        occurredAt: '2024-03-01T12:34:56.789Z',
        metadata: { replay: true, trace: { id: 'abc', spans: [1, 2] } },
      });
      const minimal = event({ data: 'just a string' });
      await store().append([full, minimal]);

      const got = await store().getEvent(full.id);
      expect(got).toEqual({ ...full, storedAt: expect.any(String), publishedAt: null });
      expect(Number.isNaN(Date.parse(got!.storedAt))).toBe(false);

      const min = await store().getEvent(minimal.id);
      expect(min).toEqual({ ...minimal, storedAt: expect.any(String), publishedAt: null });
      for (const k of ['causationId', 'userId', 'organizationId', 'source', 'metadata']) expect(min).not.toHaveProperty(k);

      // Values an adapter may pass as array or list literals: NULL as text, braces, commas, quotes;
      // lone surrogates (JSON.stringify escapes them; jsonb refuses the escape), and text that
      // looks like such an escape.
      for (const data of [null, 0, 'x', [1, 2], { a: [] }, 'NULL', '{"a",}', { '},{': '"\\' }, { s: 'a\ud800b', t: '\udfff', pair: '\u{1F680}' }, '\\ud800']) {
        const e = event({ data, source: 'NULL', userId: '{a,"b"}' });
        await store().append([e]);
        expect(await store().getEvent(e.id)).toMatchObject({ data, source: 'NULL', userId: '{a,"b"}' });
      }
    });

    test('getEvent of an unknown id is undefined', async () => {
      expect(await store().getEvent(`${tag}-missing`)).toBeUndefined();
    });

    test('append is idempotent on id', async () => {
      const e = event({ data: { v: 1 } });
      await store().append([e]);
      const first = await store().getEvent(e.id);
      await store().append([{ ...e, data: { v: 2 }, type: `${tag}.changed` }, { ...e, data: { v: 3 } }]);
      const again = await store().getEvent(e.id);
      expect(again).toEqual(first);
      const page = await store().query({ correlationId: e.correlationId });
      expect(ids(page.events)).toEqual([e.id]);
      await store().append([]);
    });

    test('append with published: true records publishedAt', async () => {
      const e = event();
      await store().append([e], { published: true });
      const got = await store().getEvent(e.id);
      expect(got?.publishedAt).toEqual(expect.any(String));
      expect(Number.isNaN(Date.parse(got!.publishedAt!))).toBe(false);
      expect(ids(await store().unpublished())).not.toContain(e.id);
    });

    test('append of a large batch stores every event', async () => {
      // Over both SQLite's (2340 rows) and Postgres' (4681 rows) single-statement limits.
      const batch = Array.from({ length: 5000 }, (_, i) => event({ occurredAt: at(i), type: `${tag}.bulk` }));
      await store().append(batch);
      const pages = await allPages(store(), { type: `${tag}.bulk`, limit: 10_000 });
      expect(pages.flat().length).toBe(5000);
      expect(ids(pages.flat())).toEqual(ids([...batch].sort(byKey)));
    });

    test('query by type and by several types', async () => {
      const a1 = event({ type: `${tag}.a` });
      const b1 = event({ type: `${tag}.b` });
      const a2 = event({ type: `${tag}.a` });
      const c1 = event({ type: `${tag}.c` });
      await store().append([a1, b1, a2, c1]);
      expect(ids((await store().query({ type: `${tag}.a` })).events)).toEqual([a1.id, a2.id]);
      expect(ids((await store().query({ type: [`${tag}.a`, `${tag}.c`] })).events)).toEqual([a1.id, a2.id, c1.id]);
      expect(ids((await store().query({ type: [`${tag}.b`] })).events)).toEqual([b1.id]);
      expect((await store().query({ type: `${tag}.none` })).events).toEqual([]);
      expect((await store().query({ type: [] })).events).toEqual([]);
    });

    test('query by correlationId, userId and organizationId', async () => {
      const e1 = event({ correlationId: `${tag}-c1`, userId: `${tag}-u1`, organizationId: `${tag}-o1` });
      const e2 = event({ correlationId: `${tag}-c1`, userId: `${tag}-u2`, organizationId: `${tag}-o1` });
      const e3 = event({ correlationId: `${tag}-c2`, userId: `${tag}-u1`, organizationId: `${tag}-o2` });
      await store().append([e3, e2, e1]);
      expect(ids((await store().query({ correlationId: `${tag}-c1` })).events)).toEqual([e1.id, e2.id]);
      expect(ids((await store().query({ userId: `${tag}-u1` })).events)).toEqual([e1.id, e3.id]);
      expect(ids((await store().query({ organizationId: `${tag}-o1` })).events)).toEqual([e1.id, e2.id]);
      expect(ids((await store().query({ organizationId: `${tag}-o1`, userId: `${tag}-u2` })).events)).toEqual([e2.id]);
      expect(ids((await store().query({ correlationId: `${tag}-c2`, type: `${tag}.created` })).events)).toEqual([e3.id]);
      expect((await store().query({ userId: `${tag}-nobody` })).events).toEqual([]);
    });

    test('query by since (inclusive) and until (exclusive)', async () => {
      const events = [0, 10, 20, 30, 40].map((s) => event({ occurredAt: at(s) }));
      await store().append(events);
      const q = (since?: number, until?: number) =>
        store().query({ type: `${tag}.created`, since: since === undefined ? undefined : at(since), until: until === undefined ? undefined : at(until) });
      expect(ids((await q(10)).events)).toEqual(ids(events.slice(1)));
      expect(ids((await q(undefined, 30)).events)).toEqual(ids(events.slice(0, 3)));
      expect(ids((await q(10, 30)).events)).toEqual(ids(events.slice(1, 3)));
      expect(ids((await q(11, 29)).events)).toEqual([events[2]!.id]);
      expect((await q(41)).events).toEqual([]);
      // Times given in another zone mean the same instant.
      const shifted = new Date(BASE + 20_000).toISOString().replace('Z', '+00:00');
      expect(ids((await store().query({ type: `${tag}.created`, since: shifted })).events)).toEqual(ids(events.slice(2)));
    });

    test('query orders by occurredAt then id', async () => {
      const t = at(5);
      const tied = [`${tag}-m`, `${tag}-a`, `${tag}-z`, `${tag}-b`].map((id) => event({ id, occurredAt: t }));
      const later = event({ occurredAt: at(9) });
      const earlier = event({ occurredAt: at(1) });
      await store().append([later, ...tied.slice(0, 2)]);
      await store().append([earlier, ...tied.slice(2)]);
      const expected = [earlier, ...[...tied].sort(byKey), later];
      expect(ids((await store().query({ type: `${tag}.created` })).events)).toEqual(ids(expected));
    });

    test('query in descending order', async () => {
      const events = [3, 1, 2, 2].map((s) => event({ occurredAt: at(s) }));
      await store().append(events);
      const expected = [...events].sort(byKey).reverse();
      expect(ids((await store().query({ type: `${tag}.created`, order: 'desc' })).events)).toEqual(ids(expected));
    });

    test('pagination over 3+ pages never repeats or skips', async () => {
      const events = Array.from({ length: 10 }, (_, i) => event({ occurredAt: at(Math.floor(i / 3)) }));
      await store().append([...events].reverse());
      const pages = await allPages(store(), { type: `${tag}.created`, limit: 3 });
      expect(pages.map((p) => p.length)).toEqual([3, 3, 3, 1]);
      expect(ids(pages.flat())).toEqual(ids([...events].sort(byKey)));

      const exact = await allPages(store(), { type: `${tag}.created`, limit: 5 });
      expect(exact.map((p) => p.length)).toEqual([5, 5]);
      const one = await store().query({ type: `${tag}.created`, limit: 10 });
      expect(one.nextCursor).toBeUndefined();
    });

    test('pagination is stable when events are appended between pages', async () => {
      const events = Array.from({ length: 9 }, (_, i) => event({ id: `${tag}-k${i}`, occurredAt: at(i < 4 ? 1 : i) }));
      await store().append(events);
      const sorted = [...events].sort(byKey);
      const first = await store().query({ type: `${tag}.created`, limit: 3 });
      expect(ids(first.events)).toEqual(ids(sorted.slice(0, 3)));
      const lastSeen = first.events[2]!;
      // Behind the cursor (never shown now), tied with it on either side, and ahead of it.
      const behind = event({ id: `${tag}-a0`, occurredAt: at(0) });
      const tiedBefore = event({ id: `${lastSeen.id.slice(0, -1)}`, occurredAt: lastSeen.occurredAt });
      const tiedAfter = event({ id: `${lastSeen.id}~`, occurredAt: lastSeen.occurredAt });
      const ahead = event({ id: `${tag}-z9`, occurredAt: at(100) });
      await store().append([behind, tiedBefore, tiedAfter, ahead]);
      const seen: StoredEvent[] = [...first.events];
      let cursor = first.nextCursor;
      while (cursor !== undefined) {
        const page = await store().query({ type: `${tag}.created`, limit: 3, cursor });
        seen.push(...page.events);
        cursor = page.nextCursor;
      }
      const seenIds = ids(seen);
      expect(new Set(seenIds).size).toBe(seenIds.length);
      for (const e of events) expect(seenIds).toContain(e.id);
      expect(seenIds).toContain(tiedAfter.id);
      expect(seenIds).toContain(ahead.id);
      expect(seenIds).not.toContain(behind.id);
      expect(seenIds).not.toContain(tiedBefore.id);
      expect([...seen].sort(byKey).map(key)).toEqual(seen.map(key));
    });

    test('descending pagination', async () => {
      const events = Array.from({ length: 8 }, (_, i) => event({ occurredAt: at(Math.floor(i / 2)) }));
      await store().append(events);
      const pages = await allPages(store(), { type: `${tag}.created`, limit: 3, order: 'desc' });
      expect(pages.map((p) => p.length)).toEqual([3, 3, 2]);
      expect(ids(pages.flat())).toEqual(ids([...events].sort(byKey).reverse()));
    });

    test('unpublished lists the outbox oldest first; markPublished is idempotent', async () => {
      const e1 = event({ occurredAt: at(3) });
      const e2 = event({ occurredAt: at(1) });
      const e3 = event({ occurredAt: at(2) });
      const done = event({ occurredAt: at(0) });
      await store().append([e1, e2, e3]);
      await store().append([done], { published: true });
      expect(ids(await store().unpublished())).toEqual([e2.id, e3.id, e1.id]);
      expect(ids(await store().unpublished({ limit: 2 }))).toEqual([e2.id, e3.id]);
      expect((await store().getEvent(e2.id))?.publishedAt).toBeNull();

      await store().markPublished([e2.id, `${tag}-unknown`]);
      const published = await store().getEvent(e2.id);
      expect(published?.publishedAt).toEqual(expect.any(String));
      expect(ids(await store().unpublished())).toEqual([e3.id, e1.id]);

      await new Promise((r) => setTimeout(r, 5));
      await store().markPublished([e2.id, e2.id]);
      expect((await store().getEvent(e2.id))?.publishedAt).toBe(published?.publishedAt);
      await store().markPublished([]);
      await store().markPublished([e3.id, e1.id]);
      expect(await store().unpublished()).toEqual([]);
    });

    test('recordProcessing keeps one record per (event, group)', async () => {
      const e = event();
      await store().append([e]);
      expect(await store().processingOf(e.id)).toEqual([]);
      await store().recordProcessing([
        { eventId: e.id, group: 'g1', outcome: 'failed', attempt: 1, error: 'boom', durationMs: 5, at: at(100) },
        { eventId: e.id, group: 'g2', outcome: 'processed', attempt: 1, durationMs: 7.5, at: at(101) },
      ]);
      const sortRecords = (rs: ProcessingRecord[]) => [...rs].sort((a, b) => (a.group < b.group ? -1 : 1));
      expect(sortRecords(await store().processingOf(e.id))).toEqual([
        { eventId: e.id, group: 'g1', outcome: 'failed', attempt: 1, error: 'boom', durationMs: 5, at: at(100) },
        { eventId: e.id, group: 'g2', outcome: 'processed', attempt: 1, durationMs: 7.5, at: at(101) },
      ]);
      await store().recordProcessing([{ eventId: e.id, group: 'g1', outcome: 'processed', attempt: 2, durationMs: 9, at: at(102) }]);
      const records = sortRecords(await store().processingOf(e.id));
      expect(records).toEqual([
        { eventId: e.id, group: 'g1', outcome: 'processed', attempt: 2, durationMs: 9, at: at(102) },
        { eventId: e.id, group: 'g2', outcome: 'processed', attempt: 1, durationMs: 7.5, at: at(101) },
      ]);
      expect(records[0]).not.toHaveProperty('error');
      // Within one call the last record of a (event, group) wins.
      await store().recordProcessing([
        { eventId: e.id, group: 'g3', outcome: 'failed', attempt: 1, error: 'x', at: at(103) },
        { eventId: e.id, group: 'g3', outcome: 'dead-lettered', attempt: 2, error: 'y', at: at(104) },
      ]);
      const g3 = (await store().processingOf(e.id)).filter((r) => r.group === 'g3');
      expect(g3).toEqual([{ eventId: e.id, group: 'g3', outcome: 'dead-lettered', attempt: 2, error: 'y', at: at(104) }]);
      await store().recordProcessing([]);
    });

    test('recordProcessing ignores unknown events', async () => {
      const e = event();
      await store().append([e]);
      await store().recordProcessing([
        { eventId: `${tag}-ghost`, group: 'g', outcome: 'processed', attempt: 1, at: at(1) },
        { eventId: e.id, group: 'g', outcome: 'skipped', attempt: 1, at: at(2) },
      ]);
      expect(await store().processingOf(`${tag}-ghost`)).toEqual([]);
      expect(await store().processingOf(e.id)).toEqual([{ eventId: e.id, group: 'g', outcome: 'skipped', attempt: 1, at: at(2) }]);
    });

    test('unprocessed without and with a group', async () => {
      const [e1, e2, e3, e4, e5] = [1, 2, 3, 4, 5].map((s) => event({ occurredAt: at(s) })) as [EventEnvelope, EventEnvelope, EventEnvelope, EventEnvelope, EventEnvelope];
      await store().append([e5, e4, e3, e2, e1]);
      await store().recordProcessing([
        { eventId: e1.id, group: 'g1', outcome: 'processed', attempt: 1, at: at(10) },
        { eventId: e2.id, group: 'g1', outcome: 'failed', attempt: 1, error: 'x', at: at(10) },
        { eventId: e4.id, group: 'g2', outcome: 'processed', attempt: 1, at: at(10) },
        { eventId: e5.id, group: 'g1', outcome: 'dead-lettered', attempt: 3, at: at(10) },
        { eventId: e5.id, group: 'g2', outcome: 'skipped', attempt: 1, at: at(10) },
      ]);
      expect(ids(await store().unprocessed())).toEqual([e2.id, e3.id, e5.id]);
      expect(ids(await store().unprocessed({ limit: 2 }))).toEqual([e2.id, e3.id]);
      expect(ids(await store().unprocessed({ group: 'g1' }))).toEqual([e2.id, e3.id, e4.id, e5.id]);
      expect(ids(await store().unprocessed({ group: 'g2' }))).toEqual([e1.id, e2.id, e3.id, e5.id]);
      expect(ids(await store().unprocessed({ group: 'other' }))).toEqual([e1.id, e2.id, e3.id, e4.id, e5.id]);
    });

    test('stats counts, byType and percentiles', async () => {
      const A = `${tag}.a`;
      const B = `${tag}.b`;
      const old = event({ type: A, occurredAt: at(-100) });
      const e1 = event({ type: A, occurredAt: at(1) });
      const e2 = event({ type: A, occurredAt: at(2) });
      const e3 = event({ type: B, occurredAt: at(3) });
      const e4 = event({ type: A, occurredAt: at(4) });
      const e5 = event({ type: B, occurredAt: at(5) });
      await store().append([old, e1, e2]);
      await store().append([e3, e4, e5], { published: true });
      await store().recordProcessing([
        { eventId: old.id, group: 'g1', outcome: 'processed', attempt: 1, durationMs: 1000, at: at(10) },
        { eventId: e1.id, group: 'g1', outcome: 'processed', attempt: 1, durationMs: 10, at: at(10) },
        { eventId: e1.id, group: 'g2', outcome: 'processed', attempt: 1, durationMs: 20, at: at(10) },
        { eventId: e2.id, group: 'g1', outcome: 'processed', attempt: 1, durationMs: 30, at: at(10) },
        { eventId: e3.id, group: 'g1', outcome: 'failed', attempt: 1, durationMs: 500, error: 'x', at: at(10) },
        { eventId: e4.id, group: 'g1', outcome: 'dead-lettered', attempt: 3, at: at(10) },
        { eventId: e4.id, group: 'g2', outcome: 'processed', attempt: 1, durationMs: 40, at: at(10) },
        { eventId: e4.id, group: 'g3', outcome: 'processed', attempt: 1, at: at(10) },
      ]);
      const stats = await store().stats({ since: at(0) });
      expect(stats).toMatchObject({
        totalEvents: 5,
        processedEvents: 3,
        failedEvents: 2,
        unprocessedEvents: 1,
        unpublishedEvents: 2,
        byType: { [A]: 3, [B]: 2 },
      });
      expect(Object.keys(stats.byType).sort()).toEqual([A, B]);
      // percentile_cont over [10, 20, 30, 40].
      expect(stats.p50Ms).toBeCloseTo(25, 6);
      expect(stats.p95Ms).toBeCloseTo(38.5, 6);

      const empty = await store().stats({ since: at(1000) });
      expect(empty).toEqual({
        totalEvents: 0,
        processedEvents: 0,
        failedEvents: 0,
        unprocessedEvents: 0,
        unpublishedEvents: 0,
        byType: {},
        p50Ms: 0,
        p95Ms: 0,
      });
      const single = await store().stats({ since: at(2) });
      expect(single.p50Ms).toBeCloseTo(35, 6);
      expect(single.totalEvents).toBe(4);
    });

    test("stats counts types named like Object.prototype's members (toString, __proto__, constructor)", async () => {
      const names = ['toString', '__proto__', 'constructor', 'hasOwnProperty', 'valueOf'];
      await store().append(names.flatMap((type, i) => Array.from({ length: i + 1 }, () => event({ type }))));
      const stats = await store().stats({ since: at(0) });
      expect(stats.totalEvents).toBe(15);
      expect(Object.keys(stats.byType).sort()).toEqual([...names].sort());
      for (const [i, type] of names.entries()) {
        expect(Object.hasOwn(stats.byType, type), `byType has its own '${type}'`).toBe(true);
        expect(stats.byType[type], `byType['${type}']`).toBe(i + 1);
      }
      expect(JSON.parse(JSON.stringify(stats.byType))).toEqual(Object.fromEntries(names.map((type, i) => [type, i + 1])));
    });

    test('cleanup deletes only older events, in batches, with their processing records', async () => {
      const olds = [-50, -40, -30, -20, -10].map((s) => event({ occurredAt: at(s) }));
      const fresh = [0, 10].map((s) => event({ occurredAt: at(s) }));
      await store().append([...olds, ...fresh]);
      await store().recordProcessing([...olds, ...fresh].map((e) => ({ eventId: e.id, group: 'g', outcome: 'processed' as const, attempt: 1, durationMs: 1, at: at(20) })));
      expect(await store().cleanup({ before: at(0), batchSize: 2 })).toBe(5);
      for (const e of olds) {
        expect(await store().getEvent(e.id)).toBeUndefined();
        expect(await store().processingOf(e.id)).toEqual([]);
      }
      expect(ids((await store().query({ type: `${tag}.created` })).events)).toEqual(ids(fresh));
      expect(await store().processingOf(fresh[0]!.id)).toHaveLength(1);
      expect(await store().cleanup({ before: at(0) })).toBe(0);
      expect((await store().stats({ since: at(-1000) })).totalEvents).toBe(2);
      expect(await store().cleanup({ before: at(11), batchSize: 10_000 })).toBe(2);
    });

    test('migrate is idempotent and safe concurrently', async () => {
      await store().migrate();
      await store().migrate();
      await Promise.all([store().migrate(), store().migrate(), store().migrate()]);
      const e = event();
      await store().append([e]);
      if (current().reopen) {
        const others = await Promise.all([reopen(), reopen(), reopen()]);
        await Promise.all(others.map((s) => s.migrate()));
        await Promise.all(others.map((s) => s.migrate()));
        for (const s of others) expect((await s.getEvent(e.id))?.id).toBe(e.id);
      }
    });

    test('a reopened store sees earlier data', async (tc) => {
      // Whether the factory can reopen is known once it ran: a runtime skip, reported as skipped.
      if (!current().reopen) tc.skip('the factory has no reopen()');
      const e1 = event();
      const e2 = event();
      await store().append([e1, e2]);
      await store().markPublished([e1.id]);
      await store().recordProcessing([{ eventId: e1.id, group: 'g', outcome: 'processed', attempt: 1, durationMs: 3, at: at(9) }]);
      const before = await store().getEvent(e1.id);
      await store().close();
      const again = await reopen();
      expect(await again.getEvent(e1.id)).toEqual(before);
      expect(ids((await again.query({ type: `${tag}.created` })).events)).toEqual([e1.id, e2.id]);
      expect(ids(await again.unpublished())).toEqual([e2.id]);
      expect(await again.processingOf(e1.id)).toEqual([{ eventId: e1.id, group: 'g', outcome: 'processed', attempt: 1, durationMs: 3, at: at(9) }]);
      const e3 = event();
      await again.append([e3]);
      expect((await again.getEvent(e3.id))?.id).toBe(e3.id);
    });

    test('handleOnce runs fn once per (event, group) and passes its result', async () => {
      const e = event();
      await store().append([e]);
      let runs = 0;
      const first = await store().handleOnce(e.id, 'g', async () => {
        runs++;
        return { answer: 42 };
      });
      expect(first).toEqual({ handled: true, result: { answer: 42 } });
      const second = await store().handleOnce(e.id, 'g', async () => {
        runs++;
        return 'again';
      });
      expect(second).toEqual({ handled: false });
      expect(runs).toBe(1);
      if (current().reopen) {
        const other = await reopen();
        expect(await other.handleOnce(e.id, 'g', async () => runs++)).toEqual({ handled: false });
        expect(runs).toBe(1);
      }
      // An undefined result is a result too.
      expect(await store().handleOnce(e.id, 'g2', async () => undefined)).toEqual({ handled: true, result: undefined });
    });

    test('handleOnce: a throwing fn leaves the pair unrecorded, so a later call runs', async () => {
      const e = event();
      await store().append([e]);
      const boom = new Error('handler failed');
      let error: unknown;
      try {
        await store().handleOnce(e.id, 'g', async () => {
          throw boom;
        });
      } catch (err) {
        error = err;
      }
      // Rethrown as it is, not wrapped.
      expect(error).toBe(boom);
      let runs = 0;
      expect(await store().handleOnce(e.id, 'g', async () => ++runs)).toEqual({ handled: true, result: 1 });
      expect(await store().handleOnce(e.id, 'g', async () => ++runs)).toEqual({ handled: false });
      expect(runs).toBe(1);
    });

    test('handleOnce: concurrent calls for one pair run fn once', async () => {
      const e = event();
      await store().append([e]);
      const stores = [store(), store(), store()];
      if (current().reopen) stores.push(await reopen(), await reopen());
      let runs = 0;
      let active = 0;
      let maxActive = 0;
      const outcomes = await Promise.all(
        stores.map((s, i) =>
          s.handleOnce(e.id, 'g', async () => {
            runs++;
            active++;
            maxActive = Math.max(maxActive, active);
            await new Promise((r) => setTimeout(r, 30));
            active--;
            return i;
          }),
        ),
      );
      expect(runs).toBe(1);
      expect(maxActive).toBe(1);
      expect(outcomes.filter((o) => o.handled)).toHaveLength(1);
      // After a failure the next waiter takes over, still one at a time.
      const f = event();
      await store().append([f]);
      let attempts = 0;
      const settled = await Promise.allSettled(
        stores.map((s) =>
          s.handleOnce(f.id, 'g', async () => {
            attempts++;
            await new Promise((r) => setTimeout(r, 10));
            if (attempts === 1) throw new Error('first one fails');
            return 'ok';
          }),
        ),
      );
      expect(settled.filter((r) => r.status === 'rejected')).toHaveLength(1);
      const fulfilled = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      expect(fulfilled.filter((o) => o.handled)).toEqual([{ handled: true, result: 'ok' }]);
      expect(attempts).toBe(2);
    });

    test('handleOnce: groups and events are independent', async () => {
      const e1 = event();
      const e2 = event();
      await store().append([e1, e2]);
      const ran: string[] = [];
      const handle = (id: string, group: string) => store().handleOnce(id, group, async () => void ran.push(`${id}/${group}`));
      await Promise.all([handle(e1.id, 'g1'), handle(e1.id, 'g2'), handle(e2.id, 'g1')]);
      expect(ran.sort()).toEqual([`${e1.id}/g1`, `${e1.id}/g2`, `${e2.id}/g1`].sort());
      expect(await handle(e2.id, 'g2')).toEqual({ handled: true, result: undefined });
      expect(await handle(e1.id, 'g1')).toEqual({ handled: false });
      expect(ran).toHaveLength(4);
      // A pair may be recorded for an event the store does not hold.
      expect(await handle(`${tag}-not-stored`, 'g1')).toEqual({ handled: true, result: undefined });
      expect(await handle(`${tag}-not-stored`, 'g1')).toEqual({ handled: false });
    });

    test('cleanup also deletes handled pairs of deleted events and old orphans', async () => {
      const old = event({ occurredAt: at(-10) });
      const fresh = event({ occurredAt: at(10) });
      await store().append([old, fresh]);
      const orphan = `${tag}-orphan`;
      for (const id of [old.id, fresh.id, orphan]) await store().handleOnce(id, 'g', async () => undefined);
      expect(await store().cleanup({ before: at(0) })).toBe(1);
      let runs = 0;
      const run = (id: string) => store().handleOnce(id, 'g', async () => ++runs);
      // The deleted event's pair is gone: a redelivery of it would run again.
      expect((await run(old.id)).handled).toBe(true);
      expect((await run(fresh.id)).handled).toBe(false);
      // The orphan was recorded just now, after `before`: kept.
      expect((await run(orphan)).handled).toBe(false);
      const future = new Date(Date.now() + 60_000).toISOString();
      expect(await store().cleanup({ before: future, batchSize: 1 })).toBe(1);
      expect((await run(orphan)).handled).toBe(true);
      expect((await run(fresh.id)).handled).toBe(true);
      expect(runs).toBe(3);
    });

    test('append rejects a transaction handle the store cannot use', async () => {
      const e = event();
      for (const transaction of [null, 'BEGIN', 42, {}, { query: 'not a function' }]) {
        let error: unknown;
        try {
          await store().append([e], { transaction });
        } catch (err) {
          error = err;
        }
        expect(error, `transaction: ${JSON.stringify(transaction)}`).toMatchObject({ code: 'ERR_VALIDATION' });
        expect((error as { issues?: Array<{ path: string }> }).issues?.map((i) => i.path)).toEqual(['transaction']);
      }
      expect(await store().getEvent(e.id)).toBeUndefined();
      await store().append([e]);
      expect((await store().getEvent(e.id))?.id).toBe(e.id);
    });

    test('append in an application transaction: rollback leaves nothing, commit waits in the outbox', async (tc) => {
      const open = current().transaction;
      if (!open) return tc.skip('the factory has no transaction()');
      await store().migrate();
      const rolledBack = event();
      const tx1 = await open();
      try {
        await store().append([rolledBack], { transaction: tx1.handle });
      } finally {
        await tx1.rollback();
      }
      expect(await store().getEvent(rolledBack.id)).toBeUndefined();
      expect(ids(await store().unpublished())).not.toContain(rolledBack.id);

      const committed = event();
      const many = Array.from({ length: 3000 }, (_, i) => event({ type: `${tag}.many`, occurredAt: at(100 + i) }));
      const tx2 = await open();
      try {
        await store().append([committed], { transaction: tx2.handle });
        await store().append(many, { transaction: tx2.handle });
        // Not visible outside the transaction before it commits.
        expect(await store().getEvent(committed.id)).toBeUndefined();
      } catch (err) {
        await tx2.rollback();
        throw err;
      }
      await tx2.commit();
      const stored = await store().getEvent(committed.id);
      expect(stored).toMatchObject({ id: committed.id, publishedAt: null });
      expect(ids(await store().unpublished({ limit: 1 }))).toEqual([committed.id]);
      const pages = await allPages(store(), { type: `${tag}.many`, limit: 10_000 });
      expect(pages.flat()).toHaveLength(3000);
    });

    test('close is idempotent and later calls reject ERR_CLOSED', async () => {
      const s = store();
      await s.append([event()]);
      const first = s.close();
      const second = s.close();
      await Promise.all([first, second]);
      await s.close();
      const e = event();
      const calls: Array<() => Promise<unknown>> = [
        () => s.migrate(),
        () => s.append([e]),
        () => s.markPublished([e.id]),
        () => s.unpublished(),
        () => s.recordProcessing([{ eventId: e.id, group: 'g', outcome: 'processed', attempt: 1, at: at(1) }]),
        () => s.processingOf(e.id),
        () => s.getEvent(e.id),
        () => s.query({}),
        () => s.unprocessed(),
        () => s.stats({ since: at(0) }),
        () => s.cleanup({ before: at(0) }),
        () => s.handleOnce(e.id, 'g', async () => undefined),
      ];
      for (const call of calls) await expectCode(call(), 'ERR_CLOSED');
    });

    test('invalid input rejects with ERR_VALIDATION', async () => {
      const s = store();
      const good = event();
      await s.append([good]);
      await expectCode(s.query({ limit: 0 }), 'ERR_VALIDATION');
      await expectCode(s.query({ limit: 10_001 }), 'ERR_VALIDATION');
      await expectCode(s.query({ limit: 2.5 }), 'ERR_VALIDATION');
      await expectCode(s.query({ since: 'not a time' }), 'ERR_VALIDATION');
      await expectCode(s.query({ cursor: 'not-a-cursor' }), 'ERR_VALIDATION');
      await expectCode(s.unpublished({ limit: 0 }), 'ERR_VALIDATION');
      await expectCode(s.unprocessed({ limit: 10_001 }), 'ERR_VALIDATION');
      await expectCode(s.stats({ since: 'yesterday-ish' }), 'ERR_VALIDATION');
      await expectCode(s.cleanup({ before: 'soon' }), 'ERR_VALIDATION');
      await expectCode(s.cleanup({ before: at(0), batchSize: 0 }), 'ERR_VALIDATION');
      const bad = event({ occurredAt: 'whenever' });
      const ok = event();
      await expectCode(s.append([ok, bad]), 'ERR_VALIDATION');
      expect(await s.getEvent(ok.id)).toBeUndefined();
      await expectCode(s.append([{ ...event(), id: '' }]), 'ERR_VALIDATION');
      await expectCode(
        s.recordProcessing([{ eventId: good.id, group: 'g', outcome: 'exploded' as never, attempt: 1, at: at(1) }]),
        'ERR_VALIDATION',
      );
      expect(await s.processingOf(good.id)).toEqual([]);
      await expectCode(s.handleOnce('', 'g', async () => undefined), 'ERR_VALIDATION');
      await expectCode(s.handleOnce(good.id, '', async () => undefined), 'ERR_VALIDATION');
      await expectCode(s.handleOnce(good.id, 'g', 'not a function' as never), 'ERR_VALIDATION');
      expect((await s.query({ limit: 1 })).events).toHaveLength(1);
      expect((await s.query({ limit: 10_000 })).events).toHaveLength(1);
    });

    test('an aborted signal rejects the call', async () => {
      const controller = new AbortController();
      const reason = new Error('stop');
      controller.abort(reason);
      await expect(store().query({}, { signal: controller.signal })).rejects.toBe(reason);
      await expect(store().append([event()], { signal: controller.signal })).rejects.toBe(reason);
      expect((await store().query({})).events).toEqual([]);
    });

    test('NUL characters round trip in data, metadata, ids and errors; queries by such ids work', async () => {
      const nul = '\u0000';
      const corr = `${tag}-corr${nul}x`;
      const e = event({
        // The escape character of a store's encoding must round trip too, and so must data that
        // looks like an encoded value.
        data: { text: `a${nul}b`, [`k${nul}`]: [nul, `${nul}${nul}`], esc: '\u0001 \\u0000', wrapped: { $procur: 'x' } },
        correlationId: corr,
        causationId: `${tag}-cause${nul}`,
        userId: `${tag}-user${nul}`,
        organizationId: `${tag}-org${nul}`,
        source: `src${nul}`,
        metadata: { note: `m${nul}` },
      });
      const plain = event({ correlationId: `${tag}-corr` });
      const look = event({ data: { '$procur:json': '{"a":1}' }, correlationId: `${tag}-corr\u0001` });
      await store().append([e, plain, look]);
      expect(await store().getEvent(e.id)).toEqual({ ...e, storedAt: expect.any(String), publishedAt: null });
      expect(await store().getEvent(look.id)).toEqual({ ...look, storedAt: expect.any(String), publishedAt: null });
      // Equality on the exact value: the NUL id matches itself only, not its prefix or neighbours.
      expect(ids((await store().query({ correlationId: corr })).events)).toEqual([e.id]);
      expect(ids((await store().query({ correlationId: `${tag}-corr` })).events)).toEqual([plain.id]);
      expect(ids((await store().query({ correlationId: `${tag}-corr\u0001` })).events)).toEqual([look.id]);
      expect(ids((await store().query({ userId: `${tag}-user${nul}` })).events)).toEqual([e.id]);
      expect(ids((await store().query({ organizationId: `${tag}-org${nul}` })).events)).toEqual([e.id]);
      // An id or group with NUL: stored, found, and a lookup of an unknown one is just absent.
      const odd = event({ id: `${tag}-id${nul}`, type: `${tag}.t${nul}` });
      await store().append([odd]);
      expect(await store().getEvent(odd.id)).toMatchObject({ id: odd.id, type: odd.type });
      expect(ids((await store().query({ type: odd.type })).events)).toEqual([odd.id]);
      expect(await store().getEvent(`${tag}-missing${nul}`)).toBeUndefined();
      await store().recordProcessing([
        { eventId: odd.id, group: `g${nul}`, outcome: 'failed', attempt: 1, error: `boom${nul}`, at: at(100) },
      ]);
      expect(await store().processingOf(odd.id)).toEqual([
        { eventId: odd.id, group: `g${nul}`, outcome: 'failed', attempt: 1, error: `boom${nul}`, at: at(100) },
      ]);
      expect(ids(await store().unprocessed({ group: `g${nul}`, limit: 10_000 }))).toContain(odd.id);
      await store().markPublished([odd.id]);
      expect((await store().getEvent(odd.id))?.publishedAt).toEqual(expect.any(String));
      const once = await store().handleOnce(odd.id, `g${nul}`, async () => 'ran');
      expect(once).toEqual({ handled: true, result: 'ran' });
      expect(await store().handleOnce(odd.id, `g${nul}`, async () => 'again')).toEqual({ handled: false });
    });

    options.additionalTests?.(context);
  });
}
