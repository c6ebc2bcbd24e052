import { hostname } from 'node:os';
import { isoNow } from '../clock.js';
import type { Unsubscribe } from '../contracts/transport.js';
import { DeliveryLoop, raceInFlight, type InFlight } from '../delivery-loop.js';
import {
  ClosedError,
  EventValidationError,
  TaskTimeoutError,
  UnknownTaskError,
  toError,
  type ValidationIssue,
} from '../errors.js';
import { deadLetterDelivery, decideRetry, defaultBackoff } from '../retry-policy.js';
import { onFlowStep } from './flows.js';
import { decodeTaskMessage, type TaskInfo, type TaskMessage } from './message.js';
import { traceSettle, traceWorker } from '../tracing.js';
import { TaskEventType, type TaskRuntime } from './runtime.js';
import { NAME_RULE, describeValue, isName, type TaskContext, type TaskRegistry } from './tasks.js';
import { expireDelivery, isExpired } from './expiry.js';
import { PauseWatch } from './pause.js';
import { TaskReporter } from './progress.js';

/** A shared rate limit: at most `max` tasks started per `perMs`, across every worker of the queue. */
export interface RateLimit {
  /** Tasks per window. */
  max: number;
  /** The window, in ms. */
  perMs: number;
}

/** One queue of a worker: its concurrency and optional rate limit. */
export interface QueueOptions {
  /** Tasks of this queue run at once in this worker. */
  concurrency: number;
  /** Shared rate limit of the queue. */
  rateLimit?: RateLimit;
}

/** Options of `bus.worker()`. */
export interface WorkerOptions {
  /** The queues to consume: concurrency per queue, or full options. @default every queue of the defined tasks, concurrency 1 */
  queues?: Record<string, number | QueueOptions>;
  /** A name for the worker (its id is `name@host:pid:n`). @default 'worker' */
  name?: string;
  /**
   * Tasks read ahead per queue beyond its concurrency, so a finished slot is refilled without a
   * round trip. Held tasks not started within a third of `claimIdleMs` are handed back for any
   * worker (no attempt counted), and none is read ahead while every slot has been busy that
   * long. By default the read-ahead is the queue's concurrency, and up to
   * 64 while recent tasks are short enough for the slots to start that
   * many well within that time (short tasks then need few reads; long ones are not held).
   * A number given here is used as it is. @default the queue's concurrency, up to 64 for short tasks
   */
  prefetch?: number;
  /** How long a read blocks, in ms. @default config.eventBlockTime */
  blockMs?: number;
}

/** Options of `worker.stop()`. */
export interface WorkerStopOptions {
  /** How long running tasks may finish before they are aborted and handed back. @default 30000 */
  timeoutMs?: number;
}

/** A worker as the registry (heartbeats) describes it, for `inspect` and the dashboard. */
export interface WorkerInfo {
  /** The worker id (`name@host:pid:n`). */
  id: string;
  /** Host name. */
  host: string;
  /** Process id. */
  pid: number;
  /** Concurrency per queue. */
  queues: Record<string, number>;
  /** Tasks the worker can run. */
  tasks: string[];
  /** `'online'` while running, `'offline'` after a graceful stop. */
  state: 'online' | 'offline';
  /** True when running and its last heartbeat is recent (3 beats). False after a stop or a crash. */
  online: boolean;
  /** When it started (ISO 8601). */
  startedAt: string;
  /** Its last heartbeat (ISO 8601). */
  lastSeen: string;
  /** Heartbeat interval, ms. */
  heartbeatMs: number;
  /** Tasks running now. */
  active: number;
  /** Tasks finished successfully since start. */
  processed: number;
  /** Tasks failed for good since start. */
  failed: number;
  /** Tasks retried since start. */
  retried: number;
  /** The running tasks. */
  activeTasks: Array<{ id: string; name: string; queue: string; attempt: number; startedAt: string }>;
}

