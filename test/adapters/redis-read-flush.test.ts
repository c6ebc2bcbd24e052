/**
 * The Redis transport holds the main connection's writes until the check phase, so what one
 * turn sends leaves in one write; a read is sent at once instead: the consumer handles the batch
 * in hand from the check phase, and the next read must be on the wire (Redis working on it)
 * meanwhile, not wait behind that work. Its acks ride with it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { redisTransport } from '@procur/event-bus/redis';
import { REDIS_REQUIRED, TEST_REDIS_URL, adminClient, deleteKeys, probeRedis, uniquePrefix } from '../e2e/fixtures/redis-helpers.js';

const reachable = await probeRedis(TEST_REDIS_URL);
let admin: Redis | undefined;
const prefixes: string[] = [];

beforeAll(async () => {
  if (!reachable) return;
  admin = adminClient();
  await admin.connect();
});
afterAll(async () => {
  if (!admin) return;
  for (const p of prefixes) await deleteKeys(admin, p);
  await admin.quit();
});

/** The socket of the transport's own main connection (internal: what this test is about). */
function mainSocket(t: ReturnType<typeof redisTransport>): { writableLength: number } {
  return (t as unknown as { ctx: { main: { stream: { writableLength: number } } } }).ctx.main.stream;
}

describe.skipIf(!(reachable || REDIS_REQUIRED))('redis receive sends its read at once', () => {
  for (const [name, max] of [
    ['the READ script', 8],
    ['the fast path (guard + plain XREADGROUP)', 64],
  ] as const) {
    it(`${name}: nothing of the read (nor the acks with it) is held in the process when the check phase starts`, async () => {
      const keyPrefix = uniquePrefix();
      prefixes.push(keyPrefix);
      const t = redisTransport({ url: TEST_REDIS_URL, keyPrefix });
      try {
        const stream = 's';
        await t.ensureGroup(stream, 'g', { startAt: 'beginning' });
        await t.publish(stream, Array.from({ length: 4 * max }, (_, i) => ({ body: JSON.stringify({ i }), priority: 1 })));
        // A full read of the source turns the fast path on (for `max` >= its minimum).
        const first = await t.receive(stream, { group: 'g', consumer: 'c', max });
        expect(first).toHaveLength(max);
        const socket = mainSocket(t);
        const reads: Promise<unknown>[] = [];
        const heldAtCheck: number[] = [];
        for (let i = 0; i < 2; i++) {
          const acks = i === 0 ? first.map((d) => d.deliveryId) : [];
          reads.push(t.receive(stream, { group: 'g', consumer: 'c', max, ack: acks }));
          // Registered before the read is written: runs in the check phase the writes were held for.
          await new Promise<void>((resolve) =>
            setImmediate(() => {
              heldAtCheck.push(socket.writableLength);
              resolve();
            }),
          );
          await reads[i];
        }
        expect(heldAtCheck).toEqual([0, 0]);
        const [, second] = (await Promise.all(reads)) as [unknown, { deliveryId: string }[]];
        expect(second).toHaveLength(max);
        const info = await t.info(stream);
        // The first batch was acknowledged with the read that followed it.
        expect(info.groups.find((g) => g.name === 'g')?.pending).toBe(2 * max);
      } finally {
        await t.close();
      }
    });
  }
});
