import { hostname } from 'node:os';
import { CronExpressionParser } from 'cron-parser';
import type { SystemContext } from './context.js';
import { ClosedError, EventValidationError, type ValidationIssue } from './errors.js';
import type { EventPriority } from './events/envelope.js';
import type { TaskRegistry } from './tasks/tasks.js';

/** A periodic task (Celery beat's schedule entry). Give exactly one of `everyMs` or `cron`. */
export interface ScheduleEntry {
  /** Unique name of the entry, e.g. `'cleanup-old-events-daily'`. */
  name: string;
  /** The task to send. */
  task: string;
  /** Run every this many ms; runs fall on multiples of `everyMs` since the epoch (UTC). */
  everyMs?: number;
  /** Run on a cron expression (5 or 6 fields), e.g. `'0 2 * * *'`. */
  cron?: string;
  /** Time zone of the cron expression. @default 'UTC' */
  timezone?: string;
  /** The task's arguments. */
  args?: unknown;
  /** The queue, when the task is not defined in this process. */
  queue?: string;
  /** The task's priority. */
  priority?: EventPriority;
}

/** A schedule entry with its next run. */
export interface ScheduledEntry extends ScheduleEntry {
  /** The next run (ISO 8601). */
  nextRunAt: string;
  /** The last run sent by any process (ISO 8601), when known. */
  lastRunAt: string | undefined;
}

/** Options of the scheduler. */
export interface SchedulerOptions {
  /** How often due runs are checked, in ms. @default 250 */
  tickMs?: number;
  /**
   * How far back a leader that has been running sends runs that fell due and were not sent (a
   * leader died holding its lock, a tick came late on a busy event loop): each such run once,
   * oldest first, never one due before this scheduler started. A scheduler that has just
   * started looks back only over the hand-over time (the leader lock's TTL plus two ticks,
   * 2.5 s by default), so a downtime never fires a burst of missed runs. @default 60000
   */
  catchUpMs?: number;
}

/** The default of {@link SchedulerOptions.catchUpMs}. */
export const DEFAULT_CATCH_UP_MS = 60_000;

/** Most runs one entry sends in one tick (a bound on catch-up for very frequent schedules). */
export const MAX_CATCH_UP_RUNS = 100;

/** The start of the first run slot strictly after `t`. @internal */
export function slotAfter(e: Pick<ScheduleEntry, 'everyMs' | 'cron' | 'timezone'>, t: number): number {
  if (e.everyMs !== undefined) return (Math.floor(t / e.everyMs) + 1) * e.everyMs;
  return CronExpressionParser.parse(e.cron as string, { currentDate: new Date(t), tz: e.timezone ?? 'UTC' }).next().getTime();
}

/** The start of the latest run slot at or before `now`. @internal */
export function currentSlot(e: Pick<ScheduleEntry, 'everyMs' | 'cron' | 'timezone'>, now: number): number {
  if (e.everyMs !== undefined) return Math.floor(now / e.everyMs) * e.everyMs;
  return CronExpressionParser.parse(e.cron as string, { currentDate: new Date(now + 1), tz: e.timezone ?? 'UTC' }).prev().getTime();
}

/** How far back {@link dueSlots} looks. @internal */
export interface CatchUp {
  /** When this scheduler started (ms): runs due earlier than that are caught up only within `handOverMs`. */
  startedAt: number;
  /** The longest a dead leader's lock can hold the others back (lock TTL plus two ticks). */
  handOverMs: number;
  /** The furthest back a scheduler that has been running catches up. */
  catchUpMs: number;
}

/**
 * The runs of an entry to send now, oldest first: every slot after `last` that fell due since
 * `max(now - catchUpMs, min(startedAt, now - handOverMs))`, so a failover or a late tick loses
 * none; when none is that recent, only the latest due slot (after a long downtime: one run, not
 * a burst). An entry that never ran (`last` undefined) sends only its latest slot, a cron entry
 * only one due since `startedAt`. At most {@link MAX_CATCH_UP_RUNS} (the rest next tick).
 *
 * @internal
 */