/**
 * The {@link TaskContext} of one run: `signal` is a prototype getter, not a getter in an object
 * literal (V8 puts those in the old generation, keeping each run's objects alive until a full
 * collection; see `DeliveryContext` in consumer.ts).
 */
class RunContext implements TaskContext {
  readonly #f: InFlight;

  constructor(
    readonly taskId: string,
    readonly name: string,
    readonly queue: string,
    readonly attempt: number,
    readonly maxAttempts: number,
    f: InFlight,
    readonly correlationId: string,
    runtime: TaskRuntime,
  ) {
    this.#f = f;
    this.#runtime = runtime;
  }

  readonly #runtime: TaskRuntime;
  /** Created on first use: most tasks report no progress. */
  #reporter: TaskReporter | undefined;

  get signal(): AbortSignal {
    return this.#f.controller.signal;
  }

  progress(value: number | object): Promise<void> {
    this.#reporter ??= new TaskReporter(this.#runtime, this.taskId, this.name, this.queue, this.attempt);
    return this.#reporter.progress(value);
  }

  log(message: string): Promise<void> {
    this.#reporter ??= new TaskReporter(this.#runtime, this.taskId, this.name, this.queue, this.attempt);
    return this.#reporter.log(message);
  }

  /** Writes pending progress and logs; later reports are ignored. `undefined` when there were none. */
  endReports(): Promise<void> | undefined {
    return this.#reporter?.close();
  }
}

/** The most tasks a queue of a worker reads ahead by default when its tasks are short (see `WorkerOptions.prefetch`). */
export const DEFAULT_PREFETCH = 64;

let workerSeq = 0;
const HOST = hostname();

interface Running {
  msg: TaskMessage;
  f: InFlight;
  startedAt: string;
}

/**
 * Runs tasks from queues with a concurrency per queue. Retries with exponential backoff (the
 * retry policy event consumers use too) by delayed redelivery, then the dead letter queue;
 * honours revokes from any process, timeouts and shared rate limits; reports heartbeats. A
 * worker that dies mid-task loses nothing: after `claimIdleMs` another worker claims its tasks
 * and runs them again.
 */
export class Worker {
  /** The worker id. */
  readonly id: string;
  private readonly queues: Record<string, QueueOptions>;
  private readonly loops = new Map<string, DeliveryLoop>();
  private readonly running = new Map<string, Running>();
  private readonly revoked = new Map<string, number>();
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private unlisten: Unsubscribe | undefined;
  private pauses: PauseWatch | undefined;
  private readonly startedAt: string;
  private processed = 0;
  private failed = 0;
  private retried = 0;

  /** @internal */
  constructor(
    private readonly runtime: TaskRuntime,
    private readonly registry: TaskRegistry,
    private readonly options: WorkerOptions = {},
    private readonly onClosed: (w: Worker) => void = () => {},
  ) {
    this.id = `${options.name ?? 'worker'}@${HOST}:${process.pid}:${++workerSeq}`;
    this.startedAt = isoNow(runtime.ctx.clock);
    const issues: ValidationIssue[] = [];
    const given = options.queues ?? Object.fromEntries(registry.queues().map((q) => [q, 1]));
    // Null-prototype: a queue named 'toString' is an ordinary key, and '__proto__' is refused below
    // instead of replacing the prototype.
    this.queues = Object.create(null) as Record<string, QueueOptions>;
    if (typeof given !== 'object' || given === null) throw new EventValidationError(undefined, [{ path: 'queues', message: `must be an object of queue names to concurrency, e.g. { default: 2 }, got ${describeValue(given)}` }]);
    for (const [queue, o] of Object.entries(given)) {
      if (!isName(queue)) issues.push({ path: `queues.${queue}`, message: `the queue name ${NAME_RULE}` });
      const q: QueueOptions = typeof o === 'number' ? { concurrency: o } : typeof o === 'object' && o !== null ? o : { concurrency: Number.NaN };
      if (!Number.isInteger(q.concurrency) || q.concurrency < 1) issues.push({ path: `queues.${queue}`, message: 'concurrency must be a whole number >= 1' });
      if (q.rateLimit && (!(q.rateLimit.max >= 1) || !(q.rateLimit.perMs >= 1))) {
        issues.push({ path: `queues.${queue}.rateLimit`, message: 'needs max >= 1 and perMs >= 1' });
      }
      this.queues[queue] = q;
    }
    if (Object.keys(this.queues).length === 0) issues.push({ path: 'queues', message: 'no queues: define tasks first or pass { queues }' });
    if (issues.length) throw new EventValidationError(undefined, issues);
  }

