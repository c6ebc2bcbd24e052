import type { SystemContext } from './context.js';
import type { StoreStats } from './contracts/store.js';
import type { GroupInfo, StreamInfo } from './contracts/transport.js';
import { ConfigError } from './errors.js';
import { nullRecord, recordOf } from './records.js';
import type { WorkerInfo } from './tasks/worker.js';

/** Alert thresholds of the health check (the seed's rules). Pass overrides as `createEventSystem({ health })`. */
export interface HealthThresholds {
  /** Unhealthy below this success rate over the last 24 hours, in percent. @default 95 */
  minSuccessRate: number;
  /** Unhealthy above this many pending events on the events stream. @default 1000 */
  maxPendingEvents: number;
  /** Unhealthy above this many dead letters. @default 100 */
  maxDlqSize: number;
  /**
   * A worker that still says it is online but has not sent a heartbeat for more than this many of
   * its heartbeat intervals is silent (crashed, frozen or cut off), and the system is unhealthy.
   * @default 3
   */
  workerSilentBeats: number;
}

/** The default alert thresholds. */
export const DEFAULT_HEALTH_THRESHOLDS: Readonly<HealthThresholds> = Object.freeze({
  minSuccessRate: 95,
  maxPendingEvents: 1000,
  maxDlqSize: 100,
  workerSilentBeats: 3,
});

/** The rule behind a health issue: match on it rather than on the message. */
export type HealthRule = 'success-rate' | 'pending-events' | 'dlq-size' | 'worker-silent' | 'transport' | 'store';

/** One reason why the system is not healthy. */
export interface HealthIssue {
  /** The rule that fired. */
  rule: HealthRule;
  /** A sentence for people (also in {@link HealthStatus.issues}). */
  message: string;
  /** The measured value, when the rule compares one with a threshold. */
  value?: number;
  /** The threshold it crossed. */
  threshold?: number;
  /** The worker concerned, for `worker-silent`. */
  worker?: string;
}

/** Processing figures over a time window. */
export interface ProcessingStats {
  /** The window, in hours. */
  hours: number;
  /** Events that occurred in the window. */
  totalEvents: number;
  /** Events processed successfully (by at least one group). */
  processedEvents: number;
  /** Events that failed or were dead-lettered. */
  failedEvents: number;
  /** Events waiting on the transport: backlog, pending and retrying, over every group. */
  pendingEvents: number;
  /** processed / (processed + failed), in percent; 100 when nothing ran. */
  successRate: number;
  /** Events per second over the window. */
  throughputPerSecond: number;
  /** Median handler duration, ms. */
  p50Ms: number;
  /** 95th percentile handler duration, ms. */
  p95Ms: number;
}

/** A stream's state with totals over its groups (from `XINFO`/`XPENDING` on Redis). */
export interface StreamSummary extends StreamInfo {
  /** Deliveries handed out and not acked yet, over every group. */
  pending: number;
  /** Messages not read yet, summed over every group. */
  lag: number;
  /** Messages not read yet per priority rank (index 0 low to 3 critical), summed over every group. */
  lagByPriority: number[];
  /** Messages waiting for a delayed redelivery, over every group. */
  retrying: number;
  /** Age of the oldest pending delivery of any group, ms (0 when none). */
  oldestPendingMs: number;
  /**
   * Events waiting on the stream, over every group: `lag + pending + retrying + delayed` (what
   * the `pendingEvents` health figure counts).
   */
  depth: number;
  /**
   * A partitioned stream (`eventStreamPartitions > 1`): each partition (index `i` is the
   * adapter's stream `partitionName(stream, i)`) with its own totals and depth; the fields above
   * are the sums over them. Absent for a stream that is not partitioned.
   */
  partitions?: StreamSummary[];
}

/** A worker as the health check sees it. */
export interface WorkerHealth {
  /** The worker id (`name@host:pid:n`). */
  id: string;
  /** Host name. */
  host: string;
  /** Process id. */
  pid: number;
  /** The state the worker reported: `'offline'` after a graceful stop. */
  state: 'online' | 'offline';
  /** Running, and its last heartbeat is recent. */
  online: boolean;
  /** Says it is online but its heartbeat is overdue (see {@link HealthThresholds.workerSilentBeats}). */
  silent: boolean;
  /** Its last heartbeat (ISO 8601). */
  lastSeen: string;
  /** Heartbeat interval, ms. */
  heartbeatMs: number;
  /** Concurrency per queue. */
  queues: Record<string, number>;
  /** Tasks running at its last heartbeat. */
  active: number;
  /** Tasks finished successfully since it started. */
  processed: number;
  /** Tasks failed for good since it started. */
  failed: number;
}

