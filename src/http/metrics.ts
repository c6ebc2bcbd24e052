import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ComprehensiveReport, EventSystem } from '@procur/event-bus';

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Prefix of every metric name. @default 'procur_' */
  prefix?: string;
  /** Register into this prom-client registry (e.g. your app's). @default a new registry */
  registry?: Registry;
  /** Also collect Node.js process metrics (prom-client's `collectDefaultMetrics`). @default false */
  defaultMetrics?: boolean;
  /** Buckets of the processing latency histogram, in seconds. @default DEFAULT_LATENCY_BUCKETS */
  buckets?: number[];
  /** Labels added to every metric (e.g. `{ service: 'api' }`). */
  labels?: Record<string, string>;
}

/** The default buckets of `procur_event_processing_seconds`, in seconds. */
export const DEFAULT_LATENCY_BUCKETS: readonly number[] = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]);

/** The Prometheus metrics of one event system. */
export interface BusMetrics {
  /** The prom-client registry holding them. */
  readonly registry: Registry;
  /** `GET /metrics`: the registry in Prometheus text format. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  /** The metrics in Prometheus text format. */
  text(): Promise<string>;
  /** Stops listening to the system's hooks and removes the metrics from the registry. Idempotent. */
  close(): void;
}

/**
 * Prometheus metrics of an event system, with prom-client.
 *
 * Counted in this process, from the system's hooks (scrape every process that publishes or
 * consumes): `procur_events_published_total{type}`, `procur_events_handled_total{group,type}`,
 * `procur_events_failed_total{group,type}` (every failed attempt),
 * `procur_events_dead_lettered_total{group}`, and the histogram
 * `procur_event_processing_seconds{group,type}` of handler durations.
 *
 * Read from the shared transport and store at each scrape (the same in every process, so
 * scrape one): `procur_event_success_rate_percent` (last 24 h), `procur_events_pending`,
 * `procur_healthy`, `procur_health_issues{rule}`, `procur_consumer_lag{stream,group}`,
 * `procur_consumer_pending{stream,group}`, `procur_consumer_oldest_pending_seconds{stream,group}`,
 * `procur_stream_depth{stream}` (events waiting on the events stream: lag + pending + retrying +
 * delayed), and for a partitioned events stream (`eventStreamPartitions > 1`) the same per
 * partition (`partition` is the index, 0 to N - 1; the gauges without it keep the totals):
 * `procur_stream_partition_depth{stream,partition}`, `procur_stream_partition_length{stream,partition}`,
 * `procur_consumer_partition_lag{stream,partition,group}`, `procur_consumer_partition_pending{stream,partition,group}`,
 * `procur_queue_depth{queue,priority}` (tasks no worker has taken yet, per priority),
 * `procur_queue_waiting{queue}`, `procur_queue_running{queue}`, `procur_queue_delayed{queue}`,
 * `procur_queue_retrying{queue}`, `procur_dlq_size`, `procur_workers{state}`,
 * `procur_worker_utilisation{worker}` (running tasks / concurrency),
 * `procur_worker_active_tasks{worker}`, `procur_worker_processed{worker}`, `procur_worker_failed{worker}`.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createMetrics } from '@procur/event-bus/http';
 * const metrics = createMetrics(bus);
 * createServer((req, res) => (req.url === '/metrics' ? metrics.handler(req, res) : res.end())).listen(9464, '127.0.0.1');
 * ```
 */
