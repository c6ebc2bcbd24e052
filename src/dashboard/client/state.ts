/**
 * What the page knows: filled by the snapshot, then kept current by the event stream.
 *
 * @internal
 * @module
 */
import { FINAL_TASK_STATES, type TaskState } from '../../tasks/message.js';
import { PAGE_MAX_TASKS } from '../shared.js';
import type { DeadLetterView, EventSummary, HealthView, QueueView, ScheduledView, Snapshot, StreamView, TaskDetail, TaskRow, ThroughputPoint, WorkerView } from './types.js';

/** The page's views (`#/<view>`). */
export type View = 'overview' | 'workers' | 'tasks' | 'task' | 'queues' | 'events' | 'dlq';

/** The page's state. */
export interface PageState {
  eventStream: StreamView | null;
  system: Partial<Snapshot['system']>;
  workers: WorkerView[];
  tasks: Map<string, TaskRow>;
  events: EventSummary[];
  queues: Record<string, QueueView>;
  scheduled: ScheduledView[];
  dlqSize: number;
  dlq: DeadLetterView[];
  health: HealthView | null;
  throughput: ThroughputPoint[];
  eventTypes: Record<string, number>;
  view: View;
  taskId: string | null;
  task: TaskDetail | null;
  /** The paused task queues. */
  paused: string[];
  /** The page of the task list (from 0). */
  taskPage: number;
  /** The page of the events list (from 0; 0 is the live list). */
  eventPage: number;
  /** The store cursor of each events page (`cursor` of `api/events`); page 0 has none. */
  eventCursors: (string | undefined)[];
  /** The events of the page shown when it is not the live one (read from the store). */
  eventRows: EventSummary[];
  /** Whether the store has events older than the page shown. */
  eventMore: boolean;
  /** The page of the dead letters (from 0). */
  dlqPage: number;
  /** The `after` cursor of each dead-letter page (the last id of the page before). */
  dlqAfter: (string | undefined)[];
  /** The dead letters the filter selects (all of them without a filter). */
  dlqTotal: number;
}

/** The one state of the page. */
export const S: PageState = {
  eventStream: null,
  system: {},
  workers: [],
  tasks: new Map(),
  events: [],
  queues: {},
  scheduled: [],
  dlqSize: 0,
  dlq: [],
  health: null,
  throughput: [],
  eventTypes: Object.create(null) as Record<string, number>,
  view: 'overview',
  taskId: null,
  task: null,
  paused: [],
  taskPage: 0,
  eventPage: 0,
  eventCursors: [undefined],
  eventRows: [],
  eventMore: false,
  dlqPage: 0,
  dlqAfter: [undefined],
  dlqTotal: 0,
};

/** True for the states a task never leaves. */
export function isFinal(state: TaskState | string): boolean {
  return FINAL_TASK_STATES.has(state as TaskState);
}

/** Adds or updates a task row; a final state is never replaced by an earlier one arriving late. */
export function upsertTask(t: TaskRow): void {
  const cur = S.tasks.get(t.id);
  if (cur && isFinal(cur.state) && !isFinal(t.state)) return;
  S.tasks.set(t.id, t);
  if (S.tasks.size > PAGE_MAX_TASKS) {
    const first = S.tasks.keys().next().value;
    if (first !== undefined) S.tasks.delete(first);
  }
}

/** Takes the snapshot's state. */
export function applySnapshot(s: Snapshot): void {
  S.system = s.system;
  S.workers = s.workers;
  S.queues = s.queues;
  S.scheduled = s.scheduled;
  S.dlqSize = s.dlqSize;
  S.health = s.health;
  S.throughput = s.throughput;
  // Copied into a null-prototype object: the live counter adds to it by type name, and a type
  // named 'toString' or '__proto__' must not meet Object.prototype's members.
  S.eventTypes = Object.assign(Object.create(null) as Record<string, number>, s.eventTypes);
  S.eventStream = s.eventStream;
  s.tasks.tasks.slice().reverse().forEach(upsertTask);
  S.events = s.events;
  S.paused = s.pausedQueues ?? [];
}
