import type { ServerResponse } from 'node:http';
import { isEventBusError, type DeadLetterEntry, type EventSystem, type FlowKind, type TaskInfo, type TaskState } from '@procur/event-bus';
import { describeDeadLetter } from './dead-letter-view.js';
import type { LiveFeed } from './feed.js';
import { HttpError, sendJson } from './util.js';

/** The queue flow records live on (`bus.tasks.chain/group/chord`): never re-sent as tasks. */
const FLOW_QUEUE = 'flow';

/** States a task can be retried from: it ran and will not run again by itself. */
const RETRYABLE = new Set(['FAILURE', 'REVOKED', 'EXPIRED']);

/** Tasks one bulk action handles at most (the feed's filter result, newest first). */
const MAX_BULK = 5000;

/** Dead letters one bulk action reads at most. */
const MAX_BULK_DLQ = 10_000;

/** What a retry or a promote sent: the old id and the new task's id. */
export interface ResentTask {
  /** The task acted on. */
  id: string;
  /** The id of the fresh task sent in its place (same name, queue, arguments, correlation id). */
  newId: string;
}

/**
 * Re-sends a finished task (`FAILURE`, `REVOKED`, `EXPIRED`) as a fresh attempt: same name,
 * queue, arguments and correlation id (the link between the two), a new task id. Not the same id:
 * a final state is never replaced (the state owner keeps its first final state, so a result
 * handle that saw `FAILURE` keeps seeing it).
 *
 * @throws HttpError 404 for an unknown id, 409 for a task that cannot be retried (its state,
 *   a flow record, arguments not recorded).
 * @internal
 */
export async function retryTask(bus: EventSystem, feed: LiveFeed, id: string): Promise<ResentTask> {
  const info = await bus.tasks.info(id);
  if (!info) throw new HttpError(404, `no task '${id}' is recorded (its state expired after taskResultTtlMs, or the id is wrong)`);
  const state = feed.indexed(id)?.state ?? info.state;
  if (!RETRYABLE.has(state) && !RETRYABLE.has(info.state)) throw new HttpError(409, `task '${id}' is ${info.state}: only a FAILURE, REVOKED or EXPIRED task can be retried`);
  return resend(bus, info);
}

/**
 * Runs a waiting (delayed or queued) task now: sends a fresh copy without delay and revokes the
 * waiting one, so that when its ETA comes the workers drop it (the revoke is in the task state,
 * seen by every worker): the task runs once. The old id ends `REVOKED`; the new id is returned.
 *
 * Only a task sent with a `taskId` can be promoted: `applyAsync` records the state (with the
 * arguments) of such a task when it is sent; any other task has no state before a worker
 * receives it, and its message waits in the transport's delayed set, which the transport
 * contract cannot read or move by task id.
 *
 * @throws HttpError 404 for an unknown id, 409 when the task is not waiting or its arguments are
 *   not recorded (only a task sent with a `taskId` has its arguments stored before it runs).
 * @internal
 */
export async function promoteTask(bus: EventSystem, feed: LiveFeed, id: string): Promise<ResentTask> {
  const info = await bus.tasks.info(id);
  if (!info) throw new HttpError(404, `no task '${id}' is recorded: check the id (a task's record is kept until its ETA plus taskResultTtlMs)`);
  if (info.state !== 'PENDING') throw new HttpError(409, `task '${id}' is ${info.state}: only a PENDING (delayed or queued) task can be promoted`);
  if (info.args === undefined) throw new HttpError(409, `task '${id}' has no recorded arguments (a queued task, not a delayed one, is recorded with them only when sent with a taskId), so it cannot be re-sent`);
  if (info.queue === FLOW_QUEUE) throw new HttpError(409, `'${id}' is a flow record, not a task`);
  // Revoke first: should the send fail, nothing runs twice (the operator retries the revoked task).
  const revoked = await bus.tasks.result(id, info.name, info.queue).revoke();
  if (!revoked) throw new HttpError(409, `task '${id}' finished meanwhile: nothing to promote`);
  feed.noteRevoked(id);
  return resend(bus, info);
}

