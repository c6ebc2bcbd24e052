/**
 * The page's views: each `render*` function draws one view from {@link S}; `render()` redraws
 * the current one at the next animation frame. All text goes through `textContent`.
 *
 * @internal
 * @module
 */
import { PRIORITY_NAMES, SNAPSHOT_TASKS, TASK_STATES } from '../shared.js';
import { api } from './api.js';
import { byId, clear, el, svgEl, td, toast } from './dom.js';
import { ago, dur, json } from './format.js';
import { S, isFinal } from './state.js';
import type { DeadLetterDetail, DeadLetterPage, EventPage, EventSummary, TaskDetail, TaskRow, ThroughputPoint } from './types.js';

let pending = false;

/** Redraws the header and the current view at the next animation frame (once per frame). */
export function render(): void {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    renderHeader();
    if (S.view === 'overview') renderOverview();
    if (S.view === 'workers') renderWorkers();
    if (S.view === 'tasks') renderTasks();
    if (S.view === 'task') renderTask();
    if (S.view === 'queues') renderQueues();
    if (S.view === 'events') renderEvents();
    if (S.view === 'dlq') renderDlq();
  });
}

function statePill(state: string): HTMLSpanElement {
  const cls = state === 'SUCCESS' ? 'ok' : state === 'FAILURE' || state === 'REVOKED' || state === 'EXPIRED' ? 'bad' : state === 'RETRY' ? 'warn' : 'info';
  return el('span', { class: `pill ${cls}`, text: state });
}

function renderHeader(): void {
  const h = S.health;
  const pill = byId('health-pill');
  if (h) {
    pill.className = `pill ${h.healthy ? 'ok' : 'bad'}`;
    pill.textContent = h.healthy ? 'healthy' : `unhealthy (${h.issues.length})`;
    pill.title = h.issues.join('\n');
  }
  const count = byId('dlq-count');
  count.textContent = String(S.dlqSize);
  count.className = `pill${S.dlqSize > 0 ? ' bad' : ''}`;
}

/** Draws the throughput chart into an SVG of 600 x 160. */
export function renderChart(svg: Element, points: ThroughputPoint[]): void {
  clear(svg);
  const W = 600;
  const H = 160;
  const pad = 18;
  if (!points.length) {
    svg.appendChild(svgEl('text', { x: 10, y: 20 }, 'collecting…'));
    return;
  }
  const max = Math.max(1, ...points.map((p) => p.perSecond));
  const n = points.length;
  const t0 = Date.parse(points[0]!.at);
  const t1 = Math.max(Date.now(), Date.parse(points[n - 1]!.at));
  const span = Math.max(1, t1 - t0);
  const coords = points.map((p) => [pad + ((Date.parse(p.at) - t0) / span) * (W - pad), H - pad - (p.perSecond / max) * (H - 2 * pad)] as const);
  const line = coords.map((c) => `${c[0].toFixed(1)},${c[1].toFixed(1)}`).join(' ');
  svg.appendChild(svgEl('polygon', { class: 'area', points: `${pad},${H - pad} ${line} ${coords[n - 1]![0].toFixed(1)},${H - pad}` }));
  svg.appendChild(svgEl('polyline', { class: 'line', points: line }));
  svg.appendChild(svgEl('text', { x: 2, y: 12 }, `${Math.round(max * 10) / 10}/s`));
  svg.appendChild(svgEl('text', { x: 2, y: H - 4 }, '0'));
  svg.appendChild(svgEl('text', { x: pad + 4, y: H - 4 }, `${dur(span)} ago`));
  svg.appendChild(svgEl('text', { x: W - 30, y: H - 4 }, 'now'));
}

function bars(node: HTMLElement, counts: Record<string, number>, limit = 15): void {
  clear(node);
  const rows = Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit);
  if (!rows.length) {
    node.appendChild(el('div', { class: 'empty', text: 'Nothing yet.' }));
    return;
  }
  const max = rows[0]![1] || 1;
  for (const [name, n] of rows) {
    node.appendChild(
      el('div', { class: 'bar' }, [
        el('span', { class: 'name', text: name, title: name }),
        el('span', { class: 'track' }, [el('span', { class: 'fill', style: `display:block;width:${Math.max(1, (n / max) * 100)}%` })]),
        el('span', { class: 'n', text: String(n) }),
      ]),
    );
  }
}

