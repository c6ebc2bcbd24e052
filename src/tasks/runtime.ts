import { z } from 'zod';
import { Batcher } from '../batcher.js';
import { isoNow } from '../clock.js';
import type { SystemContext } from '../context.js';
import { encodeEnvelope, newEventId, priorityRank, type EventEnvelope } from '../events/envelope.js';
import type { EventDefinition } from '../events/registry.js';
import type { TaskMessage } from './message.js';
import { TaskEventType, taskKeys, type TaskKeys } from './names.js';
import { TaskStates } from './state.js';
import { encodeTaskEvent, taskEventEnvelope } from './task-events.js';

export { TaskEventType, parseTaskStates } from './names.js';

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
 * What the task parts of one system share: key names, the task state owner
 * ({@link TaskStates}) and the lifecycle event output (the audit trail).
 *
 * @internal
 */
export class TaskRuntime {
  readonly keys: TaskKeys;
  /** The one owner of task state: written by workers, read by results, watched by the dashboard. */
  readonly states: TaskStates;
  /** Lifecycle events to write: the envelope when the store keeps them, else only the wire text. */
  private readonly events: Batcher<{ envelope: EventEnvelope | undefined; body: string | undefined; rank: number }>;

  constructor(
    readonly ctx: SystemContext,
    readonly taskEvents: boolean,
  ) {
    this.keys = taskKeys(ctx.config.namespace);
    this.states = new TaskStates(ctx, this.keys, taskEvents);
    this.events = new Batcher(
      async (batch) => {
        const stored = batch.flatMap((e) => (e.envelope ? [e.envelope] : []));
        if (ctx.config.eventSourcingEnabled && stored.length > 0) await ctx.store.append(stored, { published: true });
        await ctx.transport.publish(
          this.keys.eventsStream,
          batch.map((e) => ({ body: e.body ?? encodeEnvelope(e.envelope as EventEnvelope), priority: e.rank })),
        );
      },
      (err, count) => ctx.logger.warn('could not record task lifecycle events', { count, error: (err as Error).message }),
    );
  }

  /**
   * Records a lifecycle event of a task (batched; best effort). Without event sourcing only its
   * wire text is built (directly, see `task-events.ts`), not an envelope object. `reuse` keeps
   * the task's part of that text on `msg` for its next events (a worker's message).
   */
  emit(type: TaskEventType, msg: Pick<TaskMessage, 'id' | 'task' | 'queue' | 'correlationId' | 'priority'>, extra: Record<string, unknown> = {}, reuse = false): void {
    if (!this.taskEvents) return;
    const id = newEventId();
    const at = isoNow(this.ctx.clock);
    const rank = priorityRank(msg.priority);
    const body = this.ctx.config.eventSourcingEnabled ? undefined : encodeTaskEvent(id, type, msg, extra, at, this.ctx.source, reuse);
    const envelope = body === undefined ? taskEventEnvelope(id, type, msg, extra, at, this.ctx.source) : undefined;
    this.events.push({ envelope, body, rank });
  }

  /** Writes what has been emitted so far. */
  flush(): Promise<void> {
    return this.events.flush();
  }

  /** Writes pending states and events, stops listening for results. */
  async close(): Promise<void> {
    await this.states.close();
    await this.events.flush();
  }
}
