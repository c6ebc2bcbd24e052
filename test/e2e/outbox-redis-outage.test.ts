/**
 * The outbox end to end: a Redis that the test starts itself is stopped while 1,000 events are
 * published (each publish resolves: the SQLite store keeps it), then started again; the relay
 * publishes the stored events and the consumer handles all 1,000, none lost.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createEventSystem, EventType, silentLogger, type EventSystem } from '../../src/index.js';
import { sleep } from '../../src/adapter-kit.js';
import { redisTransport } from '../../adapters/redis/index.js';
import { sqliteStore } from '../../adapters/sqlite/index.js';
import { privateRedis, type PrivateRedis } from './fixtures/redis-helpers.js';

let server: PrivateRedis | undefined;
let bus: EventSystem | undefined;
afterEach(async () => {
  await bus?.close().catch(() => {});
  await server?.destroy();
});

it('1,000 events published while Redis is down are all delivered once it is back', async () => {
  server = await privateRedis();
  await server.start();
  bus = await createEventSystem({
    transport: redisTransport({ url: server.url, publishTimeoutMs: 300, operationTimeoutMs: 300 }),
    store: sqliteStore({ filename: join(mkdtempSync(join(tmpdir(), 'procur-outage-')), 'events.db') }),
    logger: silentLogger,
    env: {},
    outbox: { intervalMs: 200, graceMs: 0 },
    config: { eventBlockTime: 200, claimIdleMs: 2000 },
  });
  const handled = new Set<string>();
  const c = bus.consumer('outage').registerHandler(EventType.SYSTEM_WARNING, (e) => {
    handled.add(e.id);
  });
  await c.start({ batchSize: 100 });

  await server.shutdown();
  const ids = await Promise.all(
    Array.from({ length: 1000 }, (_, i) => bus!.publisher.publishSystemWarning({ message: `while down ${i}` })),
  );
  expect(new Set(ids).size).toBe(1000);
  expect((await bus.store.adapter.unpublished({ limit: 2000 })).length).toBe(1000);
  expect(handled.size).toBe(0);

  await server.start();
  for (let i = 0; i < 300 && handled.size < 1000; i++) await sleep(100);
  expect(handled.size).toBe(1000);
  expect([...handled].sort()).toEqual([...ids].sort());
  expect((await bus.store.adapter.unpublished({ limit: 10 })).length).toBe(0);
}, 60_000);
