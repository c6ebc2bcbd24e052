/**
 * The JSON the page reads from the dashboard's API and event stream: the server's own types,
 * as they arrive over the wire.
 *
 * @internal
 * @module
 */
import type { HealthStatus, ScheduledEntry, StreamSummary, WorkerInfo } from '@procur/event-bus';
import type { TaskFlowView } from '../../http/dashboard-actions.js';
import type { DeadLetterView } from '../../http/dead-letter-view.js';
import type { EventSummary, TaskRow, TaskTimelineEntry, ThroughputPoint } from '../../http/feed.js';

export type { EventSummary, TaskFlowView, TaskRow, TaskTimelineEntry, ThroughputPoint };

/** A worker as `/api/workers` and the stream send it. */
export type WorkerView = WorkerInfo & { silent: boolean };

/** A task queue with its groups, as `/api/queues` sends it. */
export type QueueView = StreamSummary;

/** The events stream with its groups (and `partitions`, each with its own, when it is partitioned). */
export type StreamView = StreamSummary;

/** The health status as JSON. */
export type HealthView = Pick<HealthStatus, 'healthy' | 'issues' | 'successRate' | 'pendingEvents'> & { thresholds: HealthStatus['thresholds'] };

/** A beat entry as JSON. */
export type ScheduledView = Pick<ScheduledEntry, 'name' | 'task' | 'nextRunAt'> & { cron?: string; timezone?: string; everyMs?: number; lastRunAt?: string };

/** `GET /api/snapshot`. */
export interface Snapshot {
  system: { namespace: string; transport: string; store: string; eventStream: string; dlqStream: string; distributed: boolean; auth: string };
  workers: WorkerView[];
  queues: Record<string, QueueView>;
  eventStream: StreamView | null;
  scheduled: ScheduledView[];
  dlqSize: number;
  health: HealthView;
  tasks: { tasks: TaskRow[]; total: number };
  events: EventSummary[];
  eventTypes: Record<string, number>;
  throughput: ThroughputPoint[];
  pausedQueues?: string[];
}

/** `GET /api/tasks/:id`. */
export interface TaskDetail {
  task: {
    id: string;
    name: string;
    queue: string;
    state: TaskRow['state'];
    attempt: number;
    retries: number;
    correlationId?: string;
    worker?: string;
    args?: unknown;
    result?: unknown;
    error?: { name: string; message: string; stack?: string };
    retryAt?: string;
    runtimeMs?: number;
    updatedAt?: string;
    known: boolean;
  };
  /** The flow the task is a step of, or is. */
  flow?: TaskFlowView;
  timeline: TaskTimelineEntry[];
}

/** `GET /api/events`: one page, newest first. */
export interface EventPage {
  events: EventSummary[];
  nextCursor?: string;
}

/** `GET /api/dlq`: one page, oldest first. */
export interface DeadLetterPage {
  /** Every entry in the DLQ. */
  size: number;
  /** The entries the filter selects. */
  total: number;
  entries: DeadLetterView[];
}

/** A dead letter as `/api/dlq` lists it. */
export type { DeadLetterView };

/** `GET /api/dlq/:id`. */
export interface DeadLetterDetail extends DeadLetterView {
  body: string;
  stack?: string;
}
