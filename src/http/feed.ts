import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventEnvelope, EventSystem, Logger, StoredEvent, TaskInfo, TaskProgressUpdate, TaskProgressValue, TaskState, WorkerInfo } from '@procur/event-bus';
// The task system's names and states have one home; this pure module is shared, not copied.
import { FINAL_TASK_STATES, TASK_EVENT_STATES, TASK_STATES, TaskEventType, isTaskState, taskKeys } from '../tasks/names.js';

/** The task lifecycle event types. @internal */
export const TASK_EVENT_TYPES: readonly string[] = Object.values(TaskEventType);

/**
 * Channel and stream names of the task system: `taskKeys()` of `src/tasks/names.ts`, the one
 * place they are defined. @internal
 */
export function taskChannels(namespace: string) {
  const keys = taskKeys(namespace);
  return { eventsStream: keys.eventsStream, doneChannel: keys.doneChannel };
}

/** The task state each lifecycle event type moves a task to (`TASK_EVENT_STATES`). @internal */
export const STATE_OF: Readonly<Record<string, TaskState>> = TASK_EVENT_STATES;

/** Orders the steps of one attempt; final states after every other. */
function rank(state: TaskState): number {
  return FINAL_TASK_STATES.has(state) ? TASK_STATES.length : TASK_STATES.indexOf(state);
}

/**
 * The order of a task's timeline: by time, then (steps of the same millisecond) by attempt, then
 * by step within an attempt. @internal
 */
export function timelineOrder(a: TaskTimelineEntry, b: TaskTimelineEntry): number {
  return a.at.localeCompare(b.at) || (a.attempt ?? 0) - (b.attempt ?? 0) || rank(a.state) - rank(b.state);
}

/** One step in a task's life, for the detail view. */
export interface TaskTimelineEntry {
  /** The state the step moved the task to. */
  state: TaskState;
  /** When (ISO 8601). */
  at: string;
  /** The attempt, when known. */
  attempt?: number;
  /** The worker, when known. */
  worker?: string;
  /** The error message of a failed or retried attempt. */
  error?: string;
  /** How long the attempt ran, ms. */
  runtimeMs?: number;
  /** The lifecycle event behind the step, when there is one. */
  eventId?: string;
}

/** A task as the dashboard lists it. */
export interface TaskRow {
  /** The task id. */
  id: string;
  /** The task name (`'unknown'` until an event names it). */
  name: string;
  /** Its queue. */
  queue: string;
  /** The latest known state. */
  state: TaskState;
  /** The latest known attempt. */
  attempt: number;
  /** Retries so far. */
  retries: number;
  /** The correlation id. */
  correlationId?: string;
  /** The worker of the latest attempt. */
  worker?: string;
  /** When a worker first received it. */
  receivedAt?: string;
  /** When its latest attempt started. */
  startedAt?: string;
  /** When it reached a final state. */
  finishedAt?: string;
  /** The latest change. */
  updatedAt: string;
  /** Run time of the latest attempt, ms. */
  runtimeMs?: number;
  /** The latest error message. */
  error?: string;
  /** The arguments, shortened for display, when known. */
  argsPreview?: string;
  /** The latest progress it reported (`ctx.progress`), when seen live. */
  progress?: TaskProgressValue;
}

interface IndexedTask extends TaskRow {
  argsText?: string;
  timeline: TaskTimelineEntry[];
}

/** A published event as the dashboard lists it. */
export interface EventSummary {
  /** The event id. */
  id: string;
  /** The event type. */
  type: string;
  /** The priority. */
  priority: string;
  /** The correlation id. */
  correlationId: string;
  /** The causing event, if any. */
  causationId?: string;
  /** The publishing service, if known. */
  source?: string;
  /** When it occurred (ISO 8601). */
  occurredAt: string;
  /** The payload, shortened for display. */
  preview: string;
}

