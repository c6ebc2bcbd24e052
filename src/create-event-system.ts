import { memoryStore } from '../adapters/memory/memory-store.js';
import { memoryTransport } from '../adapters/memory/memory-transport.js';
import { systemClock, type Clock } from './clock.js';
import { loadConfig, type EventBusConfig } from './config.js';
import { Consumer, type ConsumerOptions } from './consumer.js';
import type { SystemContext } from './context.js';
import type { EventStore } from './contracts/store.js';
import type { Transport } from './contracts/transport.js';
import type { DeadLetters, KeyValue, MessageStreams, Signals, TransportAdmin } from './contracts/transport.js';
import { assertRoles, composeTransport } from './contracts/transport-compose.js';
import { hasRole } from './contracts/transport-defaults.js';
import { ConfigError } from './errors.js';
import { DeadLetterQueue } from './dlq.js';
import { EventStoreApi } from './event-store-api.js';
import { EventRegistry, type EventDefinition } from './events/registry.js';
import { createHookEmitter, type BusHookName, type BusHooks } from './hooks.js';
import { Lifecycle, runAll } from './lifecycle.js';
import { consoleLogger, type Logger } from './logger.js';
import { Monitor, type HealthThresholds } from './monitor.js';
import { OutboxRelay, type OutboxOptions } from './outbox.js';
import { partitionTransport } from './partitions.js';
import { Publisher, type EventPublisher } from './publisher.js';
import { replayEvents, type ReplayFilter } from './replay.js';
import { TASK_EVENT_DEFINITIONS, TaskRuntime } from './tasks/runtime.js';
import { TaskRegistry } from './tasks/tasks.js';
import { Worker, listWorkers, type WorkerInfo, type WorkerOptions } from './tasks/worker.js';
import type { StreamInfo } from './contracts/transport.js';
import { nullRecord } from './records.js';
import { Scheduler, type SchedulerOptions } from './scheduler.js';
import { loadTracing } from './tracing.js';

/** Options of {@link createEventSystem}. Everything is optional. */
export interface EventSystemOptions {
  /**
   * Where messages travel: one adapter that provides every role (streams, dead letters,
   * key-value, signals, admin). A role option below wins over it for that role.
   * @default memoryTransport() (in-process), when no role option is given either
   */
  transport?: Transport;
  /**
   * The message streams and their dead letters, from an adapter that provides both (the move to
   * the DLQ is atomic with the pending list). Required when `transport` is not given and another
   * role option is. @default `transport`
   */
  streams?: MessageStreams & DeadLetters;
  /** Key-value with TTL (task results, locks, heartbeats). @default `transport` */
  keyValue?: KeyValue;
  /** Notifications (results without polling, the live dashboard). @default `transport` */
  signals?: Signals;
  /**
   * Inspection and purge (monitor, dashboard, queue views). Optional: without it those views
   * reject with `ConfigError`. @default `transport`, else `streams` when that adapter declares
   * the admin role
   */
  admin?: TransportAdmin;
  /** The audit trail / event-sourcing store. @default memoryStore() */
  store?: EventStore;
  /** Settings; these win over `PROCUR_EVENT_*` environment variables. */
  config?: Partial<EventBusConfig>;
  /** The environment to read settings from. @default process.env */
  env?: Record<string, string | undefined>;
  /** Where the library logs. @default warnings and errors to stderr */
  logger?: Logger;
  /** Custom event types of this system (see `defineEvent`). */
  events?: readonly EventDefinition[];
  /** Validate payloads against their schemas on publish and consume. @default true */
  validate?: boolean;
  /** Accept event types with no schema (no validation for them). @default false */
  allowUnknownTypes?: boolean;
  /** Stamped as `source` on published events. */
  source?: string;
  /** The outbox relay (re-publishes stored events the transport missed); `false` turns it off. */
  outbox?: OutboxOptions | false;
  /**
   * Publish task lifecycle events (received, started, succeeded, failed, retried, revoked) on
   * `<namespace>:task-events` and record them in the store. @default true
   */
  taskEvents?: boolean;
  /** Scheduler settings. */
  scheduler?: SchedulerOptions;
  /**
   * Define the built-in `cleanup_old_events` task (queue `maintenance`) and schedule it daily as
   * `cleanup-old-events-daily` with `config.eventStoreRetentionDays` (the seed's beat schedule).
   * @default true
   */
  builtins?: boolean;
  /** Health alert thresholds. */
  health?: Partial<HealthThresholds>;
  /** Source of time. @default the system clock */
  clock?: Clock;
  /**
   * OpenTelemetry spans and W3C trace context (docs/tracing.md). On by default when the optional
   * peer `@opentelemetry/api` is installed: spans then go to the globally registered tracer
   * provider (none registered: no spans, no trace context on messages). `false` never loads the
   * API. Without the package installed nothing is loaded and nothing changes. @default true
   */
  tracing?: boolean;
}

