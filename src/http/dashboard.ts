import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, NotFoundError, consoleLogger, isEventBusError, type EventSystem, type EventEnvelope, type Logger } from '@procur/event-bus';
import { escapeHtml } from '../dashboard/html.js';
import { renderDashboardPage } from '../dashboard/page.js';
import { SNAPSHOT_TASKS, TASK_STATES } from '../dashboard/shared.js';
import { ACTION_HEADER, SESSION_COOKIE, createAuthenticator, crossSiteReason, foreignHostReason, isLoopbackHost, type Authenticator, type DashboardAuth } from './auth.js';
import { LiveFeed, STATE_OF, TASK_EVENT_TYPES, sameStep, summarizeEvent, timelineOrder, type TaskTimelineEntry } from './feed.js';
import { describeDeadLetter, type DeadLetterView } from './dead-letter-view.js';
import { bulkDlq, bulkRetry, dlqFilter, listDlq, promoteTask, queueAction, retryTask, taskFlow } from './dashboard-actions.js';
import { createMetrics, type BusMetrics, type MetricsOptions } from './metrics.js';
import { HttpError, decodePathSegments, intParam, readJson, requestUrl, sameOriginPath, sendError, sendJson } from './util.js';

/** Options of {@link createDashboardHandler}. */
export interface DashboardOptions {
  /**
   * Credentials required for every route (page, API, event stream, metrics, health), except
   * `publicPaths`. `'user:pass'` or `{ username, password }` for HTTP Basic, `{ token }` for a
   * bearer token. @default none (only safe on a loopback address)
   */
  auth?: DashboardAuth;
  /** Paths served without credentials even when `auth` is set, e.g. `['/health/events']` for probes. @default [] */
  publicPaths?: string[];
  /**
   * The path the handler is mounted under when the framework does not strip it (Fastify's
   * `req.raw`, a plain `node:http` router), e.g. `'/ops/bus'`. Express's `app.use(path, handler)`
   * strips it itself (`req.baseUrl`). @default ''
   */
  basePath?: string;
  /** Serve `/metrics` (prom-client), or pass options for it; `false` leaves it out. @default true */
  metrics?: boolean | MetricsOptions;
  /**
   * Ignored: the dashboard no longer reads the task-events stream with a consumer group; task
   * states come from their one owner (`bus.tasks.recent()` and `bus.tasks.watch()`).
   * @deprecated Has no effect; remove it.
   */
  liveGroup?: string | false;
  /** How often the shared state (workers, queues, DLQ, store) is polled, ms. @default 1000 */
  pollMs?: number;
  /** Task rows kept in memory for the task list. @default 10000 */
  maxTasks?: number;
  /** Where the dashboard reports failures (rate-limited). @default warnings to stderr */
  logger?: Logger;
  /** The page's title. @default 'procur-bus' */
  title?: string;
  /**
   * Host names (as in the `Host` header, without port) served without auth besides loopback
   * names (localhost, 127.0.0.0/8, [::1]) and the address the request came in on, e.g. the name
   * of a reverse proxy in front of it. Without auth any other `Host` gets 421 Misdirected
   * Request: that is what stops a web page from reading the dashboard by pointing its own name at
   * 127.0.0.1 (DNS rebinding). `true` accepts any `Host`: only for a handler behind your own
   * authentication (an Express `requireAdmin` before it). Ignored when `auth` is set. @default []
   */
  allowedHosts?: string[] | true;
  /**
   * Live event streams (`/api/stream`, one per open page) served at once; beyond it the answer
   * is 503 with `Retry-After`. @default 100
   */
  maxEventStreams?: number;
}

