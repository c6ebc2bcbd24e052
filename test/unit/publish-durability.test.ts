/**
 * Publish never promises a durability it lacks (issue 10, hole 3): with an unreachable transport,
 * `publish()` resolves ("waits in the outbox") only when the store persists; with the memory store
 * or a ':memory:' SQLite database it rejects with `TransportError`. And a store that does not
 * answer fails publish with `StoreError` within `storeTimeoutMs`, for any store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sqliteStore } from '../../adapters/sqlite/index.js';
import {
  ConfigError,
  EventType,
  StoreError,
  TransportError,
  createEventSystem,
  memoryStore,
  memoryTransport,
  silentLogger,
  type EventStore,
  type EventSystem,
  type Transport,
} from '../../src/index.js';
import { waitUntil } from '../../src/testing/index.js';

/** A memory transport whose publish fails as an unreachable Redis does. */
function unreachableTransport(): Transport {
  const inner = memoryTransport();
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'publish') {
        return async () => {
          throw new TransportError('[event-bus:test] Cannot reach the transport: connection refused.');
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

const input = { type: EventType.SYSTEM_WARNING, data: { message: 'durability' } };

let bus: EventSystem | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await bus?.close().catch(() => undefined);
  bus = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function system(store: EventStore, config: Record<string, unknown> = {}): Promise<EventSystem> {
  bus = await createEventSystem({ store, transport: unreachableTransport(), logger: silentLogger, env: {}, outbox: false, config });
  return bus;
}

describe('publish with an unreachable transport', () => {
  it('memory store (not persistent): rejects with TransportError instead of claiming the outbox keeps it', async () => {
    const b = await system(memoryStore());
    expect(b.store.adapter.features.persistent).toBe(false);
    await expect(b.publisher.publish(input)).rejects.toBeInstanceOf(TransportError);
  });

  it("SQLite ':memory:' (not persistent): rejects with TransportError", async () => {
    const b = await system(sqliteStore({ filename: ':memory:' }));
    await expect(b.publisher.publish(input)).rejects.toBeInstanceOf(TransportError);
  });

  it('SQLite file (persistent): resolves, and the event waits in the outbox', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'procur-durable-'));
    dirs.push(dir);
    const b = await system(sqliteStore({ filename: join(dir, 'events.db') }));
    expect(b.store.adapter.features.persistent).toBe(true);
    const id = await b.publisher.publish(input);
    expect((await b.store.adapter.unpublished()).map((e) => e.id)).toEqual([id]);
  });
});

describe('publish with a store that does not answer', () => {
  it('rejects with StoreError within storeTimeoutMs and hands nothing to the transport', async () => {
    const base = memoryStore();
    let sent = 0;
    const transport = memoryTransport();
    const counting = new Proxy(transport, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'publish') {
          return (...args: unknown[]) => {
            sent++;
            return (v as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    // A third-party store whose append never settles (a frozen database, no timeout of its own).
    const frozen: EventStore = Object.assign(Object.create(base) as EventStore, {
      append: () => new Promise<void>(() => undefined),
    });
    bus = await createEventSystem({ store: frozen, transport: counting, logger: silentLogger, env: {}, outbox: false, config: { storeTimeoutMs: 100 } });
    const err = await bus.publisher.publish(input).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(/storeTimeoutMs, PROCUR_EVENT_STORE_TIMEOUT_MS/);
    expect(sent).toBe(0);
  });

  it('a store whose markPublished never settles does not hold publish past storeTimeoutMs', async () => {
    const base = memoryStore();
    // Frozen after the append (the database stopped answering between the two calls).
    const frozen: EventStore = Object.assign(Object.create(base) as EventStore, {
      append: (...args: Parameters<EventStore['append']>) => base.append(...args),
      markPublished: () => new Promise<void>(() => undefined),
    });
    bus = await createEventSystem({ store: frozen, logger: silentLogger, env: {}, outbox: false, config: { storeTimeoutMs: 100 } });
    const got: string[] = [];
    const c = bus.consumer('c');
    c.registerHandler(input.type, (e) => void got.push(e.id));
    await c.start();
    // The transport has the event: publish resolves (the mark is best effort, at-least-once).
    const id = await bus.publisher.publish(input);
    await waitUntil(() => got.includes(id), 10_000, 'the event handled');
  });

  it('a bad storeTimeoutMs is a ConfigError naming the setting', async () => {
    await expect(
      createEventSystem({ logger: silentLogger, env: { PROCUR_EVENT_STORE_TIMEOUT_MS: '-1' } }),
    ).rejects.toThrow(expect.objectContaining({ name: 'ConfigError', message: expect.stringContaining('PROCUR_EVENT_STORE_TIMEOUT_MS') }));
    await expect(createEventSystem({ logger: silentLogger, env: {}, config: { storeTimeoutMs: 0 } })).rejects.toBeInstanceOf(ConfigError);
  });
});