/** Celery's `inspect`: what workers do, across every process sharing the transport. */
export interface Inspector {
  /** Every worker that reported in the last hour, with `online` from its heartbeat. */
  workers(): Promise<WorkerInfo[]>;
  /** Tasks running now, per worker. */
  active(): Promise<Record<string, WorkerInfo['activeTasks']>>;
  /** Task names each online worker can run. */
  registered(): Promise<Record<string, string[]>>;
  /** Counters of each worker. */
  stats(): Promise<Record<string, Pick<WorkerInfo, 'processed' | 'failed' | 'retried' | 'active' | 'queues' | 'online' | 'lastSeen'>>>;
  /** State of the queues (defined here and consumed by workers). */
  queues(): Promise<Record<string, StreamInfo>>;
}

/** Options of `bus.close()`. */
export interface CloseOptions {
  /** How long consumers may finish running handlers before they are aborted. @default 10000 */
  timeoutMs?: number;
}

/** A running event system: the object `createEventSystem` returns. */
export interface EventSystem extends AsyncDisposable {
  /** The effective settings. */
  readonly config: Readonly<EventBusConfig>;
  /** The transport adapter. */
  readonly transport: Transport;
  /** Audit-trail queries over the store. */
  readonly store: EventStoreApi;
  /** Publishes events (with one helper per catalog type). */
  readonly publisher: EventPublisher;
  /** The dead letter queue. */
  readonly dlq: DeadLetterQueue;
  /** Health and statistics. */
  readonly monitor: Monitor;
  /** The outbox relay, or `undefined` when turned off. */
  readonly outbox: OutboxRelay | undefined;
  /** The event types this system knows. */
  readonly registry: EventRegistry;
  /** Task queues (Celery's role): define tasks, send them, read results. */
  readonly tasks: TaskRegistry;
  /** Workers, tasks and queues as seen from here (Celery's `inspect`). */
  readonly inspect: Inspector;
  /** Celery beat: periodic tasks, sent once per due run across every process. */
  readonly scheduler: Scheduler;
  /** Creates a worker that runs tasks of the given queues. */
  worker(options?: WorkerOptions): Worker;
  /** Creates a consumer: a named member of a consumer group. */
  consumer(name: string, options?: ConsumerOptions): Consumer;
  /** Re-delivers stored events; returns how many. */
  replay(filter?: ReplayFilter): Promise<number>;
  /** Subscribes to a local lifecycle hook; returns a function that unsubscribes. */
  on<K extends BusHookName>(hook: K, fn: (payload: BusHooks[K]) => void): () => void;
  /** Unsubscribes from a local lifecycle hook. */
  off<K extends BusHookName>(hook: K, fn: (payload: BusHooks[K]) => void): void;
  /**
   * Graceful shutdown: stops the consumers (running handlers get `timeoutMs` to finish, then are
   * aborted and their events handed back), the outbox relay, then closes the store and the
   * transport. Every step runs even if one fails. Memoised; calls after close reject.
   */
  close(options?: CloseOptions): Promise<void>;
}

const ROLE_OPTIONS = ['streams', 'keyValue', 'signals', 'admin'] as const;

