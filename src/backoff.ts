/** How retries are spaced. */
export interface BackoffOptions {
  /** `'exponential'` doubles the delay per attempt; `'fixed'` keeps it. @default 'exponential' */
  type?: 'exponential' | 'fixed';
  /** The first retry's delay, in ms. */
  delayMs: number;
  /** The largest delay, in ms. @default 60000 */
  maxDelayMs?: number;
  /** Randomise each delay by up to this fraction (0 to 1), so retries of many messages spread out. @default 0 */
  jitter?: number;
}

/**
 * The delay before retry number `attempt` (1 for the first retry): `delayMs * 2^(attempt-1)`
 * capped at `maxDelayMs`, for exponential backoff.
 */
export function backoffDelay(options: BackoffOptions, attempt: number, random: () => number = Math.random): number {
  const max = options.maxDelayMs ?? 60_000;
  const base =
    options.type === 'fixed' ? options.delayMs : options.delayMs * 2 ** Math.max(0, Math.min(attempt - 1, 52));
  let delay = Math.min(max, base);
  const jitter = Math.max(0, Math.min(1, options.jitter ?? 0));
  if (jitter > 0) delay = delay * (1 - jitter + 2 * jitter * random());
  return Math.max(0, Math.round(Math.min(max, delay)));
}
