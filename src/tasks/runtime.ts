import { z } from 'zod';
import { Batcher } from '../batcher.js';
import { isoNow } from '../clock.js';
import type { SystemContext } from '../context.js';
import { ENVELOPE_VERSION, encodeEnvelope, newEventId, priorityRank, type EventEnvelope } from '../events/envelope.js';
import type { EventDefinition } from '../events/registry.js';
import type { TaskMessage } from './message.js';
import { TaskEventType, taskKeys, type TaskKeys } from './names.js';
import { TaskStates } from './state.js';

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
  private readonly events: Batcher<EventEnvelope>;

  constructor(
    readonly ctx: SystemContext,
    readonly taskEvents: boolean,
  ) {
    this.keys = taskKeys(ctx.config.namespace);
    this.states = new TaskStates(ctx, this.keys, taskEvents);
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

  /** Writes pending states and events, stops listening for results. */
  async close(): Promise<void> {
    await this.states.close();
    await this.events.flush();
  }
}
