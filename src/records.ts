/**
 * Records keyed by names that come from users or from the wire (event types, queues, groups,
 * task states). A plain `{}` mistakes such a name for one of `Object.prototype`'s: `toString`
 * finds a function, `constructor` another, and writing `__proto__` replaces the prototype instead
 * of storing a value. These helpers build and read null-prototype records instead.
 *
 * @internal
 * @module
 */

/** An empty record with no prototype: every key, `__proto__` included, is an ordinary own key. @internal */
export function nullRecord<V>(): Record<string, V> {
  return Object.create(null) as Record<string, V>;
}

/**
 * A null-prototype record of `entries` (a later duplicate key wins). Prints and serialises like a
 * plain object; `__proto__`, `toString` and `constructor` are kept as ordinary keys.
 *
 * @internal
 */
export function recordOf<V>(entries: Iterable<readonly [string, V]>): Record<string, V> {
  const out = nullRecord<V>();
  for (const [k, v] of entries) out[k] = v;
  return out;
}

/** `record[key]` when `key` is the record's own key, else `undefined` (never an inherited member). @internal */
export function ownValue<V>(record: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
