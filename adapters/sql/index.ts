/**
 * The shared SQL event store (kysely) behind `@procur/event-bus/sqlite` and
 * `@procur/event-bus/postgres`. Internal to the package's SQL adapters.
 *
 * @internal
 * @module
 */
export { createSqlStore, DEFAULT_TABLE_PREFIX, redactSecrets, type SqlStoreOptions } from './sql-store.js';
export type { SqlDialectStrategy } from './dialect.js';
export { SCHEMA_VERSION, MIGRATIONS, type StoreTables, type SqlColumnTypes, type MigrationStep, type MigrationContext } from './schema.js';
