/**
 * `@procur/event-bus/testing`: helpers for your tests (an in-memory system, waiting for events,
 * draining) and the conformance suites every adapter runs (`describeTransport`,
 * `describeStore`). The suites need `vitest`.
 *
 * @packageDocumentation
 */
export { createTestSystem, waitForEvent, waitUntil, drain, collect, type WaitForEventOptions } from './helpers.js';
export {
  describeTransport,
  uniqueName,
  TRANSPORT_SUITE_TESTS,
  type TransportFactory,
  type TransportFactoryResult,
  type TransportSuiteContext,
  type DescribeTransportOptions,
  type TransportSuiteTest,
} from './transport-suite.js';
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