/** Filters of the task list. */
export interface TaskFilter {
  /** Only tasks in this state. */
  state?: string;
  /** Only tasks of this name. */
  name?: string;
  /** Only tasks of this queue. */
  queue?: string;
  /** Only tasks of this correlation id. */
  correlationId?: string;
  /** Only tasks whose arguments contain this text (case-insensitive). */
  search?: string;
  /** At most this many, newest first. */
  limit?: number;
  /** Skip this many matches first (paging). @default 0 */
  offset?: number;
}

/** One point of the throughput chart. */
export interface ThroughputPoint {
  /** End of the interval (ISO 8601). */
  at: string;
  /** Events that occurred in the interval. */
  count: number;
  /** Events per second over the interval. */
  perSecond: number;
}

/** Options of the live feed. @internal */
export interface FeedOptions {
  /** How often the shared state is polled, ms. */
  pollMs: number;
  /**
   * No longer used: task rows come from the task state owner (`bus.tasks.watch` and
   * `bus.tasks.recent`), not from reading the task-events stream. Accepted for compatibility.
   * @deprecated
   */
  liveGroup?: string | false;
  /** Where errors go (rate-limited). */
  logger: Logger;
  /** Task rows kept in memory. */
  maxTasks: number;
}

interface Client {
  res: ServerResponse;
}

function preview(v: unknown, max = 240): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? '';
  } catch {
    s = String(v);
  }
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Summarises an event for lists. @internal */
export function summarizeEvent(e: EventEnvelope): EventSummary {
  return {
    id: e.id,
    type: e.type,
    priority: e.priority,
    correlationId: e.correlationId,
    ...(e.causationId ? { causationId: e.causationId } : {}),
    ...(e.source ? { source: e.source } : {}),
    occurredAt: e.occurredAt,
    preview: preview(e.data),
  };
}

/** True when two timeline steps are the same step (one state per attempt). @internal */
export function sameStep(a: TaskTimelineEntry, b: TaskTimelineEntry): boolean {
  if (a.state !== b.state) return false;
  if (FINAL_TASK_STATES.has(a.state)) return true;
  return a.attempt === undefined || b.attempt === undefined || a.attempt === b.attempt;
}

function publicRow(t: IndexedTask): TaskRow {
  const { argsText: _a, timeline: _t, ...row } = t;
  return row;
}

/**
 * What the dashboard knows live: an index of recent tasks, a view of the task state owner
 * (`bus.tasks.recent()` at start, then every change `bus.tasks.watch()` announces; no replay of
 * lifecycle events), recent events, workers, queues, the DLQ size, health and throughput;
 * pushed to browsers over server-sent events.
 * Everything comes through the shared transport and store, so a dashboard in its own process
 * sees the work of every process.
 *
 * @internal
 */
export class LiveFeed {
  private readonly tasksById = new Map<string, IndexedTask>();
  private readonly seen = new Set<string>();
  private readonly seenOrder: string[] = [];
  private readonly clients = new Set<Client>();
  private readonly throughput: ThroughputPoint[] = [];
  private readonly abort = new AbortController();
  private started: Promise<void> | undefined;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private flushTimer: NodeJS.Timeout | undefined;
  private ticking = false;
  private tickCount = 0;
  private eventCursor: string;
  private lastSample: number;
  private readonly pendingTasks = new Map<string, TaskRow>();
  private pendingEvents: EventSummary[] = [];
  private droppedEvents = 0;
  private readonly last = new Map<string, string>();
  private readonly errorsAt = new Map<string, number>();
  private readonly offs: Array<() => void> = [];
  private unlisten: (() => Promise<void>) | undefined;
  private unlistenProgress: (() => Promise<void>) | undefined;
  /** Progress and log updates since the last flush, merged per task. */
  private readonly pendingProgress = new Map<string, { id: string; progress?: TaskProgressValue; logs?: TaskProgressUpdate['logs'] }>();

  constructor(
    private readonly bus: EventSystem,
    private readonly options: FeedOptions,
  ) {
    const now = Date.now();
    this.eventCursor = new Date(now).toISOString();
    this.lastSample = now;
  }

  /** Starts polling and listening. Memoised; resolves once the initial task index is loaded. */
  start(): Promise<void> {
    this.started ??= this.doStart();
    return this.started;
  }

