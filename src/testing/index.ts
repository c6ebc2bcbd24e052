/**
 * `@procur/event-bus/testing`: helpers for your tests (an in-memory system, waiting for events,
 * draining) and the conformance suites every adapter runs (`describeTransport`, which runs one
 * suite per role its features declare: `describeMessageStreams`, `describeDeadLetters`,
 * `describeKeyValue`, `describeSignals`, `describeAdmin`; `describeStore`; `describeTaskQueue`).
 * The suites need `vitest`.
 *
 * @packageDocumentation
 */
export { createTestSystem, waitForEvent, waitUntil, drain, collect, type WaitForEventOptions } from './helpers.js';
export {
  describeTransport,
  uniqueName,
  TRANSPORT_SUITE_TESTS,
  TRANSPORT_LIFECYCLE_TESTS,
  type TransportFactory,
  type TransportFactoryResult,
  type TransportSuiteContext,
  type DescribeTransportOptions,
  type TransportSuiteTest,
} from './transport-suite.js';
export { describeMessageStreams, MESSAGE_STREAMS_SUITE_TESTS } from './streams-suite.js';
export { describeDeadLetters, DEAD_LETTERS_SUITE_TESTS } from './dead-letters-suite.js';
export { describeKeyValue, KEY_VALUE_SUITE_TESTS } from './key-value-suite.js';
export { describeSignals, SIGNALS_SUITE_TESTS } from './signals-suite.js';
export { describeAdmin, ADMIN_SUITE_TESTS } from './admin-suite.js';
export { describePartitions, PARTITIONS_SUITE_TESTS, type PartitionsFactoryResult } from './partitions-suite.js';
export { ALL_ROLES, type RoleFactory, type RoleFactoryResult, type RoleSuiteContext, type RoleSuiteOptions } from './suite-kit.js';
export {
  describeStore,
  STORE_SUITE_CASES,
  type StoreFactory,
  type StoreSuiteTransaction,
  type StoreFactoryResult,
  type StoreSuiteHandle,
  type StoreSuiteContext,
  type DescribeStoreOptions,
} from './store-suite.js';
export { describeTaskQueue, type TaskTransportFactory } from './task-suite.js';
export { describeTaskFlows } from './task-flows-suite.js';
export { describeTaskFeatures } from './task-features-suite.js';
export { describeBatchHandlers, type BatchTransportFactory } from './batch-handler-suite.js';