/** The health of the event system. */
export interface HealthStatus {
  /** False when any alert rule fires; `issues` says which. */
  healthy: boolean;
  /** Success rate over the last 24 hours, in percent. */
  successRate: number;
  /** One line per rule that fired (or component that failed). */
  issues: string[];
  /** The same as {@link HealthStatus.issues}, with the rule and figures of each. */
  checks: HealthIssue[];
  /** The transport's state. */
  transport: { name: string; ok: boolean; error?: string };
  /** The store's state. */
  store: { name: string; ok: boolean; error?: string };
  /** Entries in the dead letter queue (-1 when unknown). */
  dlqSize: number;
  /** Events waiting on the transport (-1 when unknown). */
  pendingEvents: number;
  /** Workers that reported in the last hour (from their heartbeats). */
  workers: WorkerHealth[];
  /** The thresholds the rules used. */
  thresholds: HealthThresholds;
  /** When the check ran (ISO 8601). */
  checkedAt: string;
}

/** Everything the monitor knows, in one object (see {@link Monitor.getComprehensiveReport}). */
export interface ComprehensiveReport {
  /** The health check. */
  health: HealthStatus;
  /** Processing figures of the last 24 hours. */
  processing: ProcessingStats;
  /** Events per type over the last 24 hours. */
  eventTypes: Record<string, number>;
  /** The events stream. */
  stream: StreamSummary;
  /** Each task queue (defined here or consumed by a worker). */
  queues: Record<string, StreamSummary>;
  /** Workers from their heartbeats. */
  workers: WorkerHealth[];
  /** Entries in the dead letter queue (-1 when unknown). */
  dlqSize: number;
  /** When the report was made (ISO 8601). */
  generatedAt: string;
}

/** Where the monitor reads workers and queues from (the task system). @internal */
export interface MonitorSources {
  /** Every worker of the registry (heartbeats of the last hour). */
  workers?: () => Promise<WorkerInfo[]>;
  /** Every known task queue and its state. */
  queues?: () => Promise<Record<string, StreamInfo>>;
}

/**
 * Health checks and statistics, computed from store aggregates (`EventStore.stats`, one
 * aggregate query per window) and transport introspection (`Transport.info`: XINFO and XPENDING
 * on Redis), never by reading events into JavaScript.
 *
 * @example
 * ```ts
 * const health = await bus.monitor.getHealthStatus();
 * if (!health.healthy) console.error(health.issues.join('\n'));
 * const { successRate, p95Ms } = await bus.monitor.getProcessingStats({ hours: 1 });
 * ```
 */
export class Monitor {
  /** The thresholds in force. */
  readonly thresholds: Readonly<HealthThresholds>;

