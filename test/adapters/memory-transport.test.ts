import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_MEMORY_MAX_LEN, memoryTransport } from '../../adapters/memory/memory-transport.js';
import type { Clock } from '../../src/clock.js';
import { isEventBusError } from '../../src/errors.js';
import { describeTransport, uniqueName } from '../../src/testing/transport-suite.js';
import type { Transport, TransportFeatures } from '../../src/contracts/transport.js';

function manualClock(start = 1_700_000_000_000): Clock & { advance(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

function refTimeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (err: unknown) => err,
  );
}

describeTransport('memory', () => ({ transport: memoryTransport() }), {
  additionalTests(ctx) {
    describe('memory specifics', () => {
      it('declares its name and features', () => {
        expect(ctx.transport.name).toBe('memory');
        expect(ctx.transport.features).toEqual({
          persistent: false,
          distributed: false,
          streams: true,
          deadLetters: true,
          keyValue: true,
          signals: true,
          admin: true,
        });
      });

      it('leaves no ref-ed timer behind after close', async () => {
        const t = memoryTransport();
        const before = refTimeouts();
        await t.ensureGroup(ctx.stream, 'g');
        const blocked = t.receive(ctx.stream, { group: 'g', consumer: 'c', blockMs: 60_000 });
        await t.publish(ctx.stream, [{ body: 'later', delayMs: 60_000 }]);
        expect(refTimeouts()).toBeGreaterThan(before);
        await t.close();
        expect(await blocked).toEqual([]);
        expect(refTimeouts()).toBeLessThanOrEqual(before);
      });

      it('clears every timer (ref-ed or not) on close', async () => {
        vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
        try {
          const t = memoryTransport();
          await t.ensureGroup('s', 'g');
          await t.publish('s', [{ body: 'a' }, { body: 'later', delayMs: 60_000 }]);
          const [d] = await t.receive('s', { group: 'g', consumer: 'c' });
          await t.nack('s', 'g', d!.deliveryId, { delayMs: 30_000 });
          const blocked = t.receive('s', { group: 'g', consumer: 'c2', blockMs: 10_000 });
          expect(vi.getTimerCount()).toBeGreaterThan(0);
          await t.close();
          expect(await blocked).toEqual([]);
          expect(vi.getTimerCount()).toBe(0);
        } finally {
          vi.useRealTimers();
        }
      });

      it('keeps one delay timer however many messages are delayed', async () => {
        vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
        try {
          const t = memoryTransport();
          await t.ensureGroup('s', 'g');
          await t.publish('s', Array.from({ length: 100 }, (_, i) => ({ body: `m${i}`, delayMs: 1000 + i })));
          await t.redeliver('s', 'g', [{ body: 'r', delayMs: 10 }]);
          expect(vi.getTimerCount()).toBe(1);
          await t.close();
          expect(vi.getTimerCount()).toBe(0);
        } finally {
          vi.useRealTimers();
        }
      });

      it('bounds the stream log with maxLen, not the backlog', async () => {
        const t = memoryTransport({ maxLen: 3 });
        try {
          await t.ensureGroup('s', 'early');
          await t.publish('s', [{ body: 'm0' }, { body: 'm1', priority: 3 }, { body: 'm2' }, { body: 'm3', priority: 0 }, { body: 'm4' }]);
          const info = await t.info('s');
          expect(info.length).toBe(3);
          expect(info.lengthByPriority).toEqual([1, 2, 0, 0]);
          expect(info.groups[0]).toMatchObject({ name: 'early', lag: 5 });
          await t.ensureGroup('s', 'late', { startAt: 'beginning' });
          const late = await t.receive('s', { group: 'late', consumer: 'c', max: 10 });
          expect(late.map((d) => d.body)).toEqual(['m2', 'm4', 'm3']);
          const early = await t.receive('s', { group: 'early', consumer: 'c', max: 10 });
          expect(early).toHaveLength(5);
        } finally {
          await t.close();
        }
      });

      it('validates maxLen', () => {
        expect(DEFAULT_MEMORY_MAX_LEN).toBe(10_000);
        for (const bad of [-1, 1.5, Number.NaN]) {
          let caught: unknown;
          try {
            memoryTransport({ maxLen: bad });
          } catch (err) {
            caught = err;
          }
          expect(isEventBusError(caught, 'ERR_CONFIG')).toBe(true);
        }
        expect(() => memoryTransport({ maxLen: 0 }).close()).not.toThrow();
        expect(() => memoryTransport({ maxLen: Infinity }).close()).not.toThrow();
      });

      it('reads time from the injected clock', async () => {
        const clock = manualClock();
        const t = memoryTransport({ clock });
        try {
          await t.ensureGroup('s', 'g');
          const [id] = await t.publish('s', [{ body: 'later', delayMs: 60_000 }]);
          expect(typeof id).toBe('string');
          expect(await t.receive('s', { group: 'g', consumer: 'c' })).toEqual([]);
          clock.advance(60_000);
          const [d] = await t.receive('s', { group: 'g', consumer: 'c' });
          expect(d).toMatchObject({ body: 'later', publishedAt: clock.now() - 60_000 });
          // Idle time and key expiry follow the clock too.
          expect(await t.claimStale('s', { group: 'g', consumer: 'c2', minIdleMs: 1000 })).toEqual([]);
          clock.advance(1000);
          expect(await t.claimStale('s', { group: 'g', consumer: 'c2', minIdleMs: 1000 })).toHaveLength(1);
          expect((await t.info('s')).groups[0]?.oldestPendingMs).toBe(0);
          clock.advance(250);
          expect((await t.info('s')).groups[0]?.oldestPendingMs).toBe(250);
          await t.kvSet('k', 'v', { ttlMs: 500 });
          clock.advance(499);
          expect(await t.kvGet('k')).toBe('v');
          clock.advance(1);
          expect(await t.kvGet('k')).toBeNull();
        } finally {
          await t.close();
        }
      });

      it('refuses to read from a group that does not exist', async () => {
        const t = ctx.transport;
        const err = await rejection(t.receive(ctx.stream, { group: 'nope', consumer: 'c' }));
        expect(isEventBusError(err, 'ERR_TRANSPORT')).toBe(true);
        expect((err as Error).message).toContain('ensureGroup');
        const claimErr = await rejection(t.claimStale(ctx.stream, { group: 'nope', consumer: 'c', minIdleMs: 0 }));
        expect(isEventBusError(claimErr, 'ERR_TRANSPORT')).toBe(true);
        expect(isEventBusError(await rejection(t.redeliver(ctx.stream, 'nope', [{ body: 'x' }])), 'ERR_TRANSPORT')).toBe(true);
        // Writes about unknown deliveries stay no-ops.
        await t.ack(ctx.stream, 'nope', ['1']);
        await t.nack(ctx.stream, 'nope', '1');
        await t.touch(ctx.stream, 'nope', 'c', ['1']);
      });

      it('serves blocked receivers first come first served', async () => {
        const t = ctx.transport;
        await t.ensureGroup(ctx.stream, 'g');
        const first = t.receive(ctx.stream, { group: 'g', consumer: 'c1', blockMs: 5000 });
        const second = t.receive(ctx.stream, { group: 'g', consumer: 'c2', blockMs: 300 });
        await t.publish(ctx.stream, [{ body: 'one' }]);
        expect((await first).map((d) => d.body)).toEqual(['one']);
        expect(await second).toEqual([]);
      });

      it('wakes a blocked receiver with a whole batch, by priority', async () => {
        const t = ctx.transport;
        await t.ensureGroup(ctx.stream, 'g');
        const blocked = t.receive(ctx.stream, { group: 'g', consumer: 'c1', max: 2, blockMs: 5000 });
        await t.publish(ctx.stream, [{ body: 'low', priority: 0 }, { body: 'crit', priority: 3 }, { body: 'high', priority: 2 }]);
        expect((await blocked).map((d) => d.body)).toEqual(['crit', 'high']);
      });

      it('ignores a stale delivery id from an earlier delivery', async () => {
        const t = ctx.transport;
        await t.ensureGroup(ctx.stream, 'g');
        await t.publish(ctx.stream, [{ body: 'x' }]);
        const [d1] = await t.receive(ctx.stream, { group: 'g', consumer: 'c' });
        await t.nack(ctx.stream, 'g', d1!.deliveryId);
        const [d2] = await t.receive(ctx.stream, { group: 'g', consumer: 'c' });
        expect(d2!.deliveryId).not.toBe(d1!.deliveryId);
        await t.ack(ctx.stream, 'g', [d1!.deliveryId]);
        expect((await t.info(ctx.stream)).groups[0]?.pending).toBe(1);
      });

      it('clamps priorities to 0-3', async () => {
        const t = ctx.transport;
        await t.ensureGroup(ctx.stream, 'g');
        await t.publish(ctx.stream, [
          { body: 'a', priority: 9 },
          { body: 'b', priority: -2 },
          { body: 'c', priority: 1.7 },
          { body: 'd', priority: Number.NaN },
        ]);
        const got = await t.receive(ctx.stream, { group: 'g', consumer: 'c' });
        expect(got.map((d) => [d.body, d.priority])).toEqual([
          ['a', 3],
          ['c', 1],
          ['d', 1],
          ['b', 0],
        ]);
      });

      it('purge counts a message once and keeps what another group was handed', async () => {
        const t = ctx.transport;
        await t.ensureGroup(ctx.stream, 'g1');
        await t.ensureGroup(ctx.stream, 'g2');
        await t.publish(ctx.stream, [{ body: 'a' }, { body: 'b' }]);
        await t.receive(ctx.stream, { group: 'g1', consumer: 'c', max: 1 });
        expect(await t.purge(ctx.stream)).toBe(2);
        const info = await t.info(ctx.stream);
        expect(info.length).toBe(1);
        expect(info.groups.map((g) => [g.name, g.lag, g.pending])).toEqual([
          ['g1', 0, 1],
          ['g2', 0, 0],
        ]);
      });

      it('does not deliver a listener message inline or to an unsubscribed listener', async () => {
        const t = ctx.transport;
        const channel = uniqueName('chan');
        const got: string[] = [];
        const off = await t.listen(channel, (m) => got.push(m));
        const sent = t.notify(channel, 'x');
        expect(got).toEqual([]);
        // Unsubscribing before the message is dispatched means it is never seen.
        const stopped = off();
        await Promise.all([sent, stopped]);
        await new Promise((r) => setTimeout(r, 20));
        expect(got).toEqual([]);
        const asyncGot: string[] = [];
        await t.listen(channel, async (m) => {
          asyncGot.push(m);
          throw new Error('async listener failed');
        });
        await t.notify(channel, 'y');
        await new Promise((r) => setTimeout(r, 20));
        expect(asyncGot).toEqual(['y']);
      });

      it('moves 100,000 messages through publish, receive and ack with nothing left pending (speed is measured by npm run bench -- memory)', async () => {
        const t = ctx.transport;
        await t.ensureGroup(ctx.stream, 'g');
        const total = 100_000;
        const batch = Array.from({ length: 100 }, (_, i) => ({ body: `m${i}` }));
        let received = 0;
        for (let i = 0; i < total / batch.length; i++) {
          await t.publish(ctx.stream, batch);
          const got = await t.receive(ctx.stream, { group: 'g', consumer: 'c', max: batch.length });
          received += got.length;
          await t.ack(ctx.stream, 'g', got.map((d) => d.deliveryId));
        }
        expect(received).toBe(total);
        expect((await t.info(ctx.stream)).groups[0]).toMatchObject({ pending: 0, lag: 0 });
      });
    });
  },
});

// The features drive the suites: an adapter that declares only key-value and signals runs those
// two suites and the lifecycle cases; the streams, dead-letter and admin suites are skipped.
const COORDINATION_ONLY: TransportFeatures = {
  persistent: false,
  distributed: false,
  streams: false,
  deadLetters: false,
  keyValue: true,
  signals: true,
  admin: false,
};
describeTransport(
  'memory (key-value and signals only)',
  () => ({ transport: Object.assign(Object.create(memoryTransport()) as Transport, { features: COORDINATION_ONLY }) }),
  { features: COORDINATION_ONLY },
);
