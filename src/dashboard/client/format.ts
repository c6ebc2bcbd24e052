/**
 * Formatting of times, durations and values for display.
 *
 * @internal
 * @module
 */

/** A duration in ms as `850 ms`, `2.5 s`, `3 min`, `5 h`, `2 d`; `''` when unknown. */
export function dur(ms: number | undefined | null): string {
  if (ms === undefined || ms === null) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${Math.round(s * 10) / 10} s`;
  const m = s / 60;
  if (m < 60) return `${Math.round(m)} min`;
  const h = m / 60;
  if (h < 48) return `${Math.round(h)} h`;
  return `${Math.round(h / 24)} d`;
}

/** How long ago (or how far ahead) an ISO time is: `now`, `3 s ago`, `in 2 min`. */
export function ago(iso: string | undefined | null, now = Date.now()): string {
  if (!iso) return '';
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (s < -5) return `in ${dur(-s * 1000)}`;
  if (s < 2) return 'now';
  return `${dur(s * 1000)} ago`;
}

/** A value as indented JSON (or its string form when it cannot be serialised). */
export function json(value: unknown): string {
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}