function renderOverview(): void {
  const h = S.health;
  if (h) {
    const health = byId('ov-health');
    health.textContent = h.healthy ? 'healthy' : 'unhealthy';
    health.style.color = h.healthy ? 'var(--ok)' : 'var(--bad)';
    byId('ov-success').textContent = `${h.successRate}%`;
    byId('ov-pending').textContent = String(Math.max(0, h.pendingEvents));
    const issues = clear(byId('ov-issues'));
    if (h.issues.length) issues.appendChild(el('ul', { class: 'issues' }, h.issues.map((i) => el('li', { text: i }))));
    else {
      const t = h.thresholds;
      issues.appendChild(el('p', { text: `All checks pass: success rate ≥ ${t.minSuccessRate}%, ≤ ${t.maxPendingEvents} pending, ≤ ${t.maxDlqSize} dead letters, no silent worker.` }));
    }
  }
  const sys = clear(byId('ov-system'));
  const fields: [string, unknown][] = [
    ['transport', S.system.transport],
    ['store', S.system.store],
    ['namespace', S.system.namespace],
    ['events stream', S.system.eventStream],
    ['auth', S.system.auth],
  ];
  for (const [k, v] of fields) {
    sys.appendChild(el('dt', { text: k }));
    sys.appendChild(el('dd', { text: v === undefined ? '' : v }));
  }
  const online = S.workers.filter((w) => w.online);
  byId('ov-workers').textContent = `${online.length} / ${S.workers.length}`;
  byId('ov-active').textContent = String(online.reduce((n, w) => n + w.active, 0));
  byId('ov-dlq').textContent = String(S.dlqSize);
  const last = S.throughput[S.throughput.length - 1];
  byId('ov-rate').textContent = last ? `(${last.perSecond} events/s now)` : '';
  renderChart(byId('ov-chart'), S.throughput);
  const states = Object.create(null) as Record<string, number>;
  S.tasks.forEach((t) => (states[t.state] = (states[t.state] ?? 0) + 1));
  bars(byId('ov-states'), states);
}

function openTask(id: string): void {
  location.hash = `/task/${encodeURIComponent(id)}`;
}

function renderWorkers(): void {
  const body = clear(byId('workers-body'));
  const running = clear(byId('running-body'));
  byId('workers-empty').hidden = S.workers.length > 0;
  for (const w of S.workers) {
    const status = w.silent ? 'silent' : w.online ? 'online' : 'offline';
    const queues = Object.entries(w.queues)
      .map(([q, c]) => `${q} (${c})`)
      .join(', ');
    body.appendChild(
      el('tr', { 'data-worker-id': w.id }, [
        el('td', {}, [el('span', { class: `status pill ${status === 'online' ? 'ok' : status === 'silent' ? 'bad' : ''}`, text: status })]),
        td(w.id, 'mono'),
        td(queues),
        td(w.active),
        td(w.processed),
        td(w.failed),
        td(w.retried),
        td(ago(w.lastSeen), '', w.lastSeen),
        td(ago(w.startedAt), '', w.startedAt),
      ]),
    );
    if (!w.online) continue;
    for (const t of w.activeTasks ?? []) {
      running.appendChild(
        el('tr', { class: 'clickable', onclick: () => openTask(t.id) }, [td(t.id, 'mono'), td(t.name), td(t.queue), td(t.attempt), td(w.id, 'mono'), td(ago(t.startedAt), '', t.startedAt)]),
      );
    }
  }
}

function filterValue(id: string): string {
  return byId<HTMLInputElement>(id).value.trim();
}

let searchResult: string[] | null = null;
let searchTimer: ReturnType<typeof setTimeout> | undefined;

/** Runs the task search on the server (arguments are searched there), debounced. */
export function refreshSearch(): void {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    if (filterValue('f-search') === '') {
      searchResult = null;
      render();
      return;
    }
    const q = new URLSearchParams();
    for (const k of ['state', 'name', 'queue']) {
      const v = filterValue(`f-${k}`);
      if (v) q.set(k, v);
    }
    if (filterValue('f-corr')) q.set('correlationId', filterValue('f-corr'));
    q.set('search', filterValue('f-search'));
    q.set('limit', String(SNAPSHOT_TASKS));
    api<{ tasks: TaskRow[] }>(`api/tasks?${q.toString()}`).then(
      (r) => {
        searchResult = r.tasks.map((t) => t.id);
        render();
      },
      (e: Error) => toast(e.message),
    );
  }, 250);
}

/** Whether a server-side task search is showing (updates must refresh it). */
export function searching(): boolean {
  return searchResult !== null;
}