  /** @internal */
  constructor(
    private readonly ctx: SystemContext,
    thresholds: Partial<HealthThresholds> = {},
    private readonly sources: MonitorSources = {},
  ) {
    const t = { ...DEFAULT_HEALTH_THRESHOLDS, ...thresholds };
    for (const [key, value] of Object.entries(t)) {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new ConfigError(`health.${key}`, `must be a finite number >= 0 (got ${String(value)})`);
      }
    }
    this.thresholds = Object.freeze(t);
  }

  /**
   * Length, groups, pending, lag and oldest pending age of the events stream (or of another
   * stream, e.g. a task queue's), with totals over its groups and its `depth`. A partitioned
   * events stream (`eventStreamPartitions > 1`) also has `partitions`: each partition's figures
   * and depth, the top-level fields being their sums.
   *
   * @example
   * ```ts
   * const info = await bus.monitor.getStreamInfo();
   * console.log(info.depth, info.partitions?.map((p) => p.depth));
   * ```
   */
  async getStreamInfo(stream = this.ctx.config.eventStreamName): Promise<StreamSummary> {
    return summarize(await this.ctx.transport.info(stream));
  }

  /** Processing figures over the last `hours` (default 24). */
  async getProcessingStats(options: { hours?: number } = {}): Promise<ProcessingStats> {
    const hours = windowHours(options.hours);
    const [stats, info] = await Promise.all([this.stats(hours), this.getStreamInfo()]);
    return processing(hours, stats, info);
  }

  /**
   * Events per type over the last `hours` (default 24), as a null-prototype record: a type with
   * no events reads as `undefined` (even one named `toString`), so `types[name] ?? 0` is right.
   */
  async getEventTypeStats(options: { hours?: number } = {}): Promise<Record<string, number>> {
    return (await this.stats(windowHours(options.hours))).byType;
  }

  /** Workers from their heartbeats, each marked `silent` when its heartbeat is overdue. */
  async getWorkers(): Promise<WorkerHealth[]> {
    const list = (await this.sources.workers?.()) ?? [];
    const now = this.ctx.clock.now();
    return list.map((w) => {
      const age = now - Date.parse(w.lastSeen);
      const silent = w.state === 'online' && age > this.thresholds.workerSilentBeats * w.heartbeatMs;
      return {
        id: w.id,
        host: w.host,
        pid: w.pid,
        state: w.state,
        online: w.state === 'online' && !silent,
        silent,
        lastSeen: w.lastSeen,
        heartbeatMs: w.heartbeatMs,
        queues: recordOf(Object.entries(w.queues ?? {})),
        active: w.active,
        processed: w.processed,
        failed: w.failed,
      };
    });
  }

  /** Each task queue (defined in this process or consumed by a worker) with totals. */
  async getQueues(): Promise<Record<string, StreamSummary>> {
    const raw = (await this.sources.queues?.()) ?? {};
    return recordOf(Object.entries(raw).map(([q, info]) => [q, summarize(info)] as const));
  }

  /**
   * Runs the health checks. Never throws: a failing component is reported in `issues`. The
   * rules: success rate under `minSuccessRate`, more than `maxPendingEvents` pending, more than
   * `maxDlqSize` dead letters, a worker silent past `workerSilentBeats` heartbeats, and the
   * transport or the store unreachable.
   */
  async getHealthStatus(): Promise<HealthStatus> {
    return (await this.check()).health;
  }

  /** Health, 24-hour processing figures, type distribution, streams, queues and workers in one report. */
  async getComprehensiveReport(): Promise<ComprehensiveReport> {
    const { health, stats, stream } = await this.check();
    const queues = await this.getQueues().catch(() => nullRecord<StreamSummary>());
    const empty: StoreStats = { totalEvents: 0, processedEvents: 0, failedEvents: 0, unprocessedEvents: 0, unpublishedEvents: 0, byType: nullRecord(), p50Ms: 0, p95Ms: 0 };
    const zero = summarize({ stream: this.ctx.config.eventStreamName, length: 0, lengthByPriority: [0, 0, 0, 0], delayed: 0, groups: [] });
    return {
      health,
      processing: processing(24, stats ?? empty, stream ?? zero),
      eventTypes: (stats ?? empty).byType,
      stream: stream ?? zero,
      queues,
      workers: health.workers,
      dlqSize: health.dlqSize,
      generatedAt: new Date(this.ctx.clock.now()).toISOString(),
    };
  }

  private async check(): Promise<{ health: HealthStatus; stats?: StoreStats; stream?: StreamSummary }> {
    const { transport, store } = this.ctx;
    const checks: HealthIssue[] = [];
    const health: HealthStatus = {
      healthy: true,
      successRate: 100,
      issues: [],
      checks,
      transport: { name: transport.name, ok: true },
      store: { name: store.name, ok: true },
      dlqSize: -1,
      pendingEvents: -1,
      workers: [],
      thresholds: { ...this.thresholds },
      checkedAt: new Date(this.ctx.clock.now()).toISOString(),
    };
    const [streamR, dlqR, statsR, workersR] = await Promise.allSettled([
      this.getStreamInfo(),
      transport.countDeadLetters(this.ctx.config.dlqStreamName),
      this.stats(24),
      this.getWorkers(),
    ]);
    let stream: StreamSummary | undefined;
    let stats: StoreStats | undefined;
    const transportError = [streamR, dlqR, workersR].find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
    if (streamR.status === 'fulfilled') {
      stream = streamR.value;
      health.pendingEvents = pendingOf(stream);
    }
    if (dlqR.status === 'fulfilled') health.dlqSize = dlqR.value;
    if (workersR.status === 'fulfilled') health.workers = workersR.value;
    if (transportError) {
      const message = errorMessage(transportError.reason);
      health.transport = { name: transport.name, ok: false, error: message };
      checks.push({ rule: 'transport', message: `transport '${transport.name}' unavailable: ${message}` });
    }
    if (statsR.status === 'fulfilled') {
      stats = statsR.value;
      health.successRate = rate(stats);
    } else {
      const message = errorMessage(statsR.reason);
      health.store = { name: store.name, ok: false, error: message };
      checks.push({ rule: 'store', message: `store '${store.name}' unavailable: ${message}` });
    }
    const t = this.thresholds;
    if (health.successRate < t.minSuccessRate) {
      checks.push({
        rule: 'success-rate',
        message: `success rate ${health.successRate}% is under ${t.minSuccessRate}% (last 24 hours)`,
        value: health.successRate,
        threshold: t.minSuccessRate,
      });
    }
    if (health.pendingEvents > t.maxPendingEvents) {
      checks.push({
        rule: 'pending-events',
        message: `${health.pendingEvents} pending events (more than ${t.maxPendingEvents})`,
        value: health.pendingEvents,
        threshold: t.maxPendingEvents,
      });
    }
    if (health.dlqSize > t.maxDlqSize) {
      checks.push({
        rule: 'dlq-size',
        message: `${health.dlqSize} entries in the dead letter queue (more than ${t.maxDlqSize})`,
        value: health.dlqSize,
        threshold: t.maxDlqSize,
      });
    }
    const now = this.ctx.clock.now();
    for (const w of health.workers) {
      if (!w.silent) continue;
      const silentMs = now - Date.parse(w.lastSeen);
      checks.push({
        rule: 'worker-silent',
        message: `worker ${w.id} is silent: no heartbeat for ${Math.round(silentMs / 1000)} s (more than ${t.workerSilentBeats} beats of ${w.heartbeatMs} ms)`,
        value: silentMs,
        threshold: t.workerSilentBeats * w.heartbeatMs,
        worker: w.id,
      });
    }
    health.issues = checks.map((c) => c.message);
    health.healthy = checks.length === 0;
    return { health, stats, stream };
  }

  private async stats(hours: number): Promise<StoreStats> {
    const since = new Date(this.ctx.clock.now() - hours * 3_600_000).toISOString();
    const stats = await this.ctx.store.stats({ since });
    // Whatever record a (third-party) store built, hand out a null-prototype copy: a caller's
    // lookup of a type named 'toString' or 'constructor' then never finds Object.prototype's.
    return { ...stats, byType: recordOf(Object.entries(stats.byType ?? {})) };
  }
}