  /** Tasks running now. */
  get activeCount(): number {
    return this.running.size;
  }

  /** Starts consuming every queue. Resolves once all loops run. Memoised. */
  start(): Promise<void> {
    if (this.stopping) return Promise.reject(new ClosedError(`worker '${this.id}'`));
    this.starting ??= this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    const { ctx, keys } = this.runtime;
    this.unlisten = await ctx.transport.listen(keys.revokeChannel, (id) => this.onRevoke(id));
    for (const { key } of await ctx.transport.kvScan(keys.revokedPrefix)) {
      this.revoked.set(key.slice(keys.revokedPrefix.length), ctx.clock.now());
    }
    // Before the first read: a worker started while a queue is paused takes nothing from it.
    const pauses = (this.pauses = new PauseWatch(this.runtime, Object.keys(this.queues)));
    await pauses.start();
    for (const [queue, q] of Object.entries(this.queues)) {
      const loop = new DeliveryLoop({
        transport: ctx.transport,
        logger: ctx.logger,
        clock: ctx.clock,
        stream: keys.stream(queue),
        group: keys.group,
        consumer: this.id,
        concurrency: q.concurrency,
        // A rate-limited queue reads only what it may start now: read-ahead would start late,
        // in the next window, on top of that window's budget.
        batchSize: q.concurrency + (q.rateLimit ? 0 : (this.options.prefetch ?? Math.max(q.concurrency, DEFAULT_PREFETCH))),
        prefetch: q.rateLimit ? 0 : (this.options.prefetch ?? Math.max(q.concurrency, DEFAULT_PREFETCH)),
        prefetchMin: q.rateLimit ? 0 : (this.options.prefetch ?? q.concurrency),
        blockMs: this.options.blockMs ?? ctx.config.eventBlockTime,
        claimIdleMs: ctx.config.claimIdleMs,
        startAt: 'beginning',
        process: traceWorker(ctx, queue, keys.group, this.id, (f, decoded) => this.run(queue, f, decoded)),
        budget: pauses.gate(queue, q.rateLimit ? this.budget(queue, q.rateLimit) : undefined),
      });
      this.loops.set(queue, loop);
    }
    await Promise.all([...this.loops.values()].map((l) => l.start()));
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat(), ctx.config.workerHeartbeatMs);
    this.heartbeat.unref();
    ctx.logger.info('worker started', { worker: this.id, queues: Object.keys(this.queues) });
  }

  /**
   * Stops taking tasks, lets running ones finish for `timeoutMs`, then aborts the rest and hands
   * them back for another worker. Memoised.
   */
  stop(options: WorkerStopOptions = {}): Promise<void> {
    this.stopping ??= (async () => {
      await this.starting?.catch(() => {});
      const timeoutMs = options.timeoutMs ?? 30_000;
      await Promise.all([...this.loops.values()].map((l) => l.stop(timeoutMs)));
      if (this.heartbeat) clearInterval(this.heartbeat);
      try {
        await this.beat('offline');
      } catch {
        // The registry entry expires by itself.
      }
      await this.unlisten?.().catch(() => {});
      await this.pauses?.stop();
      await this.runtime.flush();
      this.onClosed(this);
      this.runtime.ctx.logger.info('worker stopped', { worker: this.id });
    })();
    return this.stopping;
  }

  private onRevoke(id: string): void {
    const now = this.runtime.ctx.clock.now();
    this.revoked.set(id, now);
    const r = this.running.get(id);
    if (r) r.f.abort(new Error(`task ${id} revoked`));
    // Forget revocations older than the result TTL (their keys have expired too).
    if (this.revoked.size > 10_000) {
      const cutoff = now - this.runtime.ctx.config.taskResultTtlMs;
      for (const [k, t] of this.revoked) if (t < cutoff) this.revoked.delete(k);
    }
  }

  private budget(queue: string, limit: RateLimit) {
    const { transport, clock } = this.runtime.ctx;
    return async (wanted: number) => {
      const now = clock.now();
      const window = Math.floor(now / limit.perMs);
      const key = this.runtime.keys.rate(queue, window);
      const after = await transport.kvIncr(key, { by: wanted, ttlMs: limit.perMs * 2 });
      const granted = Math.max(0, Math.min(wanted, limit.max - (after - wanted)));
      if (granted < wanted) await transport.kvIncr(key, { by: -(wanted - granted) });
      const windowLeft = (window + 1) * limit.perMs - now;
      return granted > 0 ? { granted, validForMs: Math.max(0, windowLeft - Math.min(20, limit.perMs / 20)) } : { granted: 0, retryInMs: windowLeft + 1 };
    };
  }

  private info(msg: TaskMessage, state: TaskInfo['state'], attempt: number, extra: Partial<TaskInfo> = {}): TaskInfo {
    return {
      id: msg.id,
      name: msg.task,
      queue: msg.queue,
      state,
      attempt,
      correlationId: msg.correlationId,
      args: msg.args,
      worker: this.id,
      updatedAt: isoNow(this.runtime.ctx.clock),
      ...(msg.dedupeKey !== undefined ? { dedupeKey: msg.dedupeKey } : {}),
      ...extra,
    };
  }

  private async run(queue: string, f: InFlight, decoded?: TaskMessage): Promise<void> {
    const { ctx } = this.runtime;
    const loop = this.loops.get(queue) as DeliveryLoop;
    const d = f.delivery;
    // Paused after this was read: hand it back untouched (no attempt counted); the loop reads no more.
    if (this.pauses?.has(queue)) {
      await loop.nack(d.deliveryId, 0, false);
      return;
    }
    let msg: TaskMessage;
    try {
      msg = decoded ?? decodeTaskMessage(d.body);
    } catch (err) {
      await deadLetterDelivery(ctx, loop, d.stream, d.group, d, toError(err), { worker: this.id, queue });
      return;
    }
    if (this.revoked.has(msg.id)) {
      if (msg.flow) await onFlowStep(this.registry, this.runtime, msg, { state: 'REVOKED' });
      loop.ack(d.deliveryId);
      return;
    }
    if (msg.expiresAt !== undefined && isExpired(msg, ctx.clock.now())) {
      await expireDelivery(this.runtime, f, msg, this.id, (id) => loop.ack(id));
      return;
    }
    // Too early (the message's eta is ahead): back to the transport's delayed set, no attempt counted.
    const earlyMs = msg.eta === undefined ? 0 : Date.parse(msg.eta) - ctx.clock.now();
    if (earlyMs > 0) {
      await loop.nack(d.deliveryId, earlyMs, false);
      return;
    }
    const def = this.registry.definition(msg.task);
    if (!def) {
      const error = new UnknownTaskError(msg.task, this.registry.names());
      const dlq = await deadLetterDelivery(ctx, loop, d.stream, d.group, d, error, { worker: this.id, taskId: msg.id, task: msg.task });
      if (dlq !== null) await this.settle(this.info(msg, 'FAILURE', d.attempt, { error: { name: error.name, message: error.message } }));
      if (dlq !== null && msg.flow) await onFlowStep(this.registry, this.runtime, msg, { state: 'FAILURE', error: { name: error.name, message: error.message } });
      return;
    }
    const maxRetries = msg.maxRetries ?? def.options.maxRetries ?? ctx.config.dlqMaxRetries;
    if (d.attempt === 1) {
      this.runtime.emit(TaskEventType.RECEIVED, msg, { attempt: d.attempt });
      this.runtime.states.announce([this.info(msg, 'RECEIVED', d.attempt, { args: undefined })]);
    }
    const startedAt = isoNow(ctx.clock);
    this.running.set(msg.id, { msg, f, startedAt });
    this.runtime.emit(TaskEventType.STARTED, msg, { attempt: d.attempt, worker: this.id });
    // Stored with `trackStarted` and for flow steps (a flow's steps() shows it); otherwise only announced.
    if (def.options.trackStarted || msg.flow) await this.settle(this.info(msg, 'STARTED', d.attempt));
    else this.runtime.states.announce([this.info(msg, 'STARTED', d.attempt, { args: undefined })]);
    const tctx = new RunContext(msg.id, msg.task, queue, d.attempt, maxRetries + 1, f, msg.correlationId, this.runtime);
    let timer: NodeJS.Timeout | undefined;
    if (def.options.timeoutMs) {
      timer = setTimeout(
        () => f.abort(new TaskTimeoutError(msg.id, `[event-bus] Task '${msg.task}' (${msg.id}) ran past its timeoutMs of ${def.options.timeoutMs} ms`)),
        def.options.timeoutMs,
      );
    }
    const t0 = performance.now();
    let result: unknown;
    let error: Error | undefined;
    try {
      let work: Promise<unknown>;
      try {
        work = Promise.resolve(def.handler(msg.args, tctx));
      } catch (thrown) {
        work = Promise.reject(thrown);
      }
      // The attempt ends when its signal aborts (timeout, revoke, stop), even if the handler
      // ignores the signal: its slot is freed and its late result or error is ignored.
      result = await raceInFlight(work, f, () =>
        ctx.logger.warn('task handler ignored its abort signal; the attempt ended without it and its late result or error is ignored', {
          taskId: msg.id,
          task: msg.task,
          queue,
          worker: this.id,
          attempt: d.attempt,
          reason: toError(f.reason).message,
        }),
      );
    } catch (thrown) {
      error = toError(thrown);
    } finally {
      if (timer) clearTimeout(timer);
      this.running.delete(msg.id);
    }
    const runtimeMs = Math.round((performance.now() - t0) * 1000) / 1000;
    // Progress and logs are written before the outcome, so a result read after get() sees them.
    const reports = tctx.endReports();
    if (reports) await reports;
    if (f.released) return;
    if (this.revoked.has(msg.id)) {
      // Revoked while running: the revoker wrote the final state; the task is not retried.
      if (msg.flow) await onFlowStep(this.registry, this.runtime, msg, { state: 'REVOKED' });
      loop.ack(d.deliveryId);
      return;
    }
    // A handler that returned after its timeout still failed the attempt.
    if (!error && f.aborted) error = toError(f.reason);
    if (!error) {
      const settled = this.settle(this.info(msg, 'SUCCESS', d.attempt, { result: def.options.ignoreResult ? null : (result ?? null), runtimeMs }), def.options.ignoreResult);
      if (msg.flow) {
        // A flow step: start what follows before the ack (a crash in between runs the step again).
        await settled;
        if (!(await onFlowStep(this.registry, this.runtime, msg, { state: 'SUCCESS', result }))) {
          await loop.nack(d.deliveryId, ctx.config.retryBackoffMs, false);
          return;
        }
        loop.ack(d.deliveryId);
      } else {
        // Acked once the result is recorded; the slot is free meanwhile (the next task starts
        // while the record is on the wire).
        loop.ackAfter(d.deliveryId, settled);
      }
      this.processed++;
      this.runtime.emit(TaskEventType.SUCCEEDED, msg, { attempt: d.attempt, runtimeMs, worker: this.id });
      return;
    }
    const errInfo = { name: error.name, message: error.message, ...(error.stack ? { stack: error.stack } : {}) };
    const decision = decideRetry(error, d.attempt, { maxRetries, backoff: def.options.backoff ?? defaultBackoff(ctx.config) });
    if (decision.action === 'later') {
      await loop.nack(d.deliveryId, decision.delayMs, false);
      return;
    }
    if (decision.action === 'retry') {
      const delayMs = decision.delayMs;
      // Recorded before the redelivery can start the next attempt (with a short backoff it may).
      this.runtime.emit(TaskEventType.RETRIED, msg, { attempt: d.attempt, error: error.message, retryInMs: delayMs });
      traceSettle(ctx, f, 'retry', queue, error, d.attempt, delayMs);
      const retryAt = new Date(ctx.clock.now() + delayMs).toISOString();
      await loop.nack(d.deliveryId, delayMs);
      this.retried++;
      await this.settle(this.info(msg, 'RETRY', d.attempt, { error: errInfo, runtimeMs, retryAt }));
      return;
    }
    traceSettle(ctx, f, 'dead_letter', queue, error, d.attempt);
    const dlq = await deadLetterDelivery(ctx, loop, d.stream, d.group, d, error, { worker: this.id, taskId: msg.id, task: msg.task });
    if (dlq === null) return;
    this.failed++;
    await this.settle(this.info(msg, 'FAILURE', d.attempt, { error: errInfo, runtimeMs }));
    if (msg.flow) await onFlowStep(this.registry, this.runtime, msg, { state: 'FAILURE', error: errInfo });
    this.runtime.emit(TaskEventType.FAILED, msg, { attempt: d.attempt, error: error.message });
  }

  private async settle(info: TaskInfo, notifyOnly = false): Promise<void> {
    try {
      await this.runtime.states.write(info, { persist: !notifyOnly });
    } catch (err) {
      this.runtime.ctx.logger.warn('could not record a task state', { taskId: info.id, state: info.state, error: (err as Error).message });
    }
  }

  /** The registry entry of this worker now. */
  describe(state: 'online' | 'offline' = 'online'): WorkerInfo {
    const now = isoNow(this.runtime.ctx.clock);
    return {
      id: this.id,
      host: HOST,
      pid: process.pid,
      queues: Object.fromEntries(Object.entries(this.queues).map(([q, o]) => [q, o.concurrency])),
      tasks: this.registry.names(),
      state,
      online: state === 'online',
      startedAt: this.startedAt,
      lastSeen: now,
      heartbeatMs: this.runtime.ctx.config.workerHeartbeatMs,
      active: this.running.size,
      processed: this.processed,
      failed: this.failed,
      retried: this.retried,
      activeTasks: [...this.running.values()].map((r) => ({
        id: r.msg.id,
        name: r.msg.task,
        queue: r.msg.queue,
        attempt: r.f.delivery.attempt,
        startedAt: r.startedAt,
      })),
    };
  }

  private async beat(state: 'online' | 'offline' = 'online'): Promise<void> {
    const { transport } = this.runtime.ctx;
    try {
      await transport.kvSet(this.runtime.keys.worker(this.id), JSON.stringify(this.describe(state)), { ttlMs: 3_600_000 });
    } catch (err) {
      this.runtime.ctx.logger.warn('worker heartbeat failed', { worker: this.id, error: (err as Error).message });
    }
  }
}

/** Every worker of the registry (heartbeats of the last hour), with `online` computed from its last beat. */
export async function listWorkers(runtime: TaskRuntime): Promise<WorkerInfo[]> {
  const now = runtime.ctx.clock.now();
  const rows = await runtime.ctx.transport.kvScan(runtime.keys.workerPrefix);
  const out: WorkerInfo[] = [];
  for (const { value } of rows) {
    try {
      const w = JSON.parse(value) as WorkerInfo;
      w.online = w.state === 'online' && now - Date.parse(w.lastSeen) <= 3 * w.heartbeatMs;
      out.push(w);
    } catch {
      // Not ours.
    }
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}