  private async doStart(): Promise<void> {
    const { bus } = this;
    this.offs.push(
      bus.on('published', ({ event }) => {
        if (!TASK_EVENT_TYPES.includes(event.type)) this.pushEvent(event);
      }),
    );
    // Task rows are views of the task state owner (bus.tasks): its changes, announced by every
    // process, then the states it keeps. Watching starts first, so nothing falls in between.
    try {
      this.unlisten = await bus.tasks.watch((info) => this.foldTaskInfo(info));
    } catch (err) {
      this.report('watching task states', err);
    }
    try {
      this.unlistenProgress = await bus.tasks.watchProgress((u) => this.foldProgress(u));
    } catch (err) {
      this.report('watching task progress', err);
    }
    await this.loadRecentTasks().catch((err: unknown) => this.report('loading recent tasks', err));
    await this.backfillThroughput().catch((err: unknown) => this.report('reading past throughput', err));
    this.timer = setInterval(() => void this.tick(), this.options.pollMs);
    this.timer.unref();
    this.flushTimer = setInterval(() => this.flush(), 250);
    this.flushTimer.unref();
    this.pingTimer = setInterval(() => this.write(': ping\n\n'), 15_000);
    this.pingTimer.unref();
    await this.tick();
  }

  /** Stops everything and ends the open event streams. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    for (const t of [this.timer, this.flushTimer, this.pingTimer]) if (t) clearInterval(t);
    for (const off of this.offs) off();
    for (const c of this.clients) c.res.end();
    this.clients.clear();
    await this.started?.catch(() => {});
    await this.unlisten?.().catch(() => {});
    await this.unlistenProgress?.().catch(() => {});
  }

  private report(what: string, err: unknown): void {
    if (this.closed) return;
    const message = err instanceof Error ? err.message : String(err);
    const key = `${what}: ${message}`;
    const now = Date.now();
    if ((this.errorsAt.get(key) ?? 0) > now - 60_000) return;
    this.errorsAt.set(key, now);
    this.options.logger.warn(`dashboard: ${what} failed`, { error: message });
    this.broadcast('status', { ok: false, error: key, at: new Date(now).toISOString() });
  }

  private markSeen(id: string): boolean {
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    this.seenOrder.push(id);
    if (this.seenOrder.length > 20_000) for (const old of this.seenOrder.splice(0, 5_000)) this.seen.delete(old);
    return true;
  }

  // --- tasks -----------------------------------------------------------------------------------

  private async loadRecentTasks(): Promise<void> {
    const recent = await this.bus.tasks.recent({ limit: this.options.maxTasks });
    // Oldest first, so the index keeps its order by last change.
    for (const info of recent.reverse()) this.foldTaskInfo(info, false);
  }

  private row(id: string, name?: string, queue?: string): IndexedTask {
    let t = this.tasksById.get(id);
    if (!t) {
      t = { id, name: name ?? 'unknown', queue: queue ?? 'unknown', state: 'PENDING', attempt: 0, retries: 0, updatedAt: new Date(0).toISOString(), timeline: [] };
      this.tasksById.set(id, t);
      if (this.tasksById.size > this.options.maxTasks) {
        for (const [k, v] of this.tasksById) {
          if (this.tasksById.size <= this.options.maxTasks) break;
          if (v !== t) this.tasksById.delete(k);
        }
      }
    } else {
      // Re-inserted so the map stays ordered by last change (the oldest are evicted first).
      this.tasksById.delete(id);
      this.tasksById.set(id, t);
    }
    if (name && name !== 'unknown') t.name = name;
    if (queue && queue !== 'unknown') t.queue = queue;
    return t;
  }

  private apply(t: IndexedTask, step: TaskTimelineEntry): boolean {
    if (step.eventId && t.timeline.some((s) => s.eventId === step.eventId)) return false;
    // The same step can arrive as an event and as a state notification: keep one, merged.
    const twin = t.timeline.find((s) => sameStep(s, step));
    if (twin) Object.assign(twin, { ...step, ...twin, eventId: twin.eventId ?? step.eventId, at: twin.eventId ? twin.at : step.at });
    else {
      t.timeline.push(step);
      t.timeline.sort(timelineOrder);
      if (t.timeline.length > 50) t.timeline.splice(1, t.timeline.length - 50);
    }
    if (step.state === 'RETRY') t.retries = Math.max(t.retries, step.attempt ?? t.retries + 1);
    if (step.state === 'RECEIVED') t.receivedAt ??= step.at;
    if (step.state === 'STARTED') t.startedAt = step.at;
    if (step.worker) t.worker = step.worker;
    if (step.runtimeMs !== undefined) t.runtimeMs = step.runtimeMs;
    if (step.error) t.error = step.error;
    // Final states stick; otherwise the later (attempt, step) wins, whatever order the news came in.
    const cur = (t.attempt || 0) * 10 + rank(t.state);
    const next = (step.attempt ?? t.attempt) * 10 + rank(step.state);
    if (FINAL_TASK_STATES.has(t.state) && !FINAL_TASK_STATES.has(step.state)) return true;
    if (FINAL_TASK_STATES.has(step.state) || next >= cur) {
      t.state = step.state;
      if (step.attempt !== undefined) t.attempt = step.attempt;
      if (FINAL_TASK_STATES.has(step.state)) t.finishedAt ??= step.at;
      if (step.at > t.updatedAt) t.updatedAt = step.at;
    }
    return true;
  }

  /** Folds a task state (announced by the task state owner, or read from it). */
  foldTaskInfo(info: TaskInfo, push = true): void {
    if (!info || typeof info.id !== 'string' || !isTaskState(info.state)) return;
    const t = this.row(info.id, info.name, info.queue);
    if (info.correlationId) t.correlationId = info.correlationId;
    if (info.args !== undefined && t.argsText === undefined) {
      t.argsText = preview(info.args, 4096);
      t.argsPreview = preview(info.args);
    }
    const step: TaskTimelineEntry = { state: info.state, at: info.updatedAt, attempt: info.attempt };
    if (info.worker) step.worker = info.worker;
    if (info.error) step.error = info.error.message;
    if (info.runtimeMs !== undefined) step.runtimeMs = info.runtimeMs;
    if (this.apply(t, step) && push) this.pushTask(t);
  }

