/**
 * The retry policy of event consumers and task workers, in one place: what a failed attempt
 * leads to (a later try that does not count, a retry after a backoff, or the dead letter queue),
 * the default backoff, and the dead-letter step itself.
 *
 * @module
 */
import { backoffDelay, type BackoffOptions } from './backoff.js';
import type { EventBusConfig } from './config.js';
import type { SystemContext } from './context.js';
import type { Delivery } from './contracts/transport.js';
import type { DeliveryLoop } from './delivery-loop.js';
import { ErrorCode, isEventBusError, type RetryLaterError } from './errors.js';

/**
 * The jitter of the default backoff: none. The default delays are exactly what the settings say
 * (`retryBackoffMs`, doubled per attempt, at most `retryBackoffMaxMs`), so a retry never comes
 * earlier than configured. Pass `backoff: { ..., jitter: 0.2 }` to spread the retries of many
 * messages that failed together (a dependency went down) by up to ±20%.
 */
export const DEFAULT_RETRY_JITTER = 0;

/**
 * The backoff consumers and workers use unless one is given: exponential from
 * `config.retryBackoffMs`, doubled per attempt, capped at `config.retryBackoffMaxMs`, with
 * {@link DEFAULT_RETRY_JITTER}.
 */
export function defaultBackoff(config: Pick<EventBusConfig, 'retryBackoffMs' | 'retryBackoffMaxMs'>): BackoffOptions {
  return { type: 'exponential', delayMs: config.retryBackoffMs, maxDelayMs: config.retryBackoffMaxMs, jitter: DEFAULT_RETRY_JITTER };
}

/** What a failed attempt leads to. */
export type RetryDecision =
  /** `RetryLaterError`: try again after `delayMs` without counting an attempt. */
  | { action: 'later'; delayMs: number }
  /** Retry after the backoff's `delayMs` (the attempt counts). */
  | { action: 'retry'; delayMs: number }
  /** Retries used up, or `UnrecoverableError`: to the dead letter queue. */
  | { action: 'dead-letter' };

/** The retry settings of one consumer or task. */
export interface RetryPolicy {
  /** Retries allowed after the first attempt. */
  maxRetries: number;
  /** Retry spacing. */
  backoff: BackoffOptions;
}

/**
 * Decides what attempt number `attempt` (from 1) failing with `error` leads to:
 * `RetryLaterError` -> `later` with its delay (never negative); `UnrecoverableError` -> `dead-letter`;
 * otherwise `retry` while `attempt <= maxRetries`, with `backoffDelay(backoff, attempt)`, then
 * `dead-letter`. Pure: `random` feeds the jitter.
 */
export function decideRetry(error: unknown, attempt: number, policy: RetryPolicy, random: () => number = Math.random): RetryDecision {
  if (isEventBusError(error, ErrorCode.RETRY_LATER)) {
    const delayMs = (error as RetryLaterError).delayMs;
    return { action: 'later', delayMs: Number.isFinite(delayMs) ? Math.max(0, delayMs) : 0 };
  }
  if (isEventBusError(error, ErrorCode.UNRECOVERABLE) || attempt > policy.maxRetries) return { action: 'dead-letter' };
  return { action: 'retry', delayMs: backoffDelay(policy.backoff, attempt, random) };
}

/**
 * Moves a delivery to the DLQ (or, with the DLQ off, acks and drops it with an error log).
 * Returns the DLQ id, `undefined` when dropped, or `null` when the transport failed (the delivery
 * then stays pending and is claimed and tried again later).
 *
 * @internal
 */
export async function deadLetterDelivery(
  ctx: SystemContext,
  loop: DeliveryLoop,
  stream: string,
  group: string,
  d: Delivery,
  error: Error,
  context: Record<string, string>,
): Promise<string | undefined | null> {
  const { transport, config, logger } = ctx;
  if (!config.dlqEnabled) {
    loop.ack(d.deliveryId);
    logger.error('message failed for good and was dropped (DLQ disabled)', { stream, ...context, error: error.message });
    return undefined;
  }
  try {
    const id = await transport.deadLetter(stream, group, d, {
      dlq: config.dlqStreamName,
      error: error.message,
      ...(error.stack ? { stack: error.stack } : {}),
      attempts: d.attempt,
      context: { ...context, ...(error.name ? { errorName: error.name } : {}) },
    });
    logger.warn('moved to the dead letter queue', { stream, ...context, attempts: d.attempt, error: error.message });
    return id;
  } catch (err) {
    logger.error('could not dead-letter a message; it stays pending', { stream, error: (err as Error).message });
    return null;
  }
}