async function resend(bus: EventSystem, info: TaskInfo): Promise<ResentTask> {
  if (info.queue === FLOW_QUEUE) throw new HttpError(409, `'${info.id}' is a flow record, not a task: retry the failed step instead`);
  if (info.args === undefined) throw new HttpError(409, `task '${info.id}' has no recorded arguments, so it cannot be re-sent`);
  const r = await bus.tasks.send(info.name, info.args, { queue: info.queue, ...(info.correlationId ? { correlationId: info.correlationId } : {}) });
  return { id: info.id, newId: r.id };
}

/**
 * `POST /api/tasks/retry` (bulk): retries every task the filter selects (`state` defaults to
 * `FAILURE`; `name`, `queue`), up to {@link MAX_BULK}. Tasks that cannot be retried are counted
 * in `skipped`.
 * @internal
 */
export async function bulkRetry(bus: EventSystem, feed: LiveFeed, url: URL): Promise<{ retried: number; skipped: number; ids: ResentTask[] }> {
  const state = (url.searchParams.get('state') || 'FAILURE').toUpperCase();
  if (!RETRYABLE.has(state)) throw new HttpError(400, `'state' must be FAILURE, REVOKED or EXPIRED for a bulk retry (got '${state}')`);
  const { tasks } = await feed.tasks({ state, name: url.searchParams.get('name') || undefined, queue: url.searchParams.get('queue') || undefined, limit: MAX_BULK });
  const ids: ResentTask[] = [];
  let skipped = 0;
  for (const t of tasks) {
    try {
      ids.push(await retryTask(bus, feed, t.id));
    } catch (err) {
      if (err instanceof HttpError) skipped++;
      else throw err;
    }
  }
  return { retried: ids.length, skipped, ids };
}

/** The dead-letter filter of `/api/dlq` and its bulk actions: `type`, `group`, `kind`. @internal */
export interface DlqFilter {
  /** The event type or task name. */
  type?: string;
  /** The consumer group (or task queue group). */
  group?: string;
  /** `event`, `task` or `undecodable`. */
  kind?: string;
}

/**
 * Reads `?type=&group=&kind=` of a dead-letter route.
 * @throws HttpError 400 for a `kind` that is not event, task or undecodable.
 * @internal
 */
export function dlqFilter(url: URL): DlqFilter {
  const type = url.searchParams.get('type') || undefined;
  const group = url.searchParams.get('group') || undefined;
  const kind = url.searchParams.get('kind') || undefined;
  if (kind && !['event', 'task', 'undecodable'].includes(kind)) throw new HttpError(400, `'kind' must be event, task or undecodable (got '${kind}')`);
  return { ...(type ? { type } : {}), ...(group ? { group } : {}), ...(kind ? { kind } : {}) };
}

function selects(f: DlqFilter, e: DeadLetterEntry): boolean {
  const v = describeDeadLetter(e);
  return !((f.type && v.type !== f.type) || (f.group && v.group !== f.group) || (f.kind && v.kind !== f.kind));
}

/**
 * `GET /api/dlq?limit=&after=&type=&group=&kind=`: one page of the dead letters the filter
 * selects, oldest first, after the entry `after` (the last id of the previous page). `total`
 * counts what the filter selects (all entries without a filter; with one, among the first
 * {@link MAX_BULK_DLQ}).
 * @internal
 */
export async function listDlq(bus: EventSystem, filter: DlqFilter, limit: number, after: string | undefined): Promise<{ size: number; total: number; entries: DeadLetterEntry[] }> {
  const size = await bus.dlq.size();
  if (!filter.type && !filter.group && !filter.kind) {
    return { size, total: size, entries: await bus.dlq.list({ limit, ...(after ? { after } : {}) }) };
  }
  const all = (await bus.dlq.list({ limit: MAX_BULK_DLQ })).filter((e) => selects(filter, e));
  const start = after === undefined ? 0 : all.findIndex((e) => e.id === after) + 1;
  return { size, total: all.length, entries: all.slice(start, start + limit) };
}

/**
 * `POST /api/dlq/replay` and `/api/dlq/delete` (bulk): replays or deletes the dead letters the
 * filter selects: `type` (event type or task name), `group`, `kind` (`event`, `task`,
 * `undecodable`); no filter selects all.
 * @internal
 */
