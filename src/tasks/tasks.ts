import type { z } from 'zod';
import type { BackoffOptions } from '../backoff.js';
import { isoNow } from '../clock.js';
import type { SignalOptions, Unsubscribe } from '../contracts/transport.js';
import {
  EventValidationError,
  TaskFailedError,
  TaskRevokedError,
  type ValidationIssue,
} from '../errors.js';
import { isEventPriority, newEventId, priorityRank, type EventPriority } from '../events/envelope.js';
import { encodeJson } from '../events/json.js';
import { zodIssues } from '../events/registry.js';
import { TASK_MESSAGE_VERSION, FINAL_TASK_STATES, type TaskInfo, type TaskMessage, type TaskState } from './message.js';
import { TaskEventType, type TaskRuntime } from './runtime.js';

/** What a task handler gets besides its arguments. */
export interface TaskContext {
  /** The task id. */
  taskId: string;
  /** The task name. */
  name: string;
  /** The queue it ran from. */
  queue: string;
  /** Which attempt this is, from 1. */
  attempt: number;
  /** Attempts allowed in all (1 + retries). */
  maxAttempts: number;
  /** Aborted on revoke, on `timeoutMs`, and when the worker stops past its grace period. */
  signal: AbortSignal;
  /** The correlation id the task was sent with. */
  correlationId: string;
}

/** A task handler: gets the arguments, returns the result (JSON-serialisable). */
export type TaskHandler<TArgs = unknown, TResult = unknown> = (args: TArgs, ctx: TaskContext) => TResult | Promise<TResult>;

/** Options of `bus.tasks.define`. */
export interface TaskOptions<TArgs = unknown> {
  /** The queue the task is sent to. @default 'default' */
  queue?: string;
  /** Retries after the first attempt, then the dead letter queue. @default config.dlqMaxRetries */
  maxRetries?: number;
  /** Retry spacing. @default exponential from config.retryBackoffMs to config.retryBackoffMaxMs, no jitter (`defaultBackoff`, shared with event consumers) */
  backoff?: BackoffOptions;
  /** Abort the handler's `ctx.signal` after this long and fail the attempt. @default none */
  timeoutMs?: number;
  /** Default priority in the queue. @default 'normal' */
  priority?: EventPriority;
  /** Validates arguments when the task is sent (zod). */
  schema?: z.ZodType<TArgs>;
  /** Record the `STARTED` state (one more write per task). @default false (as Celery's `task_track_started`) */
  trackStarted?: boolean;
  /** Do not store the result (`get()` still resolves, with `null`). @default false */
  ignoreResult?: boolean;
}

/** Options of `applyAsync` and `send`. */
export interface ApplyOptions extends SignalOptions {
  /** Run no earlier than this time (a valid `Date`). */
  eta?: Date;
  /** Run no earlier than now + this many ms (a finite number >= 0). */
  countdownMs?: number;
  /** Priority within the queue. */
  priority?: EventPriority;
  /** Ties the task to a business flow (a non-empty string of at most 512 characters). @default the task id */
  correlationId?: string;
  /** Use this id (a non-empty string of at most 256 characters; UUIDv7 by default). */
  taskId?: string;
  /** Send to this queue instead of the task's (1-200 letters, digits or `. _ : -`). */
  queue?: string;
  /** Retries allowed; overrides the worker's definition. */
  maxRetries?: number;
}

/** Options of `result.get()`. */
export interface GetOptions extends SignalOptions {
  /** Reject with `TaskTimeoutError` after this long. @default 30000 */
  timeoutMs?: number;
}

/** A handle on a sent task: wait for its result, read its state, revoke it. */
export class TaskResult<TResult = unknown> {
  /** @internal */
  constructor(
    private readonly runtime: TaskRuntime,
    /** The task id. */
    readonly id: string,
    /** The task name. */
    readonly name: string,
    /** The queue. */
    readonly queue: string,
  ) {}

  /**
   * Waits for the task's result, without polling (the worker's notification wakes it).
   *
   * @throws {@link TaskFailedError} with the worker's message and stack when it failed for good.
   * @throws {@link TaskRevokedError} when it was revoked.
   * @throws `TaskTimeoutError` when no result arrives within `timeoutMs`.
   */
  async get(options: GetOptions = {}): Promise<TResult> {
    const info = await this.runtime.states.waitFinal(this.id, this.name, options.timeoutMs ?? 30_000, options.signal);
    return unwrap(info) as TResult;
  }

