/**
 * `@procur/event-bus/http`: framework-free request handlers (`(req, res)`), usable from
 * `node:http`, Express and Fastify (`reply.raw`): health, Prometheus metrics, and the dashboard
 * (Flower's role) with its JSON API and live updates over server-sent events.
 *
 * @packageDocumentation
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventSystem } from '@procur/event-bus';
import { sendJson } from './util.js';

export {
  createDashboardHandler,
  startDashboard,
  DEFAULT_DASHBOARD_PORT,
  DEFAULT_MAX_EVENT_STREAMS,
  type DashboardOptions,
  type DashboardHandler,
  type DashboardRequestHandler,
  type StartDashboardOptions,
  type RunningDashboard,
} from './dashboard.js';
export { createMetrics, metricsHandler, DEFAULT_LATENCY_BUCKETS, type MetricsOptions, type BusMetrics } from './metrics.js';
export { isLoopbackHost, type DashboardAuth } from './auth.js';
export type { TaskRow, TaskTimelineEntry, EventSummary, TaskFilter, ThroughputPoint } from './feed.js';

/** A `node:http` style request handler. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * `GET /health/events`: the monitor's health status as JSON, with status 200 when healthy and
 * 503 when not (for load balancer and Kubernetes probes). The body names each rule that fired
 * (`issues`, and `checks` with the rule, value and threshold).
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { healthHandler } from '@procur/event-bus/http';
 * const health = healthHandler(bus);
 * createServer((req, res) => (req.url === '/health/events' ? health(req, res) : res.end())).listen(8080, '127.0.0.1');
 * ```
 */
export function healthHandler(bus: EventSystem): RequestHandler {
  return async (_req, res) => {
    const status = await bus.monitor.getHealthStatus();
    sendJson(res, status.healthy ? 200 : 503, status);
  };
}