function windowHours(hours: number | undefined): number {
  const h = hours ?? 24;
  if (!(h > 0) || !Number.isFinite(h)) throw new ConfigError('hours', `must be a positive number (got ${String(hours)})`);
  return h;
}

function processing(hours: number, stats: StoreStats, info: StreamSummary): ProcessingStats {
  return {
    hours,
    totalEvents: stats.totalEvents,
    processedEvents: stats.processedEvents,
    failedEvents: stats.failedEvents,
    pendingEvents: pendingOf(info),
    successRate: rate(stats),
    throughputPerSecond: round2(stats.totalEvents / (hours * 3600)),
    p50Ms: stats.p50Ms,
    p95Ms: stats.p95Ms,
  };
}

function rate(stats: StoreStats): number {
  const done = stats.processedEvents + stats.failedEvents;
  return done === 0 ? 100 : round2((stats.processedEvents / done) * 100);
}

/** Adds totals over the groups of a stream. @internal */
export function summarize(info: StreamInfo): StreamSummary {
  const sum = (f: (g: GroupInfo) => number) => info.groups.reduce((n, g) => n + f(g), 0);
  const { partitions, ...rest } = info;
  const out: StreamSummary = {
    ...rest,
    pending: sum((g) => g.pending),
    lag: sum((g) => g.lag),
    lagByPriority: [0, 1, 2, 3].map((r) => sum((g) => g.lagByPriority[r] ?? 0)),
    retrying: sum((g) => g.retrying),
    oldestPendingMs: info.groups.reduce((m, g) => Math.max(m, g.oldestPendingMs), 0),
    depth: 0,
  };
  out.depth = pendingOf(out);
  if (partitions) out.partitions = partitions.map((p) => summarize(p));
  return out;
}

function pendingOf(info: StreamSummary): number {
  return info.delayed + info.pending + info.lag + info.retrying;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
