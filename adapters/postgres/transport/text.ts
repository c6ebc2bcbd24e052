/**
 * Text columns and NOTIFY payloads cannot hold NUL: NUL is written as `\u0001 0` and the escape
 * `\u0001` itself as `\u0001\u0001` (one-to-one, as the PostgreSQL store does), so any string
 * round trips.
 *
 * @internal
 * @module
 */

/** Encodes a string for a text column. */
export function encodeText(value: string): string {
  if (value.indexOf('\u0000') === -1 && value.indexOf('\u0001') === -1) return value;
  return value.replace(/[\u0000\u0001]/g, (c) => (c === '\u0000' ? '\u00010' : '\u0001\u0001'));
}

/** Reverses {@link encodeText}. */
export function decodeText(value: string): string {
  if (value.indexOf('\u0001') === -1) return value;
  return value.replace(/\u0001([\u00010])/g, (_, c: string) => (c === '0' ? '\u0000' : '\u0001'));
}

/** Whether a delivery or DLQ id can be one of ours (a positive bigint). */
export function isRowId(id: string): boolean {
  return /^[1-9]\d{0,18}$/.test(id);
}
