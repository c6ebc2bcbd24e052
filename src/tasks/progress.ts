/**
 * Progress and log lines of a running task (`ctx.progress(value)`, `ctx.log(message)`), kept in
 * the transport's key-value part next to the task's state and read from any process
 * (`result.progress()`, `result.logs()`); every update is announced on `<ns>:task-progress` for
 * live views (the dashboard).
 *
 * @module
 */
import { EventValidationError } from '../errors.js';
import type { Unsubscribe } from '../contracts/transport.js';
import type { TaskRuntime } from './runtime.js';

/** The largest progress value, encoded as JSON (UTF-8 bytes). */
export const TASK_PROGRESS_MAX_BYTES = 4096;
/** Log lines kept per task (over all its attempts): the latest ones; older lines are dropped and counted. */
export const TASK_LOG_MAX_LINES = 200;
/** The longest log line, in characters; longer messages are cut to it (ending with `…`). */
export const TASK_LOG_MAX_CHARS = 1000;

/** A task's progress: a number (e.g. a percentage) or a small JSON object. */
export type TaskProgressValue = number | { [key: string]: unknown };

/** A task's progress as stored (`<ns>:task-progress:<id>`). */
export interface TaskProgressRecord {
  /** The task id. */
  taskId: string;
  /** The latest value reported. */
  value: TaskProgressValue;
  /** The attempt that reported it. */
  attempt: number;
  /** When it was reported (ISO 8601). */
  updatedAt: string;
}

/** One log line of a task. */
export interface TaskLogEntry {
  /** When it was logged (ISO 8601). */
  at: string;
  /** The attempt that logged it. */
  attempt: number;
  /** The message (at most {@link TASK_LOG_MAX_CHARS} characters). */
  message: string;
}

/** A task's log as stored (`<ns>:task-logs:<id>`). */
export interface TaskLogRecord {
  /** The task id. */
  taskId: string;
  /** The latest {@link TASK_LOG_MAX_LINES} lines, oldest first. */
  lines: TaskLogEntry[];
  /** Older lines dropped to keep the cap. */
  dropped: number;
}

/** A progress or log update as announced on `<ns>:task-progress` (JSON). */
export interface TaskProgressUpdate {
  /** The task id. */
  id: string;
  /** The task name. */
  name: string;
  /** Its queue. */
  queue: string;
  /** The attempt that reported it. */
  attempt: number;
  /** The new progress, when it changed. */
  progress?: TaskProgressValue;
  /** The lines logged since the previous update, when there are any. */
  logs?: TaskLogEntry[];
}

/**
 * Checks a progress value and returns it encoded.
 *
 * @throws {@link EventValidationError} for anything but a finite number or a plain JSON object
 *   of at most {@link TASK_PROGRESS_MAX_BYTES} bytes.
 * @internal
 */
export function encodeProgress(value: unknown, taskName: string): string {
  const fail = (message: string): never => {
    throw new EventValidationError(taskName, [{ path: 'progress', message }]);
  };
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail(`must be a finite number or a small JSON object, got ${String(value)}`);
    return JSON.stringify(value);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null)) {
    fail(`must be a finite number or a plain JSON object such as { done: 3, total: 10 }, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an instance of a class' : typeof value}`);
  }
  let text: string;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    return fail(`must be JSON-serialisable (${(err as Error).message})`);
  }
  const bytes = Buffer.byteLength(text);
  if (bytes > TASK_PROGRESS_MAX_BYTES) fail(`is ${bytes} bytes as JSON; at most ${TASK_PROGRESS_MAX_BYTES} are kept: report counts, not data`);
  return text;
}

/**
 * Checks a log message and cuts it to {@link TASK_LOG_MAX_CHARS}.
 *
 * @throws {@link EventValidationError} when it is not a string.
 * @internal
 */
export function logLine(message: unknown, taskName: string): string {
  if (typeof message !== 'string') {
    throw new EventValidationError(taskName, [{ path: 'log', message: `must be a string, got ${message === null ? 'null' : typeof message}` }]);
  }
  return message.length > TASK_LOG_MAX_CHARS ? `${message.slice(0, TASK_LOG_MAX_CHARS - 1)}…` : message;
}

/**
 * The progress and log writer of one attempt. Updates made in one turn of the event loop go out
 * together, and at most one write is in flight: a task that logs in a tight loop costs a few
 * writes, not one per line. Its promises never reject (a failed write is logged): a handler that
 * does not await them cannot cause an unhandled rejection.
 *
 * @internal
 */
