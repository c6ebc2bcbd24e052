/**
 * The in-process path: an event handed from the publisher to the consumers of the same process
 * as a JSON value instead of JSON text, with every guarantee of the text kept.
 *
 * A transport that keeps messages in the process (the memory adapter) marks itself with
 * {@link IN_PROCESS_VALUES}. The publisher then takes a *snapshot* of each envelope
 * ({@link snapshotJson}): a private deep copy with exactly the JSON semantics (`toJSON`, dropped
 * `undefined`, `NaN` to `null`, boxed primitives unboxed, circular data and `BigInt` refused with
 * the same `EventValidationError` as the encoder), so it equals `JSON.parse(JSON.stringify(envelope))`.
 * The transport keeps the snapshot, never hands it out, and encodes it to text only when someone
 * reads a body (the dead letter queue, a foreign consumer). Each delivery's handler gets its own
 * copy ({@link decodeDelivery}), so a handler that mutates its event changes nothing another
 * group, a retry or the dead letter queue sees: what the encoding guaranteed, without the text.
 *
 * Internal to the package: the symbols are not part of the Transport contract, and a transport
 * without the mark gets ordinary encoded messages.
 *
 * @module
 * @internal
 */

import { types } from 'node:util';
import type { Delivery, OutgoingMessage } from '../contracts/transport.js';
import { decodeEnvelope, type EventEnvelope } from './envelope.js';
import { encodeJson } from './json.js';

/** Set to `true` on a transport (or composed transport) whose `publish` takes {@link ValueMessage}s. @internal */
export const IN_PROCESS_VALUES: unique symbol = Symbol.for('@procur/event-bus:in-process-values');

/** A delivery's method returning a fresh copy of the message value (absent on encoded deliveries). @internal */
export const DELIVERY_VALUE: unique symbol = Symbol.for('@procur/event-bus:delivery-value');

/** What a transport that takes the in-process path declares. @internal */
export interface InProcessMark {
  readonly [IN_PROCESS_VALUES]?: boolean;
}

/** True when `transport` declares the in-process path. @internal */
export function takesValues(transport: object): boolean {
  return (transport as { [IN_PROCESS_VALUES]?: unknown })[IN_PROCESS_VALUES] === true;
}

/** A JSON value as `JSON.parse` builds it: plain objects, arrays, strings, finite numbers, booleans, null. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A snapshot and an upper bound of the UTF-8 size of its JSON text. @internal */
export interface Snapshot {
  readonly value: JsonValue;
  /** At least the byte length of `JSON.stringify(value)` in UTF-8 (every code unit counted as a 6-byte escape). */
  readonly maxBytes: number;
}

class NotJson extends Error {}

/** Defines `key` as an own data property (a `__proto__` key stays a key, as `JSON.parse` makes it). */
function put(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true });
  else out[key] = value;
}

// The walk's state (module level: no closure per event). `snapshotJson` restores it on exit, so a
// `toJSON` that publishes (re-entry) is safe.
let bytes = 0;
const ancestors: object[] = [];

/** One value as `SerializeJSONProperty` sees it: `undefined` where JSON leaves the value out. */
function walk(v: unknown, key: string): JsonValue | undefined {
  const kind = typeof v;
  if ((kind === 'object' && v !== null) || kind === 'function' || kind === 'bigint') {
    const toJSON = (v as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') v = toJSON.call(v, key);
  }
  switch (typeof v) {
    case 'string':
      bytes += 2 + 6 * v.length;
      return v;
    case 'number':
      bytes += 32;
      // JSON has no NaN, Infinity or -0.
      return Number.isFinite(v) ? (v === 0 ? 0 : v) : null;
    case 'boolean':
      bytes += 5;
      return v;
    case 'object':
      break;
    case 'bigint':
      throw new NotJson();
    default:
      // undefined, functions, symbols: left out of objects, null in arrays.
      return undefined;
  }
  if (v === null) {
    bytes += 4;
    return null;
  }
  if (ancestors.includes(v)) throw new NotJson();
  if (Array.isArray(v)) {
    ancestors.push(v);
    const out: JsonValue[] = [];
    const n = v.length;
    bytes += 2 + n;
    for (let i = 0; i < n; i++) {
      const item = walk(v[i], String(i));
      if (item === undefined) bytes += 4;
      out.push(item === undefined ? null : item);
    }
    ancestors.pop();
    return out;
  }
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null && types.isBoxedPrimitive(v)) {
    // Unboxed as JSON.stringify does (ToNumber, ToString, the boolean slot); a Symbol object is an object.
    if (types.isNumberObject(v)) return walk(Number(v), key);
    if (types.isStringObject(v)) return walk(String(v), key);
    if (types.isBooleanObject(v)) return walk(Boolean.prototype.valueOf.call(v), key);
    if (types.isBigIntObject(v)) throw new NotJson();
  }
  ancestors.push(v);
  // A spread copies the own enumerable properties in `Object.keys` order (getters read), in one
  // fast step; only values that are not already JSON are walked and replaced.
  const out = { ...(v as Record<string, unknown>) };
  let dropped = false;
  bytes += 2;
  // for-in over a fresh fast-mode object reads through its enum cache (no keys array, no
  // megamorphic keyed loads); an inherited enumerable key (a polluted Object.prototype) is skipped.
  for (const k in out) {
    const x = out[k];
    bytes += 4 + 6 * k.length;
    switch (typeof x) {
      case 'string':
        bytes += 2 + 6 * x.length;
        continue;
      case 'boolean':
        bytes += 5;
        continue;
      case 'number':
        if (x !== 0 && Number.isFinite(x)) {
          bytes += 32;
          continue;
        }
        break;
    }
    if (!Object.hasOwn(out, k)) continue;
    const item = walk(x, k);
    if (item === undefined) dropped = true;
    put(out, k, item);
  }
  ancestors.pop();
  if (!dropped) return out as Record<string, JsonValue>;
  // JSON leaves such keys out; rebuilding keeps the object out of dictionary mode (no `delete`).
  const kept: Record<string, JsonValue> = {};
  for (const k of Object.keys(out)) {
    if (out[k] !== undefined) put(kept, k, out[k]);
  }
  return kept;
}

