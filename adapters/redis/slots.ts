/**
 * Redis Cluster slots on the client side: the slot of a key (CRC16 of its hash tag, as Redis
 * computes it) and the grouping of keys by the node that serves them, so a command spanning
 * several streams or keys is sent as one pipeline per node, never as one cross-slot command.
 *
 * @module
 */

import type { RedisClient } from './connection.js';
import { isCluster } from './connection.js';

const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/**
 * The Redis Cluster slot (0-16383) of `key`: CRC16 (XMODEM) of the part between the first `{`
 * and the next `}` when that part is not empty, else of the whole key (as `CLUSTER KEYSLOT`).
 */
export function keySlot(key: string): number {
  let part = key;
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) part = key.slice(open + 1, close);
  }
  const bytes = Buffer.from(part, 'utf8');
  let crc = 0;
  for (const b of bytes) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ b) & 0xff]!;
  return crc % 16384;
}

/**
 * Splits `items` into groups whose keys (`keyOf`) a single pipeline can carry: on a single Redis
 * one group; on a cluster one group per node serving their slots (from the client's slot map;
 * a slot it does not know yet gets a group of its own, and ioredis follows a redirection).
 */
export function byNode<T>(client: RedisClient, items: readonly T[], keyOf: (item: T) => string): T[][] {
  if (!isCluster(client) || items.length <= 1) return items.length === 0 ? [] : [[...items]];
  const slots = (client as unknown as { slots?: string[][] }).slots ?? [];
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const slot = keySlot(keyOf(item));
    const node = slots[slot]?.[0] ?? `slot:${slot}`;
    let g = groups.get(node);
    if (!g) groups.set(node, (g = []));
    g.push(item);
  }
  return [...groups.values()];
}
