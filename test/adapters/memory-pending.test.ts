/**
 * The memory adapter's pending list (adapters/memory/memory-pending.ts): deliveries by id in an
 * array from a moving base, with the long-pending moved aside. Checked against a Map-based model
 * under random operations, plus the cases a model run may miss.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PendingList } from '../../adapters/memory/memory-pending.js';
import { memoryTransport } from '../../adapters/memory/memory-transport.js';

const SEED = 20261204;

describe('PendingList', () => {
  it('behaves as a map from id to delivery, in id order', () => {
    // Ops: add n, ack the oldest n, ack all but the oldest few, ack or claim (replace) any one, look up any id.
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), n: fc.integer({ min: 1, max: 6000 }) }),
      fc.record({ kind: fc.constant('ackOldest' as const), n: fc.integer({ min: 1, max: 3000 }) }),
      fc.record({ kind: fc.constant('ackAny' as const), pick: fc.nat() }),
      // All but the oldest few: holes behind a pending head (what moves deliveries aside).
      fc.record({ kind: fc.constant('ackNewest' as const), keep: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant('replace' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant('lookup' as const), id: fc.oneof(fc.nat({ max: 20000 }).map(String), fc.constantFrom('', '0', '01', ' 1', '1.0', '1e0', '+1', '-1', 'x', '9'.repeat(20))) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const list = new PendingList<{ v: number }>();
        const model = new Map<string, { v: number }>();
        let v = 0;
        for (const o of ops) {
          if (o.kind === 'add') {
            for (let i = 0; i < o.n; i++) {
              const id = list.nextId();
              expect(model.has(id)).toBe(false);
              const item = { v: ++v };
              list.push(item);
              model.set(id, item);
            }
          } else if (o.kind === 'ackOldest') {
            for (const id of [...model.keys()].slice(0, o.n)) {
              expect(list.delete(id)).toBe(true);
              expect(list.delete(id)).toBe(false);
              model.delete(id);
            }
          } else if (o.kind === 'ackNewest') {
            for (const id of [...model.keys()].slice(o.keep)) {
              expect(list.delete(id)).toBe(true);
              model.delete(id);
            }
          } else if (o.kind === 'ackAny' || o.kind === 'replace') {
            const ids = [...model.keys()];
            if (ids.length === 0) continue;
            const id = ids[o.pick % ids.length] as string;
            if (o.kind === 'ackAny') {
              expect(list.delete(id)).toBe(true);
              model.delete(id);
            } else {
              const item = { v: ++v };
              expect(list.replace(id, item)).toBe(true);
              model.set(id, item);
            }
          } else {
            expect(list.get(o.id)).toBe(model.get(o.id));
            if (!model.has(o.id)) {
              expect(list.replace(o.id, { v: -1 })).toBe(false);
              expect(list.delete(o.id)).toBe(false);
            }
          }
          expect(list.size).toBe(model.size);
        }
        // Id order, as the model was filled (ids only grow).
        const byId = [...model].sort((a, b) => Number(a[0]) - Number(b[0]));
        expect([...list.entries()]).toEqual(byId);
        expect([...list.values()]).toEqual(byId.map(([, item]) => item));
      }),
      { seed: SEED, numRuns: 100 },
    );
  });

  it('moves a delivery pending for long aside instead of keeping the holes behind it', () => {
    const list = new PendingList<number>();
    const stuck = list.nextId();
    list.push(0);
    // 100,000 deliveries come and go while the first stays pending.
    for (let i = 1; i <= 100_000; i++) {
      const id = list.nextId();
      list.push(i);
      expect(list.delete(id)).toBe(true);
    }
    expect(list.size).toBe(1);
    expect(list.get(stuck)).toBe(0);
    expect([...list.entries()]).toEqual([[stuck, 0]]);
    expect(list.replace(stuck, 7)).toBe(true);
    expect(list.get(stuck)).toBe(7);
    expect(list.delete(stuck)).toBe(true);
    expect(list.size).toBe(0);
    expect([...list.values()]).toEqual([]);
  });

  it('reports the oldest pending delivery of a group even after a claim put a newer one first', async () => {
    let now = 1_700_000_000_000;
    const t = memoryTransport({ clock: { now: () => now } });
    try {
      await t.ensureGroup('s', 'g');
      await t.publish('s', [{ body: 'a' }, { body: 'b' }]);
      const [a] = await t.receive('s', { group: 'g', consumer: 'c1', max: 1 });
      now += 1000;
      const [b] = await t.receive('s', { group: 'g', consumer: 'c1', max: 1 });
      expect((await t.info('s')).groups[0]?.oldestPendingMs).toBe(1000);
      // a is claimed (handed over anew now), b has been pending for 500 ms: b is the oldest.
      now += 500;
      await t.touch('s', 'g', 'c1', [b?.deliveryId as string]);
      const claimed = await t.claimStale('s', { group: 'g', consumer: 'c2', minIdleMs: 1000 });
      expect(claimed.map((d) => d.deliveryId)).toEqual([a?.deliveryId]);
      expect((await t.info('s')).groups[0]?.oldestPendingMs).toBe(500);
    } finally {
      await t.close();
    }
  });
});
