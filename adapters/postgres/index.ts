/**
 * `@procur/event-bus/postgres`: the PostgreSQL event store. Needs the optional peer `pg`.
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