function fillSelect(sel: HTMLSelectElement, values: readonly string[], any: string): void {
  const cur = sel.value;
  if (sel.options.length === values.length + 1) return;
  clear(sel).appendChild(el('option', { value: '', text: any }));
  for (const v of values) sel.appendChild(el('option', { value: v, text: v }));
  sel.value = cur;
}

/** Fills the state filter from the shared list of task states. */
export function fillStateFilter(): void {
  fillSelect(byId<HTMLSelectElement>('f-state'), TASK_STATES, 'any state');
}

function renderTasks(): void {
  const st = filterValue('f-state');
  const name = filterValue('f-name');
  const queue = filterValue('f-queue');
  const corr = filterValue('f-corr');
  const names = new Set<string>();
  const queues = new Set<string>();
  S.tasks.forEach((t) => {
    names.add(t.name);
    queues.add(t.queue);
  });
  fillSelect(byId<HTMLSelectElement>('f-name'), [...names].sort(), 'any task');
  fillSelect(byId<HTMLSelectElement>('f-queue'), [...queues].sort(), 'any queue');
  let rows: TaskRow[] = [];
  if (searchResult) {
    for (const id of searchResult) {
      const t = S.tasks.get(id);
      if (t) rows.push(t);
    }
  } else {
    S.tasks.forEach((t) => {
      if ((st && t.state !== st) || (name && t.name !== name) || (queue && t.queue !== queue) || (corr && t.correlationId !== corr)) return;
      rows.push(t);
    });
  }
  rows.sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : 0));
  rows = rows.slice(0, SNAPSHOT_TASKS);
  const pages = Math.max(1, Math.ceil(rows.length / TASK_PAGE));
  S.taskPage = Math.min(S.taskPage, pages - 1);
  byId('tasks-page').textContent = ` page ${S.taskPage + 1} of ${pages} (${rows.length} tasks) `;
  byId<HTMLButtonElement>('tasks-prev').disabled = S.taskPage === 0;
  byId<HTMLButtonElement>('tasks-next').disabled = S.taskPage >= pages - 1;
  rows = rows.slice(S.taskPage * TASK_PAGE, (S.taskPage + 1) * TASK_PAGE);
  const body = clear(byId('tasks-body'));
  byId('tasks-empty').hidden = rows.length > 0;
  for (const t of rows) {
    body.appendChild(
      el('tr', { class: 'clickable', 'data-task-id': t.id, onclick: () => openTask(t.id) }, [
        el('td', { class: 'state' }, [statePill(t.state)]),
        td(t.name),
        td(t.id, 'mono'),
        td(t.queue),
        td(t.attempt),
        td(t.worker ?? '', 'mono'),
        td(t.argsPreview ?? '', 'preview mono'),
        td(ago(t.updatedAt), '', t.updatedAt),
        td(dur(t.runtimeMs)),
        el('td', { style: 'white-space:nowrap' }, [
          RETRYABLE.has(t.state) ? el('button', { class: 'retry primary', text: 'Retry', onclick: (e: Event) => (e.stopPropagation(), taskAction(t.id, 'retry')) }) : null,
          t.state === 'PENDING'
            ? el('button', {
                class: 'promote',
                text: 'Run now',
                // Only a task sent with a taskId has its arguments recorded before it runs: the others cannot be re-sent.
                ...(t.argsPreview === undefined ? { disabled: '', title: NOT_PROMOTABLE } : {}),
                onclick: (e: Event) => (e.stopPropagation(), taskAction(t.id, 'promote')),
              })
            : null,
        ]),
      ]),
    );
  }
}

/** Rows per page of the task list. */
const TASK_PAGE = 50;

const RETRYABLE = new Set(['FAILURE', 'REVOKED', 'EXPIRED']);

/** Why a waiting task without recorded arguments has no "Run now". */
const NOT_PROMOTABLE = 'Its arguments are not recorded (a task that is not delayed is recorded with them only when sent with a taskId), so it cannot be run now from here';

/** Retries a finished task or runs a waiting one now (both send a new task, shown in its place). */
function taskAction(id: string, verb: 'retry' | 'promote'): void {
  api<{ newId: string }>(`api/tasks/${encodeURIComponent(id)}/${verb}`, 'POST').then(
    (r) => {
      toast(`${verb === 'retry' ? 'Retried' : 'Running now'}: ${id} as ${r.newId}`);
      if (S.taskId === id) openTask(r.newId);
    },
    (e: Error) => toast(`${verb} failed: ${e.message}`),
  );
}

