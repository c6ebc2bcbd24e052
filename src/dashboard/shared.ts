/**
 * Facts the dashboard's server and its page (the client modules under `client/`) both use: one
 * definition each, imported by both sides and bundled into the page at build time.
 *
 * @internal
 * @module
 */
import type { TaskState } from '../tasks/message.js';

/** The header every action (POST) must carry: cross-site pages cannot set it without CORS. @internal */
export const ACTION_HEADER = 'x-procur-dashboard';

/** The task states, in lifecycle order (the filter of the task list, the API's `?state=`). @internal */
export const TASK_STATES: readonly TaskState[] = ['PENDING', 'RECEIVED', 'STARTED', 'RETRY', 'SUCCESS', 'FAILURE', 'REVOKED', 'EXPIRED'];

/** Priorities from lowest to highest, the order of `lagByPriority` and `lengthByPriority`. @internal */
export const PRIORITY_NAMES = ['low', 'normal', 'high', 'critical'] as const;

/** The server-sent event names of `/api/stream`. @internal */
export const STREAM_EVENTS = ['hello', 'tasks', 'events', 'workers', 'queues', 'dlq', 'health', 'throughput', 'status', 'progress'] as const;

/** One of {@link STREAM_EVENTS}. @internal */
export type StreamEvent = (typeof STREAM_EVENTS)[number];

/** Task rows the page keeps in memory. @internal */
export const PAGE_MAX_TASKS = 5000;

/** Tasks in the snapshot the page loads first. @internal */
export const SNAPSHOT_TASKS = 500;