  /** The task list, newest change first. */
  async tasks(filter: TaskFilter = {}): Promise<{ tasks: TaskRow[]; total: number }> {
    const limit = filter.limit ?? 200;
    const search = filter.search?.toLowerCase();
    const rows = [...this.tasksById.values()].reverse().filter(
      (t) =>
        (!filter.state || t.state === filter.state.toUpperCase()) &&
        (!filter.name || t.name === filter.name) &&
        (!filter.queue || t.queue === filter.queue) &&
        (!filter.correlationId || t.correlationId === filter.correlationId),
    );
    if (search) {
      // Arguments come with the task state (KV); fetch the missing ones, bounded.
      const missing = rows.filter((t) => t.argsText === undefined).slice(0, 500);
      for (let i = 0; i < missing.length; i += 50) {
        const infos = await Promise.all(missing.slice(i, i + 50).map((t) => this.bus.tasks.info(t.id).catch(() => undefined)));
        infos.forEach((info, j) => {
          const t = missing[i + j] as IndexedTask;
          if (info?.args !== undefined) {
            t.argsText = preview(info.args, 4096);
            t.argsPreview = preview(info.args);
          } else t.argsText ??= '';
        });
      }
    }
    const matched = search ? rows.filter((t) => (t.argsText ?? '').toLowerCase().includes(search) || t.id.includes(search)) : rows;
    matched.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
    const offset = filter.offset ?? 0;
    return { tasks: matched.slice(offset, offset + limit).map(publicRow), total: matched.length };
  }

  /** One task of the index with its timeline, or `undefined`. */
  indexed(id: string): (TaskRow & { timeline: TaskTimelineEntry[] }) | undefined {
    const t = this.tasksById.get(id);
    return t ? { ...publicRow(t), timeline: [...t.timeline] } : undefined;
  }