/** Reloads the paused queues. */
function loadQueues(): void {
  api<{ paused: string[] }>('api/queues').then(
    (r) => {
      S.paused = r.paused;
      render();
    },
    (e: Error) => toast(e.message),
  );
}

function queueAction(queue: string, verb: 'pause' | 'resume' | 'purge'): void {
  if (verb === 'purge' && !confirm(`Delete the tasks waiting in queue ${queue}?`)) return;
  api<{ purged?: number }>(`api/queues/${encodeURIComponent(queue)}/${verb}`, 'POST').then(
    (r) => {
      toast(verb === 'purge' ? `Purged ${r.purged ?? 0} tasks from ${queue}` : `${verb === 'pause' ? 'Paused' : 'Resumed'} ${queue}`);
      loadQueues();
    },
    (e: Error) => toast(`${verb} failed: ${e.message}`),
  );
}

let taskLoading = false;
let taskStale = false;

/**
 * Loads the detail of the task the page shows. One request at a time: calls while one runs
 * (a flow's steps changing in a burst) are folded into one more request after it.
 */
export function loadTask(): void {
  const id = S.taskId;
  if (!id) return;
  if (taskLoading) {
    taskStale = true;
    return;
  }
  taskLoading = true;
  taskStale = false;
  api<TaskDetail>(`api/tasks/${encodeURIComponent(id)}`)
    .then(
      (r) => {
        if (S.taskId !== id) return;
        S.task = r;
        render();
      },
      (e: Error) => toast(e.message),
    )
    .finally(() => {
      taskLoading = false;
      if (taskStale || S.taskId !== id) loadTask();
    });
}

function taskDetailState(): string | undefined {
  const r = S.task;
  if (!r) return undefined;
  const live = S.tasks.get(r.task.id);
  return live && (isFinal(live.state) || !isFinal(r.task.state)) ? live.state : r.task.state;
}

function renderTask(): void {
  const r = S.task;
  if (!r || r.task.id !== S.taskId) {
    byId('task-name').textContent = `loading ${S.taskId ?? ''}`;
    return;
  }
  const t = r.task;
  const state = taskDetailState() ?? t.state;
  byId('task-name').textContent = t.name;
  const pill = byId('task-state');
  pill.textContent = state;
  pill.className = statePill(state).className;
  const f = clear(byId('task-fields'));
  const fields: [string, unknown][] = [
    ['id', t.id],
    ['queue', t.queue],
    ['state', state + (t.known ? '' : ' (nothing recorded yet: waiting in its queue, or expired)')],
    ['attempt', t.attempt],
    ['retries', t.retries],
    ['correlation id', t.correlationId],
    ['worker', t.worker],
    ['runtime', dur(t.runtimeMs)],
    ['retry at', t.retryAt],
    ['updated', t.updatedAt],
  ];
  for (const [k, v] of fields) {
    if (v === undefined || v === null || v === '') continue;
    f.appendChild(el('dt', { text: k }));
    f.appendChild(el('dd', { text: String(v), class: k === 'id' || k === 'correlation id' ? 'mono' : '' }));
  }
  byId('task-args').textContent = t.args === undefined ? '(not known yet: arguments are recorded when a worker runs the task)' : json(t.args);
  byId('task-result-box').hidden = t.result === undefined;
  byId('task-result').textContent = json(t.result);
  byId('task-error-box').hidden = !t.error;
  byId('task-error').textContent = t.error ? `${t.error.name}: ${t.error.message}${t.error.stack ? `\n\n${t.error.stack}` : ''}` : '';
  byId<HTMLButtonElement>('revoke-task').disabled = isFinal(state);
  byId('retry-task').hidden = !RETRYABLE.has(state);
  const promote = byId<HTMLButtonElement>('promote-task');
  promote.hidden = state !== 'PENDING';
  promote.disabled = t.args === undefined;
  promote.title = t.args === undefined ? NOT_PROMOTABLE : 'Send it now; the waiting copy is revoked';
  renderTaskFlow(r);
  const tl = clear(byId('task-timeline'));
  for (const s of r.timeline) {
    tl.appendChild(el('tr', {}, [td(s.at, 'mono'), el('td', {}, [statePill(s.state)]), td(s.attempt), td(s.worker ?? '', 'mono'), td(dur(s.runtimeMs)), td(s.error ?? '')]));
  }
}

function taskLink(id: string): HTMLAnchorElement {
  return el('a', { href: `#/task/${encodeURIComponent(id)}`, class: 'mono', text: id });
}

