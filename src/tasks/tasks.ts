import type { z } from 'zod';
import type { BackoffOptions } from '../backoff.js';
import { isoNow } from '../clock.js';
import type { SignalOptions, Unsubscribe } from '../contracts/transport.js';
import {
  EventValidationError,
  TaskExpiredError,
  TaskFailedError,
  TaskRevokedError,
  type ValidationIssue,
} from '../errors.js';
import { isEventPriority, newEventId, priorityRank, type EventPriority } from '../events/envelope.js';
import { encodeJson } from '../events/json.js';
import { zodIssues } from '../events/registry.js';
import { TASK_MESSAGE_VERSION, FINAL_TASK_STATES, type TaskInfo, type TaskMessage, type TaskState } from './message.js';
import { TaskEventType, type TaskRuntime } from './runtime.js';
import { FlowResult, makeSignature, startFlow, type ChainResult, type FlowOptions, type FlowRef, type FlowStep, type GroupResult, type SignatureOptions, type StepResult, type TailArgs, type TaskSignature } from './flows.js';
import { claimDedupe, unclaimDedupe } from './dedupe.js';
import { expiryOf } from './expiry.js';
import { isQueuePaused, pauseQueue, pausedQueues, resumeQueue } from './pause.js';
import { readLogRecord, readProgressRecord, watchProgress, type TaskLogEntry, type TaskProgressUpdate, type TaskProgressValue } from './progress.js';
import { endSpans, taskSendSpan, type TraceSpan } from '../tracing.js';

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
  /**
   * Reports the task's progress: a finite number (e.g. a percentage) or a plain JSON object (an
   * object literal or an instance of an interface, not an array, a `Date` or a class) of at most
   * 4096 bytes (`TASK_PROGRESS_MAX_BYTES`); the latest value wins. Read from any process
   * with `result.progress()`; announced live (the dashboard). Updates of one event-loop turn go
   * in one write. The promise resolves once written and never rejects (a failed write is logged).
   *
   * @throws {@link EventValidationError} (synchronously) for any other value.
   * @example
   * ```ts
   * for (const [i, row] of rows.entries()) { await importRow(row); void ctx.progress({ done: i + 1, total: rows.length }); }
   * ```
   */
  progress(value: number | object): Promise<void>;
  /**
   * Appends a line to the task's log, read from any process with `result.logs()` and announced
   * live. Kept: the latest 200 lines of the task over all its attempts (`TASK_LOG_MAX_LINES`),
   * each cut to 1000 characters (`TASK_LOG_MAX_CHARS`), for `taskResultTtlMs`. The promise
   * resolves once written and never rejects (a failed write is logged).
   *
   * @throws {@link EventValidationError} (synchronously) when `message` is not a string.
   */
  log(message: string): Promise<void>;
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
  /**
   * Deduplicates sends: while the task first sent with this key (per task name) is not
   * finished, and within `dedupeTtlMs` of its send when given, a send with the same key returns
   * that task's handle and sends nothing, across processes. A non-empty string of at most 256
   * characters; not with `sendMany`.
   */
  dedupeKey?: string;
  /**
   * Keeps the `dedupeKey` for this long after the send (ms, > 0), even once the task finished:
   * at most one run per window (throttling). Needs `dedupeKey`. @default none: the key is freed when the task finishes
   */
  dedupeTtlMs?: number;
  /** The task never starts after this time (a valid `Date` after now and after its ETA): a worker drops it, state `EXPIRED`. */
  expiresAt?: Date;
  /** The task never starts after now + this many ms (> 0): as `expiresAt`. */
  expiresInMs?: number;
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
   * @throws {@link TaskExpiredError} when it expired before a worker started it (`expiresAt`).
   * @throws `TaskTimeoutError` when no result arrives within `timeoutMs`.
   */
  async get(options: GetOptions = {}): Promise<TResult> {
    const info = await this.runtime.states.waitFinal(this.id, this.name, options.timeoutMs ?? 30_000, options.signal);
    return unwrap(info) as TResult;
  }

  /**
   * The latest progress the task reported with `ctx.progress()`, from any process; `undefined`
   * before it reported any (or after `taskResultTtlMs`).
   */
  async progress(): Promise<TaskProgressValue | undefined> {
    return (await readProgressRecord(this.runtime, this.id))?.value;
  }

  /**
   * The task's log lines (`ctx.log()`), oldest first, from any process: the latest 200 over all
   * its attempts, `[]` when it logged nothing.
   */
  async logs(): Promise<TaskLogEntry[]> {
    return (await readLogRecord(this.runtime, this.id))?.lines ?? [];
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
  if (info.state === 'EXPIRED') throw new TaskExpiredError(info.id, info.name, info.expiresAt);
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
  /**
   * A signature of this task (a step for `bus.tasks.chain` / `group` / `chord`), sent by the flow.
   * Left out, `args` are the previous step's result; an array of `args` gets it prepended;
   * `{ immutable: true }` ignores it (see {@link TaskSignature}).
   */
  sig(args?: TArgs | TailArgs<TArgs>, options?: SignatureOptions): TaskSignature<TArgs, TResult>;
  /** An immutable signature (`sig(args, { immutable: true })`): the step ignores the previous result. */
  si(args?: TArgs, options?: Omit<SignatureOptions, 'immutable'>): TaskSignature<TArgs, TResult>;
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
      sig: (args, o) => makeSignature<TArgs, TResult>(name, queue, args !== undefined, args, o, false),
      si: (args, o) => makeSignature<TArgs, TResult>(name, queue, args !== undefined, args, o, true),
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
  sendMany<TResult = unknown>(name: string, argsList: readonly unknown[], options: Omit<ApplyOptions, 'taskId' | 'dedupeKey' | 'dedupeTtlMs'> = {}): Promise<TaskResult<TResult>[]> {
    if (!Array.isArray(argsList)) throw new EventValidationError(name, [{ path: 'argsList', message: 'must be an array' }]);
    if (typeof options === 'object' && options !== null && (options as ApplyOptions).taskId !== undefined) throw new EventValidationError(name, [{ path: 'taskId', message: 'cannot be shared by several tasks' }]);
    if (typeof options === 'object' && options !== null && (options as ApplyOptions).dedupeKey !== undefined) throw new EventValidationError(name, [{ path: 'dedupeKey', message: 'cannot be shared by several tasks: send them one by one' }]);
    return this.publish<TResult>(name, argsList, options);
  }

  /** Sends one step of a flow (its message carries `flow`). @internal */
  sendFlowStep(name: string, args: unknown, options: ApplyOptions, flow: FlowRef): Promise<TaskResult<unknown>[]> {
    return this.publish(name, [args], options, flow);
  }

  /**
   * Runs steps one after another (Celery's chain): each step's result goes to the next step
   * (see {@link TaskSignature} for open, partial and immutable signatures). Durable: the workers
   * carry it on, so it completes after this process exits.
   *
   * @returns a handle whose `get()` gives the last step's result.
   * @throws {@link EventValidationError} for malformed steps, naming each (`steps[2].args`).
   * @example
   * ```ts
   * const flow = await bus.tasks.chain([fetchOffer.sig({ offerId }), scoreOffer.sig(), notify.si({ channel: 'ops' })]);
   * await flow.get({ timeoutMs: 30_000 });
   * ```
   */
  chain<const T extends readonly FlowStep[]>(steps: T, options?: FlowOptions): Promise<FlowResult<ChainResult<T>>> {
    return startFlow(this, this.runtime, 'chain', steps, undefined, options);
  }

  /**
   * Runs steps in parallel (Celery's group).
   *
   * @returns a handle whose `get()` gives every step's result, in the order of `steps`.
   * @throws {@link EventValidationError} for malformed steps.
   */
  group<const T extends readonly FlowStep[]>(steps: T, options?: FlowOptions): Promise<FlowResult<GroupResult<T>>> {
    return startFlow(this, this.runtime, 'group', steps, undefined, options);
  }

  /**
   * Runs `header` in parallel, then `callback` with the list of their results (Celery's chord).
   * Each member is counted once, however often it is redelivered.
   *
   * @returns a handle whose `get()` gives the callback's result.
   * @throws {@link EventValidationError} for malformed steps.
   */
  chord<const T extends readonly FlowStep[], C extends FlowStep>(header: T, callback: C, options?: FlowOptions): Promise<FlowResult<StepResult<C>>> {
    return startFlow(this, this.runtime, 'chord', header, callback, options);
  }

  /** A handle on a flow sent earlier (by id), from any process. */
  flow<TResult = unknown>(id: string, kind: 'chain' | 'group' | 'chord' = 'chain'): FlowResult<TResult> {
    return new FlowResult<TResult>(this.runtime, id, kind);
  }

  private async publish<TResult>(name: string, argsList: readonly unknown[], options: ApplyOptions, flow?: FlowRef): Promise<TaskResult<TResult>[]> {
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
    const expiresAtMs = expiryOf(options, now, now + delayMs, issues, describeValue);
    if (options.dedupeKey !== undefined && (typeof options.dedupeKey !== 'string' || options.dedupeKey.length === 0 || options.dedupeKey.length > 256)) {
      issues.push({ path: 'dedupeKey', message: `must be a non-empty string of at most 256 characters, got ${describeValue(options.dedupeKey)}` });
    }
    if (options.dedupeTtlMs !== undefined) {
      const ttl = options.dedupeTtlMs as unknown;
      if (options.dedupeKey === undefined) issues.push({ path: 'dedupeTtlMs', message: 'needs a dedupeKey (the key to keep for this long)' });
      else if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0 || ttl > MAX_DATE_MS - now) issues.push({ path: 'dedupeTtlMs', message: `must be a finite number of milliseconds > 0, got ${describeValue(ttl)}` });
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
    const spans: TraceSpan[] | undefined = ctx.tracing?.live() ? [] : undefined;
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
      if (flow) msg.flow = flow;
      if (expiresAtMs !== undefined) msg.expiresAt = new Date(expiresAtMs).toISOString();
      if (options.dedupeKey !== undefined) msg.dedupeKey = options.dedupeKey;
      if (spans) spans.push(taskSendSpan(ctx, msg));
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
    let dedupe: string | undefined;
    if (options.dedupeKey !== undefined) {
      // Kept at most until the task's ETA plus the result TTL, like a task id.
      const outcome = await claimDedupe(this.runtime, { id: ids[0] as string, name, queue: queue as string }, options.dedupeKey, options.dedupeTtlMs, delayMs + ctx.config.taskResultTtlMs);
      if ('existing' in outcome) return [new TaskResult<TResult>(this.runtime, outcome.existing.id, outcome.existing.name, outcome.existing.queue)];
      dedupe = outcome.claimed;
    }
    let claimed: string | undefined;
    if (options.taskId !== undefined) {
      // A task id is an idempotency key: the first send records the task (set-if-absent, atomic
      // across processes); a later send of the same id gets that task's handle and sends nothing.
      const id = options.taskId;
      const pending: TaskInfo = { id, name, queue: queue as string, state: 'PENDING', attempt: 0, correlationId: options.correlationId ?? id, args: parsed[0] ?? null, updatedAt: createdAt };
      // Kept until the task's ETA plus the result TTL, so a long countdown does not forget the id.
      claimed = await this.runtime.states.claim(pending, delayMs + ctx.config.taskResultTtlMs);
      if (claimed === undefined) {
        if (dedupe !== undefined) await unclaimDedupe(this.runtime, name, options.dedupeKey as string, dedupe).catch(() => false);
        const existing = await this.runtime.states.read(id);
        return [new TaskResult<TResult>(this.runtime, id, existing?.name ?? name, existing?.queue ?? (queue as string))];
      }
    }
    // A delayed task is recorded (PENDING, with its arguments) before it is sent, as a claimed id
    // is: until a worker takes it, only the transport's delayed set holds it, which nothing can
    // read back by id. So it is listed (the dashboard) and can be promoted. Written before the
    // send, so a short delay's result is never overwritten by this record.
    let recorded: Array<{ key: string; value: string }> | undefined;
    if (eta !== undefined && claimed === undefined) {
      recorded = ids.map((id, i) => {
        const info: TaskInfo = { id, name, queue: queue as string, state: 'PENDING', attempt: 0, correlationId: options.correlationId ?? id, args: parsed[i] ?? null, updatedAt: createdAt };
        return { key: keys.state(id), value: JSON.stringify(info) };
      });
      await ctx.transport.kvSetMany(recorded, { ttlMs: delayMs + ctx.config.taskResultTtlMs, ...(options.signal ? { signal: options.signal } : {}) });
    }
    // The `sent` events are stamped before the tasks go out: they precede what workers record.
    const stamps = this.runtime.taskEvents ? ids.map(() => this.runtime.stamp()) : undefined;
    try {
      await ctx.transport.publish(keys.stream(queue as string), messages, options);
      endSpans(spans);
    } catch (err) {
      endSpans(spans, err);
      if (stamps) this.runtime.released(stamps);
      // Not sent: free the id so that a retry of this send can use it.
      if (claimed !== undefined) await this.runtime.states.unclaim(options.taskId as string, claimed).catch(() => false);
      for (const r of recorded ?? []) await ctx.transport.kvDelete(r.key, { ifEquals: r.value }).catch(() => false);
      if (dedupe !== undefined) await unclaimDedupe(this.runtime, name, options.dedupeKey as string, dedupe).catch(() => false);
      throw err;
    }
    if (this.runtime.taskEvents) {
      const extra = eta ? { eta } : {};
      // Announced to watchers (the dashboard) in one batch; a claimed id was announced by the claim.
      const announced: TaskInfo[] = [];
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i] as string;
        const correlationId = options.correlationId ?? id;
        this.runtime.emit(TaskEventType.SENT, { id, task: name, queue: queue as string, correlationId, priority }, extra, stamps?.[i]);
        // A delayed task was recorded with its arguments: announced with them too.
        if (claimed === undefined) announced.push({ id, name, queue: queue as string, state: 'PENDING', attempt: 0, correlationId, ...(recorded ? { args: parsed[i] ?? null } : {}), updatedAt: createdAt });
      }
      this.runtime.states.announce(announced);
      if (stamps) this.runtime.released(stamps);
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

  /**
   * Pauses a queue in every process sharing the transport: workers finish the tasks they run
   * and start no new ones from it (a worker started while it is paused stays idle on it) until
   * {@link resume}. Sending to it still works; tasks wait. Idempotent; the queue need not exist
   * yet.
   *
   * @returns `true` when this call paused it, `false` when it was paused already.
   * @throws {@link EventValidationError} for a malformed queue name.
   * @example
   * ```ts
   * await bus.tasks.pause('contracts');   // e.g. while the PDF service is down
   * await bus.tasks.resume('contracts');
   * ```
   */
  pause(queue: string): Promise<boolean> {
    return pauseQueue(this.runtime, queue);
  }

  /**
   * Resumes a paused queue in every process: workers take tasks from it again at once.
   * Idempotent.
   *
   * @returns `true` when it was paused, `false` when it was not.
   * @throws {@link EventValidationError} for a malformed queue name.
   */
  resume(queue: string): Promise<boolean> {
    return resumeQueue(this.runtime, queue);
  }

  /**
   * Whether a queue is paused, as every process sees it.
   *
   * @throws {@link EventValidationError} for a malformed queue name.
   */
  isPaused(queue: string): Promise<boolean> {
    return isQueuePaused(this.runtime, queue);
  }

  /** The paused queues, sorted (scans the pause keys: for operators, not a hot path). */
  pausedQueues(): Promise<string[]> {
    return pausedQueues(this.runtime);
  }

  /**
   * Calls `handler` with every progress and log update (`ctx.progress`, `ctx.log`) any process
   * announces from now on. The dashboard's live task detail is this view.
   *
   * @returns a function that stops watching.
   */
  watchProgress(handler: (update: TaskProgressUpdate) => void): Promise<Unsubscribe> {
    return watchProgress(this.runtime, handler);
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
