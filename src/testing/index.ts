/**
 * `@procur/event-bus/testing`: helpers for your tests (an in-memory system, waiting for events,
 * draining) and the conformance suites every adapter runs (`describeTransport`,
 * `describeStore`). The suites need `vitest`.
 *
 * @packageDocumentation
 */
export { createTestSystem, waitForEvent, drain, collect, type WaitForEventOptions } from './helpers.js';
export { describeTransport, uniqueName, type TransportFactory } from './transport-suite.js';
export { describeStore, type StoreFactory } from './store-suite.js';