export function createMetrics(bus: EventSystem, options: MetricsOptions = {}): BusMetrics {
  const p = options.prefix ?? 'procur_';
  const registry = options.registry ?? new Registry();
  if (options.labels) registry.setDefaultLabels(options.labels);
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: p });
  const registers = [registry];
  const owned: string[] = [];
  const name = (n: string) => {
    owned.push(p + n);
    return p + n;
  };

  const published = new Counter({ name: name('events_published_total'), help: 'Events published by this process.', labelNames: ['type'], registers });
  const handled = new Counter({ name: name('events_handled_total'), help: 'Events handled successfully in this process.', labelNames: ['group', 'type'], registers });
  const failed = new Counter({ name: name('events_failed_total'), help: 'Failed handler attempts in this process (retried or not).', labelNames: ['group', 'type'], registers });
  const deadLettered = new Counter({ name: name('events_dead_lettered_total'), help: 'Messages moved to the dead letter queue by this process.', labelNames: ['group'], registers });
  const latency = new Histogram({
    name: name('event_processing_seconds'),
    help: 'Handler duration of successfully handled events, in seconds.',
    labelNames: ['group', 'type'],
    buckets: [...(options.buckets ?? DEFAULT_LATENCY_BUCKETS)],
    registers,
  });

  // One read of the shared state per scrape, shared by every gauge below.
  let snapshot: { at: number; report: Promise<ComprehensiveReport> } | undefined;
  const report = (): Promise<ComprehensiveReport> => {
    const now = Date.now();
    if (!snapshot || now - snapshot.at > 1000) snapshot = { at: now, report: bus.monitor.getComprehensiveReport() };
    return snapshot.report;
  };
  const gauge = (n: string, help: string, labelNames: string[], fill: (g: Gauge<string>, r: ComprehensiveReport) => void) =>
    new Gauge({
      name: name(n),
      help,
      labelNames,
      registers,
      async collect() {
        const r = await report();
        this.reset();
        fill(this, r);
      },
    });

  gauge('event_success_rate_percent', 'Processed / (processed + failed) over the last 24 hours, in percent.', [], (g, r) => g.set(r.health.successRate));
  gauge('events_pending', 'Events waiting on the events stream: backlog, pending, retrying and delayed.', [], (g, r) => g.set(Math.max(0, r.health.pendingEvents)));
  gauge('healthy', '1 when every health rule passes, else 0.', [], (g, r) => g.set(r.health.healthy ? 1 : 0));
  gauge('health_issues', 'Health rules firing now, by rule.', ['rule'], (g, r) => {
    for (const rule of ['success-rate', 'pending-events', 'dlq-size', 'worker-silent', 'transport', 'store']) {
      g.set({ rule }, r.health.checks.filter((c) => c.rule === rule).length);
    }
  });
  gauge('dlq_size', 'Entries in the dead letter queue.', [], (g, r) => g.set(Math.max(0, r.dlqSize)));
  const streams = (r: ComprehensiveReport) => [r.stream, ...Object.values(r.queues)];
  gauge('consumer_lag', 'Messages a consumer group has not read yet.', ['stream', 'group'], (g, r) => {
    for (const s of streams(r)) for (const grp of s.groups) g.set({ stream: s.stream, group: grp.name }, grp.lag);
  });
  gauge('consumer_pending', 'Deliveries handed to a consumer group and not acked yet.', ['stream', 'group'], (g, r) => {
    for (const s of streams(r)) for (const grp of s.groups) g.set({ stream: s.stream, group: grp.name }, grp.pending);
  });
  gauge('consumer_oldest_pending_seconds', 'Age of the oldest unacked delivery of a consumer group, in seconds.', ['stream', 'group'], (g, r) => {
    for (const s of streams(r)) for (const grp of s.groups) g.set({ stream: s.stream, group: grp.name }, grp.oldestPendingMs / 1000);
  });
  // A partitioned events stream: the same figures per partition (the gauges above keep the totals).
  const parts = (r: ComprehensiveReport) => (r.stream.partitions ?? []).map((part, i) => ({ stream: r.stream.stream, partition: String(i), part }));
  gauge('stream_depth', 'Events waiting on the events stream (lag + pending + retrying + delayed, over every group).', ['stream'], (g, r) => g.set({ stream: r.stream.stream }, r.stream.depth));
  gauge('stream_partition_depth', 'Events waiting on each partition of a partitioned events stream (lag + pending + retrying + delayed).', ['stream', 'partition'], (g, r) => {
    for (const { stream, partition, part } of parts(r)) g.set({ stream, partition }, part.depth);
  });
  gauge('stream_partition_length', 'Messages held in each partition of a partitioned events stream.', ['stream', 'partition'], (g, r) => {
    for (const { stream, partition, part } of parts(r)) g.set({ stream, partition }, part.length);
  });
  gauge('consumer_partition_lag', 'Messages a consumer group has not read yet, per partition of a partitioned events stream.', ['stream', 'partition', 'group'], (g, r) => {
    for (const { stream, partition, part } of parts(r)) for (const grp of part.groups) g.set({ stream, partition, group: grp.name }, grp.lag);
  });
  gauge('consumer_partition_pending', 'Deliveries of a consumer group not acked yet, per partition of a partitioned events stream.', ['stream', 'partition', 'group'], (g, r) => {
    for (const { stream, partition, part } of parts(r)) for (const grp of part.groups) g.set({ stream, partition, group: grp.name }, grp.pending);
  });
  const PRIORITIES = ['low', 'normal', 'high', 'critical'];
  gauge('queue_depth', 'Tasks in a queue that no worker has taken yet, per priority.', ['queue', 'priority'], (g, r) => {
    for (const [queue, s] of Object.entries(r.queues)) {
      s.lagByPriority.forEach((n, i) => g.set({ queue, priority: PRIORITIES[i] ?? String(i) }, n));
    }
  });
  gauge('queue_waiting', 'Tasks in a queue that no worker has taken yet.', ['queue'], (g, r) => {
    for (const [queue, s] of Object.entries(r.queues)) g.set({ queue }, s.lag);
  });
  gauge('queue_running', 'Tasks of a queue taken by a worker and not finished.', ['queue'], (g, r) => {
    for (const [queue, s] of Object.entries(r.queues)) g.set({ queue }, s.pending);
  });
  gauge('queue_delayed', 'Tasks of a queue waiting for their ETA or countdown.', ['queue'], (g, r) => {
    for (const [queue, s] of Object.entries(r.queues)) g.set({ queue }, s.delayed);
  });
  gauge('queue_retrying', 'Tasks of a queue waiting for a retry.', ['queue'], (g, r) => {
    for (const [queue, s] of Object.entries(r.queues)) g.set({ queue }, s.retrying);
  });
  gauge('workers', 'Workers by state (silent: online but heartbeat overdue).', ['state'], (g, r) => {
    g.set({ state: 'online' }, r.workers.filter((w) => w.online).length);
    g.set({ state: 'silent' }, r.workers.filter((w) => w.silent).length);
    g.set({ state: 'offline' }, r.workers.filter((w) => w.state === 'offline').length);
  });
  const onlineWorkers = (r: ComprehensiveReport) => r.workers.filter((w) => w.online);
  gauge('worker_utilisation', 'Running tasks / concurrency of each online worker (0 to 1).', ['worker'], (g, r) => {
    for (const w of onlineWorkers(r)) {
      const capacity = Object.values(w.queues).reduce((n, c) => n + c, 0);
      g.set({ worker: w.id }, capacity > 0 ? Math.min(1, w.active / capacity) : 0);
    }
  });
  gauge('worker_active_tasks', 'Tasks running in each online worker.', ['worker'], (g, r) => {
    for (const w of onlineWorkers(r)) g.set({ worker: w.id }, w.active);
  });
  gauge('worker_processed', 'Tasks each online worker finished successfully since it started.', ['worker'], (g, r) => {
    for (const w of onlineWorkers(r)) g.set({ worker: w.id }, w.processed);
  });
  gauge('worker_failed', 'Tasks each online worker failed for good since it started.', ['worker'], (g, r) => {
    for (const w of onlineWorkers(r)) g.set({ worker: w.id }, w.failed);
  });

  const offs = [
    bus.on('published', ({ event }) => published.inc({ type: event.type })),
    bus.on('handled', ({ event, group, durationMs }) => {
      handled.inc({ group, type: event.type });
      latency.observe({ group, type: event.type }, durationMs / 1000);
    }),
    bus.on('failed', ({ event, group }) => failed.inc({ group, type: event.type })),
    bus.on('dead-lettered', ({ group }) => deadLettered.inc({ group })),
  ];

  let closed = false;
  const metrics: BusMetrics = {
    registry,
    async handler(_req, res) {
      try {
        const body = await registry.metrics();
        res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      } catch (err) {
        const body = `# metrics unavailable: ${(err as Error).message}\n`;
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      }
    },
    text: () => registry.metrics(),
    close() {
      if (closed) return;
      closed = true;
      for (const off of offs) off();
      for (const n of owned) registry.removeSingleMetric(n);
    },
  };
  return metrics;
}

/**
 * `GET /metrics`: the system's metrics in Prometheus text format (see {@link createMetrics}).
 * Creates the metrics once; call `createMetrics` yourself to reach the registry or close them.
 */
export function metricsHandler(bus: EventSystem, options: MetricsOptions = {}): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return createMetrics(bus, options).handler;
}
