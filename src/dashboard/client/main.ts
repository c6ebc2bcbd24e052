/**
 * The dashboard page's script (the bundle's entry): routing by `location.hash`, the first
 * snapshot, then live updates over server-sent events from `api/stream`.
 *
 * @internal
 * @module
 */
import { STREAM_EVENTS, type StreamEvent } from '../shared.js';
import { BASE, api } from './api.js';
import { byId, toast } from './dom.js';
import { S, applySnapshot, upsertTask, type View } from './state.js';
import type { EventSummary, HealthView, QueueView, Snapshot, StreamView, TaskRow, ThroughputPoint, WorkerView } from './types.js';
import { bindControls, fillStateFilter, loadDlq, loadTask, refreshSearch, render, searching } from './views.js';

const VIEWS: readonly View[] = ['overview', 'workers', 'tasks', 'task', 'queues', 'events', 'dlq'];

function route(): void {
  const parts = location.hash.replace(/^#\/?/, '').split('/');
  let view = (parts[0] || 'overview') as View;
  S.taskId = null;
  if (view === 'task' && parts[1]) {
    S.taskId = decodeURIComponent(parts.slice(1).join('/'));
    loadTask();
  }
  if (!VIEWS.includes(view) || (view === 'task' && !S.taskId)) view = 'overview';
  S.view = view;
  document.querySelectorAll<HTMLElement>('main > section').forEach((s) => (s.hidden = s.id !== `view-${view}`));
  document.querySelectorAll<HTMLElement>('#nav a').forEach((a) => {
    const v = a.getAttribute('data-view');
    a.className = v === view || (view === 'task' && v === 'tasks') ? 'active' : '';
  });
  if (view === 'dlq') loadDlq();
  render();
}

let buffered: [StreamEvent, unknown][] | null = null;

function handle(type: StreamEvent, data: unknown): void {
  if (buffered) {
    buffered.push([type, data]);
    return;
  }
  switch (type) {
    case 'tasks': {
      const rows = data as TaskRow[];
      rows.forEach(upsertTask);
      // The open task changed, or a step of its flow did.
      const steps = new Set((S.task?.flow?.steps ?? []).map((st) => st.taskId).concat(S.task?.flow?.id ?? []));
      if (S.taskId && rows.some((t) => t.id === S.taskId || steps.has(t.id))) loadTask();
      if (searching()) refreshSearch();
      break;
    }
    case 'events': {
      const { events } = data as { events: EventSummary[] };
      if (!byId<HTMLInputElement>('ev-pause').checked) S.events = S.events.concat(events).slice(-500);
      // S.eventTypes has no prototype (state.ts): a type named 'toString' counts from 0.
      for (const e of events) S.eventTypes[e.type] = (S.eventTypes[e.type] ?? 0) + 1;
      break;
    }
    case 'workers':
      S.workers = data as WorkerView[];
      break;
    case 'queues': {
      const q = data as { queues: Record<string, QueueView>; eventStream: StreamView | null; paused?: string[] };
      S.queues = q.queues;
      if (q.paused) S.paused = q.paused;
      S.eventStream = q.eventStream;
      break;
    }
    case 'dlq':
      S.dlqSize = (data as { size: number }).size;
      if (S.view === 'dlq') loadDlq();
      break;
    case 'health':
      S.health = data as HealthView;
      break;
    case 'throughput':
      S.throughput.push(data as ThroughputPoint);
      if (S.throughput.length > 360) S.throughput.shift();
      break;
    case 'status': {
      const s = data as { ok: boolean; error?: string };
      if (!s.ok) toast(`Dashboard: ${s.error ?? 'error'}`);
      break;
    }
    case 'progress':
      // Progress and log lines of tasks (the detail view shows them): reload the open one.
      if (S.taskId && (data as { id: string }[]).some((u) => u.id === S.taskId)) loadTask();
      return;
    case 'hello':
      break;
  }
  render();
}

function connect(): void {
  const es = new EventSource(`${BASE}api/stream`);
  for (const t of STREAM_EVENTS) {
    if (t === 'hello') continue;
    es.addEventListener(t, (m) => {
      try {
        handle(t, JSON.parse((m as MessageEvent<string>).data));
      } catch (e) {
        console.error(e);
      }
    });
  }
  es.addEventListener('hello', () => {
    const live = byId('live');
    live.className = 'on';
    live.textContent = 'live';
    // Updates that arrive while the snapshot loads are applied after it.
    buffered = [];
    api<Snapshot>('api/snapshot').then(
      (s) => {
        applySnapshot(s);
        const queued = buffered ?? [];
        buffered = null;
        for (const [t, d] of queued) handle(t, d);
        if (S.view === 'dlq') loadDlq();
        if (S.taskId) loadTask();
        render();
      },
      (e: Error) => {
        buffered = null;
        toast(`Could not load the dashboard: ${e.message}`);
      },
    );
  });
  es.onerror = () => {
    const live = byId('live');
    live.className = '';
    live.textContent = 'reconnecting';
  };
}

fillStateFilter();
bindControls();
window.addEventListener('hashchange', route);
setInterval(render, 5000);
route();
connect();