  /** The task's state now (`PENDING` when nothing is recorded yet). */
  async status(): Promise<TaskState> {
    return (await this.info()).state;
  }

  /** Everything known about the task now. */
  async info(): Promise<TaskInfo> {
    return (
      (await this.runtime.states.read(this.id)) ?? {
        id: this.id,
        name: this.name,
        queue: this.queue,
        state: 'PENDING',
        attempt: 0,
        updatedAt: isoNow(this.runtime.ctx.clock),
      }
    );
  }

  /**
   * Revokes the task in every process: if it has not started it never runs; if it is running,
   * its `ctx.signal` is aborted. A task already finished keeps its state. Returns whether the
   * task was revoked (false when it had already finished).
   */
  revoke(): Promise<boolean> {
    return revokeTask(this.runtime, this.id, this.name, this.queue);
  }
}

/** Converts a final state into the result or the error `get()` gives. @internal */
export function unwrap(info: TaskInfo): unknown {
  if (info.state === 'SUCCESS') return info.result ?? null;
  if (info.state === 'REVOKED') throw new TaskRevokedError(info.id, info.name);
  throw new TaskFailedError(info.id, info.name, info.error ?? { message: 'unknown error' });
}

/** Revokes a task by id. @internal */
export async function revokeTask(runtime: TaskRuntime, id: string, name: string, queue: string): Promise<boolean> {
  const { transport, config, clock } = runtime.ctx;
  const current = await runtime.states.read(id);
  if (current && FINAL_TASK_STATES.has(current.state)) return false;
  await transport.kvSet(runtime.keys.revoked(id), '1', { ttlMs: config.taskResultTtlMs });
  await transport.notify(runtime.keys.revokeChannel, id);
  const info: TaskInfo = {
    ...(current ?? { id, name, queue, attempt: 0 }),
    state: 'REVOKED',
    updatedAt: isoNow(clock),
  };
  await runtime.states.write(info);
  runtime.emit(TaskEventType.REVOKED, { id, task: info.name, queue: info.queue, correlationId: info.correlationId ?? id, priority: 'normal' });
  return true;
}

/** A defined task: call it with `delay` or `applyAsync`. */
export interface Task<TArgs = unknown, TResult = unknown> {
  /** The task name. */
  readonly name: string;
  /** Its queue. */
  readonly queue: string;
  /** Its options. */
  readonly options: Readonly<TaskOptions<TArgs>>;
  /** Sends the task with default options. */
  delay(args: TArgs): Promise<TaskResult<TResult>>;
  /** Sends the task with options (ETA, countdown, priority, correlation id, task id). */
  applyAsync(args: TArgs, options?: ApplyOptions): Promise<TaskResult<TResult>>;
}

/** A defined task with its handler. @internal */
export interface TaskDefinition {
  name: string;
  queue: string;
  options: TaskOptions;
  handler: TaskHandler;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$/;
/** What {@link isName} accepts, for error messages. @internal */
export const NAME_RULE = 'must be a string of 1-200 letters, digits or . _ : - (starting with a letter or digit)';
/** The latest time a `Date` can hold (ms since the epoch). */
const MAX_DATE_MS = 8.64e15;

/**
 * `typeof value === 'string'` and a valid queue or task name (no coercion of other types).
 * `__proto__` is not one (it starts with `_`); `toString` and `constructor` are.
 *
 * @internal
 */
export function isName(value: unknown): value is string {
  return typeof value === 'string' && NAME.test(value);
}

/** `value` rendered for an error message, without calling its own `toString` (it may have none). @internal */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  if (value instanceof Date) return 'an invalid Date';
  return typeof value === 'object' ? 'an object' : typeof value;
}

/**
 * The task registry (`bus.tasks`): define tasks with their handlers, send tasks by name from
 * producer-only processes, look up results by id.
 */
export class TaskRegistry {
  private readonly definitions = new Map<string, TaskDefinition>();
  private readonly ensured = new Map<string, Promise<void>>();

  /** @internal */
  constructor(private readonly runtime: TaskRuntime) {}

