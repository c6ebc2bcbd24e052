import { z } from 'zod';
import { Batcher } from '../batcher.js';
import { isoNow } from '../clock.js';
import type { SystemContext } from '../context.js';
import type { Unsubscribe } from '../contracts/transport.js';
import { TaskTimeoutError } from '../errors.js';
import { ENVELOPE_VERSION, encodeEnvelope, newEventId, priorityRank, type EventEnvelope } from '../events/envelope.js';
import type { EventDefinition } from '../events/registry.js';
import { FINAL_TASK_STATES, taskKeys, type TaskInfo, type TaskKeys, type TaskMessage } from './message.js';

/** The task lifecycle event types, published on `<namespace>:task-events` and stored. */
export const TaskEventType = {
  SENT: 'task.sent',
  RECEIVED: 'task.received',
  STARTED: 'task.started',
  SUCCEEDED: 'task.succeeded',
  FAILED: 'task.failed',
  RETRIED: 'task.retried',
  REVOKED: 'task.revoked',
} as const;

/** One of the {@link TaskEventType} values. */
export type TaskEventType = (typeof TaskEventType)[keyof typeof TaskEventType];

const taskEventSchema = z.looseObject({
  taskId: z.string().min(1),
  name: z.string().min(1),
  queue: z.string().min(1),
  attempt: z.number().int().nonnegative().optional(),
});

/** The definitions of the task lifecycle events (registered in every system). @internal */
export const TASK_EVENT_DEFINITIONS: readonly EventDefinition[] = Object.values(TaskEventType).map((type) => ({
  type,
  schema: taskEventSchema,
}));

/**
 * What the task parts of one system share: keys, the result waiter, lifecycle event output.
 *
 * @internal
 */
interface PendingWrite {
  info: TaskInfo;
  text: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Parses a message of the done channel: one task state, or an array of them (states written in
 * the same turn). Returns `[]` for anything else.
 *
 * @internal
 */
export function parseTaskStates(text: string): TaskInfo[] {
  try {
    const v = JSON.parse(text) as TaskInfo | TaskInfo[];
    const list = Array.isArray(v) ? v : [v];
    return list.filter((i) => typeof i === 'object' && i !== null && typeof i.id === 'string');
  } catch {
    return [];
  }
}

export class TaskRuntime {
  readonly keys: TaskKeys;
  private pendingWrites: PendingWrite[] = [];
  private writeFlush: Promise<void> | undefined;
  private readonly waiters = new Map<string, Set<(info: TaskInfo) => void>>();
  private listening: Promise<Unsubscribe> | undefined;
  private readonly events: Batcher<EventEnvelope>;

  constructor(
    readonly ctx: SystemContext,
    readonly taskEvents: boolean,
  ) {
    this.keys = taskKeys(ctx.config.namespace);
    this.events = new Batcher(
      async (batch) => {
        if (ctx.config.eventSourcingEnabled) await ctx.store.append(batch, { published: true });
        await ctx.transport.publish(
          this.keys.eventsStream,
          batch.map((e) => ({ body: encodeEnvelope(e), priority: priorityRank(e.priority) })),
        );
      },
      (err, count) => ctx.logger.warn('could not record task lifecycle events', { count, error: (err as Error).message }),
    );
  }

  /** Records a lifecycle event of a task (batched; best effort). */
  emit(type: TaskEventType, msg: Pick<TaskMessage, 'id' | 'task' | 'queue' | 'correlationId' | 'priority'>, extra: Record<string, unknown> = {}): void {
    if (!this.taskEvents) return;
    this.events.push({
      id: newEventId(),
      type,
      data: { taskId: msg.id, name: msg.task, queue: msg.queue, ...extra },
      priority: msg.priority,
      correlationId: msg.correlationId,
      causationId: msg.id,
      occurredAt: isoNow(this.ctx.clock),
      version: ENVELOPE_VERSION,
      ...(this.ctx.source ? { source: this.ctx.source } : {}),
    });
  }

  /** Writes what has been emitted so far. */
  flush(): Promise<void> {
    return this.events.flush();
  }

  /** Reads a task's state, or `undefined` when nothing is recorded (pending or expired). */
  async read(id: string): Promise<TaskInfo | undefined> {
    const raw = await this.ctx.transport.kvGet(this.keys.state(id));
    return raw === null ? undefined : (JSON.parse(raw) as TaskInfo);
  }

  /**
   * Writes a task's state; final states are also announced to waiting `get()` calls in every
   * process. States written in one turn of the event loop (many tasks finishing together) go out
   * together: one multi-key write and one notification carrying all of them.
   */
  write(info: TaskInfo): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pendingWrites.push({ info, text: JSON.stringify(info), resolve, reject });
      this.writeFlush ??= new Promise<void>((r) => setImmediate(r)).then(() => this.flushWrites());
    });
  }

  private async flushWrites(): Promise<void> {
    this.writeFlush = undefined;
    const batch = this.pendingWrites;
    this.pendingWrites = [];
    const finals = batch.filter((w) => FINAL_TASK_STATES.has(w.info.state));
    try {
      const { transport, config } = this.ctx;
      await Promise.all([
        transport.kvSetMany(
          batch.map((w) => ({ key: this.keys.state(w.info.id), value: w.text })),
          { ttlMs: config.taskResultTtlMs },
        ),
        // A waiter that reads the key before it is written still gets the state from here.
        finals.length > 0
          ? transport.notify(this.keys.doneChannel, finals.length === 1 ? (finals[0] as PendingWrite).text : `[${finals.map((w) => w.text).join(',')}]`)
          : undefined,
      ]);
      for (const w of batch) w.resolve();
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
  }

  /**
   * Resolves with the task's final state, waiting for the notification (no polling).
   *
   * @throws {@link TaskTimeoutError} after `timeoutMs`.
   */
  async waitFinal(id: string, name: string, timeoutMs: number, signal?: AbortSignal): Promise<TaskInfo> {
    await this.ensureListening();
    return new Promise<TaskInfo>((resolve, reject) => {
      let settled = false;
      const set = this.waiters.get(id) ?? new Set();
      this.waiters.set(id, set);
      const finish = (err: Error | undefined, info?: TaskInfo) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        set.delete(onInfo);
        if (set.size === 0) this.waiters.delete(id);
        if (err) reject(err);
        else resolve(info as TaskInfo);
      };
      const onInfo = (info: TaskInfo) => finish(undefined, info);
      const onAbort = () => finish((signal?.reason as Error) ?? new Error('aborted'));
      set.add(onInfo);
      const timer = setTimeout(
        () => finish(new TaskTimeoutError(id, `[event-bus] No result for task '${name}' (${id}) within ${timeoutMs} ms; is a worker consuming its queue?`)),
        timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      // Registered before reading, so a result written in between is not missed.
      this.read(id).then(
        (info) => {
          if (info && FINAL_TASK_STATES.has(info.state)) finish(undefined, info);
        },
        (err: unknown) => finish(err as Error),
      );
    });
  }

  private ensureListening(): Promise<Unsubscribe> {
    this.listening ??= this.ctx.transport.listen(this.keys.doneChannel, (text) => {
      for (const info of parseTaskStates(text)) {
        const set = this.waiters.get(info.id);
        if (set) for (const fn of [...set]) fn(info);
      }
    });
    return this.listening;
  }

  /** Stops listening for results. */
  async close(): Promise<void> {
    await this.writeFlush;
    await this.events.flush();
    const l = this.listening;
    this.listening = undefined;
    if (l) await (await l.catch(() => async () => {}))();
  }
}
