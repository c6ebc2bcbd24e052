/**
 * Pausing and resuming a task queue in every process (`bus.tasks.pause(queue)`,
 * `bus.tasks.resume(queue)`, `bus.tasks.isPaused(queue)`). A paused queue is a key
 * (`<ns>:paused:<queue>`, no TTL) in the transport's key-value part plus a signal on
 * `<ns>:queue-pause`, so running workers react at once; a worker re-reads the keys of its queues
 * every `workerHeartbeatMs` too, so a missed signal (a reconnect) only delays it. Workers finish
 * what they run and take nothing new from a paused queue; a worker started while it is paused
 * stays idle on it.
 *
 * @module
 */
import { EventValidationError } from '../errors.js';
import type { Unsubscribe } from '../contracts/transport.js';
import type { TaskRuntime } from './runtime.js';
import { NAME_RULE, describeValue, isName } from './tasks.js';

/** What a paused queue's key holds (JSON). */
export interface QueuePauseRecord {
  /** The queue. */
  queue: string;
  /** When it was paused (ISO 8601). */
  pausedAt: string;
}

/** How often an idle loop of a paused queue looks at its flag again, ms (in memory, no I/O). */
const PAUSED_POLL_MS = 100;

function checkQueue(queue: unknown, verb: string): string {
  if (!isName(queue)) throw new EventValidationError(undefined, [{ path: 'queue', message: `${verb}: the queue name ${NAME_RULE}, got ${describeValue(queue)}` }]);
  return queue;
}

/**
 * Pauses a queue in every process. Returns `true` when it was running (this call paused it),
 * `false` when it was paused already. Idempotent.
 *
 * @throws {@link EventValidationError} for a malformed queue name.
 * @internal
 */
export async function pauseQueue(runtime: TaskRuntime, queue: string): Promise<boolean> {
  const q = checkQueue(queue, 'pause');
  const { transport, clock } = runtime.ctx;
  const record: QueuePauseRecord = { queue: q, pausedAt: new Date(clock.now()).toISOString() };
  const changed = await transport.kvSet(runtime.keys.paused(q), JSON.stringify(record), { ifAbsent: true });
  // Announced either way: a worker that missed an earlier signal catches up now.
  await transport.notify(runtime.keys.pauseChannel, JSON.stringify({ queue: q, paused: true }));
  return changed;
}

/**
 * Resumes a paused queue in every process. Returns `true` when it was paused, `false` when it was
 * not. Idempotent.
 *
 * @throws {@link EventValidationError} for a malformed queue name.
 * @internal
 */
export async function resumeQueue(runtime: TaskRuntime, queue: string): Promise<boolean> {
  const q = checkQueue(queue, 'resume');
  const { transport } = runtime.ctx;
  const changed = await transport.kvDelete(runtime.keys.paused(q));
  await transport.notify(runtime.keys.pauseChannel, JSON.stringify({ queue: q, paused: false }));
  return changed;
}

/**
 * Whether a queue is paused (read from the shared key-value part, so any process sees it).
 *
 * @throws {@link EventValidationError} for a malformed queue name.
 * @internal
 */
export async function isQueuePaused(runtime: TaskRuntime, queue: string): Promise<boolean> {
  const q = checkQueue(queue, 'isPaused');
  return (await runtime.ctx.transport.kvGet(runtime.keys.paused(q))) !== null;
}

/** The paused queues, sorted. Scans the namespace's pause keys (for operators). @internal */
export async function pausedQueues(runtime: TaskRuntime): Promise<string[]> {
  const prefix = runtime.keys.pausedPrefix;
  const rows = await runtime.ctx.transport.kvScan(prefix);
  return rows.map((r) => r.key.slice(prefix.length)).filter((q) => isName(q)).sort();
}

/** What {@link PauseWatch.gate} wraps: the rate limit budget of a queue, when it has one. */
type Budget = (wanted: number, signal: AbortSignal) => Promise<{ granted: number; retryInMs?: number }>;

/**
 * A worker's view of which of its queues are paused: read at start, kept current by the pause
 * signal and re-read every `workerHeartbeatMs`. Checked in memory before every read and every
 * start of a task, so a paused queue costs no round trip.
 *
 * @internal
 */
export class PauseWatch {
  private readonly paused = new Set<string>();
  private unlisten: Unsubscribe | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly runtime: TaskRuntime,
    private readonly queues: readonly string[],
  ) {}

  /** Reads the flags and starts listening (before the worker reads anything). */
  async start(): Promise<void> {
    const { transport, config } = this.runtime.ctx;
    const mine = new Set(this.queues);
    this.unlisten = await transport.listen(this.runtime.keys.pauseChannel, (text) => {
      try {
        const m = JSON.parse(text) as { queue?: unknown; paused?: unknown };
        if (typeof m.queue !== 'string' || !mine.has(m.queue) || typeof m.paused !== 'boolean') return;
        this.set(m.queue, m.paused);
      } catch {
        // Not ours.
      }
    });
    await this.refresh();
    this.timer = setInterval(() => void this.refresh().catch(() => {}), config.workerHeartbeatMs);
    this.timer.unref();
  }

  private set(queue: string, paused: boolean): void {
    if (paused === this.paused.has(queue)) return;
    if (paused) this.paused.add(queue);
    else this.paused.delete(queue);
    this.runtime.ctx.logger.info(paused ? 'queue paused: running tasks finish, no new ones start' : 'queue resumed', { queue });
  }

  private async refresh(): Promise<void> {
    const { transport } = this.runtime.ctx;
    const flags = await Promise.all(this.queues.map((q) => transport.kvGet(this.runtime.keys.paused(q))));
    this.queues.forEach((q, i) => this.set(q, flags[i] !== null));
  }

  /** True while the queue is paused (as this worker knows it now). */
  has(queue: string): boolean {
    return this.paused.size > 0 && this.paused.has(queue);
  }

  /**
   * The read budget of a queue's loop: nothing while it is paused (looked at again every
   * {@link PAUSED_POLL_MS} ms), else the queue's rate limit, else everything asked for.
   */
  gate(queue: string, rate: Budget | undefined): Budget {
    return (wanted, signal) => {
      if (this.has(queue)) return Promise.resolve({ granted: 0, retryInMs: PAUSED_POLL_MS });
      return rate ? rate(wanted, signal) : Promise.resolve({ granted: wanted });
    };
  }

  /** The paused queues of this worker. */
  list(): string[] {
    return [...this.paused];
  }

  /** Stops listening and re-reading. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.unlisten?.().catch(() => {});
  }
}