/** The flow of the task shown: the flow (a link to its record), this task's step, every step. */
function renderTaskFlow(r: TaskDetail): void {
  const box = byId('task-flow-box');
  const flow = r.flow;
  box.hidden = !flow;
  const f = clear(byId('task-flow'));
  const steps = clear(byId('task-flow-steps'));
  byId('task-flow-more').textContent = '';
  if (!flow) return;
  const rows: [string, Node | string][] = [
    ['flow', flow.id === r.task.id ? el('span', { class: 'mono', text: flow.id }) : taskLink(flow.id)],
    ['kind', flow.kind],
    ['flow state', statePill(flow.state)],
    ['this task', flow.path === undefined ? 'the flow’s own record' : `step ${flow.path} of ${flow.stepCount}`],
  ];
  for (const [k, v] of rows) {
    f.appendChild(el('dt', { text: k }));
    f.appendChild(el('dd', { 'data-flow-field': k }, [v]));
  }
  for (const st of flow.steps) {
    const current = st.taskId === r.task.id;
    steps.appendChild(
      el('tr', { 'data-step-id': st.taskId, class: current ? 'current' : '' }, [td(st.path, 'mono'), td(st.task), el('td', {}, [current ? el('span', { class: 'mono', text: st.taskId }) : taskLink(st.taskId)]), td(st.queue), el('td', {}, [statePill(st.state)])]),
    );
  }
  if (flow.stepCount > flow.steps.length) byId('task-flow-more').textContent = `… and ${flow.stepCount - flow.steps.length} more steps`;
}

function renderQueues(): void {
  const body = clear(byId('queues-body'));
  const names = Object.keys(S.queues).sort();
  byId('queues-empty').hidden = names.length > 0;
  for (const q of names) {
    const s = S.queues[q]!;
    const consumers = s.groups.reduce((n, g) => n + g.consumers, 0);
    const paused = S.paused.includes(q);
    body.appendChild(
      el('tr', { 'data-queue': q }, [
        el('td', {}, [q, paused ? ' ' : null, paused ? el('span', { class: 'pill warn paused', text: 'paused' }) : null]),
        td(s.lag),
        td(s.pending),
        td(s.delayed),
        td(s.retrying),
        td(s.lagByPriority.join(' / '), 'mono', PRIORITY_NAMES.join(' / ')),
        td(consumers),
        td(s.oldestPendingMs ? dur(s.oldestPendingMs) : ''),
        el('td', { style: 'white-space:nowrap' }, [
          paused ? el('button', { class: 'resume primary', text: 'Resume', onclick: () => queueAction(q, 'resume') }) : el('button', { class: 'pause', text: 'Pause', onclick: () => queueAction(q, 'pause') }),
          ' ',
          el('button', { class: 'purge danger', text: 'Purge', onclick: () => queueAction(q, 'purge') }),
        ]),
      ]),
    );
  }
  const gb = clear(byId('groups-body'));
  for (const g of S.eventStream?.groups ?? []) {
    gb.appendChild(el('tr', {}, [td(g.name), td(g.lag), td(g.pending), td(g.retrying), td(g.consumers), td(g.oldestPendingMs ? dur(g.oldestPendingMs) : '')]));
  }
  const stream = S.eventStream;
  byId('stream-depth').textContent = stream ? `(${stream.depth} waiting${stream.partitions ? ` over ${stream.partitions.length} partitions` : ''})` : '';
  const parts = stream?.partitions ?? [];
  byId('partitions-box').hidden = parts.length === 0;
  const pb = clear(byId('partitions-body'));
  parts.forEach((p, i) => {
    pb.appendChild(
      el('tr', { 'data-partition': String(i) }, [
        td(i),
        td(p.stream, 'mono'),
        td(p.depth, 'depth'),
        td(p.length),
        td(p.lag, 'lag'),
        td(p.pending),
        td(p.retrying),
        td(p.delayed),
        td(p.groups.map((g) => `${g.name} ${g.lag}`).join(', ')),
        td(p.oldestPendingMs ? dur(p.oldestPendingMs) : ''),
      ]),
    );
  });
  const sb = clear(byId('scheduled-body'));
  for (const e of S.scheduled) {
    const schedule = e.cron ? `cron ${e.cron}${e.timezone ? ` (${e.timezone})` : ''}` : `every ${dur(e.everyMs)}`;
    sb.appendChild(el('tr', {}, [td(e.name), td(e.task), td(schedule), td(ago(e.nextRunAt), '', e.nextRunAt), td(e.lastRunAt ? ago(e.lastRunAt) : 'never', '', e.lastRunAt)]));
  }
}

