/**
 * The memory transport's deliveries are also its pending entries (adapters/memory/
 * memory-stream-state.ts): a consumer sees only the Delivery fields, changing them changes
 * nothing the transport does next, and a claim hands out a new delivery (the old one keeps its
 * attempt). Encoded and in-process messages alike.
 */
import { describe, expect, it } from 'vitest';
import { memoryTransport } from '../../adapters/memory/memory-transport.js';
import type { Delivery, OutgoingMessage } from '../../src/contracts/transport.js';
import { DELIVERY_VALUE, ValueMessage } from '../../src/events/in-process.js';

const FIELDS = ['deliveryId', 'stream', 'group', 'priority', 'attempt', 'publishedAt'];

const kinds: Array<[string, () => OutgoingMessage]> = [
  ['an encoded message', () => ({ body: '{"n":1}', priority: 2 })],
  ['an in-process message', () => new ValueMessage({ n: 1 }, 2)],
];

/** What a consumer decodes: a copy of the snapshot, or the parsed body. */
function decoded(d: Delivery): Record<string, unknown> {
  const copy = (d as { [DELIVERY_VALUE]?: () => unknown })[DELIVERY_VALUE];
  return (copy ? copy.call(d) : JSON.parse(d.body)) as Record<string, unknown>;
}

describe.each(kinds)('memory transport, %s', (_kind, message) => {
  let now = 1_700_000_000_000;
  const clock = { now: () => now };

  async function oneDelivery() {
    const t = memoryTransport({ clock });
    await t.ensureGroup('s', 'g');
    await t.publish('s', [message()]);
    const [d] = await t.receive('s', { group: 'g', consumer: 'c1', max: 1 });
    return { t, d: d as Delivery };
  }

  it('shows the Delivery fields only, body included when encoded', async () => {
    const { t, d } = await oneDelivery();
    try {
      const own = Object.keys(d);
      expect(own.filter((k) => k !== 'body').sort()).toEqual([...FIELDS].sort());
      expect(JSON.parse(JSON.stringify(d))).toEqual({ deliveryId: d.deliveryId, stream: 's', group: 'g', body: '{"n":1}', priority: 2, attempt: 1, publishedAt: d.publishedAt });
      expect(d.body).toBe('{"n":1}');
    } finally {
      await t.close();
    }
  });

  it('ignores what a consumer writes into its delivery', async () => {
    const { t, d } = await oneDelivery();
    try {
      Object.assign(d, { attempt: 41, priority: 0, group: 'other', deliveryId: d.deliveryId });
      await t.nack('s', 'g', d.deliveryId);
      const [again] = await t.receive('s', { group: 'g', consumer: 'c1', max: 1 });
      expect(again?.attempt).toBe(2);
      expect(again?.priority).toBe(2);
      expect(again?.group).toBe('g');
      expect(again).not.toBe(d);
    } finally {
      await t.close();
    }
  });

  it('claims into a new delivery with the same id; the old one keeps its attempt, and only the owner touches', async () => {
    const { t, d } = await oneDelivery();
    try {
      const id = d.deliveryId;
      // The partitioned transport rewrites the fields of the deliveries it passes on.
      Object.assign(d, { deliveryId: `0|${id}`, stream: 's~0' });
      now += 30;
      await t.touch('s', 'g', 'c2', [id]);
      // c2 does not own it: its touch refreshed nothing, so the delivery is idle and claimable.
      const [claimed] = await t.claimStale('s', { group: 'g', consumer: 'c2', minIdleMs: 20 });
      expect(claimed?.deliveryId).toBe(id);
      expect(claimed?.stream).toBe('s');
      expect(claimed?.attempt).toBe(2);
      expect(claimed).not.toBe(d);
      expect(d.attempt).toBe(1);
      // Now c2 owns it: c1's touch does not keep it from being claimed, c2's does.
      now += 30;
      await t.touch('s', 'g', 'c1', [id]);
      expect(await t.claimStale('s', { group: 'g', consumer: 'c3', minIdleMs: 20 })).toHaveLength(1);
      now += 30;
      await t.touch('s', 'g', 'c3', [id]);
      expect(await t.claimStale('s', { group: 'g', consumer: 'c4', minIdleMs: 20 })).toEqual([]);
      const info = await t.info('s');
      expect(info.groups[0]?.pending).toBe(1);
    } finally {
      await t.close();
    }
  });

  it('dead-letters the message as published, whatever the handler did to its copy', async () => {
    const { t, d } = await oneDelivery();
    try {
      const event = decoded(d);
      event.n = 2;
      expect(decoded(d)).toEqual({ n: 1 });
      await t.deadLetter('s', 'g', d, { dlq: 'dlq', error: 'e', attempts: 1, context: {} });
      const [dead] = await t.listDeadLetters('dlq');
      expect(dead?.body).toBe('{"n":1}');
      expect((await t.info('s')).groups[0]?.pending).toBe(0);
    } finally {
      await t.close();
    }
  });
});
