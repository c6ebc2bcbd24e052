/**
 * `@procur/event-bus`: a production event bus and task queue for Node.js.
 *
 * `createEventSystem()` runs everything in-process; pass `redisTransport()` (from
 * `@procur/event-bus/redis`) and `postgresStore()` / `sqliteStore()` to scale out. This entry is
 * the user API and the adapter contracts (types); what adapter authors need at run time is in
 * `@procur/event-bus/adapter-kit`.
 *
 * @packageDocumentation
 */
export * from './errors.js';
export * from './config.js';
export * from './events/catalog.js';
export {
  EventPriority,
  ENVELOPE_VERSION,
  priorityRank,
  priorityFromRank,
  isEventPriority,
  newEventId,
  encodeEnvelope,
  decodeEnvelope,
  type EventEnvelope,
} from './events/envelope.js';
export * from './events/registry.js';
export type * from './contracts/transport.js';
export type * from './contracts/store.js';
export { systemClock, type Clock } from './clock.js';
export { consoleLogger, silentLogger, type Logger } from './logger.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
export type { BusHooks, BusHookName } from './hooks.js';
export {
  Publisher,
  type EventPublisher,
  type PublishInput,
  type PublishOptions,
  type EnvelopeOptions,
  type PublishHelpers,
  type PascalCase,
  type HelperInput,
} from './publisher.js';
export {
  Consumer,
  type ConsumerOptions,
  type ConsumerStartOptions,
  type ConsumerStopOptions,
  type EventHandler,
  type HandlerContext,
} from './consumer.js';
export { BatchError, type BatchContext, type BatchEventHandler, type BatchHandlerOptions } from './batch-handler.js';
export { DeadLetterQueue, type DeadLetterEntry, type DlqListOptions } from './dlq.js';
export { EventStoreApi, type EventQueryOptions, type TimeInput } from './event-store-api.js';
export { DEFAULT_REPLAY_BATCH_SIZE, type ReplayFilter, type ReplayProgress } from './replay.js';
export { OutboxRelay, type OutboxOptions } from './outbox.js';
export { partitionTransport, partitionName, partitionOf, routingKey, MAX_PARTITIONS, type PartitionOptions } from './partitions.js';
export {
  Monitor,
  DEFAULT_HEALTH_THRESHOLDS,
  type HealthThresholds,
  type HealthStatus,
  type HealthIssue,
  type HealthRule,
  type ProcessingStats,
  type StreamSummary,
  type WorkerHealth,
  type ComprehensiveReport,
} from './monitor.js';
export {
  createEventSystem,
  type EventSystem,
  type EventSystemOptions,
  type CloseOptions,
  type Inspector,
} from './create-event-system.js';
export {
  TaskRegistry,
  TaskResult,
  type Task,
  type TaskContext,
  type TaskHandler,
  type TaskOptions,
  type ApplyOptions,
  type GetOptions,
} from './tasks/tasks.js';
export {
  FlowResult,
  chainSig,
  groupSig,
  chordSig,
  type TaskSignature,
  type FlowSignature,
  type FlowStep,
  type FlowOptions,
  type FlowKind,
  type FlowStepInfo,
  type SignatureOptions,
  type StoredApplyOptions,
  type StepResult,
  type ChainResult,
  type GroupResult,
  type TailArgs,
} from './tasks/flows.js';
export { TASK_MESSAGE_VERSION, FINAL_TASK_STATES, decodeTaskMessage, type TaskMessage, type TaskInfo, type TaskState } from './tasks/message.js';
export { TaskEventType } from './tasks/runtime.js';
export {
  TASK_PROGRESS_MAX_BYTES,
  TASK_LOG_MAX_LINES,
  TASK_LOG_MAX_CHARS,
  type TaskProgressValue,
  type TaskLogEntry,
  type TaskProgressUpdate,
} from './tasks/progress.js';
export { Scheduler, type ScheduleEntry, type ScheduledEntry, type SchedulerOptions } from './scheduler.js';
export {
  Worker,
  type WorkerOptions,
  type WorkerStopOptions,
  type WorkerInfo,
  type QueueOptions,
  type RateLimit,
} from './tasks/worker.js';
export { memoryTransport, DEFAULT_MEMORY_MAX_LEN, type MemoryTransportOptions } from '../adapters/memory/memory-transport.js';
export { memoryStore, type MemoryStoreOptions } from '../adapters/memory/memory-store.js';