/** Rows per page of the events list and of the dead letters. */
const EVENT_PAGE = 50;
const DLQ_PAGE = 50;

function renderEvents(): void {
  renderChart(byId('ev-chart'), S.throughput);
  bars(byId('ev-types'), S.eventTypes, 20);
  const type = filterValue('ev-type');
  fillSelect(byId<HTMLSelectElement>('ev-type'), [...new Set(S.events.map((e) => e.type))].sort(), 'any type');
  const body = clear(byId('events-body'));
  let rows: EventSummary[];
  if (S.eventPage === 0) {
    // The live page: the newest events as they arrive.
    const live = S.events.filter((e) => !type || e.type === type).reverse();
    rows = live.slice(0, EVENT_PAGE);
    // Older events may be in the store beyond the live list (which holds the latest 500): ask it.
    S.eventMore = live.length > 0;
    byId('events-page').textContent = ' page 1 (live) ';
  } else {
    rows = S.eventRows;
    byId('events-page').textContent = ` page ${S.eventPage + 1} (older events, stored) `;
  }
  byId<HTMLButtonElement>('events-prev').disabled = S.eventPage === 0;
  byId<HTMLButtonElement>('events-next').disabled = !S.eventMore;
  byId('events-empty').hidden = rows.length > 0;
  for (const e of rows) {
    body.appendChild(
      el('tr', { 'data-event-id': e.id }, [td(e.occurredAt, 'mono'), td(e.type), td(e.priority), td(e.correlationId, 'mono'), td(e.source ?? ''), td(e.preview, 'preview mono', e.preview)]),
    );
  }
}

function eventsQuery(cursor: string | undefined): string {
  const q = new URLSearchParams({ limit: String(EVENT_PAGE), tasks: 'false' });
  const type = filterValue('ev-type');
  if (type) q.set('type', type);
  if (cursor) q.set('cursor', cursor);
  return `api/events?${q.toString()}`;
}

/** Shows events page `page` (0 is the live list), read from the store page by page. */
async function showEventPage(page: number): Promise<void> {
  if (page <= 0) {
    S.eventPage = 0;
    S.eventCursors = [undefined];
    render();
    return;
  }
  // The cursor of a page is the `nextCursor` of the one before: read the ones not known yet.
  while (S.eventCursors.length <= page) {
    const r = await api<EventPage>(eventsQuery(S.eventCursors[S.eventCursors.length - 1]));
    if (!r.nextCursor) break;
    S.eventCursors.push(r.nextCursor);
  }
  page = Math.min(page, S.eventCursors.length - 1);
  const r = page > 0 ? await api<EventPage>(eventsQuery(S.eventCursors[page])) : { events: [] };
  if (r.events.length === 0) {
    // Nothing older: stay on the page shown.
    toast('No older events in the store');
    S.eventMore = false;
    render();
    return;
  }
  S.eventPage = page;
  S.eventRows = r.events;
  S.eventMore = r.nextCursor !== undefined;
  if (r.nextCursor && S.eventCursors.length === page + 1) S.eventCursors.push(r.nextCursor);
  render();
}

function dlqFilterQuery(): URLSearchParams {
  const q = new URLSearchParams();
  for (const k of ['type', 'group', 'kind']) if (filterValue(`dlq-f-${k}`)) q.set(k, filterValue(`dlq-f-${k}`));
  return q;
}

const seenDlq = { type: new Set<string>(), group: new Set<string>() };

/** Loads the page of dead letters the page shows (the filter's, {@link DLQ_PAGE} a page). */
export function loadDlq(): void {
  const q = dlqFilterQuery();
  q.set('limit', String(DLQ_PAGE));
  const after = S.dlqAfter[S.dlqPage];
  if (after) q.set('after', after);
  const page = S.dlqPage;
  api<DeadLetterPage>(`api/dlq?${q.toString()}`).then(
    (r) => {
      if (S.dlqPage !== page) return;
      if (r.entries.length === 0 && page > 0) {
        // The page emptied (its entries were replayed or deleted): show the one before.
        S.dlqPage--;
        S.dlqAfter.length = S.dlqPage + 1;
        loadDlq();
        return;
      }
      S.dlq = r.entries;
      S.dlqSize = r.size;
      S.dlqTotal = r.total;
      for (const d of r.entries) {
        seenDlq.type.add(d.type);
        seenDlq.group.add(d.group);
      }
      render();
    },
    (e: Error) => toast(e.message),
  );
}

