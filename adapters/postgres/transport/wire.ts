/**
 * Array parameters of the hot statements, encoded for the wire without pg's array literal.
 *
 * pg turns a JS array into a text literal (`{"a","b"}`), escaping each element with two regular
 * expression passes: for the JSON bodies and states of a busy worker that was the largest single
 * cost of its client CPU. Here a `text[]` goes in PostgreSQL's binary array format (a `Buffer`
 * parameter, which pg sends as binary): a length and the UTF-8 bytes of each element, no
 * escaping. The bytes are the ones pg would send (`Buffer` writes a lone surrogate as U+FFFD, as
 * pg does; a NUL is refused by the server either way, and the transport encodes NUL before this
 * with `encodeText`). Numeric arrays become their literal joined by commas, which needs no
 * escaping either.
 *
 * @internal
 * @module
 */

/** The OID of `text`, the element type PostgreSQL checks a binary `text[]` against. */
const TEXT_OID = 25;

/** A `text[]` parameter (no NULL elements) in the binary array format. */
export function textArray(values: readonly string[]): Buffer {
  const n = values.length;
  if (n === 0) {
    // ndim 0: the empty array.
    const empty = Buffer.allocUnsafe(12);
    empty.writeInt32BE(0, 0);
    empty.writeInt32BE(0, 4);
    empty.writeInt32BE(TEXT_OID, 8);
    return empty;
  }
  let size = 20 + 4 * n;
  const lengths = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const len = Buffer.byteLength(values[i]!, 'utf8');
    lengths[i] = len;
    size += len;
  }
  const buf = Buffer.allocUnsafe(size);
  buf.writeInt32BE(1, 0); // ndim
  buf.writeInt32BE(0, 4); // no NULLs
  buf.writeInt32BE(TEXT_OID, 8);
  buf.writeInt32BE(n, 12); // dimension
  buf.writeInt32BE(1, 16); // lower bound
  let off = 20;
  for (let i = 0; i < n; i++) {
    const len = lengths[i]!;
    buf.writeInt32BE(len, off);
    off += 4;
    if (len > 0) off += buf.write(values[i]!, off, len, 'utf8');
  }
  return buf;
}

/** A decimal integer as text (a bigint id). */
const DECIMAL = /^-?\d+$/;

/**
 * An array literal of numbers (int, float8, or a bigint as decimal text) or booleans; `null` is
 * SQL NULL. Every element prints without quotes or escapes (`Infinity` and `NaN` are float8
 * words); anything else is coerced to a number first, so no element can add a comma or a brace.
 */
export function plainArray(values: ReadonlyArray<number | string | boolean | null>): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const v = values[i];
    if (v === null || v === undefined) out += 'NULL';
    else if (typeof v === 'boolean') out += v ? 't' : 'f';
    else if (typeof v === 'string' && DECIMAL.test(v)) out += v;
    else out += String(Number(v));
  }
  return `${out}}`;
}
