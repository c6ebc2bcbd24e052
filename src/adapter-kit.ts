/**
 * `@procur/event-bus/adapter-kit`: what authors of transport and store adapters need beside the
 * contracts (which are types of the root entry): the lifecycle every adapter shares, the
 * defaults and clamps of the transport calls, the store's input checks, and small helpers.
 * Not for applications: the root entry `@procur/event-bus` is the user API.
 *
 * @example
 * ```ts
 * import { Lifecycle, TRANSPORT_DEFAULTS, countOption, clampRank } from '@procur/event-bus/adapter-kit';
 * import type { Transport } from '@procur/event-bus';
 * ```
 *
 * @packageDocumentation
 */
export { Lifecycle, runAll, sleep, throwIfAborted } from './lifecycle.js';
export { TRANSPORT_DEFAULTS, TRANSPORT_ROLES, countOption, hasRole } from './contracts/transport-defaults.js';
export { composeTransport, assertRoles, type TransportRoles } from './contracts/transport-compose.js';
export { clampRank, PRIORITY_LEVELS } from './events/envelope.js';
export { isoNow } from './clock.js';
/** Input checks shared by the event stores (memory, SQLite, Postgres), so they refuse the same input alike. */
export * as storeValidation from './store-validation.js';
export { parseTaskStates } from './tasks/runtime.js';