function showDlqPage(page: number): void {
  if (page > S.dlqPage) {
    const last = S.dlq[S.dlq.length - 1];
    if (!last) return;
    S.dlqAfter[page] = last.id;
  }
  S.dlqPage = Math.max(0, page);
  S.dlqAfter.length = S.dlqPage + 1;
  loadDlq();
}

function resetDlqPage(): void {
  S.dlqPage = 0;
  S.dlqAfter = [undefined];
  loadDlq();
}

/** Replays or deletes every dead letter the filter selects, after a confirmation. */
function bulkDlqAction(verb: 'replay' | 'delete'): void {
  const q = dlqFilterQuery();
  const count = new URLSearchParams(q);
  count.set('limit', '1');
  // The confirmation names what the filter selects now (the inputs may have changed since the last load).
  api<DeadLetterPage>(`api/dlq?${count.toString()}`)
    .then(async (c) => {
      const what = q.size ? `the ${c.total} dead letters the filter selects` : `all ${c.total} dead letters`;
      if (!confirm(`${verb === 'replay' ? 'Replay' : 'Delete'} ${what}?`)) return;
      const r = await api<{ count: number }>(`api/dlq/${verb}?${q.toString()}`, 'POST');
      toast(`${verb === 'replay' ? 'Replayed' : 'Deleted'} ${r.count} dead letters`);
      byId('dlq-detail').hidden = true;
      resetDlqPage();
    })
    .catch((e: Error) => toast(`${verb} failed: ${e.message}`));
}

function dlqAction(id: string, verb: 'replay' | 'delete'): void {
  api(`api/dlq/${encodeURIComponent(id)}/${verb}`, 'POST').then(
    () => {
      toast(`${verb === 'replay' ? 'Replayed' : 'Deleted'} ${id}`);
      byId('dlq-detail').hidden = true;
      loadDlq();
    },
    (e: Error) => toast(`${verb} failed: ${e.message}`),
  );
}

function inspectDlq(id: string): void {
  api<DeadLetterDetail>(`api/dlq/${encodeURIComponent(id)}`).then(
    (d) => {
      byId('dlq-detail').hidden = false;
      byId('dlq-detail-id').textContent = d.id;
      const f = clear(byId('dlq-fields'));
      const fields: [string, unknown][] = [
        ['type', d.type],
        ['group', d.group],
        ['stream', d.stream],
        ['attempts', d.attempts],
        ['failed at', d.failedAt],
        ['error', d.error],
        ['event id', d.eventId],
        ['task id', d.taskId],
        ['correlation id', d.correlationId],
      ];
      for (const [k, v] of fields) {
        if (v === undefined || v === null) continue;
        f.appendChild(el('dt', { text: k }));
        f.appendChild(el('dd', { text: String(v) }));
      }
      let body = d.body;
      try {
        body = json(JSON.parse(d.body));
      } catch {
        // not JSON: shown as it is
      }
      byId('dlq-body-text').textContent = body;
      byId('dlq-stack').textContent = d.stack || '(no stack)';
    },
    (e: Error) => toast(e.message),
  );
}

function fillList(list: HTMLElement, values: Set<string>): void {
  if (list.childElementCount === values.size) return;
  clear(list);
  for (const v of [...values].sort()) list.appendChild(el('option', { value: v }));
}

function renderDlq(): void {
  byId('dlq-size').textContent = `(${S.dlqSize} entries)`;
  const body = clear(byId('dlq-body'));
  byId('dlq-empty').hidden = S.dlq.length > 0;
  byId('dlq-empty').textContent = S.dlqSize > 0 ? 'No dead letter matches the filter.' : 'The dead letter queue is empty.';
  byId<HTMLButtonElement>('dlq-replay-all').disabled = S.dlqSize === 0;
  byId<HTMLButtonElement>('dlq-replay-selected').disabled = S.dlqTotal === 0;
  byId<HTMLButtonElement>('dlq-delete-selected').disabled = S.dlqTotal === 0;
  fillList(byId('dlq-types'), seenDlq.type);
  fillList(byId('dlq-groups'), seenDlq.group);
  const pages = Math.max(1, Math.ceil(S.dlqTotal / DLQ_PAGE));
  byId('dlq-page').textContent = ` page ${S.dlqPage + 1} of ${pages} (${S.dlqTotal} ${dlqFilterQuery().size ? 'selected' : 'entries'}) `;
  byId<HTMLButtonElement>('dlq-prev').disabled = S.dlqPage === 0;
  byId<HTMLButtonElement>('dlq-next').disabled = S.dlqPage >= pages - 1 || S.dlq.length < DLQ_PAGE;
  for (const d of S.dlq) {
    body.appendChild(
      el('tr', { 'data-dlq-id': d.id }, [
        td(ago(d.failedAt), '', d.failedAt),
        td(d.type),
        td(d.group),
        td(d.attempts),
        td(d.error),
        td(d.preview, 'preview mono', d.preview),
        el('td', { style: 'white-space:nowrap' }, [
          el('button', { class: 'inspect', text: 'Inspect', onclick: () => inspectDlq(d.id) }),
          ' ',
          el('button', { class: 'replay primary', text: 'Replay', onclick: () => dlqAction(d.id, 'replay') }),
          ' ',
          el('button', { class: 'delete danger', text: 'Delete', onclick: () => confirm(`Delete dead letter ${d.id}?`) && dlqAction(d.id, 'delete') }),
        ]),
      ]),
    );
  }
}