export function dueSlots(e: Pick<ScheduleEntry, 'everyMs' | 'cron' | 'timezone'>, now: number, last: number | undefined, c: CatchUp): number[] {
  const latest = currentSlot(e, now);
  if (last === undefined) return e.cron !== undefined && latest <= c.startedAt ? [] : [latest];
  if (latest <= last) return [];
  const from = Math.max(now - c.catchUpMs, Math.min(c.startedAt, now - c.handOverMs));
  const out: number[] = [];
  for (let s = slotAfter(e, Math.max(last, from - 1)); s <= now && out.length < MAX_CATCH_UP_RUNS; s = slotAfter(e, s)) out.push(s);
  return out.length > 0 ? out : [latest];
}

let schedulerSeq = 0;

/**
 * Celery beat: sends tasks on a schedule. Several processes may run a scheduler on one shared
 * transport; each due run is sent exactly once in total: a leader lock (with expiry, renewed by
 * compare-and-set, and a fencing token) elects one sender, and every run is also claimed under a
 * key of its own, so even two leaders at a lock hand-over never send a run twice.
 *
 * No due run is lost to a failover: when a leader dies holding its lock, the next leader sends,
 * once each and oldest first, the runs that fell due meanwhile (back to `catchUpMs`, 60 s by
 * default, and never before it started). After a downtime a schedule does not fire a burst of
 * missed runs: a scheduler that has just started sends only the runs of the hand-over time (the
 * lock's TTL plus two ticks, 2.5 s by default), or, when none is that recent, the latest due run. A cron schedule that never ran
 * does not fire a run that was due before the scheduler first started.
 */
export class Scheduler {
  private readonly entries = new Map<string, ScheduleEntry>();
  private readonly id = `${hostname()}:${process.pid}:${++schedulerSeq}`;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private startedAt = 0;
  private fence: number | undefined;
  private stopped = false;
  private readonly tickMs: number;
  private readonly catchUpMs: number;

  /** @internal */
  constructor(
    private readonly ctx: SystemContext,
    private readonly tasks: TaskRegistry,
    options: SchedulerOptions = {},
  ) {
    this.tickMs = options.tickMs ?? 250;
    this.catchUpMs = options.catchUpMs ?? DEFAULT_CATCH_UP_MS;
  }

  private get ns(): string {
    return this.ctx.config.namespace;
  }

  /** True when this scheduler holds the leader lock. */
  get isLeader(): boolean {
    return this.fence !== undefined;
  }

