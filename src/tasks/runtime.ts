import { z } from 'zod';
import { Batcher } from '../batcher.js';
import { isoNow } from '../clock.js';
import type { SystemContext } from '../context.js';
import { encodeEnvelope, newEventId, priorityRank } from '../events/envelope.js';
import type { EventDefinition } from '../events/registry.js';
import { TaskEventType, taskKeys, type TaskKeys } from './names.js';
import { TaskStates } from './state.js';
import { encodeTaskEvent, taskEventEnvelope, type TaskEventSubject } from './task-events.js';

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

/** The id and time of a lifecycle event, taken before it is emitted (see `TaskRuntime.stamp`). @internal */
export interface TaskEventStamp {
  id: string;
  at: string;
}

/** A lifecycle event waiting for the next write (its text is built then, only if it is written). */
interface PendingTaskEvent {
  id: string;
  type: TaskEventType;
  msg: TaskEventSubject;
  extra: Record<string, unknown>;
  at: string;
  rank: number;
}

/** Steps a later event of the same attempt makes redundant on the stream (see `TaskRuntime.emit`). */
const TRANSIENT_EVENTS: ReadonlySet<string> = new Set([TaskEventType.RECEIVED, TaskEventType.STARTED]);
/** Events that end an attempt. */
const ATTEMPT_ENDS: ReadonlySet<string> = new Set([TaskEventType.SUCCEEDED, TaskEventType.FAILED, TaskEventType.RETRIED]);

/**
 * The events of a batch that go on the task-events stream: all of them but a task's `received`
 * and `started` when an event that ends the same task's attempt follows them in the batch (a short
 * task: the stream shows its state changes as sampled at each write).
 */
function sampled(batch: PendingTaskEvent[]): PendingTaskEvent[] {
  let lastEnd: Map<string, number> | undefined;
  for (let i = 0; i < batch.length; i++) {
    const e = batch[i] as PendingTaskEvent;
    if (ATTEMPT_ENDS.has(e.type)) (lastEnd ??= new Map()).set(e.msg.id, i);
  }
  if (!lastEnd) return batch;
  const ends = lastEnd;
  return batch.filter((e, i) => !(TRANSIENT_EVENTS.has(e.type) && (ends.get(e.msg.id) ?? -1) > i));
}

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
  /** Lifecycle events to write, once per event-loop turn (or when the previous write is done). */
  private readonly events: Batcher<PendingTaskEvent>;
  /** Ids stamped for `sent` events of sends still on their way ({@link stamp}, {@link released}). */
  private readonly stamped = new Set<string>();
  /** Events held back behind a stamped send, in the order they were emitted. */
  private held: PendingTaskEvent[] = [];

  constructor(
    readonly ctx: SystemContext,
    readonly taskEvents: boolean,
  ) {
    this.keys = taskKeys(ctx.config.namespace);
    this.states = new TaskStates(ctx, this.keys, taskEvents);
    this.events = new Batcher(
      async (pushed) => {
        const unordered = this.holdBack(pushed);
        if (unordered.length === 0) return;
        // In event-id order (UUIDv7, increasing in this process): a `sent` stamped before its
        // send was emitted after it, maybe after the `received` of a fast worker.
        const batch = unordered.length > 1 ? unordered.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) : unordered;
        const envelopeOf = (e: PendingTaskEvent) => taskEventEnvelope(e.id, e.type, e.msg, e.extra, e.at, ctx.source);
        // The event store, the audit trail, keeps every step; the stream, a live feed, the sample.
        const envelopes = ctx.config.eventSourcingEnabled ? new Map(batch.map((e) => [e, envelopeOf(e)])) : undefined;
        if (envelopes) await ctx.store.append([...envelopes.values()], { published: true });
        await ctx.transport.publish(
          this.keys.eventsStream,
          sampled(batch).map((e) => {
            const envelope = envelopes?.get(e);
            const body = envelope ? encodeEnvelope(envelope) : (encodeTaskEvent(e.id, e.type, e.msg, e.extra, e.at, ctx.source) ?? encodeEnvelope(envelopeOf(e)));
            return { body, priority: e.rank };
          }),
        );
      },
      (err, count) => ctx.logger.warn('could not record task lifecycle events', { count, error: (err as Error).message }),
    );
  }

  /**
   * Records a lifecycle event of a task (batched, written once per event-loop turn; best effort).
   * The event store (with event sourcing) keeps every event; the task-events stream leaves out a
   * task's `received` and `started` when the event that ends that attempt (`succeeded`, `failed`,
   * `retried`) is in the same write: a task that finished within the turn shows there as sent
   * and succeeded. Its text is built at the write, for what is written (without event sourcing
   * directly, see `task-events.ts`). `stamp` gives an id and time taken earlier ({@link stamp}).
   */
  emit(type: TaskEventType, msg: TaskEventSubject, extra: Record<string, unknown> = {}, stamp?: TaskEventStamp): void {
    if (!this.taskEvents) return;
    this.events.push({ id: stamp?.id ?? newEventId(), type, msg, extra, at: stamp?.at ?? isoNow(this.ctx.clock), rank: priorityRank(msg.priority) });
  }

  /**
   * An id and time taken now for an event emitted later (a send's `sent`, stamped before the
   * message goes out, so that it precedes the `received` a fast worker may emit first).
   */
  stamp(): TaskEventStamp {
    const st = { id: newEventId(), at: isoNow(this.ctx.clock) };
    this.stamped.add(st.id);
    return st;
  }

  /**
   * Ends the stamps of a send (its `sent` events were emitted, or it failed): the events held
   * back behind them go out with the next write.
   */
  released(stamps: readonly TaskEventStamp[]): void {
    for (const st of stamps) this.stamped.delete(st.id);
    if (this.held.length === 0) return;
    const first = this.firstStamp();
    const go = first === undefined ? this.held : this.held.filter((e) => e.id < first);
    if (go.length === 0) return;
    this.held = first === undefined ? [] : this.held.filter((e) => e.id >= first);
    for (const e of go) this.events.push(e);
  }

  /** Writes what has been emitted so far. */
  flush(): Promise<void> {
    return this.events.flush();
  }

  /** Writes pending states and events, stops listening for results. */
  async close(): Promise<void> {
    await this.states.close();
    // Nothing more is sent: what waited behind a send goes out now.
    this.stamped.clear();
    this.released([]);
    await this.events.flush();
  }

  /** The lowest id stamped for a send still on its way. */
  private firstStamp(): string | undefined {
    let first: string | undefined;
    for (const id of this.stamped) if (first === undefined || id < first) first = id;
    return first;
  }

  /**
   * Of what is about to be written, keeps back the events that come after a `sent` stamped for
   * a send still on its way (in this process a worker may record a task's `received` before the
   * send that carried it has resolved); returns the rest. Written in id order, the stream and the
   * store then show `sent` before what a worker recorded of it.
   */
  private holdBack(batch: PendingTaskEvent[]): PendingTaskEvent[] {
    if (this.stamped.size === 0) return batch;
    const first = this.firstStamp() as string;
    const now: PendingTaskEvent[] = [];
    for (const e of batch) (e.id < first ? now : this.held).push(e);
    return now;
  }
}
