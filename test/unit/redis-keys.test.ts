// The Redis key layout and delivery-id encoding, as pure functions (no Redis): the names every
// multi-key script relies on (one hash tag, no collisions) and the ids acks and nacks parse.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '@procur/event-bus';
import { DEFAULT_KEY_PREFIX, KeyLayout, decodeDeliveryId, encodeDeliveryId, keySlot } from '@procur/event-bus/redis';

/** The Redis Cluster hash tag of a key: the part between the first `{` and the next `}`. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open + 1);
  return open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key;
}

describe('KeyLayout', () => {
  it('puts every key of one stream under its own hash tag (one Redis Cluster slot per stream)', () => {
    const k = new KeyLayout('shop');
    const ofOrders = [...k.sources('orders', 'billing'), k.delayed('orders'), k.wake('orders'), k.retryDue('orders', 'billing'), k.dlq('orders', 'procur:dlq')];
    expect(new Set(ofOrders.map(hashTag))).toEqual(new Set(['shop:orders']));
    expect(hashTag(k.main('invoices', 0))).toBe('shop:invoices');
    // Braces in a stream name cannot end its tag early or pick another stream's slot.
    expect(hashTag(k.main('a}b', 1))).toBe('shop:a%7Db');
    expect(hashTag(k.main('a{x}', 1))).toBe('shop:a%7Bx%7D');
    // Key-value entries carry no tag: each hashes by its own name.
    expect(k.kv('lock:beat')).toBe('shop:kv:lock:beat');
    expect(hashTag(k.dlqStreams('procur:dlq'))).toBe('shop');
    expect(hashTag(k.channel('task-events'))).toBe('shop');
    expect(new KeyLayout().tag).toBe(`{${DEFAULT_KEY_PREFIX}}`);
  });

  it('lists the eight sources of a group: four shared ranks, then four private retry ranks', () => {
    const k = new KeyLayout('p');
    expect(k.sources('s', 'g')).toEqual([
      '{p:s}:stream:0',
      '{p:s}:stream:1',
      '{p:s}:stream:2',
      '{p:s}:stream:3',
      '{p:s}:retry:g:0',
      '{p:s}:retry:g:1',
      '{p:s}:retry:g:2',
      '{p:s}:retry:g:3',
    ]);
    // The shared streams do not depend on the group: every group reads the same entries.
    expect(k.sources('s', 'other').slice(0, 4)).toEqual(k.mains('s'));
  });

  it('computes the slot of a key as CLUSTER KEYSLOT does', () => {
    // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
    expect(keySlot('123456789')).toBe(12739);
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('{user1000}.following')).toBe(keySlot('user1000'));
    expect(keySlot('foo{}{bar}')).toBe(keySlot('foo{}{bar}'));
    expect(keySlot('{}x')).not.toBe(keySlot('x'));
  });

  it('never maps two different groups to one key, whatever they contain', () => {
    const k = new KeyLayout('p');
    const groups = ['a:b', 'a%3Ab', 'a%b', 'a', 'a:b:c', 'a%253Ab', ':', '%', ''];
    const retry = groups.map((g) => k.retry('s', g, 1));
    const due = groups.map((g) => k.retryDue('s', g));
    expect(new Set(retry).size).toBe(groups.length);
    expect(new Set(due).size).toBe(groups.length);
    // An escaped group name holds no ':': tag, kind, stream, group, rank.
    for (const key of retry) expect(key.split(':')).toHaveLength(5); // {p, s}, retry, group, rank
  });

  it('refuses a prefix that would break the hash tag, with a ConfigError naming keyPrefix', () => {
    for (const bad of ['', 'a{b', 'a}b', '{x}']) {
      let caught: unknown;
      try {
        new KeyLayout(bad);
      } catch (err) {
        caught = err;
      }
      expect(caught, JSON.stringify(bad)).toBeInstanceOf(ConfigError);
      expect((caught as Error).message).toContain('keyPrefix');
    }
  });
});

describe('delivery ids', () => {
  it('round-trips every source and keeps shared and retry entries apart', () => {
    const entry = '1732800000000-42';
    const seen = new Set<string>();
    for (let source = 0; source < 8; source++) {
      const id = encodeDeliveryId(source, entry);
      seen.add(id);
      expect(decodeDeliveryId(id)).toEqual({ source, entryId: entry });
    }
    expect(seen.size).toBe(8);
    expect(encodeDeliveryId(1, entry)).toBe(`1:${entry}`);
    expect(encodeDeliveryId(5, entry)).toBe(`r1:${entry}`);
  });

  it('decodes anything else to undefined (ignored by ack and nack like an unknown id)', () => {
    for (const bad of ['', '1', '1:', '4:1-1', 'r4:1-1', 'x1:1-1', '1:1', '1:-1', '1:1-', '1:a-1', '1:1-1-1', '1:1-1 ', `1:${'9'.repeat(21)}-1`, 'not-an-id']) {
      expect(decodeDeliveryId(bad), bad).toBeUndefined();
    }
    expect(decodeDeliveryId(42 as unknown as string)).toBeUndefined();
  });
});
