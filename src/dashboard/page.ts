/**
 * The dashboard page: one HTML document with its CSS and script inline, no dependencies, served
 * by the library itself (`createDashboardHandler`). The script talks to the JSON API under `api/`
 * and listens to `api/stream` (server-sent events). Everything it shows is written with
 * `textContent`, never as HTML, so event payloads cannot inject markup.
 *
 * @internal
 * @module
 */

/** What the server fills into the page. @internal */
export interface PageParams {
  /** Where the handler is mounted, ending in `/`. */
  base: string;
  /** The nonce of the inline script (Content-Security-Policy). */
  nonce: string;
  /** The page title. */
  title: string;
  /** Who is logged in, when auth is on. */
  principal: string | undefined;
}

function attr(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Renders the page. @internal */
export function renderDashboardPage(p: PageParams): string {
  const values: Record<string, string> = { TITLE: p.title, BASE: p.base, PRINCIPAL: p.principal ?? '', NONCE: p.nonce };
  // A replacer function: a replacement string would expand `$&`, `$'`... of the title.
  return PAGE.replace(/__(TITLE|BASE|PRINCIPAL|NONCE)__/g, (_, key: string) => attr(values[key] ?? ''));
}

// The script below avoids template literals so this file can hold it in one raw string.
const PAGE = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
:root { --bg:#f5f6f8; --card:#fff; --ink:#1d2430; --muted:#6b7585; --line:#e2e5ea; --accent:#2f6fdf; --ok:#1f9d55; --warn:#c98a00; --bad:#d64545; --head:#17202e; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:var(--bg); color:var(--ink); }
header { background:var(--head); color:#fff; display:flex; align-items:center; gap:18px; padding:0 18px; height:52px; position:sticky; top:0; z-index:5; }
header .brand { font-weight:700; letter-spacing:.3px; }
header nav { display:flex; gap:2px; }
header nav a { color:#c9d3e3; text-decoration:none; padding:15px 12px; border-bottom:3px solid transparent; }
header nav a.active, header nav a:hover { color:#fff; border-bottom-color:var(--accent); }
header .spacer { flex:1; }
.pill { display:inline-block; padding:2px 9px; border-radius:999px; font-size:12px; font-weight:600; background:#dfe3ea; color:#333; white-space:nowrap; }
.pill.ok { background:#d9f2e3; color:#11643a; } .pill.bad { background:#fbdede; color:#9b1c1c; } .pill.warn { background:#fbefd0; color:#7a5500; } .pill.info { background:#dde8fb; color:#1d4fa8; }
header .pill { font-size:12px; }
#live { font-size:12px; color:#c9d3e3; } #live::before { content:"●"; margin-right:5px; color:var(--bad); } #live.on::before { color:#3ddc84; }
main { padding:18px; max-width:1500px; margin:0 auto; }
section[hidden] { display:none; }
h2 { font-size:16px; margin:0 0 10px; } h3 { font-size:14px; margin:16px 0 8px; }
.cards { display:grid; grid-template-columns:repeat(auto-fill,minmax(190px,1fr)); gap:12px; margin-bottom:16px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
.card .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.4px; }
.card .value { font-size:26px; font-weight:650; margin-top:2px; }
.panel { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px; margin-bottom:16px; overflow:auto; }
.grid2 { display:grid; grid-template-columns:minmax(0,2fr) minmax(0,1fr); gap:16px; }
@media (max-width: 1000px) { .grid2 { grid-template-columns:1fr; } }
table { width:100%; border-collapse:collapse; font-size:13px; }
th { text-align:left; font-weight:600; color:var(--muted); border-bottom:1px solid var(--line); padding:6px 8px; white-space:nowrap; }
td { border-bottom:1px solid #eef0f3; padding:6px 8px; vertical-align:top; }
tr.clickable { cursor:pointer; } tr.clickable:hover td { background:#f3f7ff; }
td.mono, .mono { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:12px; }
td.preview { max-width:420px; overflow:hidden; text-overflow:ellipsis; white-space:nowrap; color:#394356; }
.muted { color:var(--muted); }
.toolbar { display:flex; flex-wrap:wrap; gap:8px; align-items:center; margin-bottom:10px; }
input, select { font:inherit; padding:5px 8px; border:1px solid #cfd5de; border-radius:6px; background:#fff; }
button { font:inherit; padding:5px 11px; border:1px solid #c3cad6; border-radius:6px; background:#fff; cursor:pointer; }
button:hover { background:#f0f3f8; } button.primary { background:var(--accent); border-color:var(--accent); color:#fff; }
button.danger { color:var(--bad); border-color:#e8b4b4; } button:disabled { opacity:.5; cursor:default; }
pre { background:#f6f8fa; border:1px solid var(--line); border-radius:6px; padding:10px; overflow:auto; max-height:320px; font-size:12px; margin:6px 0 12px; }
dl.kv { display:grid; grid-template-columns:160px 1fr; gap:4px 12px; margin:0; } dl.kv dt { color:var(--muted); } dl.kv dd { margin:0; word-break:break-all; }
.bar { display:flex; align-items:center; gap:8px; margin:3px 0; font-size:12px; } .bar .name { width:210px; overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
.bar .track { flex:1; background:#eef1f5; border-radius:3px; height:12px; } .bar .fill { background:var(--accent); height:12px; border-radius:3px; min-width:2px; } .bar .n { width:60px; text-align:right; }
svg.chart { width:100%; height:160px; display:block; } svg.chart .line { fill:none; stroke:var(--accent); stroke-width:2; } svg.chart .area { fill:rgba(47,111,223,.12); } svg.chart text { font-size:10px; fill:var(--muted); }
.issues li { color:var(--bad); }
#toast { position:fixed; right:18px; bottom:18px; background:var(--head); color:#fff; padding:10px 14px; border-radius:8px; opacity:0; transition:opacity .2s; pointer-events:none; max-width:420px; }
#toast.show { opacity:.95; }
.empty { color:var(--muted); padding:14px 8px; }
</style>
</head>
<body data-base="__BASE__" data-principal="__PRINCIPAL__">
<header>
  <span class="brand">__TITLE__</span>
  <nav id="nav">
    <a href="#/overview" data-view="overview">Overview</a>
    <a href="#/workers" data-view="workers">Workers</a>
    <a href="#/tasks" data-view="tasks">Tasks</a>
    <a href="#/queues" data-view="queues">Queues</a>
    <a href="#/events" data-view="events">Events</a>
    <a href="#/dlq" data-view="dlq">Dead letters <span id="dlq-count" class="pill">0</span></a>
  </nav>
  <span class="spacer"></span>
  <span id="health-pill" class="pill">health …</span>
  <span id="live">connecting</span>
</header>
<main>
  <section id="view-overview">
    <div class="cards">
      <div class="card"><div class="label">Health</div><div class="value" id="ov-health">…</div></div>
      <div class="card"><div class="label">Success rate (24 h)</div><div class="value" id="ov-success">…</div></div>
      <div class="card"><div class="label">Workers online</div><div class="value" id="ov-workers">…</div></div>
      <div class="card"><div class="label">Tasks running</div><div class="value" id="ov-active">…</div></div>
      <div class="card"><div class="label">Pending events</div><div class="value" id="ov-pending">…</div></div>
      <div class="card"><div class="label">Dead letters</div><div class="value" id="ov-dlq">…</div></div>
    </div>
    <div class="grid2">
      <div class="panel"><h2>Throughput <span class="muted" id="ov-rate"></span></h2><svg class="chart" id="ov-chart" viewBox="0 0 600 160" preserveAspectRatio="none"></svg></div>
      <div class="panel"><h2>Health checks</h2><div id="ov-issues"></div><dl class="kv" id="ov-system"></dl></div>
    </div>
    <div class="panel"><h2>Tasks by state</h2><div id="ov-states"></div></div>
  </section>

  <section id="view-workers" hidden>
    <div class="panel"><h2>Workers</h2>
      <table><thead><tr><th>Status</th><th>Worker</th><th>Queues (concurrency)</th><th>Active</th><th>Processed</th><th>Failed</th><th>Retried</th><th>Last heartbeat</th><th>Started</th></tr></thead><tbody id="workers-body"></tbody></table>
      <div id="workers-empty" class="empty">No worker has reported in the last hour.</div>
    </div>
    <div class="panel"><h2>Running tasks</h2>
      <table><thead><tr><th>Task</th><th>Name</th><th>Queue</th><th>Attempt</th><th>Worker</th><th>Since</th></tr></thead><tbody id="running-body"></tbody></table>
    </div>
  </section>

  <section id="view-tasks" hidden>
    <div class="panel">
      <div class="toolbar">
        <select id="f-state"><option value="">any state</option><option>PENDING</option><option>RECEIVED</option><option>STARTED</option><option>RETRY</option><option>SUCCESS</option><option>FAILURE</option><option>REVOKED</option></select>
        <select id="f-name"><option value="">any task</option></select>
        <select id="f-queue"><option value="">any queue</option></select>
        <input id="f-corr" placeholder="correlation id" size="24">
        <input id="f-search" placeholder="search in arguments" size="24">
        <span class="spacer" style="flex:1"></span>
        <input id="task-go" placeholder="open task by id" size="30">
      </div>
      <table><thead><tr><th>State</th><th>Task</th><th>Id</th><th>Queue</th><th>Attempt</th><th>Worker</th><th>Arguments</th><th>Updated</th><th>Runtime</th></tr></thead><tbody id="tasks-body"></tbody></table>
      <div id="tasks-empty" class="empty">No task yet.</div>
    </div>
  </section>

  <section id="view-task" hidden>
    <div class="panel" id="task-detail">
      <div class="toolbar"><a href="#/tasks">← tasks</a><span class="spacer" style="flex:1"></span><button id="revoke-task" class="danger">Revoke</button></div>
      <h2><span id="task-name"></span> <span id="task-state" class="pill"></span></h2>
      <dl class="kv" id="task-fields"></dl>
      <h3>Arguments</h3><pre id="task-args"></pre>
      <div id="task-result-box"><h3>Result</h3><pre id="task-result"></pre></div>
      <div id="task-error-box"><h3>Error</h3><pre id="task-error"></pre></div>
      <h3>Timeline</h3>
      <table><thead><tr><th>At</th><th>State</th><th>Attempt</th><th>Worker</th><th>Runtime</th><th>Error</th></tr></thead><tbody id="task-timeline"></tbody></table>
    </div>
  </section>

  <section id="view-queues" hidden>
    <div class="panel"><h2>Queues</h2>
      <table><thead><tr><th>Queue</th><th>Waiting</th><th>Running</th><th>Delayed</th><th>Retrying</th><th>Held low / normal / high / critical</th><th>Consumers</th><th>Oldest running</th></tr></thead><tbody id="queues-body"></tbody></table>
      <div id="queues-empty" class="empty">No task queue is known yet.</div>
    </div>
    <div class="panel"><h2>Events stream</h2>
      <table><thead><tr><th>Group</th><th>Lag</th><th>Pending</th><th>Retrying</th><th>Consumers</th><th>Oldest pending</th></tr></thead><tbody id="groups-body"></tbody></table>
    </div>
    <div class="panel"><h2>Scheduled (beat)</h2>
      <table><thead><tr><th>Entry</th><th>Task</th><th>Schedule</th><th>Next run</th><th>Last run</th></tr></thead><tbody id="scheduled-body"></tbody></table>
    </div>
  </section>

  <section id="view-events" hidden>
    <div class="grid2">
      <div class="panel"><h2>Throughput</h2><svg class="chart" id="ev-chart" viewBox="0 0 600 160" preserveAspectRatio="none"></svg></div>
      <div class="panel"><h2>Types (last hour)</h2><div id="ev-types"></div></div>
    </div>
    <div class="panel"><h2>Live events</h2>
      <div class="toolbar"><select id="ev-type"><option value="">any type</option></select><label><input type="checkbox" id="ev-pause"> pause</label></div>
      <table><thead><tr><th>Occurred</th><th>Type</th><th>Priority</th><th>Correlation id</th><th>Source</th><th>Data</th></tr></thead><tbody id="events-body"></tbody></table>
      <div id="events-empty" class="empty">No event yet.</div>
    </div>
  </section>

  <section id="view-dlq" hidden>
    <div class="panel"><h2>Dead letter queue <span class="muted" id="dlq-size"></span></h2>
      <div class="toolbar"><button id="dlq-refresh">Refresh</button><button id="dlq-replay-all" class="primary">Replay all</button></div>
      <table><thead><tr><th>Failed</th><th>Type / task</th><th>Group</th><th>Attempts</th><th>Error</th><th>Data</th><th></th></tr></thead><tbody id="dlq-body"></tbody></table>
      <div id="dlq-empty" class="empty">The dead letter queue is empty.</div>
    </div>
    <div class="panel" id="dlq-detail" hidden><h2>Entry <span class="mono" id="dlq-detail-id"></span></h2><dl class="kv" id="dlq-fields"></dl><h3>Message</h3><pre id="dlq-body-text"></pre><h3>Stack</h3><pre id="dlq-stack"></pre></div>
  </section>
</main>
<div id="toast"></div>
<script nonce="__NONCE__">
(function () {
  'use strict';
  var BASE = document.body.getAttribute('data-base') || '/';
  var S = { eventStream: null, system: {}, workers: [], tasks: new Map(), events: [], queues: {}, scheduled: [], dlqSize: 0, dlq: [], health: null, throughput: [], eventTypes: {}, view: 'overview', taskId: null, task: null };
  var FINAL = { SUCCESS: 1, FAILURE: 1, REVOKED: 1 };
  var PRIORITIES = ['low', 'normal', 'high', 'critical'];

  function $(id) { return document.getElementById(id); }
  function el(tag, props, kids) {
    var e = document.createElement(tag);
    if (props) for (var k in props) {
      var v = props[k];
      if (v === undefined || v === null) continue;
      if (k === 'text') e.textContent = String(v);
      else if (k === 'class') e.className = v;
      else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, String(v));
    }
    (kids || []).forEach(function (c) { if (c !== null && c !== undefined) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return e;
  }
  function td(text, cls, title) { return el('td', { text: text === undefined || text === null ? '' : text, class: cls, title: title }); }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function ago(iso) {
    if (!iso) return '';
    var s = Math.round((Date.now() - Date.parse(iso)) / 1000);
    if (s < -5) return 'in ' + dur(-s * 1000);
    if (s < 2) return 'now';
    return dur(s * 1000) + ' ago';
  }
  function dur(ms) {
    if (ms === undefined || ms === null) return '';
    if (ms < 1000) return Math.round(ms) + ' ms';
    var s = ms / 1000; if (s < 60) return (Math.round(s * 10) / 10) + ' s';
    var m = s / 60; if (m < 60) return Math.round(m) + ' min';
    var h = m / 60; if (h < 48) return Math.round(h) + ' h';
    return Math.round(h / 24) + ' d';
  }
  function json(v) { try { return JSON.stringify(v, null, 2); } catch (e) { return String(v); } }
  function statePill(state) {
    var cls = state === 'SUCCESS' ? 'ok' : state === 'FAILURE' || state === 'REVOKED' ? 'bad' : state === 'RETRY' ? 'warn' : 'info';
    return el('span', { class: 'pill ' + cls, text: state });
  }
  var toastTimer;
  function toast(msg) {
    var t = $('toast'); t.textContent = msg; t.className = 'show';
    clearTimeout(toastTimer); toastTimer = setTimeout(function () { t.className = ''; }, 3500);
  }
  function api(path, method) {
    var opts = { method: method || 'GET', credentials: 'same-origin', headers: { accept: 'application/json' } };
    if (method === 'POST') opts.headers['x-procur-dashboard'] = '1';
    return fetch(BASE + path, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (!r.ok) throw new Error(body.error || (r.status + ' ' + r.statusText));
        return body;
      });
    });
  }

  // --- routing --------------------------------------------------------------------------------
  function route() {
    var hash = location.hash.replace(/^#\/?/, '');
    var parts = hash.split('/');
    var view = parts[0] || 'overview';
    S.taskId = null;
    if (view === 'task' && parts[1]) { S.taskId = decodeURIComponent(parts.slice(1).join('/')); view = 'task'; loadTask(); }
    if (!$('view-' + view)) view = 'overview';
    S.view = view;
    document.querySelectorAll('main > section').forEach(function (s) { s.hidden = s.id !== 'view-' + view; });
    document.querySelectorAll('#nav a').forEach(function (a) {
      var v = a.getAttribute('data-view');
      a.className = v === view || (view === 'task' && v === 'tasks') ? 'active' : '';
    });
    if (view === 'dlq') loadDlq();
    render();
  }
  window.addEventListener('hashchange', route);

  // --- rendering ------------------------------------------------------------------------------
  var pending = false;
  function render() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () {
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

  function renderHeader() {
    var h = S.health, pill = $('health-pill');
    if (h) {
      pill.className = 'pill ' + (h.healthy ? 'ok' : 'bad');
      pill.textContent = h.healthy ? 'healthy' : 'unhealthy (' + h.issues.length + ')';
      pill.title = h.issues.join('\n');
    }
    $('dlq-count').textContent = String(S.dlqSize);
    $('dlq-count').className = 'pill' + (S.dlqSize > 0 ? ' bad' : '');
  }

  function renderChart(svg, points) {
    clear(svg);
    var W = 600, H = 160, pad = 18;
    if (!points.length) { svg.appendChild(svgEl('text', { x: 10, y: 20 }, 'collecting…')); return; }
    var max = Math.max.apply(null, points.map(function (p) { return p.perSecond; }).concat([1]));
    var n = points.length, t0 = Date.parse(points[0].at), t1 = Math.max(Date.now(), Date.parse(points[n - 1].at)), span = Math.max(1, t1 - t0);
    var coords = points.map(function (p) { return [pad + ((Date.parse(p.at) - t0) / span) * (W - pad), H - pad - (p.perSecond / max) * (H - 2 * pad)]; });
    var line = coords.map(function (c) { return c[0].toFixed(1) + ',' + c[1].toFixed(1); }).join(' ');
    svg.appendChild(svgEl('polygon', { class: 'area', points: pad + ',' + (H - pad) + ' ' + line + ' ' + coords[n - 1][0].toFixed(1) + ',' + (H - pad) }));
    svg.appendChild(svgEl('polyline', { class: 'line', points: line }));
    svg.appendChild(svgEl('text', { x: 2, y: 12 }, (Math.round(max * 10) / 10) + '/s'));
    svg.appendChild(svgEl('text', { x: 2, y: H - 4 }, '0'));
    svg.appendChild(svgEl('text', { x: pad + 4, y: H - 4 }, dur(span) + ' ago'));
    svg.appendChild(svgEl('text', { x: W - 30, y: H - 4 }, 'now'));
  }
  function svgEl(tag, attrs, text) {
    var e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (var k in attrs) e.setAttribute(k, String(attrs[k]));
    if (text) e.textContent = text;
    return e;
  }
  function bars(node, counts, limit) {
    clear(node);
    var rows = Object.keys(counts).map(function (k) { return [k, counts[k]]; }).sort(function (a, b) { return b[1] - a[1]; }).slice(0, limit || 15);
    if (!rows.length) { node.appendChild(el('div', { class: 'empty', text: 'Nothing yet.' })); return; }
    var max = rows[0][1] || 1;
    rows.forEach(function (r) {
      node.appendChild(el('div', { class: 'bar' }, [
        el('span', { class: 'name', text: r[0], title: r[0] }),
        el('span', { class: 'track' }, [el('span', { class: 'fill', style: 'display:block;width:' + Math.max(1, (r[1] / max) * 100) + '%' })]),
        el('span', { class: 'n', text: String(r[1]) }),
      ]));
    });
  }

  function renderOverview() {
    var h = S.health;
    if (h) {
      $('ov-health').textContent = h.healthy ? 'healthy' : 'unhealthy';
      $('ov-health').style.color = h.healthy ? 'var(--ok)' : 'var(--bad)';
      $('ov-success').textContent = h.successRate + '%';
      $('ov-pending').textContent = String(Math.max(0, h.pendingEvents));
      var issues = clear($('ov-issues'));
      if (h.issues.length) issues.appendChild(el('ul', { class: 'issues' }, h.issues.map(function (i) { return el('li', { text: i }); })));
      else issues.appendChild(el('p', { text: 'All checks pass: success rate ≥ ' + h.thresholds.minSuccessRate + '%, ≤ ' + h.thresholds.maxPendingEvents + ' pending, ≤ ' + h.thresholds.maxDlqSize + ' dead letters, no silent worker.' }));
    }
    var sys = clear($('ov-system'));
    [['transport', S.system.transport], ['store', S.system.store], ['namespace', S.system.namespace], ['events stream', S.system.eventStream], ['auth', S.system.auth]].forEach(function (kv) {
      sys.appendChild(el('dt', { text: kv[0] })); sys.appendChild(el('dd', { text: kv[1] === undefined ? '' : kv[1] }));
    });
    $('ov-workers').textContent = S.workers.filter(function (w) { return w.online; }).length + ' / ' + S.workers.length;
    $('ov-active').textContent = String(S.workers.filter(function (w) { return w.online; }).reduce(function (n, w) { return n + w.active; }, 0));
    $('ov-dlq').textContent = String(S.dlqSize);
    var last = S.throughput[S.throughput.length - 1];
    $('ov-rate').textContent = last ? '(' + last.perSecond + ' events/s now)' : '';
    renderChart($('ov-chart'), S.throughput);
    var states = {};
    S.tasks.forEach(function (t) { states[t.state] = (states[t.state] || 0) + 1; });
    bars($('ov-states'), states);
  }

  function renderWorkers() {
    var body = clear($('workers-body')), running = clear($('running-body'));
    $('workers-empty').hidden = S.workers.length > 0;
    S.workers.forEach(function (w) {
      var status = w.silent ? 'silent' : w.online ? 'online' : 'offline';
      var queues = Object.keys(w.queues).map(function (q) { return q + ' (' + w.queues[q] + ')'; }).join(', ');
      body.appendChild(el('tr', { 'data-worker-id': w.id }, [
        el('td', {}, [el('span', { class: 'status pill ' + (status === 'online' ? 'ok' : status === 'silent' ? 'bad' : ''), text: status })]),
        td(w.id, 'mono'), td(queues), td(w.active), td(w.processed), td(w.failed), td(w.retried),
        td(ago(w.lastSeen), '', w.lastSeen), td(ago(w.startedAt), '', w.startedAt),
      ]));
      if (w.online) (w.activeTasks || []).forEach(function (t) {
        running.appendChild(el('tr', { class: 'clickable', onclick: function () { location.hash = '/task/' + encodeURIComponent(t.id); } }, [
          td(t.id, 'mono'), td(t.name), td(t.queue), td(t.attempt), td(w.id, 'mono'), td(ago(t.startedAt), '', t.startedAt),
        ]));
      });
    });
  }

  function filterValue(id) { return $(id).value.trim(); }
  var searchResult = null, searchTimer;
  function taskFiltersActive() { return filterValue('f-search') !== ''; }
  function refreshSearch() {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () {
      if (!taskFiltersActive()) { searchResult = null; render(); return; }
      var q = new URLSearchParams();
      ['state', 'name', 'queue'].forEach(function (k) { var v = filterValue('f-' + k); if (v) q.set(k, v); });
      if (filterValue('f-corr')) q.set('correlationId', filterValue('f-corr'));
      q.set('search', filterValue('f-search'));
      q.set('limit', '500');
      api('api/tasks?' + q.toString()).then(function (r) { searchResult = r.tasks.map(function (t) { return t.id; }); render(); }, function (e) { toast(e.message); });
    }, 250);
  }
  function renderTasks() {
    var st = filterValue('f-state'), name = filterValue('f-name'), queue = filterValue('f-queue'), corr = filterValue('f-corr');
    var names = {}, queues = {};
    S.tasks.forEach(function (t) { names[t.name] = 1; queues[t.queue] = 1; });
    fillSelect($('f-name'), Object.keys(names).sort(), 'any task');
    fillSelect($('f-queue'), Object.keys(queues).sort(), 'any queue');
    var rows = [];
    if (searchResult) searchResult.forEach(function (id) { var t = S.tasks.get(id); if (t) rows.push(t); });
    else S.tasks.forEach(function (t) {
      if (st && t.state !== st) return; if (name && t.name !== name) return; if (queue && t.queue !== queue) return;
      if (corr && t.correlationId !== corr) return;
      rows.push(t);
    });
    rows.sort(function (a, b) { return a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : 0; });
    rows = rows.slice(0, 500);
    var body = clear($('tasks-body'));
    $('tasks-empty').hidden = rows.length > 0;
    rows.forEach(function (t) {
      body.appendChild(el('tr', { class: 'clickable', 'data-task-id': t.id, onclick: function () { location.hash = '/task/' + encodeURIComponent(t.id); } }, [
        el('td', { class: 'state' }, [statePill(t.state)]), td(t.name), td(t.id, 'mono'), td(t.queue), td(t.attempt),
        td(t.worker || '', 'mono'), td(t.argsPreview || '', 'preview mono'), td(ago(t.updatedAt), '', t.updatedAt), td(dur(t.runtimeMs)),
      ]));
    });
  }
  function fillSelect(sel, values, any) {
    var cur = sel.value;
    if (sel.options.length === values.length + 1) return;
    clear(sel).appendChild(el('option', { value: '', text: any }));
    values.forEach(function (v) { sel.appendChild(el('option', { value: v, text: v })); });
    sel.value = cur;
  }

  function loadTask() {
    var id = S.taskId;
    if (!id) return;
    api('api/tasks/' + encodeURIComponent(id)).then(function (r) { if (S.taskId === id) { S.task = r; render(); } }, function (e) { toast(e.message); });
  }
  function renderTask() {
    var r = S.task;
    if (!r || r.task.id !== S.taskId) { $('task-name').textContent = 'loading ' + (S.taskId || ''); return; }
    var t = r.task, live = S.tasks.get(t.id);
    var state = live && (FINAL[live.state] || !FINAL[t.state]) ? live.state : t.state;
    $('task-name').textContent = t.name;
    var pill = $('task-state'); pill.textContent = state; pill.className = statePill(state).className;
    var f = clear($('task-fields'));
    [['id', t.id], ['queue', t.queue], ['state', state + (t.known ? '' : ' (nothing recorded yet: waiting in its queue, or expired)')], ['attempt', t.attempt], ['retries', t.retries],
     ['correlation id', t.correlationId], ['worker', t.worker], ['runtime', dur(t.runtimeMs)], ['retry at', t.retryAt], ['updated', t.updatedAt]].forEach(function (kv) {
      if (kv[1] === undefined || kv[1] === null || kv[1] === '') return;
      f.appendChild(el('dt', { text: kv[0] })); f.appendChild(el('dd', { text: String(kv[1]), class: kv[0] === 'id' || kv[0] === 'correlation id' ? 'mono' : '' }));
    });
    $('task-args').textContent = t.args === undefined ? '(not known yet: arguments are recorded when a worker runs the task)' : json(t.args);
    $('task-result-box').hidden = t.result === undefined;
    $('task-result').textContent = json(t.result);
    $('task-error-box').hidden = !t.error;
    $('task-error').textContent = t.error ? (t.error.name + ': ' + t.error.message + (t.error.stack ? '\n\n' + t.error.stack : '')) : '';
    $('revoke-task').disabled = !!FINAL[state];
    var tl = clear($('task-timeline'));
    r.timeline.forEach(function (s) {
      tl.appendChild(el('tr', {}, [td(s.at, 'mono'), el('td', {}, [statePill(s.state)]), td(s.attempt), td(s.worker || '', 'mono'), td(dur(s.runtimeMs)), td(s.error || '')]));
    });
  }
  $('revoke-task').addEventListener('click', function () {
    var id = S.taskId; if (!id) return;
    $('revoke-task').disabled = true;
    api('api/tasks/' + encodeURIComponent(id) + '/revoke', 'POST').then(function (r) {
      toast(r.revoked ? 'Revoked ' + id : 'Task ' + id + ' had already finished');
      loadTask();
    }, function (e) { toast('Revoke failed: ' + e.message); $('revoke-task').disabled = false; });
  });
  $('task-go').addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && this.value.trim()) { location.hash = '/task/' + encodeURIComponent(this.value.trim()); this.value = ''; }
  });
  ['f-state', 'f-name', 'f-queue'].forEach(function (id) { $(id).addEventListener('change', function () { refreshSearch(); render(); }); });
  ['f-corr', 'f-search'].forEach(function (id) { $(id).addEventListener('input', function () { refreshSearch(); render(); }); });

  function renderQueues() {
    var body = clear($('queues-body')), names = Object.keys(S.queues).sort();
    $('queues-empty').hidden = names.length > 0;
    names.forEach(function (q) {
      var s = S.queues[q], consumers = s.groups.reduce(function (n, g) { return n + g.consumers; }, 0);
      body.appendChild(el('tr', { 'data-queue': q }, [td(q), td(s.lag), td(s.pending), td(s.delayed), td(s.retrying),
        td(s.lagByPriority.join(' / '), 'mono', PRIORITIES.join(' / ')), td(consumers), td(s.oldestPendingMs ? dur(s.oldestPendingMs) : '')]));
    });
    var gb = clear($('groups-body'));
    var ev = S.eventStream;
    (ev ? ev.groups : []).forEach(function (g) { gb.appendChild(el('tr', {}, [td(g.name), td(g.lag), td(g.pending), td(g.retrying), td(g.consumers), td(g.oldestPendingMs ? dur(g.oldestPendingMs) : '')])); });
    var sb = clear($('scheduled-body'));
    S.scheduled.forEach(function (e) {
      sb.appendChild(el('tr', {}, [td(e.name), td(e.task), td(e.cron ? 'cron ' + e.cron + (e.timezone ? ' (' + e.timezone + ')' : '') : 'every ' + dur(e.everyMs)), td(ago(e.nextRunAt), '', e.nextRunAt), td(e.lastRunAt ? ago(e.lastRunAt) : 'never', '', e.lastRunAt)]));
    });
  }

  function renderEvents() {
    renderChart($('ev-chart'), S.throughput);
    bars($('ev-types'), S.eventTypes, 20);
    var type = filterValue('ev-type'), types = {};
    S.events.forEach(function (e) { types[e.type] = 1; });
    fillSelect($('ev-type'), Object.keys(types).sort(), 'any type');
    var body = clear($('events-body'));
    var rows = S.events.filter(function (e) { return !type || e.type === type; }).slice(-200).reverse();
    $('events-empty').hidden = rows.length > 0;
    rows.forEach(function (e) {
      body.appendChild(el('tr', { 'data-event-id': e.id }, [td(e.occurredAt, 'mono'), td(e.type), td(e.priority), td(e.correlationId, 'mono'), td(e.source || ''), td(e.preview, 'preview mono', e.preview)]));
    });
  }
  $('ev-type').addEventListener('change', render);

  function loadDlq() {
    api('api/dlq?limit=200').then(function (r) { S.dlq = r.entries; S.dlqSize = r.size; render(); }, function (e) { toast(e.message); });
  }
  function renderDlq() {
    $('dlq-size').textContent = '(' + S.dlqSize + ' entries)';
    var body = clear($('dlq-body'));
    $('dlq-empty').hidden = S.dlq.length > 0;
    $('dlq-replay-all').disabled = S.dlq.length === 0;
    S.dlq.forEach(function (d) {
      body.appendChild(el('tr', { 'data-dlq-id': d.id }, [
        td(ago(d.failedAt), '', d.failedAt), td(d.type), td(d.group), td(d.attempts), td(d.error), td(d.preview, 'preview mono', d.preview),
        el('td', { style: 'white-space:nowrap' }, [
          el('button', { class: 'inspect', text: 'Inspect', onclick: function () { inspectDlq(d.id); } }), ' ',
          el('button', { class: 'replay primary', text: 'Replay', onclick: function () { dlqAction(d.id, 'replay'); } }), ' ',
          el('button', { class: 'delete danger', text: 'Delete', onclick: function () { if (confirm('Delete dead letter ' + d.id + '?')) dlqAction(d.id, 'delete'); } }),
        ]),
      ]));
    });
  }
  function dlqAction(id, verb) {
    api('api/dlq/' + encodeURIComponent(id) + '/' + verb, 'POST').then(function () {
      toast((verb === 'replay' ? 'Replayed ' : 'Deleted ') + id);
      $('dlq-detail').hidden = true;
      loadDlq();
    }, function (e) { toast(verb + ' failed: ' + e.message); });
  }
  function inspectDlq(id) {
    api('api/dlq/' + encodeURIComponent(id)).then(function (d) {
      $('dlq-detail').hidden = false;
      $('dlq-detail-id').textContent = d.id;
      var f = clear($('dlq-fields'));
      [['type', d.type], ['group', d.group], ['stream', d.stream], ['attempts', d.attempts], ['failed at', d.failedAt], ['error', d.error], ['event id', d.eventId], ['task id', d.taskId], ['correlation id', d.correlationId]].forEach(function (kv) {
        if (kv[1] === undefined || kv[1] === null) return;
        f.appendChild(el('dt', { text: kv[0] })); f.appendChild(el('dd', { text: String(kv[1]) }));
      });
      var body = d.body; try { body = json(JSON.parse(d.body)); } catch (e) { /* raw */ }
      $('dlq-body-text').textContent = body;
      $('dlq-stack').textContent = d.stack || '(no stack)';
    }, function (e) { toast(e.message); });
  }
  $('dlq-refresh').addEventListener('click', loadDlq);
  $('dlq-replay-all').addEventListener('click', function () {
    if (!confirm('Replay all ' + S.dlqSize + ' dead letters?')) return;
    api('api/dlq/replay-all', 'POST').then(function (r) { toast('Replayed ' + r.replayed + ' entries'); loadDlq(); }, function (e) { toast('Replay failed: ' + e.message); });
  });

  // --- data -----------------------------------------------------------------------------------
  function upsertTask(t) {
    var cur = S.tasks.get(t.id);
    if (cur && FINAL[cur.state] && !FINAL[t.state]) return;
    S.tasks.set(t.id, t);
    if (S.tasks.size > 5000) { var first = S.tasks.keys().next().value; S.tasks.delete(first); }
  }
  function applySnapshot(s) {
    S.system = s.system; S.workers = s.workers; S.queues = s.queues; S.scheduled = s.scheduled; S.dlqSize = s.dlqSize;
    S.health = s.health; S.throughput = s.throughput; S.eventTypes = s.eventTypes; S.eventStream = s.eventStream;
    s.tasks.tasks.slice().reverse().forEach(upsertTask);
    S.events = s.events;
  }
  var buffered = null;
  function handle(type, data) {
    if (buffered) { buffered.push([type, data]); return; }
    switch (type) {
      case 'tasks':
        data.forEach(upsertTask);
        if (S.taskId && data.some(function (t) { return t.id === S.taskId; })) loadTask();
        if (searchResult) refreshSearch();
        break;
      case 'events':
        if (!$('ev-pause').checked) { S.events = S.events.concat(data.events).slice(-500); }
        data.events.forEach(function (e) { S.eventTypes[e.type] = (S.eventTypes[e.type] || 0) + 1; });
        break;
      case 'workers': S.workers = data; break;
      case 'queues': S.queues = data.queues; S.eventStream = data.eventStream; break;
      case 'dlq': S.dlqSize = data.size; if (S.view === 'dlq') loadDlq(); break;
      case 'health': S.health = data; break;
      case 'throughput': S.throughput.push(data); if (S.throughput.length > 360) S.throughput.shift(); break;
      case 'status': if (!data.ok) toast('Dashboard: ' + data.error); break;
    }
    render();
  }
  function connect() {
    var es = new EventSource(BASE + 'api/stream');
    ['tasks', 'events', 'workers', 'queues', 'dlq', 'health', 'throughput', 'status'].forEach(function (t) {
      es.addEventListener(t, function (m) { try { handle(t, JSON.parse(m.data)); } catch (e) { console.error(e); } });
    });
    es.addEventListener('hello', function () {
      $('live').className = 'on'; $('live').textContent = 'live';
      // Updates that arrive while the snapshot loads are applied after it.
      buffered = [];
      api('api/snapshot').then(function (s) {
        applySnapshot(s);
        var queued = buffered; buffered = null;
        queued.forEach(function (q) { handle(q[0], q[1]); });
        if (S.view === 'dlq') loadDlq();
        if (S.taskId) loadTask();
        render();
      }, function (e) { buffered = null; toast('Could not load the dashboard: ' + e.message); });
    });
    es.onerror = function () { $('live').className = ''; $('live').textContent = 'reconnecting'; };
  }
  setInterval(render, 5000);
  route();
  connect();
})();
</script>
</body>
</html>
`;