export class TaskReporter {
  private progressText: string | undefined;
  private progressValue: TaskProgressValue | undefined;
  private fresh: TaskLogEntry[] = [];
  private lines: TaskLogEntry[] | undefined;
  private dropped = 0;
  private writing: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly runtime: TaskRuntime,
    private readonly taskId: string,
    private readonly name: string,
    private readonly queue: string,
    private readonly attempt: number,
  ) {}

  /** Records the task's progress (the latest value wins). */
  progress(value: unknown): Promise<void> {
    const text = encodeProgress(value, this.name);
    if (this.closed) return Promise.resolve();
    this.progressText = text;
    this.progressValue = JSON.parse(text) as TaskProgressValue;
    return this.kick();
  }

  /** Appends a log line. */
  log(message: unknown): Promise<void> {
    const line = logLine(message, this.name);
    if (this.closed) return Promise.resolve();
    this.fresh.push({ at: new Date(this.runtime.ctx.clock.now()).toISOString(), attempt: this.attempt, message: line });
    // A burst larger than the cap keeps only what would be kept anyway.
    if (this.fresh.length > TASK_LOG_MAX_LINES) {
      this.dropped += this.fresh.length - TASK_LOG_MAX_LINES;
      this.fresh.splice(0, this.fresh.length - TASK_LOG_MAX_LINES);
    }
    return this.kick();
  }

  /** Writes what is pending; later calls are ignored (the attempt ended). */
  async close(): Promise<void> {
    this.closed = true;
    await this.writing;
  }

  private kick(): Promise<void> {
    // A microtask later, so that the updates of this turn go in one write.
    this.writing ??= Promise.resolve().then(() => this.drain());
    return this.writing;
  }

  private async drain(): Promise<void> {
    const { ctx, keys } = this.runtime;
    try {
      while (this.progressText !== undefined || this.fresh.length > 0) {
        const progressText = this.progressText;
        const progressValue = this.progressValue;
        const fresh = this.fresh;
        this.progressText = undefined;
        this.fresh = [];
        const ttlMs = ctx.config.taskResultTtlMs;
        const now = new Date(ctx.clock.now()).toISOString();
        const writes: Promise<unknown>[] = [];
        if (progressText !== undefined) {
          const record = `{"taskId":${JSON.stringify(this.taskId)},"value":${progressText},"attempt":${this.attempt},"updatedAt":"${now}"}`;
          writes.push(ctx.transport.kvSet(keys.progress(this.taskId), record, { ttlMs }));
        }
        if (fresh.length > 0) {
          // The lines of earlier attempts (another worker, maybe) are read once and kept.
          if (this.lines === undefined) {
            const earlier = await readLogRecord(this.runtime, this.taskId).catch(() => undefined);
            this.lines = earlier?.lines ?? [];
            this.dropped += earlier?.dropped ?? 0;
          }
          this.lines.push(...fresh);
          if (this.lines.length > TASK_LOG_MAX_LINES) {
            this.dropped += this.lines.length - TASK_LOG_MAX_LINES;
            this.lines.splice(0, this.lines.length - TASK_LOG_MAX_LINES);
          }
          const record: TaskLogRecord = { taskId: this.taskId, lines: this.lines, dropped: this.dropped };
          writes.push(ctx.transport.kvSet(keys.logs(this.taskId), JSON.stringify(record), { ttlMs }));
        }
        const update: TaskProgressUpdate = {
          id: this.taskId,
          name: this.name,
          queue: this.queue,
          attempt: this.attempt,
          ...(progressValue !== undefined && progressText !== undefined ? { progress: progressValue } : {}),
          ...(fresh.length > 0 ? { logs: fresh } : {}),
        };
        writes.push(ctx.transport.notify(keys.progressChannel, JSON.stringify(update)));
        try {
          await Promise.all(writes);
        } catch (err) {
          ctx.logger.warn('could not record task progress or logs', { taskId: this.taskId, task: this.name, error: (err as Error).message });
        }
      }
    } finally {
      this.writing = undefined;
    }
  }
}

function parseObject(raw: string | null): Record<string, unknown> | undefined {
  if (raw === null) return undefined;
  try {
    const v = JSON.parse(raw) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A task's stored progress, or `undefined` (none reported, expired, or unreadable). @internal */
export async function readProgressRecord(runtime: TaskRuntime, id: string): Promise<TaskProgressRecord | undefined> {
  const o = parseObject(await runtime.ctx.transport.kvGet(runtime.keys.progress(id)));
  if (!o || (typeof o.value !== 'number' && (typeof o.value !== 'object' || o.value === null || Array.isArray(o.value)))) return undefined;
  return o as unknown as TaskProgressRecord;
}

/** A task's stored log, or `undefined` (none logged, expired, or unreadable). @internal */
export async function readLogRecord(runtime: TaskRuntime, id: string): Promise<TaskLogRecord | undefined> {
  const o = parseObject(await runtime.ctx.transport.kvGet(runtime.keys.logs(id)));
  if (!o || !Array.isArray(o.lines)) return undefined;
  const lines = (o.lines as unknown[]).filter(
    (l): l is TaskLogEntry => typeof l === 'object' && l !== null && typeof (l as TaskLogEntry).message === 'string' && typeof (l as TaskLogEntry).at === 'string',
  );
  return { taskId: id, lines: lines.slice(-TASK_LOG_MAX_LINES), dropped: typeof o.dropped === 'number' && o.dropped >= 0 ? o.dropped : 0 };
}

/**
 * Calls `handler` with every progress and log update any process announces from now on.
 * Malformed messages are skipped. Returns the unsubscribe.
 *
 * @internal
 */
export function watchProgress(runtime: TaskRuntime, handler: (update: TaskProgressUpdate) => void): Promise<Unsubscribe> {
  return runtime.ctx.transport.listen(runtime.keys.progressChannel, (text) => {
    const o = parseObject(text);
    if (!o || typeof o.id !== 'string') return;
    try {
      handler(o as unknown as TaskProgressUpdate);
    } catch (err) {
      runtime.ctx.logger.warn('a task progress watcher threw', { error: (err as Error).message });
    }
  });
}
