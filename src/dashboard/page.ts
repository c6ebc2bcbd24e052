/**
 * The dashboard page: one HTML document with its CSS inline and its script, the typed modules
 * under `client/` bundled at build time (see client-script.ts), served by the library itself
 * (`createDashboardHandler`). The script talks to the JSON API under `api/` and listens to
 * `api/stream` (server-sent events). Everything it shows is written with `textContent`, never as
 * HTML, so event payloads cannot inject markup.
 *
 * @internal
 * @module
 */
import { clientScript } from './client-script.js';
import { escapeHtml } from './html.js';

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

/**
 * The script as the content of a `<script>` element: `</script` inside it (in a string) would
 * end the element, so its slash is escaped (`<\/script` is the same string in JavaScript).
 */
function inlineScript(): string {
  return clientScript().replace(/<\/(script)/gi, '<\\/$1');
}

/** Renders the page. @internal */
export function renderDashboardPage(p: PageParams): string {
  const values: Record<string, string> = { TITLE: escapeHtml(p.title), BASE: escapeHtml(p.base), PRINCIPAL: escapeHtml(p.principal ?? ''), NONCE: escapeHtml(p.nonce), SCRIPT: inlineScript() };
  // A replacer function: a replacement string would expand `$&`, `$'`... of the title or script.
  return PAGE.replace(/__(TITLE|BASE|PRINCIPAL|NONCE|SCRIPT)__/g, (_, key: string) => values[key] ?? '');
}

const PAGE = `<!doctype html>
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
tr.current td { background:#fff7df; }
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
        <select id="f-state"></select>
        <select id="f-name"><option value="">any task</option></select>
        <select id="f-queue"><option value="">any queue</option></select>
        <input id="f-corr" placeholder="correlation id" size="24">
        <input id="f-search" placeholder="search in arguments" size="24">
        <button id="tasks-retry-failed">Retry failed</button>
        <span class="spacer" style="flex:1"></span>
        <input id="task-go" placeholder="open task by id" size="30">
      </div>
      <table><thead><tr><th>State</th><th>Task</th><th>Id</th><th>Queue</th><th>Attempt</th><th>Worker</th><th>Arguments</th><th>Updated</th><th>Runtime</th><th></th></tr></thead><tbody id="tasks-body"></tbody></table>
      <div id="tasks-empty" class="empty">No task yet.</div>
      <div class="toolbar"><button id="tasks-prev">‹ Prev</button><span id="tasks-page"></span><button id="tasks-next">Next ›</button></div>
    </div>
  </section>

  <section id="view-task" hidden>
    <div class="panel" id="task-detail">
      <div class="toolbar"><a href="#/tasks">← tasks</a><span class="spacer" style="flex:1"></span><button id="retry-task" class="primary">Retry</button> <button id="promote-task">Run now</button> <button id="revoke-task" class="danger">Revoke</button></div>
      <h2><span id="task-name"></span> <span id="task-state" class="pill"></span></h2>
      <dl class="kv" id="task-fields"></dl>
      <h3>Arguments</h3><pre id="task-args"></pre>
      <div id="task-result-box"><h3>Result</h3><pre id="task-result"></pre></div>
      <div id="task-error-box"><h3>Error</h3><pre id="task-error"></pre></div>
      <div id="task-flow-box" hidden><h3>Flow</h3><dl class="kv" id="task-flow"></dl>
        <table><thead><tr><th>Step</th><th>Task</th><th>Id</th><th>Queue</th><th>State</th></tr></thead><tbody id="task-flow-steps"></tbody></table>
        <div id="task-flow-more" class="muted"></div></div>
      <h3>Timeline</h3>
      <table><thead><tr><th>At</th><th>State</th><th>Attempt</th><th>Worker</th><th>Runtime</th><th>Error</th></tr></thead><tbody id="task-timeline"></tbody></table>
    </div>
  </section>

  <section id="view-queues" hidden>
    <div class="panel"><h2>Queues</h2>
      <table><thead><tr><th>Queue</th><th>Waiting</th><th>Running</th><th>Delayed</th><th>Retrying</th><th>Held low / normal / high / critical</th><th>Consumers</th><th>Oldest running</th><th></th></tr></thead><tbody id="queues-body"></tbody></table>
      <div id="queues-empty" class="empty">No task queue is known yet.</div>
    </div>
    <div class="panel"><h2>Events stream <span class="muted" id="stream-depth"></span></h2>
      <table><thead><tr><th>Group</th><th>Lag</th><th>Pending</th><th>Retrying</th><th>Consumers</th><th>Oldest pending</th></tr></thead><tbody id="groups-body"></tbody></table>
      <div id="partitions-box" hidden><h3>Partitions</h3>
        <table><thead><tr><th>Partition</th><th>Stream</th><th>Depth</th><th>Length</th><th>Lag</th><th>Pending</th><th>Retrying</th><th>Delayed</th><th>Lag per group</th><th>Oldest pending</th></tr></thead><tbody id="partitions-body"></tbody></table>
      </div>
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
      <div class="toolbar"><button id="events-prev">‹ Newer</button><span id="events-page"></span><button id="events-next">Older ›</button></div>
    </div>
  </section>

  <section id="view-dlq" hidden>
    <div class="panel"><h2>Dead letter queue <span class="muted" id="dlq-size"></span></h2>
      <div class="toolbar"><button id="dlq-refresh">Refresh</button><button id="dlq-replay-all" class="primary">Replay all</button>
        <input id="dlq-f-type" placeholder="type / task" size="20" list="dlq-types"><datalist id="dlq-types"></datalist>
        <input id="dlq-f-group" placeholder="group" size="16" list="dlq-groups"><datalist id="dlq-groups"></datalist>
        <select id="dlq-f-kind"><option value="">any kind</option><option value="event">event</option><option value="task">task</option><option value="undecodable">undecodable</option></select>
        <button id="dlq-replay-selected" class="primary">Replay selected</button><button id="dlq-delete-selected" class="danger">Delete selected</button></div>
      <table><thead><tr><th>Failed</th><th>Type / task</th><th>Group</th><th>Attempts</th><th>Error</th><th>Data</th><th></th></tr></thead><tbody id="dlq-body"></tbody></table>
      <div id="dlq-empty" class="empty">The dead letter queue is empty.</div>
      <div class="toolbar"><button id="dlq-prev">‹ Prev</button><span id="dlq-page"></span><button id="dlq-next">Next ›</button></div>
    </div>
    <div class="panel" id="dlq-detail" hidden><h2>Entry <span class="mono" id="dlq-detail-id"></span></h2><dl class="kv" id="dlq-fields"></dl><h3>Message</h3><pre id="dlq-body-text"></pre><h3>Stack</h3><pre id="dlq-stack"></pre></div>
  </section>
</main>
<div id="toast"></div>
<script nonce="__NONCE__">__SCRIPT__</script>
</body>
</html>
`;
