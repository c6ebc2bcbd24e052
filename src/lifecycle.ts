import { setMaxListeners } from 'node:events';
import { ClosedError } from './errors.js';

/**
 * The lifecycle every long-lived object shares: `close()` is memoised (calling it twice returns
 * the same promise), and calls made after close are refused with {@link ClosedError}.
 *
 * @internal Used by adapters and core parts; exported for third-party adapters.
 */
export class Lifecycle {
  private closing: Promise<void> | undefined;
  private readonly controller = new AbortController();

  /** @param what - how errors name the object, e.g. `'memory transport'`. */
  constructor(private readonly what: string) {
    // Every wait that close must interrupt listens on the close signal: many at once is normal.
    setMaxListeners(0, this.controller.signal);
  }

  /** True once `close()` has been called. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Aborted when `close()` is called: pass it to waits that close must interrupt. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Throws {@link ClosedError} when closed. Call at the top of every public method. */
  assertOpen(): void {
    if (this.closing) throw new ClosedError(this.what);
  }

  /**
   * Runs `fn` once, on the first call; later calls return the same promise. The close signal is
   * aborted before `fn` runs.
   */
  close(fn: () => Promise<void>): Promise<void> {
    if (!this.closing) {
      this.controller.abort(new ClosedError(this.what));
      this.closing = Promise.resolve().then(fn);
    }
    return this.closing;
  }
}

/**
 * Runs every cleanup step even when one fails, then rethrows the first failure (with the others
 * as `cause` of an AggregateError when there are several).
 */
export async function runAll(steps: ReadonlyArray<() => unknown>): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, 'several close steps failed');
}

/** Resolves after `ms`, or at once when `signal` aborts. Never keeps the process alive past close. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Throws the signal's reason when it is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new Error('aborted');
}
