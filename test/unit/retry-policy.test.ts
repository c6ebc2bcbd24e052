/**
 * The retry policy of consumers and workers (src/retry-policy.ts) and the backoff it uses, as
 * pure functions: no transport, no timers.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RetryLaterError, UnrecoverableError, backoffDelay, type BackoffOptions } from '../../src/index.js';
import { DEFAULT_RETRY_JITTER, decideRetry, defaultBackoff } from '../../src/retry-policy.js';

describe('backoffDelay', () => {
  it('doubles per attempt from delayMs and stops at maxDelayMs; fixed keeps delayMs', () => {
    const o: BackoffOptions = { type: 'exponential', delayMs: 100, maxDelayMs: 1000 };
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(o, a))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay({ type: 'fixed', delayMs: 50 }, 7)).toBe(50);
    expect(backoffDelay({ delayMs: 10 }, 1000)).toBe(60_000);
  });

  it('with jitter j stays within [base·(1-j), base·(1+j)], never above maxDelayMs, never negative', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 1, max: 60 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        fc.integer({ min: 0, max: 1_000_000 }),
        (delayMs, attempt, jitter, r, maxDelayMs) => {
          const o: BackoffOptions = { type: 'exponential', delayMs, maxDelayMs, jitter };
          const base = Math.min(maxDelayMs, delayMs * 2 ** Math.min(attempt - 1, 52));
          const d = backoffDelay(o, attempt, () => r);
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThanOrEqual(maxDelayMs);
          expect(d).toBeGreaterThanOrEqual(Math.floor(base * (1 - jitter)) - 1);
          expect(d).toBeLessThanOrEqual(Math.ceil(base * (1 + jitter)) + 1);
        },
      ),
    );
  });

  it('treats a jitter outside 0..1 as its bound', () => {
    expect(backoffDelay({ delayMs: 1000, jitter: -3 }, 1, () => 0)).toBe(1000);
    expect(backoffDelay({ delayMs: 1000, maxDelayMs: 5000, jitter: 7 }, 1, () => 1)).toBe(2000);
  });
});

describe('defaultBackoff', () => {
  it('is exponential from retryBackoffMs to retryBackoffMaxMs, with the documented jitter (none)', () => {
    expect(DEFAULT_RETRY_JITTER).toBe(0);
    const o = defaultBackoff({ retryBackoffMs: 1000, retryBackoffMaxMs: 60_000 });
    expect(o).toEqual({ type: 'exponential', delayMs: 1000, maxDelayMs: 60_000, jitter: 0 });
    // Deterministic: every retry exactly as configured, whatever the random source says.
    expect([1, 2, 3, 7, 8].map((a) => backoffDelay(o, a, () => 0.99))).toEqual([1000, 2000, 4000, 60_000, 60_000]);
  });
});

describe('decideRetry', () => {
  const policy = { maxRetries: 2, backoff: { type: 'exponential' as const, delayMs: 100, maxDelayMs: 10_000 } };

  it('retries while attempt <= maxRetries with the backoff of that attempt, then dead-letters', () => {
    const err = new Error('down');
    expect(decideRetry(err, 1, policy)).toEqual({ action: 'retry', delayMs: 100 });
    expect(decideRetry(err, 2, policy)).toEqual({ action: 'retry', delayMs: 200 });
    expect(decideRetry(err, 3, policy)).toEqual({ action: 'dead-letter' });
    expect(decideRetry(err, 1, { ...policy, maxRetries: 0 })).toEqual({ action: 'dead-letter' });
  });

  it('sends UnrecoverableError straight to the dead letter queue', () => {
    expect(decideRetry(new UnrecoverableError('bad input'), 1, policy)).toEqual({ action: 'dead-letter' });
  });

  it('turns RetryLaterError into a later try with its delay (never negative), whatever the attempt', () => {
    expect(decideRetry(new RetryLaterError(750), 99, policy)).toEqual({ action: 'later', delayMs: 750 });
    expect(decideRetry(new RetryLaterError(-5), 1, policy)).toEqual({ action: 'later', delayMs: 0 });
    expect(decideRetry(new RetryLaterError(Number.NaN), 1, policy)).toEqual({ action: 'later', delayMs: 0 });
  });

  it('treats anything thrown (not an Error) as a failure to retry', () => {
    expect(decideRetry('a string', 1, policy)).toEqual({ action: 'retry', delayMs: 100 });
    expect(decideRetry(undefined, 3, policy)).toEqual({ action: 'dead-letter' });
  });
});