  /** Folds a progress or log update: the row's progress, and a `progress` event for open pages. */
  foldProgress(u: TaskProgressUpdate): void {
    if (typeof u.id !== 'string') return;
    const merged = this.pendingProgress.get(u.id) ?? { id: u.id };
    if (u.progress !== undefined) {
      merged.progress = u.progress;
      const t = this.tasksById.get(u.id);
      if (t) {
        t.progress = u.progress;
        this.pushTask(t);
      }
    }
    if (Array.isArray(u.logs)) merged.logs = [...(merged.logs ?? []), ...u.logs].slice(-200);
    this.pendingProgress.set(u.id, merged);
  }

  /** Records a revoke made from the dashboard at once (the notification follows). */
  noteRevoked(id: string): void {
    const t = this.row(id);
    this.apply(t, { state: 'REVOKED', at: new Date().toISOString() });
    this.pushTask(t);
  }

  private pushTask(t: IndexedTask): void {
    this.pendingTasks.set(t.id, publicRow(t));
  }

  // --- events ----------------------------------------------------------------------------------

  private pushEvent(e: EventEnvelope): void {
    if (!this.markSeen(e.id)) return;
    if (this.clients.size === 0) return;
    if (this.pendingEvents.length >= 100) {
      this.pendingEvents.shift();
      this.droppedEvents++;
    }
    this.pendingEvents.push(summarizeEvent(e));
  }

  private async pollEvents(): Promise<void> {
    // Newest first, bounded: a burst is shown by its latest events (the chart counts them all).
    const since = new Date(Date.parse(this.eventCursor) - 2000).toISOString();
    const page = await this.bus.store.query({ since, order: 'desc', limit: 200 });
    const events: StoredEvent[] = page.events.reverse();
    for (const e of events) {
      if (e.occurredAt > this.eventCursor) this.eventCursor = e.occurredAt;
      // Task lifecycle events are the audit trail; task rows come from the state owner.
      if (!TASK_EVENT_TYPES.includes(e.type)) this.pushEvent(e);
    }
  }

  /** Throughput points: the 10 minutes before the dashboard started in 20-second intervals, then one point per health check. */
  throughputSeries(): ThroughputPoint[] {
    return [...this.throughput];
  }

  /**
   * The last 10 minutes in 20-second intervals, so the chart does not start empty: each count is
   * the difference of two store aggregates (`stats({ since })`), no events are read.
   */
  private async backfillThroughput(): Promise<void> {
    const bucketMs = 20_000;
    const n = 30;
    const now = this.lastSample;
    const bounds = Array.from({ length: n }, (_, i) => now - (n - i) * bucketMs);
    const totals: number[] = [];
    for (let i = 0; i < bounds.length; i += 6) {
      const batch = bounds.slice(i, i + 6).map((t) => this.bus.store.adapter.stats({ since: new Date(t).toISOString() }));
      totals.push(...(await Promise.all(batch)).map((st) => st.totalEvents));
    }
    totals.push(0);
    const points = bounds.map((t, i) => {
      const count = Math.max(0, (totals[i] ?? 0) - (totals[i + 1] ?? 0));
      return { at: new Date(t + bucketMs).toISOString(), count, perSecond: Math.round((count / (bucketMs / 1000)) * 100) / 100 };
    });
    this.throughput.unshift(...points);
  }

  private async sampleThroughput(): Promise<void> {
    const now = Date.now();
    const stats = await this.bus.store.adapter.stats({ since: new Date(this.lastSample).toISOString() });
    const seconds = Math.max(0.001, (now - this.lastSample) / 1000);
    this.lastSample = now;
    const point = { at: new Date(now).toISOString(), count: stats.totalEvents, perSecond: Math.round((stats.totalEvents / seconds) * 100) / 100 };
    this.throughput.push(point);
    if (this.throughput.length > 360) this.throughput.shift();
    this.broadcast('throughput', point);
  }

  // --- shared state ----------------------------------------------------------------------------

