/**
 * The pending list of one consumer group of the memory adapter: its unacknowledged deliveries,
 * by delivery id.
 *
 * @module
 */

/** Holes in the array, beyond which a delivery pending for long moves aside (see {@link PendingList}). */
const SPILL_AT = 4096;

/** The sequence number a delivery id stands for (`String(n)`, n >= 1), or -1 for any other string. */
function seqOf(id: string): number {
  const n = id.length;
  if (n === 0 || n > 15) return -1;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const c = id.charCodeAt(i) - 48;
    if (c < 0 || c > 9 || (c === 0 && i === 0)) return -1;
    v = v * 10 + c;
  }
  return v;
}

/**
 * A group's pending deliveries. Delivery ids are the group's sequence numbers (`'1'`, `'2'`, ...),
 * handed out in increasing order and mostly acknowledged in about that order, so the deliveries
 * sit in an array indexed by sequence number from a moving base, and an ack clears a slot: no
 * hashing, and no table rebuilt each time the list fills and empties (a `Map` reallocates its
 * table at every doubling and halving, which a consumer reading and acknowledging batches does
 * all the time). A delivery that stays pending while thousands of later ones come and go (a hung
 * handler) would hold the base back and the array would fill with holes: then the few still
 * pending move to a map, and the array starts afresh.
 *
 * Iteration is in delivery-id order (the order deliveries were first handed out; a claim keeps
 * its id and its place), as Redis keeps a pending entries list in entry-id order.
 */
export class PendingList<T> {
  #slots: (T | undefined)[] = [];
  /** Index of the first slot that may hold a delivery (those before it are all acknowledged). */
  #head = 0;
  /** The sequence number of `#slots[0]`. */
  #base = 1;
  /** The last sequence number handed out. */
  #seq = 0;
  /** Deliveries in `#slots`. */
  #live = 0;
  /** Deliveries moved out of the array, by sequence number (all older than the array's). */
  #aside: Map<number, T> | undefined;

  /** How many deliveries are pending. */
  get size(): number {
    return this.#live + (this.#aside?.size ?? 0);
  }

  /** The id of the next delivery; {@link PendingList.push} it at once. */
  nextId(): string {
    return String(++this.#seq);
  }

  /** Adds the delivery whose id {@link PendingList.nextId} just returned. */
  push(item: T): void {
    const span = this.#slots.length - this.#head;
    if (span >= SPILL_AT && this.#live * 4 <= span) this.#spill();
    this.#slots.push(item);
    this.#live++;
  }

  /** The delivery with this id, if pending. */
  get(id: string): T | undefined {
    const n = seqOf(id);
    if (n < 0) return undefined;
    const i = n - this.#base;
    if (i >= this.#head && i < this.#slots.length) return this.#slots[i];
    return i < 0 ? this.#aside?.get(n) : undefined;
  }

  /** Removes the delivery with this id; false when it was not pending. */
  delete(id: string): boolean {
    const n = seqOf(id);
    if (n < 0) return false;
    const i = n - this.#base;
    if (i >= this.#head && i < this.#slots.length) {
      if (this.#slots[i] === undefined) return false;
      this.#slots[i] = undefined;
      this.#live--;
      if (i === this.#head) this.#advance();
      return true;
    }
    return i < 0 && this.#aside !== undefined && this.#aside.delete(n);
  }

  /** Puts `item` in place of the pending delivery with this id (a claim); false when none is pending. */
  replace(id: string, item: T): boolean {
    const n = seqOf(id);
    if (n < 0) return false;
    const i = n - this.#base;
    if (i >= this.#head && i < this.#slots.length) {
      if (this.#slots[i] === undefined) return false;
      this.#slots[i] = item;
      return true;
    }
    if (i >= 0 || !this.#aside?.has(n)) return false;
    this.#aside.set(n, item);
    return true;
  }

  /** The pending deliveries with their ids, in id order. */
  *entries(): IterableIterator<[string, T]> {
    if (this.#aside) for (const [n, item] of this.#aside) yield [String(n), item];
    const slots = this.#slots;
    for (let i = this.#head; i < slots.length; i++) {
      const item = slots[i];
      if (item !== undefined) yield [String(this.#base + i), item];
    }
  }

  /** The pending deliveries, in id order. */
  *values(): IterableIterator<T> {
    if (this.#aside) yield* this.#aside.values();
    const slots = this.#slots;
    for (let i = this.#head; i < slots.length; i++) {
      const item = slots[i];
      if (item !== undefined) yield item;
    }
  }

  /** Moves the head past acknowledged slots; drops them once they are most of the array. */
  #advance(): void {
    const slots = this.#slots;
    let head = this.#head;
    while (head < slots.length && slots[head] === undefined) head++;
    if (head === slots.length) {
      this.#base += slots.length;
      this.#slots = [];
      this.#head = 0;
    } else if (head >= 1024 && head * 2 >= slots.length) {
      this.#base += head;
      this.#slots = slots.slice(head);
      this.#head = 0;
    } else {
      this.#head = head;
    }
  }

  /** Moves what the array still holds aside and starts an empty array at the next id. */
  #spill(): void {
    const slots = this.#slots;
    const aside = (this.#aside ??= new Map());
    for (let i = this.#head; i < slots.length; i++) {
      const item = slots[i];
      if (item !== undefined) aside.set(this.#base + i, item);
    }
    this.#base += slots.length;
    this.#slots = [];
    this.#head = 0;
    this.#live = 0;
  }
}
