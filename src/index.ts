/**
 * `@procur/event-bus`: a production event bus and task queue for Node.js.
 *
 * @packageDocumentation
 */
export * from './errors.js';
export * from './config.js';
export * from './events/catalog.js';
export * from './events/envelope.js';
export * from './events/registry.js';
export type * from './contracts/transport.js';
export type * from './contracts/store.js';
export { Lifecycle, runAll, sleep } from './lifecycle.js';
export { systemClock, isoNow, type Clock } from './clock.js';