/** A request handler that can also pass a request on (Express / Connect `next`). */
export type DashboardRequestHandler = (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => Promise<void>;

/** The dashboard as one request handler, with what it holds open. */
export interface DashboardHandler extends DashboardRequestHandler {
  /** The Prometheus metrics behind `/metrics`, unless turned off. */
  readonly metrics: BusMetrics | undefined;
  /** Stops the live feed, closes open event streams and the metrics. Idempotent. */
  close(): Promise<void>;
}

/**
 * The dashboard (Flower's role) as one framework-free handler: the page at `/`, live updates at
 * `/api/stream` (server-sent events), the JSON API under `/api`, `/metrics` and `/health/events`.
 *
 * Routes (relative to where it is mounted):
 * - `GET /` the page; `GET /health/events` health (200 or 503); `GET /metrics` Prometheus text
 * - `GET /api/snapshot` everything the page shows first; `GET /api/stream` server-sent events
 * - `GET /api/workers`, `GET /api/queues` (task queues, the events stream with its `partitions`
 *   when `eventStreamPartitions > 1`, beat entries, paused queues), `GET /api/health`,
 *   `GET /api/stats?hours=24`
 * - `GET /api/tasks?state=&name=&queue=&correlationId=&search=&limit=&offset=` (`total` counts the
 *   matches), `GET /api/tasks/:id` (with the task's `progress` and `logs`, live changes as the
 *   stream's `progress` event; `flow`: the chain / group / chord it is a step of, or is, with
 *   its steps), `POST /api/tasks/:id/revoke`, `POST /api/tasks/:id/retry` (a finished task
 *   re-sent under a new id, same correlation id), `POST /api/tasks/:id/promote`
 *   (a waiting task run now; the waiting copy is revoked), `POST /api/tasks/retry?state=&name=&queue=`
 *   (bulk, `state` defaults to FAILURE)
 * - `POST /api/queues/:queue/pause`, `/resume`, `/purge`
 * - `GET /api/events?type=&correlationId=&limit=&cursor=&tasks=false` (newest first; `nextCursor`
 *   pages on; `tasks=false` leaves out task lifecycle events), `GET /api/events/:id`
 * - `GET /api/dlq?limit=&after=&type=&group=&kind=` (oldest first; `total` counts what the filter
 *   selects), `GET /api/dlq/:id`, `POST /api/dlq/:id/replay`,
 *   `POST /api/dlq/:id/delete`, `POST /api/dlq/replay-all`, `POST /api/dlq/replay?type=&group=&kind=`
 *   and `POST /api/dlq/delete?...` (bulk, what the filter selects; `{ count }`)
 *
 * Without `auth`, a request whose `Host` is not a loopback name, the address it came in on or one
 * of `allowedHosts` gets 421 (so a page of another site cannot read it through DNS rebinding).
 * With `auth`, every route needs credentials (except `publicPaths`). Actions (the POST routes)
 * also need the `x-procur-dashboard` header and, when the browser sends them, a same-origin
 * `Origin` / `Sec-Fetch-Site`: a page of another site cannot trigger them. Credentials are never
 * logged.
 *
 * @example
 * ```ts
 * // Express: app.use('/ops/bus', createDashboardHandler(bus, { auth: process.env.DASHBOARD_AUTH }));
 * // node:http:
 * import { createServer } from 'node:http';
 * import { createDashboardHandler } from '@procur/event-bus/http';
 * const dashboard = createDashboardHandler(bus, { auth: { token: process.env.DASHBOARD_TOKEN! } });
 * createServer(dashboard).listen(5555, '127.0.0.1');
 * ```
 * @throws `ConfigError` for malformed credentials.
 */
export function createDashboardHandler(bus: EventSystem, options: DashboardOptions = {}): DashboardHandler {
  const auth: Authenticator | undefined = options.auth === undefined ? undefined : createAuthenticator(options.auth);
  const publicPaths = new Set(options.publicPaths ?? []);
  const basePath = (options.basePath ?? '').replace(/\/+$/, '');
  const metrics = options.metrics === false ? undefined : createMetrics(bus, options.metrics === true || options.metrics === undefined ? {} : options.metrics);
  const pollMs = options.pollMs ?? 1000;
  if (!(pollMs >= 50)) throw new ConfigError('pollMs', 'must be at least 50 ms');
  const logger = options.logger ?? consoleLogger;
  const feed = new LiveFeed(bus, {
    pollMs,
    logger,
    maxTasks: options.maxTasks ?? 10_000,
  });
  const title = options.title ?? 'procur-bus';
  const anyHost = options.allowedHosts === true;
  const allowedHosts = new Set((options.allowedHosts === true ? [] : (options.allowedHosts ?? [])).map((h) => h.trim().toLowerCase().replace(/^\[|\]$/g, '')).filter(Boolean));
  const maxEventStreams = options.maxEventStreams ?? DEFAULT_MAX_EVENT_STREAMS;
  if (!Number.isInteger(maxEventStreams) || maxEventStreams < 1) throw new ConfigError('maxEventStreams', `must be a whole number >= 1 (got ${String(maxEventStreams)})`);
  let closed = false;

  async function route(req: IncomingMessage, res: ServerResponse, path: string, url: URL, mount: string): Promise<boolean> {
    const method = req.method ?? 'GET';
    if (path === '/' || path === '') {
      if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'GET only');
      const nonce = randomBytes(16).toString('base64');
      const html = renderDashboardPage({ base: `${mount}/`, nonce, title, principal: auth?.principal });
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'self'; form-action 'none'; frame-ancestors 'none'`,
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
        'content-length': Buffer.byteLength(html),
      });
      res.end(method === 'HEAD' ? undefined : html);
      return true;
    }
    if (path === '/health/events') {
      const status = await bus.monitor.getHealthStatus();
      sendJson(res, status.healthy ? 200 : 503, status);
      return true;
    }
    if (path === '/metrics') {
      if (!metrics) return false;
      await metrics.handler(req, res);
      return true;
    }
    if (!path.startsWith('/api/')) return false;
    const parts = decodePathSegments(path.slice(5));
    const isAction = method === 'POST';
    if (isAction) {
      const refused = crossSiteReason(req);
      if (refused) throw new HttpError(403, refused);
    } else if (method !== 'GET') throw new HttpError(405, `${method} is not allowed here`);
    await feed.start();

    switch (parts[0]) {
      case 'snapshot': {
        const [workers, queues, eventStream, scheduled, dlqSize, health, tasks] = await Promise.all([
          feed.workers(),
          bus.monitor.getQueues(),
          bus.monitor.getStreamInfo(),
          bus.scheduler.list().catch(() => []),
          bus.dlq.size(),
          bus.monitor.getHealthStatus(),
          feed.tasks({ limit: SNAPSHOT_TASKS }),
        ]);
        const events = (await bus.store.query({ order: 'desc', limit: 100 })).events.filter((e) => !TASK_EVENT_TYPES.includes(e.type)).map(summarizeEvent);
        sendJson(res, 200, {
          system: {
            namespace: bus.config.namespace,
            transport: bus.transport.name,
            store: bus.store.adapter.name,
            eventStream: bus.config.eventStreamName,
            dlqStream: bus.config.dlqStreamName,
            distributed: bus.transport.features.distributed,
            auth: auth?.kind ?? 'none',
          },
          workers,
          queues,
          eventStream,
          scheduled,
          dlqSize,
          health,
          tasks,
          events: events.reverse(),
          eventTypes: await bus.monitor.getEventTypeStats({ hours: 1 }),
          throughput: feed.throughputSeries(),
          pausedQueues: await bus.tasks.pausedQueues().catch(() => []),
        });
        return true;
      }
      case 'stream':
        if (parts.length !== 1) return false;
        if (feed.clientCount >= maxEventStreams) {
          throw new HttpError(503, `${feed.clientCount} live event streams are open already (maxEventStreams ${maxEventStreams}): close a dashboard tab, or raise maxEventStreams`, { 'retry-after': '10' });
        }
        feed.addClient(req, res);
        return true;
      case 'health':
        sendJson(res, 200, await bus.monitor.getHealthStatus());
        return true;
      case 'workers':
        sendJson(res, 200, { workers: await feed.workers() });
        return true;
      case 'queues':
        if (isAction) return queueAction(bus, res, parts[1], parts[2]);
        if (parts.length > 1) return false;
        sendJson(res, 200, { queues: await bus.monitor.getQueues(), eventStream: await bus.monitor.getStreamInfo(), scheduled: await bus.scheduler.list(), paused: await bus.tasks.pausedQueues() });
        return true;
      case 'stats': {
        const hours = Number(url.searchParams.get('hours') ?? 24);
        if (!(Number.isFinite(hours) && hours > 0 && hours <= MAX_STATS_HOURS)) {
          throw new HttpError(400, `'hours' must be a number of hours above 0 and at most ${MAX_STATS_HOURS} (got '${url.searchParams.get('hours')}'), e.g. ?hours=24`);
        }
        const [processing, eventTypes] = await Promise.all([bus.monitor.getProcessingStats({ hours }), bus.monitor.getEventTypeStats({ hours })]);
        sendJson(res, 200, { processing, eventTypes, throughput: feed.throughputSeries() });
        return true;
      }
      case 'tasks':
        return tasksRoute(res, parts.slice(1), url, isAction);
      case 'events':
        return eventsRoute(res, parts.slice(1), url, isAction);
      case 'dlq':
        return dlqRoute(res, parts.slice(1), url, isAction);
      default:
        return false;
    }
  }

  async function tasksRoute(res: ServerResponse, parts: string[], url: URL, isAction: boolean): Promise<boolean> {
    const [id, verb] = parts;
    if (id === 'retry' && verb === undefined) {
      if (!isAction) throw new HttpError(405, 'retry is a POST action');
      sendJson(res, 200, await bulkRetry(bus, feed, url));
      return true;
    }
    if (id && (verb === 'retry' || verb === 'promote')) {
      if (!isAction) throw new HttpError(405, `${verb} is a POST action`);
      sendJson(res, 200, verb === 'retry' ? await retryTask(bus, feed, id) : await promoteTask(bus, feed, id));
      return true;
    }
    if (!id) {
      if (isAction) throw new HttpError(405, 'GET only');
      const state = url.searchParams.get('state') || undefined;
      if (state && !(TASK_STATES as readonly string[]).includes(state.toUpperCase())) throw new HttpError(400, `'state' must be one of ${TASK_STATES.join(', ')}`);
      sendJson(
        res,
        200,
        await feed.tasks({
          state,
          name: url.searchParams.get('name') || undefined,
          queue: url.searchParams.get('queue') || undefined,
          correlationId: url.searchParams.get('correlationId') || undefined,
          search: url.searchParams.get('search') || url.searchParams.get('q') || undefined,
          limit: intParam(url, 'limit', 200, 5000),
          offset: offsetParam(url),
        }),
      );
      return true;
    }
    if (verb === 'revoke') {
      if (!isAction) throw new HttpError(405, 'revoke is a POST action');
      const known = feed.indexed(id);
      const revoked = await bus.tasks.result(id, known?.name ?? 'unknown', known?.queue ?? 'unknown').revoke();
      if (revoked) feed.noteRevoked(id);
      sendJson(res, 200, { id, revoked });
      return true;
    }
    if (verb !== undefined || isAction) return false;
    const [info, known] = [await bus.tasks.info(id), feed.indexed(id)];
    if (info) feed.foldTaskInfo(info);
    const correlationId = info?.correlationId ?? known?.correlationId ?? id;
    const timeline: TaskTimelineEntry[] = [...(known?.timeline ?? [])];
    const page = await bus.store.query({ type: TASK_EVENT_TYPES, correlationId, limit: 1000 }).catch(() => ({ events: [] }));
    for (const e of page.events) {
      const d = e.data as { taskId?: string; attempt?: number; worker?: string; error?: string; runtimeMs?: number };
      if (d?.taskId !== id || timeline.some((s) => s.eventId === e.id)) continue;
      const state = Object.hasOwn(STATE_OF, e.type) ? STATE_OF[e.type] : undefined;
      if (!state) continue;
      const step: TaskTimelineEntry = { state, at: e.occurredAt, eventId: e.id, ...(d.attempt !== undefined ? { attempt: d.attempt } : {}), ...(d.worker ? { worker: d.worker } : {}), ...(d.error ? { error: d.error } : {}), ...(d.runtimeMs !== undefined ? { runtimeMs: d.runtimeMs } : {}) };
      const twin = timeline.find((s) => sameStep(s, step));
      if (twin) Object.assign(twin, { ...step, ...twin, eventId: e.id, at: e.occurredAt });
      else timeline.push(step);
    }
    timeline.sort(timelineOrder);
    const row = feed.indexed(id);
    const handle = bus.tasks.result(id);
    const [progress, logs, flow] = await Promise.all([handle.progress().catch(() => undefined), handle.logs().catch(() => []), taskFlow(bus, id, info)]);
    sendJson(res, 200, {
      task: {
        id,
        name: info?.name ?? row?.name ?? 'unknown',
        queue: info?.queue ?? row?.queue ?? 'unknown',
        state: row?.state ?? info?.state ?? 'PENDING',
        attempt: info?.attempt ?? row?.attempt ?? 0,
        retries: row?.retries ?? Math.max(0, (info?.attempt ?? 1) - 1),
        correlationId,
        worker: info?.worker ?? row?.worker,
        args: info?.args,
        result: info?.result,
        error: info?.error,
        retryAt: info?.retryAt,
        runtimeMs: info?.runtimeMs ?? row?.runtimeMs,
        updatedAt: info?.updatedAt ?? row?.updatedAt,
        known: Boolean(info || row),
        progress,
        logs,
        ...(info?.dedupeKey !== undefined ? { dedupeKey: info.dedupeKey } : {}),
        ...(info?.expiresAt !== undefined ? { expiresAt: info.expiresAt } : {}),
      },
      ...(flow ? { flow } : {}),
      timeline,
    });
    return true;
  }

  async function eventsRoute(res: ServerResponse, parts: string[], url: URL, isAction: boolean): Promise<boolean> {
    if (isAction) return false;
    const [id] = parts;
    if (id) {
      const event = await bus.store.getEvent(id);
      if (!event) throw new HttpError(404, `no event '${id}' in the store`);
      sendJson(res, 200, { event, processing: await bus.store.processingOf(id) });
      return true;
    }
    const type = url.searchParams.getAll('type').filter(Boolean);
    const tasks = url.searchParams.get('tasks');
    if (tasks !== null && tasks !== 'true' && tasks !== 'false') throw new HttpError(400, `'tasks' must be true or false (got '${tasks}')`);
    const limit = intParam(url, 'limit', 100, 1000);
    const query = {
      order: 'desc' as const,
      ...(type.length ? { type } : {}),
      ...(url.searchParams.get('correlationId') ? { correlationId: url.searchParams.get('correlationId') as string } : {}),
    };
    let cursor = url.searchParams.get('cursor') || undefined;
    const events: EventEnvelope[] = [];
    // ?tasks=false leaves out the task lifecycle events (as the page's live list does): pages of
    // the store are read until `limit` other events are found, each page no larger than what is
    // still missing, so the cursor returned is exactly after the last event returned.
    for (let reads = 0; events.length < limit && reads < MAX_EVENT_PAGE_READS; reads++) {
      const page = await bus.store.query({ ...query, limit: limit - events.length, ...(cursor ? { cursor } : {}) });
      events.push(...(tasks === 'false' ? page.events.filter((e) => !TASK_EVENT_TYPES.includes(e.type)) : page.events));
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    sendJson(res, 200, { events: events.map(summarizeEvent), nextCursor: cursor });
    return true;
  }

  async function dlqRoute(res: ServerResponse, parts: string[], url: URL, isAction: boolean): Promise<boolean> {
    const [id, verb] = parts;
    if (!id) {
      if (isAction) throw new HttpError(405, 'GET only');
      const { size, total, entries } = await listDlq(bus, dlqFilter(url), intParam(url, 'limit', 100, 1000), url.searchParams.get('after') || undefined);
      sendJson(res, 200, { size, total, entries: entries.map(dlqView) });
      return true;
    }
    if ((id === 'replay' || id === 'delete') && verb === undefined) {
      if (!isAction) throw new HttpError(405, `${id} is a POST action`);
      sendJson(res, 200, await bulkDlq(bus, id, url));
      return true;
    }
    if (id === 'replay-all') {
      if (!isAction || verb !== undefined) throw new HttpError(405, 'replay-all is a POST action');
      sendJson(res, 200, { replayed: await bus.dlq.replayAll() });
      return true;
    }
    if (verb === 'replay' || verb === 'delete') {
      if (!isAction) throw new HttpError(405, `${verb} is a POST action`);
      if (verb === 'replay') {
        try {
          await bus.dlq.replay(id);
        } catch (err) {
          if (isEventBusError(err, 'ERR_NOT_FOUND')) throw new HttpError(404, (err as NotFoundError).message);
          throw err;
        }
        sendJson(res, 200, { id, replayed: true });
      } else {
        const deleted = await bus.dlq.delete(id);
        sendJson(res, deleted ? 200 : 404, { id, deleted });
      }
      return true;
    }
    if (verb !== undefined || isAction) return false;
    const entry = await bus.dlq.get(id);
    if (!entry) throw new HttpError(404, `no dead letter '${id}'`);
    sendJson(res, 200, { ...dlqView(entry), body: entry.body, stack: entry.stack });
    return true;
  }

  function unauthorized(req: IncomingMessage, res: ServerResponse, path: string): void {
    const wantsHtml = path === '/' || path === '' || (req.headers.accept ?? '').includes('text/html');
    if (auth?.kind === 'basic') {
      sendError(res, 401, 'authentication required', { 'www-authenticate': 'Basic realm="procur-bus dashboard", charset="UTF-8"' });
      return;
    }
    if (wantsHtml) {
      const body = `<!doctype html><meta charset="utf-8"><title>${escapeHtml(title)}: sign in</title><p>This dashboard needs its token: open it as <code>/?token=&lt;token&gt;</code> or send <code>Authorization: Bearer &lt;token&gt;</code>.</p>`;
      res.writeHead(401, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'www-authenticate': 'Bearer realm="procur-bus dashboard"' });
      res.end(body);
      return;
    }
    sendError(res, 401, 'authentication required', { 'www-authenticate': 'Bearer realm="procur-bus dashboard"' });
  }

  const handler = (async (req, res, next) => {
    try {
      if (closed) throw new HttpError(503, 'the dashboard is closed');
      const url = requestUrl(req);
      let path = url.pathname;
      if (basePath && (path === basePath || path.startsWith(`${basePath}/`))) path = path.slice(basePath.length) || '/';
      const mount = basePath || ((req as { baseUrl?: string }).baseUrl ?? '').replace(/\/+$/, '');
      if (!auth && !anyHost) {
        const foreign = foreignHostReason(req, allowedHosts);
        if (foreign) throw new HttpError(421, foreign);
      }
      if (auth && !publicPaths.has(path)) {
        const token = url.searchParams.get('token');
        if (token !== null && auth.kind === 'token' && (req.method === 'GET' || req.method === 'HEAD')) {
          const session = auth.sessionFor(token);
          if (session) {
            url.searchParams.delete('token');
            res.writeHead(303, {
              location: `${sameOriginPath(`${mount}${path}`)}${url.search}`,
              'set-cookie': `${SESSION_COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=${mount || '/'}`,
              'cache-control': 'no-store',
            });
            res.end();
            return;
          }
        }
        if (!auth.check(req)) {
          unauthorized(req, res, path);
          return;
        }
      }
      if (!(await route(req, res, path, url, mount))) {
        if (next) return next();
        sendError(res, 404, `no route ${req.method} ${path}`);
      }
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) sendError(res, err.status, err.message, err.headers);
      else if (isEventBusError(err, 'ERR_VALIDATION')) sendError(res, 400, (err as Error).message);
      else if (isEventBusError(err, 'ERR_NOT_FOUND')) sendError(res, 404, (err as Error).message);
      else {
        // A driver's message can name hosts, tables and values: it goes to the log, not to the client.
        const code = isEventBusError(err) ? (err as { code: string }).code : undefined;
        // The path without its query: a query may hold ?token=.
        logger.error('dashboard request failed', { method: req.method, path: (req.url ?? '').split('?')[0]!.slice(0, 200), error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
        sendJson(res, 500, { error: "internal error: the dashboard's log has the details", ...(code ? { code } : {}) });
      }
    }
  }) as DashboardHandler;
  Object.defineProperty(handler, 'metrics', { value: metrics, enumerable: true });
  handler.close = async () => {
    if (closed) return;
    closed = true;
    metrics?.close();
    await feed.close();
  };
  return handler;
}

/** `?offset=` of a list: a whole number >= 0. */
function offsetParam(url: URL): number {
  const raw = url.searchParams.get('offset');
  if (raw === null || raw === '') return 0;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new HttpError(400, `'offset' must be a whole number >= 0 (got '${raw}')`);
  return n;
}

function dlqView(e: Awaited<ReturnType<EventSystem['dlq']['list']>>[number]): DeadLetterView {
  const { task: _task, ...view } = describeDeadLetter(e);
  return view;
}

/** Options of {@link startDashboard}. */
export interface StartDashboardOptions extends DashboardOptions {
  /** TCP port; `0` picks a free one. @default 5555 */
  port?: number;
  /**
   * Address to bind. Anything but a loopback address (127.0.0.1, ::1, localhost) requires
   * `auth`. @default '127.0.0.1'
   */
  host?: string;
}

/** A running dashboard server. */
export interface RunningDashboard {
  /** The address to open, e.g. `http://127.0.0.1:5555/`. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** The address it is bound to. */
  readonly host: string;
  /** The underlying `node:http` server. */
  readonly server: Server;
  /** The request handler (metrics, feed). */
  readonly handler: DashboardHandler;
  /** Stops listening, ends open event streams and the live feed. Idempotent. Does not close the bus. */
  close(): Promise<void>;
}

/** Live event streams a dashboard serves at once by default (`maxEventStreams`). */
export const DEFAULT_MAX_EVENT_STREAMS = 100;

/** Store pages one `/api/events?tasks=false` request reads at most. */
const MAX_EVENT_PAGE_READS = 20;

/** The largest window of `/api/stats?hours=` (ten years). */
const MAX_STATS_HOURS = 87_600;

/** The dashboard's default port (Flower's). */
export const DEFAULT_DASHBOARD_PORT = 5555;

/**
 * Serves the dashboard on its own `node:http` server (what `procur-bus dashboard` runs).
 * Binds 127.0.0.1 by default; binding any other address without `auth` is refused.
 *
 * @throws `ConfigError` when `host` is not a loopback address and no `auth` is given, or the
 *   credentials are malformed; the listen error (`EADDRINUSE`...) when the port is taken.
 * @example
 * ```ts
 * import { startDashboard } from '@procur/event-bus/http';
 * const dashboard = await startDashboard(bus, { port: 5555 });
 * console.log(`dashboard on ${dashboard.url}`);
 * // ... later
 * await dashboard.close();
 * ```
 */
export async function startDashboard(bus: EventSystem, options: StartDashboardOptions = {}): Promise<RunningDashboard> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? DEFAULT_DASHBOARD_PORT;
  if (!isLoopbackHost(host) && options.auth === undefined) {
    throw new ConfigError('--auth', `refusing to serve the dashboard on ${host} without credentials: pass --auth user:password or --token (or bind 127.0.0.1)`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new ConfigError('--port', `must be a port number (got ${String(port)})`);
  const handler = createDashboardHandler(bus, options);
  const server = createServer((req, res) => void handler(req, res));
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (err: unknown) => {
    await handler.close();
    throw err;
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${addr.port}/`,
    port: addr.port,
    host: addr.address,
    server,
    handler,
    close() {
      closing ??= (async () => {
        await handler.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
      })();
      return closing;
    },
  };
}

export { ACTION_HEADER };