  /** Workers with `silent` set by the monitor's rule. */
  async workers(): Promise<Array<WorkerInfo & { silent: boolean }>> {
    const list = await this.bus.inspect.workers();
    const beats = this.bus.monitor.thresholds.workerSilentBeats;
    const now = Date.now();
    return list.map((w) => {
      const silent = w.state === 'online' && now - Date.parse(w.lastSeen) > beats * w.heartbeatMs;
      return { ...w, online: w.state === 'online' && !silent, silent };
    });
  }

  private changed(key: string, value: unknown): boolean {
    const text = JSON.stringify(value);
    if (this.last.get(key) === text) return false;
    this.last.set(key, text);
    return true;
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    const n = this.tickCount++;
    // With nobody watching, only keep the task index current (every 5th tick).
    const watched = this.clients.size > 0;
    if (!watched && n % 5 !== 0) return;
    this.ticking = true;
    const { bus } = this;
    const step = async (what: string, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        this.report(what, err);
      }
    };
    try {
      if (!watched) {
        await step('reading events from the store', () => this.pollEvents());
        return;
      }
      await Promise.all([
        step('reading events from the store', () => this.pollEvents()),
        step('reading workers', async () => {
          const workers = await this.workers();
          // Heartbeat times alone do not make a change worth sending every tick.
          const shape = workers.map(({ lastSeen: _l, ...w }) => w);
          if (this.changed('workers', shape) || n % 5 === 0) this.broadcast('workers', workers);
        }),
        step('reading the dead letter queue', async () => {
          const size = await bus.dlq.size();
          if (this.changed('dlq', size)) this.broadcast('dlq', { size });
        }),
        n % 2 === 0
          ? step('reading queues', async () => {
              const [queues, eventStream, paused] = await Promise.all([bus.monitor.getQueues(), bus.monitor.getStreamInfo(), bus.tasks.pausedQueues().catch(() => [] as string[])]);
              if (this.changed('queues', { queues, eventStream, paused })) this.broadcast('queues', { queues, eventStream, paused });
            })
          : Promise.resolve(),
        n % 5 === 0
          ? step('checking health', async () => {
              const health = await bus.monitor.getHealthStatus();
              if (this.changed('health', { ...health, checkedAt: '' })) this.broadcast('health', health);
              await this.sampleThroughput();
            })
          : Promise.resolve(),
      ]);
    } finally {
      this.ticking = false;
    }
  }

  // --- server-sent events ----------------------------------------------------------------------

  /** Opens an event stream to a browser (`GET /api/stream`). */
  addClient(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    const client: Client = { res };
    this.clients.add(client);
    const drop = () => this.clients.delete(client);
    req.on('close', drop);
    res.on('error', drop);
    this.send(client, 'hello', { at: new Date().toISOString() });
    // A fresh client gets the latest state at once, without waiting for a change.
    this.last.clear();
    void this.tick();
  }

  /** Browsers connected now. */
  get clientCount(): number {
    return this.clients.size;
  }

  private send(client: Client, event: string, data: unknown): void {
    const res = client.res;
    // A client that stopped reading is dropped rather than buffered without bound.
    if (res.writableLength > 4 * 1024 * 1024) {
      this.clients.delete(client);
      res.destroy();
      return;
    }
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private write(text: string): void {
    for (const c of this.clients) c.res.write(text);
  }

  private broadcast(event: string, data: unknown): void {
    for (const c of [...this.clients]) this.send(c, event, data);
  }

  private flush(): void {
    if (this.pendingProgress.size > 0) {
      const updates = [...this.pendingProgress.values()];
      this.pendingProgress.clear();
      if (this.clients.size > 0) this.broadcast('progress', updates.slice(-500));
    }
    if (this.pendingTasks.size > 0) {
      const rows = [...this.pendingTasks.values()];
      this.pendingTasks.clear();
      if (this.clients.size > 0) this.broadcast('tasks', rows.slice(-500));
    }
    if (this.pendingEvents.length > 0) {
      const events = this.pendingEvents;
      this.pendingEvents = [];
      this.broadcast('events', { events, dropped: this.droppedEvents });
      this.droppedEvents = 0;
    }
  }
}