export async function bulkDlq(bus: EventSystem, verb: 'replay' | 'delete', url: URL): Promise<{ count: number }> {
  const filter = dlqFilter(url);
  const entries = await bus.dlq.list({ limit: MAX_BULK_DLQ });
  let count = 0;
  for (const e of entries) {
    if (!selects(filter, e)) continue;
    try {
      if (verb === 'replay') await bus.dlq.replay(e.id);
      else if (!(await bus.dlq.delete(e.id))) continue;
      count++;
    } catch (err) {
      if (!isEventBusError(err, 'ERR_NOT_FOUND')) throw err;
    }
  }
  return { count };
}

/**
 * `POST /api/queues/:queue/pause|resume|purge`.
 * @internal
 */
export async function queueAction(bus: EventSystem, res: ServerResponse, queue: string | undefined, verb: string | undefined): Promise<boolean> {
  if (!queue) throw new HttpError(405, 'GET only');
  if (verb === 'pause') sendJson(res, 200, { queue, paused: true, changed: await bus.tasks.pause(queue) });
  else if (verb === 'resume') sendJson(res, 200, { queue, paused: false, changed: await bus.tasks.resume(queue) });
  else if (verb === 'purge') sendJson(res, 200, { queue, purged: await bus.tasks.purge(queue) });
  else throw new HttpError(404, `no action '${verb ?? ''}' on a queue: use pause, resume or purge`);
  return true;
}

/** One task step of a flow as the task detail shows it. */
export interface FlowStepView {
  /** Where the step sits in the flow (`'2'`, `'0.1'`: indexes from the top, see `FlowStepInfo.path`). */
  path: string;
  /** The task name. */
  task: string;
  /** The queue. */
  queue: string;
  /** The step's task id (`<flowId>.<path>`). */
  taskId: string;
  /** Its state now (`PENDING` until it is sent and runs). */
  state: TaskState;
}

/** The flow a task belongs to (or is: a flow's own record), in `GET /api/tasks/:id` as `flow`. */
export interface TaskFlowView {
  /** The flow id. */
  id: string;
  /** `chain`, `group` or `chord`. */
  kind: FlowKind;
  /** The flow's own state. */
  state: TaskState;
  /** This task's step path in the flow; absent when the task is the flow's record itself. */
  path?: string;
  /** The flow's task steps in order (at most {@link MAX_FLOW_STEPS}). */
  steps: FlowStepView[];
  /** How many task steps the flow has (more than `steps` holds when it is cut). */
  stepCount: number;
}

/** Steps of a flow the task detail lists at most. */
const MAX_FLOW_STEPS = 500;

/**
 * The flow of a task: the flow whose record it is (`queue` `'flow'`), or whose step it is. A
 * step's task id is `<flowId>.<path>` (path: indexes joined by dots), so each split of the id
 * before a run of numeric segments names a candidate flow; the one whose record exists and whose
 * steps hold this task id is its flow. Nothing more is written when a flow is sent: the flow's
 * record and definition are what `bus.tasks.flow(id).steps()` reads, and they live as long
 * (`taskResultTtlMs`). `undefined` for a task of no flow, or once the flow's record expired.
 * @internal
 */
export async function taskFlow(bus: EventSystem, id: string, info: TaskInfo | undefined): Promise<TaskFlowView | undefined> {
  const candidates: { flowId: string; path?: string }[] = [];
  if (info?.queue === FLOW_QUEUE) candidates.push({ flowId: id });
  else {
    const parts = id.split('.');
    for (let i = parts.length - 1; i >= 1 && /^\d+$/.test(parts[i]!); i--) candidates.push({ flowId: parts.slice(0, i).join('.'), path: parts.slice(i).join('.') });
  }
  for (const c of candidates) {
    const record = c.path === undefined ? info : await bus.tasks.info(c.flowId);
    if (!record || record.queue !== FLOW_QUEUE) continue;
    const kind = record.name as FlowKind;
    const steps = await bus.tasks.flow(c.flowId, kind).steps();
    if (c.path !== undefined && !steps.some((st) => st.taskId === id)) continue;
    return {
      id: c.flowId,
      kind,
      state: record.state,
      ...(c.path !== undefined ? { path: c.path } : {}),
      steps: steps.slice(0, MAX_FLOW_STEPS).map(({ path, task, queue, taskId, state }) => ({ path, task, queue, taskId, state })),
      stepCount: steps.length,
    };
  }
  return undefined;
}