  /**
   * Defines a task. Workers of this process run it; `delay`/`applyAsync` send it.
   *
   * @throws {@link EventValidationError} for a malformed name or options, or a name already defined.
   * @example
   * ```ts
   * const generateContract = bus.tasks.define('generate_contract',
   *   { queue: 'contracts', maxRetries: 3, backoff: { type: 'exponential', delayMs: 1000 } },
   *   async ({ negotiationId }: { negotiationId: string }, ctx) => ({ contractId: `ctr-${negotiationId}` }));
   * const r = await generateContract.delay({ negotiationId: 'neg-1' });
   * console.log(await r.get({ timeoutMs: 10_000 }));
   * ```
   */
  define<TArgs = unknown, TResult = unknown>(
    name: string,
    options: TaskOptions<TArgs>,
    handler: TaskHandler<TArgs, TResult>,
  ): Task<TArgs, TResult> {
    const issues: ValidationIssue[] = [];
    if (!isName(name)) issues.push({ path: 'name', message: `${NAME_RULE}, got ${describeValue(name)}` });
    if (typeof options !== 'object' || options === null) throw new EventValidationError(typeof name === 'string' ? name : undefined, [{ path: 'options', message: 'must be an object, e.g. { queue: \'default\' }' }]);
    const queue = options.queue ?? 'default';
    if (!isName(queue)) issues.push({ path: 'queue', message: `${NAME_RULE}, got ${describeValue(queue)}` });
    if (options.maxRetries !== undefined && (!Number.isInteger(options.maxRetries) || options.maxRetries < 0)) {
      issues.push({ path: 'maxRetries', message: 'must be a whole number >= 0' });
    }
    if (options.timeoutMs !== undefined && !(options.timeoutMs > 0)) issues.push({ path: 'timeoutMs', message: 'must be > 0' });
    if (options.priority !== undefined && !isEventPriority(options.priority)) issues.push({ path: 'priority', message: "must be 'low', 'normal', 'high' or 'critical'" });
    if (options.backoff && !(options.backoff.delayMs >= 0)) issues.push({ path: 'backoff.delayMs', message: 'must be >= 0' });
    if (typeof handler !== 'function') issues.push({ path: 'handler', message: 'must be a function' });
    if (this.definitions.has(name)) issues.push({ path: 'name', message: `task '${name}' is already defined` });
    if (issues.length) throw new EventValidationError(name, issues);
    const def: TaskDefinition = { name, queue, options: options as TaskOptions, handler: handler as TaskHandler };
    this.definitions.set(name, def);
    return {
      name,
      queue,
      options,
      delay: (args) => this.send(name, args, {}) as Promise<TaskResult<TResult>>,
      applyAsync: (args, o) => this.send(name, args, o ?? {}) as Promise<TaskResult<TResult>>,
    };
  }

  /** The definition of a task of this process, or `undefined`. @internal */
  definition(name: string): TaskDefinition | undefined {
    return this.definitions.get(name);
  }

  /** The names of the tasks defined in this process. */
  names(): string[] {
    return [...this.definitions.keys()];
  }

  /** The queues of the tasks defined in this process. */
  queues(): string[] {
    return [...new Set([...this.definitions.values()].map((d) => d.queue))];
  }

  /**
   * Sends a task by name (a producer process need not define it). The queue is the
   * definition's when the task is defined here, else `options.queue` (required then).
   *
   * @throws {@link EventValidationError} when the arguments fail the task's schema or options are malformed.
   */
  async send<TResult = unknown>(name: string, args: unknown, options: ApplyOptions = {}): Promise<TaskResult<TResult>> {
    const [result] = await this.publish<TResult>(name, [args], options);
    return result as TaskResult<TResult>;
  }

  /**
   * Sends one task per element of `argsList` in one round trip (bulk enqueue). Every argument is
   * validated first: if one fails, none is sent. `taskId` is not allowed here.
   *
   * @throws {@link EventValidationError} naming the failing element (`[3].args.vendorId`).
   */
  sendMany<TResult = unknown>(name: string, argsList: readonly unknown[], options: Omit<ApplyOptions, 'taskId'> = {}): Promise<TaskResult<TResult>[]> {
    if (!Array.isArray(argsList)) throw new EventValidationError(name, [{ path: 'argsList', message: 'must be an array' }]);
    if (typeof options === 'object' && options !== null && (options as ApplyOptions).taskId !== undefined) throw new EventValidationError(name, [{ path: 'taskId', message: 'cannot be shared by several tasks' }]);
    return this.publish<TResult>(name, argsList, options);
  }