/** Wires the buttons and filters of the views. */
export function bindControls(): void {
  const revoke = byId<HTMLButtonElement>('revoke-task');
  revoke.addEventListener('click', () => {
    const id = S.taskId;
    if (!id) return;
    revoke.disabled = true;
    api<{ revoked: boolean }>(`api/tasks/${encodeURIComponent(id)}/revoke`, 'POST').then(
      (r) => {
        toast(r.revoked ? `Revoked ${id}` : `Task ${id} had already finished`);
        loadTask();
      },
      (e: Error) => {
        toast(`Revoke failed: ${e.message}`);
        revoke.disabled = false;
      },
    );
  });
  for (const verb of ['retry', 'promote'] as const) {
    byId(`${verb}-task`).addEventListener('click', () => S.taskId && taskAction(S.taskId, verb));
  }
  byId('tasks-prev').addEventListener('click', () => ((S.taskPage = Math.max(0, S.taskPage - 1)), render()));
  byId('tasks-next').addEventListener('click', () => (S.taskPage++, render()));
  byId('tasks-retry-failed').addEventListener('click', () => {
    const q = new URLSearchParams();
    for (const k of ['name', 'queue']) if (filterValue(`f-${k}`)) q.set(k, filterValue(`f-${k}`));
    if (!confirm(`Retry every failed task${q.size ? ' the filter selects' : ''}?`)) return;
    api<{ retried: number; skipped: number }>(`api/tasks/retry?${q.toString()}`, 'POST').then(
      (r) => toast(`Retried ${r.retried} failed tasks${r.skipped ? ` (${r.skipped} could not be)` : ''}`),
      (e: Error) => toast(`Retry failed: ${e.message}`),
    );
  });
  const go = byId<HTMLInputElement>('task-go');
  go.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && go.value.trim()) {
      openTask(go.value.trim());
      go.value = '';
    }
  });
  for (const id of ['f-state', 'f-name', 'f-queue']) byId(id).addEventListener('change', () => ((S.taskPage = 0), refreshSearch(), render()));
  for (const id of ['f-corr', 'f-search']) byId(id).addEventListener('input', () => (refreshSearch(), render()));
  byId('ev-type').addEventListener('change', () => void showEventPage(0));
  byId('events-prev').addEventListener('click', () => void showEventPage(S.eventPage - 1).catch((e: Error) => toast(e.message)));
  byId('events-next').addEventListener('click', () => void showEventPage(S.eventPage + 1).catch((e: Error) => toast(e.message)));
  byId('dlq-refresh').addEventListener('click', loadDlq);
  byId('dlq-prev').addEventListener('click', () => showDlqPage(S.dlqPage - 1));
  byId('dlq-next').addEventListener('click', () => showDlqPage(S.dlqPage + 1));
  for (const id of ['dlq-f-type', 'dlq-f-group']) byId(id).addEventListener('change', resetDlqPage);
  byId('dlq-f-kind').addEventListener('change', resetDlqPage);
  byId('dlq-replay-selected').addEventListener('click', () => bulkDlqAction('replay'));
  byId('dlq-delete-selected').addEventListener('click', () => bulkDlqAction('delete'));
  byId('dlq-replay-all').addEventListener('click', () => {
    if (!confirm(`Replay all ${S.dlqSize} dead letters?`)) return;
    api<{ replayed: number }>('api/dlq/replay-all', 'POST').then(
      (r) => {
        toast(`Replayed ${r.replayed} entries`);
        resetDlqPage();
      },
      (e: Error) => toast(`Replay failed: ${e.message}`),
    );
  });
}
