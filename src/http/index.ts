/**
 * `@procur/event-bus/http`: framework-free request handlers (`(req, res)`), usable from
 * `node:http`, Express and Fastify (`reply.raw`).
 *
 * @packageDocumentation
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventSystem } from '@procur/event-bus';

/** A `node:http` style request handler. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * `GET /health/events`: the monitor's health status as JSON, with status 200 when healthy and
 * 503 when not (for load balancer and Kubernetes probes).
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
    const body = JSON.stringify(status);
    res.writeHead(status.healthy ? 200 : 503, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  };
}