/** The event stream split into `eventStreamPartitions` partitions (the transport itself for 1). */
function partitionEvents(transport: Transport, config: EventBusConfig): Transport {
  const stream = config.eventStreamName;
  return partitionTransport(transport, { partitions: config.eventStreamPartitions, streams: (s) => s === stream });
}

/** The one transport of the system: `transport` itself, or a composition of the role options. */
function resolveTransport(options: EventSystemOptions, clock: Clock): Transport {
  const base = options.transport;
  if (!ROLE_OPTIONS.some((r) => options[r] !== undefined)) {
    if (base) assertRoles(base, ['streams', 'deadLetters', 'keyValue', 'signals'], 'transport');
    return base ?? memoryTransport({ clock });
  }
  const streams = options.streams ?? base;
  const keyValue = options.keyValue ?? base;
  const signals = options.signals ?? base;
  const missing = [
    ...(streams ? [] : ['streams']),
    ...(keyValue ? [] : ['keyValue']),
    ...(signals ? [] : ['signals']),
  ];
  if (!streams || !keyValue || !signals) {
    throw new ConfigError(
      missing[0]!,
      `createEventSystem needs the ${missing.join(', ')} role(s): pass ${missing.map((m) => `\`${m}\``).join(', ')} or a \`transport\` that provides every role`,
    );
  }
  assertRoles(streams, ['streams', 'deadLetters'], options.streams ? 'streams' : 'transport');
  assertRoles(keyValue, ['keyValue'], options.keyValue ? 'keyValue' : 'transport');
  assertRoles(signals, ['signals'], options.signals ? 'signals' : 'transport');
  let admin: TransportAdmin | undefined = options.admin;
  if (admin) assertRoles(admin, ['admin'], 'admin');
  else admin = [base, streams].find((p): p is Transport => p !== undefined && 'info' in p && hasRole(p.features, 'admin'));
  return composeTransport({ streams, keyValue, signals, admin });
}

/**
 * Creates an event system. With no options it runs entirely in-process (memory transport,
 * memory store); pass `redisTransport()` and `postgresStore()` / `sqliteStore()` to share it
 * between processes. The store's schema is created here when missing.
 *
 * The system owns the transport and store it is given: `close()` closes them (a Redis client or
 * database pool passed to an adapter stays open).
 *
 * The transport's roles come from `transport`, or each from its own option (`streams`,
 * `keyValue`, `signals`, `admin`), e.g. streams on one adapter and key-value on another.
 *
 * @throws `ConfigError` when a setting is invalid, or a needed role (streams, key-value, signals)
 * is given by no option, or an adapter does not declare the role it is given for;
 * `StoreError` when the store cannot be migrated.
 * @example
 * ```ts
 * import { createEventSystem, EventType } from '@procur/event-bus';
 *
 * const bus = await createEventSystem();
 * bus.consumer('audit').registerHandler(EventType.REQUEST_CREATED, async (e) => console.log(e.data));
 * await bus.publisher.publishRequestCreated({ requestId: 'req-1', description: 'Need CRM', budgetMax: 50_000, userId: 1 });
 * await bus.close();
 * ```
 */
