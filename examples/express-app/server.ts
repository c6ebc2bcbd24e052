/**
 * An Express app that embeds the bus: `POST /requests` publishes a `request.created` event that a
 * consumer handles, and the bus's HTTP handlers from `@procur/event-bus/http` serve
 *
 * - `GET /health/events`: the monitor's health as JSON (200 healthy, 503 not), for probes;
 * - `GET /metrics`: Prometheus metrics;
 * - `/dashboard/`: the dashboard (workers, tasks, queues, events, DLQ) and its JSON API.
 *
 *   npm install && npm start      # PORT=3000 by default; HOST=127.0.0.1
 *
 * In-process (memory transport and store) as written; pass `redisTransport()` and a persistent
 * store to `createEventSystem` to share the bus between processes.
 */
import express from 'express';
import { EventType, createEventSystem, isEventBusError } from '@procur/event-bus';
import { createDashboardHandler, healthHandler, metricsHandler } from '@procur/event-bus/http';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';

const bus = await createEventSystem({ source: 'express-app' });
const consumer = bus.consumer('request-service');
consumer.registerHandler(EventType.REQUEST_CREATED, (event) => {
  console.log(`request ${event.data.requestId} created: ${event.data.description}`);
});
await consumer.start();

const app = express();
app.use(express.json());
app.post('/requests', async (req, res) => {
  const { requestId, description, budgetMax } = (req.body ?? {}) as { requestId: string; description: string; budgetMax?: number };
  try {
    const eventId = await bus.publisher.publishRequestCreated({ requestId, description, budgetMax, userId: 1, organizationId: 'acme-corp' });
    res.status(202).json({ eventId });
  } catch (err) {
    // A payload that does not match the catalog's schema is the client's mistake: say which field.
    if (isEventBusError(err, 'ERR_VALIDATION')) res.status(400).json({ error: err.message });
    else throw err;
  }
});
app.get('/health/events', healthHandler(bus));
app.get('/metrics', metricsHandler(bus));
// The dashboard serves its own page, API and live feed under the mount path; its /metrics is
// left off because the app serves one at the root.
const dashboard = createDashboardHandler(bus, { metrics: false });
app.use('/dashboard', dashboard);

const server = app.listen(port, host, () => {
  console.log(`listening on http://${host}:${port} (GET /health/events, GET /metrics, /dashboard/)`);
});

let closing: Promise<void> | undefined;
function shutdown(signal: string): Promise<void> {
  closing ??= (async () => {
    console.log(`${signal}: closing`);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await dashboard.close();
    await bus.close();
    console.log('closed');
  })();
  return closing;
}
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));
