/**
 * `@procur/event-bus/postgres`: the PostgreSQL event store and the PostgreSQL transport. Needs the
 * optional peer `pg`.
 *
 * @example
 * ```ts
 * import { createEventSystem } from '@procur/event-bus';
 * import { postgresStore } from '@procur/event-bus/postgres';
 * const bus = await createEventSystem({ store: postgresStore({ connectionString: process.env.DATABASE_URL }) });
 * ```
 *
 * @packageDocumentation
 */
export {
  postgresStore,
  POSTGRES_MAX_PARAMETERS,
  DEFAULT_POSTGRES_SCHEMA,
  DEFAULT_POSTGRES_POOL_SIZE,
  POSTGRES_URL_VARIABLES,
  POSTGRES_JSON_WRAPPER_KEY,
  type PostgresStoreOptions,
  type PostgresPoolLike,
} from './postgres-store.js';
export {
  postgresTransport,
  DEFAULT_PG_TRANSPORT_POOL_SIZE,
  DEFAULT_PG_OPERATION_TIMEOUT_MS,
  DEFAULT_PG_POLL_INTERVAL_MS,
  DEFAULT_PG_TRIM_INTERVAL_MS,
  DEFAULT_PG_UNGROUPED_MAX_LEN,
  PG_TRIM_BATCH,
  type PostgresTransportOptions,
  type PostgresTransport,
} from './transport/postgres-transport.js';
export type { PgPoolLike, PgClientLike, PgQuery, PgResult } from './transport/connection.js';
