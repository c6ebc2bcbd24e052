import type { SystemContext } from './context.js';
import type { StreamInfo } from './contracts/transport.js';

/** Alert thresholds of the health check (the seed's rules). */
export interface HealthThresholds {
  /** Unhealthy below this success rate, in percent. @default 95 */
  minSuccessRate: number;
  /** Unhealthy above this many pending events. @default 1000 */
  maxPendingEvents: number;
  /** Unhealthy above this many dead letters. @default 100 */
  maxDlqSize: number;
}

/** The default alert thresholds. */
export const DEFAULT_HEALTH_THRESHOLDS: Readonly<HealthThresholds> = Object.freeze({
  minSuccessRate: 95,
  maxPendingEvents: 1000,
  maxDlqSize: 100,
});

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

/** The health of the event system. */
export interface HealthStatus {
  /** False when any alert rule fires; `issues` says which. */
  healthy: boolean;
  /** Success rate over the last 24 hours, in percent. */
  successRate: number;
  /** One line per rule that fired (or component that failed). */
  issues: string[];
  /** The transport's state. */
  transport: { name: string; ok: boolean; error?: string };
  /** The store's state. */
  store: { name: string; ok: boolean; error?: string };
  /** Entries in the dead letter queue (-1 when unknown). */
  dlqSize: number;
  /** Events waiting on the transport (-1 when unknown). */
  pendingEvents: number;
  /** Known workers (filled by the task queue). */
  workers: unknown[];
  /** When the check ran (ISO 8601). */
  checkedAt: string;
}

/**
 * Health checks and statistics, computed from store aggregates and transport introspection.
 */
export class Monitor {
  private readonly thresholds: HealthThresholds;

  /** @internal */
  constructor(
    private readonly ctx: SystemContext,
    thresholds: Partial<HealthThresholds> = {},
  ) {
    this.thresholds = { ...DEFAULT_HEALTH_THRESHOLDS, ...thresholds };
  }

  /** Length, groups, pending and lag of the events stream (or another stream). */
  getStreamInfo(stream = this.ctx.config.eventStreamName): Promise<StreamInfo> {
    return this.ctx.transport.info(stream);
  }

  /** Processing figures over the last `hours` (default 24). */
  async getProcessingStats(options: { hours?: number } = {}): Promise<ProcessingStats> {
    const hours = options.hours ?? 24;
    const since = new Date(this.ctx.clock.now() - hours * 3_600_000).toISOString();
    const [stats, info] = await Promise.all([this.ctx.store.stats({ since }), this.getStreamInfo()]);
    const done = stats.processedEvents + stats.failedEvents;
    return {
      hours,
      totalEvents: stats.totalEvents,
      processedEvents: stats.processedEvents,
      failedEvents: stats.failedEvents,
      pendingEvents: pendingOf(info),
      successRate: done === 0 ? 100 : round2((stats.processedEvents / done) * 100),
      throughputPerSecond: round2(stats.totalEvents / (hours * 3600)),
      p50Ms: stats.p50Ms,
      p95Ms: stats.p95Ms,
    };
  }

  /** Events per type over the last `hours` (default 24). */
  async getEventTypeStats(options: { hours?: number } = {}): Promise<Record<string, number>> {
    const hours = options.hours ?? 24;
    const since = new Date(this.ctx.clock.now() - hours * 3_600_000).toISOString();
    return (await this.ctx.store.stats({ since })).byType;
  }

  /** Runs the health checks. Never throws: a failing component is reported in `issues`. */
  async getHealthStatus(): Promise<HealthStatus> {
    const { transport, store } = this.ctx;
    const issues: string[] = [];
    const health: HealthStatus = {
      healthy: true,
      successRate: 100,
      issues,
      transport: { name: transport.name, ok: true },
      store: { name: store.name, ok: true },
      dlqSize: -1,
      pendingEvents: -1,
      workers: [],
      checkedAt: new Date(this.ctx.clock.now()).toISOString(),
    };
    try {
      health.pendingEvents = pendingOf(await this.getStreamInfo());
      health.dlqSize = await transport.countDeadLetters(this.ctx.config.dlqStreamName);
    } catch (err) {
      health.transport = { name: transport.name, ok: false, error: (err as Error).message };
      issues.push(`transport '${transport.name}' unavailable: ${(err as Error).message}`);
    }
    try {
      const since = new Date(this.ctx.clock.now() - 86_400_000).toISOString();
      const s = await store.stats({ since });
      const done = s.processedEvents + s.failedEvents;
      health.successRate = done === 0 ? 100 : round2((s.processedEvents / done) * 100);
    } catch (err) {
      health.store = { name: store.name, ok: false, error: (err as Error).message };
      issues.push(`store '${store.name}' unavailable: ${(err as Error).message}`);
    }
    const t = this.thresholds;
    if (health.successRate < t.minSuccessRate) issues.push(`success rate ${health.successRate}% is under ${t.minSuccessRate}%`);
    if (health.pendingEvents > t.maxPendingEvents) issues.push(`${health.pendingEvents} pending events (more than ${t.maxPendingEvents})`);
    if (health.dlqSize > t.maxDlqSize) issues.push(`${health.dlqSize} entries in the dead letter queue (more than ${t.maxDlqSize})`);
    health.healthy = issues.length === 0;
    return health;
  }

  /** Health, 24-hour processing figures, type distribution and stream state in one report. */
  async getComprehensiveReport(): Promise<{
    health: HealthStatus;
    processing: ProcessingStats;
    eventTypes: Record<string, number>;
    stream: StreamInfo;
    generatedAt: string;
  }> {
    const [health, processing, eventTypes, stream] = await Promise.all([
      this.getHealthStatus(),
      this.getProcessingStats({ hours: 24 }),
      this.getEventTypeStats({ hours: 24 }),
      this.getStreamInfo(),
    ]);
    return { health, processing, eventTypes, stream, generatedAt: new Date(this.ctx.clock.now()).toISOString() };
  }
}

function pendingOf(info: StreamInfo): number {
  let n = info.delayed;
  for (const g of info.groups) n += g.pending + g.lag + g.retrying;
  return n;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