  private async publish<TResult>(name: string, argsList: readonly unknown[], options: ApplyOptions): Promise<TaskResult<TResult>[]> {
    const { ctx, keys } = this.runtime;
    const def = this.definitions.get(name);
    if (typeof options !== 'object' || options === null) throw new EventValidationError(name, [{ path: 'options', message: `must be an object such as { countdownMs: 1000 }, got ${describeValue(options)}` }]);
    const issues: ValidationIssue[] = [];
    // null is not "absent": `{ queue: null }` is reported, not replaced by the default.
    const queue = options.queue !== undefined ? options.queue : def?.queue;
    if (queue === undefined) issues.push({ path: 'queue', message: `task '${name}' is not defined in this process: pass { queue }` });
    else if (!isName(queue)) issues.push({ path: 'queue', message: `${NAME_RULE}, got ${describeValue(queue)}` });
    const priority = options.priority !== undefined ? options.priority : (def?.options.priority ?? 'normal');
    if (!isEventPriority(priority)) issues.push({ path: 'priority', message: `must be 'low', 'normal', 'high' or 'critical', got ${describeValue(priority)}` });
    let delayMs = 0;
    const now = ctx.clock.now();
    if (options.eta !== undefined) {
      if (!(options.eta instanceof Date) || Number.isNaN(options.eta.getTime())) issues.push({ path: 'eta', message: `must be a valid Date, got ${describeValue(options.eta)}` });
      else delayMs = Math.max(0, options.eta.getTime() - now);
    }
    if (options.countdownMs !== undefined) {
      const c = options.countdownMs as unknown;
      if (typeof c !== 'number' || !Number.isFinite(c) || c < 0) {
        issues.push({ path: 'countdownMs', message: `must be a finite number of milliseconds >= 0, got ${describeValue(c)}` });
      } else if (now + c > MAX_DATE_MS) {
        issues.push({ path: 'countdownMs', message: `must keep the ETA within the dates JavaScript can hold: at most ${MAX_DATE_MS - now} ms from now, got ${describeValue(c)}` });
      } else delayMs = Math.max(delayMs, c);
    }
    if (options.maxRetries !== undefined && (!Number.isInteger(options.maxRetries) || options.maxRetries < 0)) {
      issues.push({ path: 'maxRetries', message: `must be a whole number >= 0, got ${describeValue(options.maxRetries)}` });
    }
    if (options.taskId !== undefined && (typeof options.taskId !== 'string' || options.taskId.length === 0 || options.taskId.length > 256)) {
      issues.push({ path: 'taskId', message: `must be a non-empty string of at most 256 characters, got ${describeValue(options.taskId)}` });
    }
    if (options.correlationId !== undefined && (typeof options.correlationId !== 'string' || options.correlationId.length === 0 || options.correlationId.length > 512)) {
      issues.push({ path: 'correlationId', message: `must be a non-empty string of at most 512 characters (as an event's) (or left out: it defaults to the task id), got ${describeValue(options.correlationId)}` });
    }
    if (options.signal !== undefined && (typeof options.signal !== 'object' || options.signal === null || typeof (options.signal as { aborted?: unknown }).aborted !== 'boolean')) {
      issues.push({ path: 'signal', message: `must be an AbortSignal, got ${describeValue(options.signal)}` });
    }
    const many = argsList.length > 1;
    const parsed = argsList.map((args, i) => {
      if (!def?.options.schema) return args;
      const r = def.options.schema.safeParse(args);
      if (r.success) return r.data;
      issues.push(...zodIssues(r.error, many ? `[${i}].args` : 'args'));
      return undefined;
    });
    if (issues.length) throw new EventValidationError(name, issues);

    const createdAt = new Date(now).toISOString();
    const eta = delayMs > 0 ? new Date(now + delayMs).toISOString() : undefined;
    const rank = priorityRank(priority);
    const ids: string[] = [];
    const messages = parsed.map((args, i) => {
      const id = options.taskId ?? newEventId();
      ids.push(id);
      const msg: TaskMessage = {
        kind: 'task',
        version: TASK_MESSAGE_VERSION,
        id,
        task: name,
        queue: queue as string,
        args: args === undefined ? null : args,
        correlationId: options.correlationId ?? id,
        priority,
        createdAt,
      };
      if (eta) msg.eta = eta;
      if (options.maxRetries !== undefined) msg.maxRetries = options.maxRetries;
      const body = encodeJson(msg, name, many ? `[${i}].` : '');
      if (body.length * 3 > ctx.config.maxEventBytes && Buffer.byteLength(body) > ctx.config.maxEventBytes) {
        throw new EventValidationError(name, [
          { path: many ? `[${i}].args` : 'args', message: `the encoded task is larger than ${ctx.config.maxEventBytes} bytes (maxEventBytes)` },
        ]);
      }
      return { body, priority: rank, delayMs };
    });
    if (messages.length === 0) return [];
    await this.ensureQueue(queue as string);
    let claimed: string | undefined;
    if (options.taskId !== undefined) {
      // A task id is an idempotency key: the first send records the task (set-if-absent, atomic
      // across processes); a later send of the same id gets that task's handle and sends nothing.
      const id = options.taskId;
      const pending: TaskInfo = { id, name, queue: queue as string, state: 'PENDING', attempt: 0, correlationId: options.correlationId ?? id, args: parsed[0] ?? null, updatedAt: createdAt };
      // Kept until the task's ETA plus the result TTL, so a long countdown does not forget the id.
      claimed = await this.runtime.states.claim(pending, delayMs + ctx.config.taskResultTtlMs);
      if (claimed === undefined) {
        const existing = await this.runtime.states.read(id);
        return [new TaskResult<TResult>(this.runtime, id, existing?.name ?? name, existing?.queue ?? (queue as string))];
      }
    }
    try {
      await ctx.transport.publish(keys.stream(queue as string), messages, options);
    } catch (err) {
      // Not sent: free the id so that a retry of this send can use it.
      if (claimed !== undefined) await this.runtime.states.unclaim(options.taskId as string, claimed).catch(() => false);
      throw err;
    }
    if (this.runtime.taskEvents) {
      const extra = eta ? { eta } : {};
      // Announced to watchers (the dashboard) in one batch; a claimed id was announced by the claim.
      const announced: TaskInfo[] = [];
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i] as string;
        const correlationId = options.correlationId ?? id;
        this.runtime.emit(TaskEventType.SENT, { id, task: name, queue: queue as string, correlationId, priority }, extra);
        if (claimed === undefined) announced.push({ id, name, queue: queue as string, state: 'PENDING', attempt: 0, correlationId, updatedAt: createdAt });
      }
      this.runtime.states.announce(announced);
    }
    return ids.map((id) => new TaskResult<TResult>(this.runtime, id, name, queue as string));
  }

  /**
   * Creates the workers' group of a queue before the first task is sent to it, so tasks sent
   * before any worker started are kept for the group. Once per queue and process.
   */
  private ensureQueue(queue: string): Promise<void> {
    let p = this.ensured.get(queue);
    if (!p) {
      const { ctx, keys } = this.runtime;
      p = ctx.transport.ensureGroup(keys.stream(queue), keys.group, { startAt: 'beginning' });
      p.catch(() => this.ensured.delete(queue));
      this.ensured.set(queue, p);
    }
    return p;
  }

  /** Information about a queue: backlog per priority, delayed (ETA) tasks, pending and retrying. */
  queueInfo(queue: string) {
    return this.runtime.ctx.transport.info(this.runtime.keys.stream(queue));
  }

  /** Deletes the tasks waiting in a queue (not the running ones). Returns how many. */
  purge(queue: string): Promise<number> {
    return this.runtime.ctx.transport.purge(this.runtime.keys.stream(queue));
  }

  /** A handle on a task sent earlier (by id). */
  result<TResult = unknown>(id: string, name = 'unknown', queue = 'unknown'): TaskResult<TResult> {
    return new TaskResult<TResult>(this.runtime, id, name, queue);
  }

  /** Reads a task's state by id (`undefined` when nothing is recorded). */
  info(id: string): Promise<TaskInfo | undefined> {
    return this.runtime.states.read(id);
  }

  /**
   * Calls `handler` with every task state change announced from now on, by any process sharing
   * the transport: final states always; `PENDING` (sent), `STARTED` and `RETRY` when the sending
   * or running process has task events on. The dashboard's task list is this view.
   *
   * @returns a function that stops watching.
   */
  watch(handler: (info: TaskInfo) => void): Promise<Unsubscribe> {
    return this.runtime.states.watch(handler);
  }

  /**
   * The task states still kept (`taskResultTtlMs`), newest change first: tasks that ran,
   * retried or were revoked, and tasks sent with a `taskId` that have not run yet. Reads every
   * state key of the namespace, so it is for operators (the dashboard loads it once), not for a
   * hot path.
   */
  recent(options: { limit?: number } = {}): Promise<TaskInfo[]> {
    return this.runtime.states.recent(options.limit ?? 1000);
  }
}