  /**
   * Adds an entry (replacing one of the same name).
   *
   * @throws {@link EventValidationError} when both or neither of `everyMs`/`cron` are given, the
   *   cron expression or time zone is invalid, or the name is empty.
   * @returns this scheduler, for chaining.
   * @example
   * ```ts
   * bus.scheduler.add({ name: 'erp-sync', task: 'erp_sync', cron: '0 2 * * *', timezone: 'Europe/Paris' });
   * ```
   */
  add(entry: ScheduleEntry): this {
    const issues: ValidationIssue[] = [];
    if (typeof entry.name !== 'string' || entry.name.length === 0) issues.push({ path: 'name', message: 'must be a non-empty string' });
    if (typeof entry.task !== 'string' || entry.task.length === 0) issues.push({ path: 'task', message: 'must be a task name' });
    if ((entry.everyMs === undefined) === (entry.cron === undefined)) issues.push({ path: 'everyMs', message: 'give exactly one of everyMs or cron' });
    if (entry.everyMs !== undefined && !(Number.isInteger(entry.everyMs) && entry.everyMs >= 100)) {
      issues.push({ path: 'everyMs', message: 'must be a whole number of ms >= 100' });
    }
    if (entry.timezone !== undefined) {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: entry.timezone });
      } catch {
        issues.push({ path: 'timezone', message: `unknown time zone '${entry.timezone}' (use an IANA name such as 'Europe/Paris')` });
      }
    }
    if (entry.cron !== undefined && issues.length === 0) {
      try {
        CronExpressionParser.parse(entry.cron, { tz: entry.timezone ?? 'UTC' });
      } catch (err) {
        issues.push({ path: 'cron', message: `invalid cron expression or time zone: ${(err as Error).message}` });
      }
    }
    if (issues.length) throw new EventValidationError(entry.name, issues);
    this.entries.set(entry.name, { ...entry });
    return this;
  }

  /** Removes an entry. Returns whether it existed. */
  remove(name: string): boolean {
    return this.entries.delete(name);
  }

  /** The entries with their next and last runs. */
  async list(): Promise<ScheduledEntry[]> {
    const now = this.ctx.clock.now();
    const out: ScheduledEntry[] = [];
    for (const e of this.entries.values()) {
      const last = await this.ctx.transport.kvGet(this.lastKey(e.name));
      out.push({ ...e, nextRunAt: new Date(this.nextSlot(e, now)).toISOString(), lastRunAt: last ? new Date(Number(last)).toISOString() : undefined });
    }
    return out;
  }

  /** Starts checking the schedule. Memoised; the timer never keeps the process alive. */
  async start(): Promise<void> {
    if (this.stopped) throw new ClosedError('scheduler');
    if (this.timer) return;
    this.startedAt = this.ctx.clock.now();
    this.timer = setInterval(() => void this.tick(), this.tickMs);
    this.timer.unref();
    await this.tick();
    this.ctx.logger.info('scheduler started', { scheduler: this.id, entries: [...this.entries.keys()] });
  }

  /**
   * Stops ticking without releasing the leader lock or clearing its state, as a process killed
   * with SIGKILL does: for failover tests. Call `stop()` afterwards to clean up.
   *
   * @internal
   */
  haltForTesting(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops the scheduler and releases the leader lock. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
    if (this.fence !== undefined) {
      await this.ctx.transport.kvDelete(this.leaderKey, { ifEquals: this.id }).catch(() => false);
      this.fence = undefined;
    }
  }

  private get leaderKey(): string {
    return `${this.ns}:scheduler:leader`;
  }

  private lastKey(name: string): string {
    return `${this.ns}:schedule:${name}:last`;
  }

  private nextSlot(e: ScheduleEntry, now: number): number {
    return slotAfter(e, now);
  }

  private tick(): Promise<void> {
    this.ticking ??= this.runTick().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async runTick(): Promise<void> {
    if (this.stopped || this.entries.size === 0) return;
    const { transport, logger, clock } = this.ctx;
    try {
      const ttlMs = Math.max(3 * this.tickMs, 2000);
      if (this.fence === undefined) {
        if (await transport.kvSet(this.leaderKey, this.id, { ifAbsent: true, ttlMs })) {
          this.fence = await transport.kvIncr(`${this.ns}:scheduler:fence`);
          logger.info('scheduler is the leader', { scheduler: this.id, fence: this.fence });
        } else return;
      } else if (!(await transport.kvSet(this.leaderKey, this.id, { ifEquals: this.id, ttlMs }))) {
        logger.warn('scheduler lost the leader lock', { scheduler: this.id });
        this.fence = undefined;
        return;
      }
      const now = clock.now();
      const catchUp: CatchUp = { startedAt: this.startedAt, handOverMs: ttlMs + 2 * this.tickMs, catchUpMs: this.catchUpMs };
      for (const e of this.entries.values()) {
        const lastRaw = await transport.kvGet(this.lastKey(e.name));
        const last = lastRaw === null ? undefined : Number(lastRaw);
        for (const slot of dueSlots(e, now, last === undefined || Number.isNaN(last) ? undefined : last, catchUp)) {
          // One key per run: even two leaders at a hand-over cannot both send it.
          const claimTtl = Math.max(2 * (e.everyMs ?? 86_400_000), 60_000, 2 * this.catchUpMs);
          const claimed = await transport.kvSet(`${this.ns}:schedule:${e.name}:${slot}`, `${this.id}#${this.fence}`, { ifAbsent: true, ttlMs: claimTtl });
          if (!claimed) {
            await transport.kvSet(this.lastKey(e.name), String(slot));
            continue;
          }
          try {
            await this.tasks.send(e.task, e.args ?? null, {
              ...(e.queue ? { queue: e.queue } : {}),
              ...(e.priority ? { priority: e.priority } : {}),
              correlationId: `schedule:${e.name}:${new Date(slot).toISOString()}`,
            });
          } catch (err) {
            // Give the run back so the next tick tries again.
            await transport.kvDelete(`${this.ns}:schedule:${e.name}:${slot}`).catch(() => false);
            throw err;
          }
          await transport.kvSet(this.lastKey(e.name), String(slot));
          logger.info('scheduled task sent', { entry: e.name, task: e.task, slot: new Date(slot).toISOString() });
        }
      }
    } catch (err) {
      logger.warn('scheduler tick failed; will retry', { error: (err as Error).message });
    }
  }
}