/**
 * Takes the JSON snapshot of `value`: what `JSON.parse(JSON.stringify(value))` returns, built
 * without the text, plus a bound of the text's size.
 *
 * @param subject - the event type, for the error.
 * @param prefix - put before every error path (`[2].` for the third event of a batch).
 * @throws `EventValidationError` naming the field, exactly as `encodeJson` does, when `value`
 *   holds a circular reference, a `BigInt` or a `toJSON` or getter that throws.
 * @internal
 */
export function snapshotJson(value: unknown, subject: string | undefined, prefix = ''): Snapshot {
  const savedBytes = bytes;
  const depth = ancestors.length;
  bytes = 0;
  try {
    const snapshot = walk(value, '');
    if (snapshot !== undefined) return { value: snapshot, maxBytes: bytes };
  } catch {
    // Fall through: the encoder names the field, or (should the walk be stricter than JSON) wins.
    ancestors.length = depth;
  } finally {
    bytes = savedBytes;
  }
  // The encoder throws the EventValidationError naming the field; if it does not, its text is the truth.
  const text = encodeJson(value, subject, prefix);
  return { value: JSON.parse(text) as JsonValue, maxBytes: 3 * text.length };
}

/**
 * A deep copy of a snapshot (plain objects, arrays, primitives: no `toJSON`, no cycles to look
 * for), as `JSON.parse` would build it from the snapshot's text.
 *
 * @internal
 */
export function cloneJson<T extends JsonValue>(v: T): T {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    const out: JsonValue[] = [];
    for (let i = 0; i < v.length; i++) {
      const item = v[i] as JsonValue;
      out.push(typeof item === 'object' && item !== null ? cloneJson(item) : item);
    }
    return out as T;
  }
  const out = { ...(v as Record<string, JsonValue>) };
  for (const k in out) {
    const item = out[k];
    if (typeof item === 'object' && item !== null && Object.hasOwn(out, k)) put(out, k, cloneJson(item));
  }
  return out as T;
}

/**
 * An outgoing message that carries its snapshot; its `body` is the snapshot's JSON text, encoded
 * on first read (an in-process transport never reads it unless a body is asked for).
 *
 * @internal
 */
export class ValueMessage implements OutgoingMessage {
  #body: string | undefined;

  constructor(
    /** The snapshot: the transport keeps it and hands out copies only. */
    readonly snapshot: JsonValue,
    readonly priority: number,
    body?: string,
  ) {
    this.#body = body;
  }

  get body(): string {
    this.#body ??= JSON.stringify(this.snapshot);
    return this.#body;
  }
}

/** The snapshot of an outgoing message, or `undefined` for an ordinary (encoded) one. @internal */
export function messageValue(m: OutgoingMessage): JsonValue | undefined {
  return m instanceof ValueMessage ? m.snapshot : undefined;
}

/**
 * The envelope of a delivery: a fresh copy of the snapshot when the transport carried one, else
 * the decoded body.
 *
 * @throws `DecodeError` when an encoded body is not an envelope.
 * @internal
 */
export function decodeDelivery(d: Delivery): EventEnvelope {
  const copy = (d as { [DELIVERY_VALUE]?: () => unknown })[DELIVERY_VALUE];
  return copy === undefined ? decodeEnvelope(d.body) : (copy.call(d) as EventEnvelope);
}