export async function createEventSystem(options: EventSystemOptions = {}): Promise<EventSystem> {
  const config = loadConfig(options.env ?? process.env, options.config ?? {});
  const clock = options.clock ?? systemClock;
  const transport = partitionEvents(resolveTransport(options, clock), config);
  const store = options.store ?? memoryStore({ clock });
  const hooks = createHookEmitter();
  const ctx: SystemContext = {
    config,
    transport,
    store,
    registry: new EventRegistry([...TASK_EVENT_DEFINITIONS, ...(options.events ?? [])], options.allowUnknownTypes ?? false),
    hooks,
    logger: options.logger ?? consoleLogger,
    clock,
    validate: options.validate ?? true,
    source: options.source,
    tracing: await loadTracing(options.tracing),
  };
  // Built before anything is opened: bad thresholds throw ConfigError with nothing to clean up.
  const monitor = new Monitor(ctx, options.health, { workers: () => listWorkers(taskRuntime), queues: () => inspect.queues() });
  if (config.eventSourcingEnabled) {
    try {
      await store.migrate();
    } catch (err) {
      await runAll([() => store.close(), () => transport.close()]).catch(() => {});
      throw err;
    }
  }

  const lifecycle = new Lifecycle('event system');
  const consumers = new Set<Consumer>();
  const outbox = config.eventSourcingEnabled && options.outbox !== false ? new OutboxRelay(ctx, options.outbox || {}) : undefined;
  outbox?.start();
  const publisher = new Publisher(ctx) as EventPublisher;
  const taskRuntime = new TaskRuntime(ctx, options.taskEvents ?? true);
  const tasks = new TaskRegistry(taskRuntime);
  const workers = new Set<Worker>();
  const scheduler = new Scheduler(ctx, tasks, options.scheduler);
  if (options.builtins ?? true) {
    tasks.define('cleanup_old_events', { queue: 'maintenance', maxRetries: 3 }, async (args: { retentionDays?: number } | null) => ({
      deleted: await system.store.cleanupOldEvents(args?.retentionDays ?? config.eventStoreRetentionDays),
    }));
    scheduler.add({
      name: 'cleanup-old-events-daily',
      task: 'cleanup_old_events',
      everyMs: 86_400_000,
      args: { retentionDays: config.eventStoreRetentionDays },
    });
  }
  const inspect: Inspector = {
    workers: () => listWorkers(taskRuntime),
    async active() {
      return Object.fromEntries((await listWorkers(taskRuntime)).filter((w) => w.online).map((w) => [w.id, w.activeTasks]));
    },
    async registered() {
      return Object.fromEntries((await listWorkers(taskRuntime)).filter((w) => w.online).map((w) => [w.id, w.tasks]));
    },
    async stats() {
      return Object.fromEntries(
        (await listWorkers(taskRuntime)).map((w) => [
          w.id,
          { processed: w.processed, failed: w.failed, retried: w.retried, active: w.active, queues: w.queues, online: w.online, lastSeen: w.lastSeen },
        ]),
      );
    },
    async queues() {
      const names = new Set(tasks.queues());
      for (const w of await listWorkers(taskRuntime)) for (const q of Object.keys(w.queues)) names.add(q);
      // Queue names come from other processes' heartbeats: a null-prototype record keeps any name.
      const out = nullRecord<StreamInfo>();
      for (const q of [...names].sort()) out[q] = await tasks.queueInfo(q);
      return out;
    },
  };

  const system: EventSystem = {
    config,
    transport,
    store: new EventStoreApi(ctx),
    publisher,
    dlq: new DeadLetterQueue(ctx),
    monitor,
    outbox,
    registry: ctx.registry,
    tasks,
    inspect,
    scheduler,
    worker(workerOptions) {
      lifecycle.assertOpen();
      const w = new Worker(taskRuntime, tasks, workerOptions, (closed) => workers.delete(closed));
      workers.add(w);
      return w;
    },
    consumer(name, consumerOptions) {
      lifecycle.assertOpen();
      const c = new Consumer(ctx, name, consumerOptions, (closed) => consumers.delete(closed));
      consumers.add(c);
      return c;
    },
    replay(filter) {
      lifecycle.assertOpen();
      return replayEvents(ctx, filter);
    },
    on(hook, fn) {
      hooks.on(hook, fn as never);
      return () => hooks.off(hook, fn as never);
    },
    off(hook, fn) {
      hooks.off(hook, fn as never);
    },
    close(closeOptions = {}) {
      return lifecycle.close(() =>
        runAll([
          () => scheduler.stop(),
          () => Promise.all([...workers].map((w) => w.stop({ timeoutMs: closeOptions.timeoutMs ?? 10_000 }))),
          () => Promise.all([...consumers].map((c) => c.stop({ timeoutMs: closeOptions.timeoutMs ?? 10_000 }))),
          () => taskRuntime.close(),
          () => outbox?.stop(),
          () => store.close(),
          () => transport.close(),
          () => hooks.all.clear(),
        ]),
      );
    },
    [Symbol.asyncDispose]() {
      return system.close();
    },
  };
  return system;
}
