/**
 * `@procur/event-bus/sqlite`: the SQLite event store. Needs the optional peer `better-sqlite3`.
 *
 * @example
 * ```ts
 * import { createEventSystem } from '@procur/event-bus';
 * import { sqliteStore } from '@procur/event-bus/sqlite';
 * const bus = await createEventSystem({ store: sqliteStore({ filename: './events.db' }) });
 * ```
 *
 * @packageDocumentation
 */
export {
  sqliteStore,
  SQLITE_MAX_PARAMETERS,
  DEFAULT_SQLITE_BUSY_TIMEOUT_MS,
  type SqliteStoreOptions,
  type SqliteStoreBaseOptions,
  type BetterSqlite3Database,
} from './sqlite-store.js';
