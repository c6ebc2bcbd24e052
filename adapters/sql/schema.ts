/**
 * The tables of the SQL event store, the plugin that gives them their configured names, and the
 * versioned migrations.
 *
 * @internal
 * @module
 */

import {
  OperationNodeTransformer,
  TableNode,
  sql,
  type ColumnType,
  type CreateTableBuilder,
  type Kysely,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryId,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';

/** A time column: ISO text in, a driver value (text or `Date`) out. */
type TimeColumn = ColumnType<unknown, string, string>;
/** A JSON column: JSON text in, a driver value (text or parsed JSON) out. */
type JsonColumn = ColumnType<unknown, string, string>;

/** Row of the events table. */
export interface EventsTable {
  id: string;
  type: string;
  data: JsonColumn;
  priority: string;
  correlation_id: string;
  causation_id: string | null;
  user_id: string | null;
  organization_id: string | null;
  source: string | null;
  occurred_at: TimeColumn;
  version: number;
  metadata: ColumnType<unknown, string | null, string | null>;
  stored_at: TimeColumn;
  published_at: ColumnType<unknown, string | null, string | null>;
}

/** Row of the processing table: the latest outcome per (event, group). */
export interface ProcessingTable {
  event_id: string;
  group_name: string;
  outcome: string;
  attempt: number;
  error: string | null;
  duration_ms: number | null;
  at: TimeColumn;
}

/** Row of the handled table: an (event, group) pair an idempotent consumer has handled. */
export interface HandledTable {
  event_id: string;
  group_name: string;
  handled_at: TimeColumn;
}

/** The single row of the schema version table. */
export interface SchemaVersionTable {
  id: number;
  version: number;
  updated_at: TimeColumn;
}

/** The tables by their logical names; {@link TableNamesPlugin} maps them to real names. */
export interface StoreTables {
  events: EventsTable;
  event_processing: ProcessingTable;
  handled: HandledTable;
  schema_version: SchemaVersionTable;
}

/** The logical table names. */
export const LOGICAL_TABLES: ReadonlyArray<keyof StoreTables> = ['events', 'event_processing', 'handled', 'schema_version'];

class TableNamesTransformer extends OperationNodeTransformer {
  constructor(
    private readonly names: ReadonlyMap<string, string>,
    private readonly schema: string | undefined,
  ) {
    super();
  }

  protected override transformTable(node: TableNode, queryId?: QueryId): TableNode {
    const t = super.transformTable(node, queryId);
    const real = t.table.schema ? undefined : this.names.get(t.table.identifier.name);
    if (real === undefined) return t;
    return this.schema ? TableNode.createWithSchema(this.schema, real) : TableNode.create(real);
  }
}

/**
 * Renames the logical tables (`events`, ...) to `<schema>.<prefix><name>` in every query, so the
 * store is written against one typed schema whatever prefix and schema the user configured.
 */
export class TableNamesPlugin implements KyselyPlugin {
  private readonly transformer: TableNamesTransformer;

  constructor(prefix: string, schema?: string) {
    this.transformer = new TableNamesTransformer(new Map(LOGICAL_TABLES.map((t) => [t, `${prefix}${t}`])), schema);
  }

  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return this.transformer.transformNode(args.node, args.queryId);
  }

  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

/** A column type as kysely's `addColumn` takes it (a type name or a raw `sql` expression). */
export type DataTypeExpression = Parameters<CreateTableBuilder<string, never>['addColumn']>[1];

/** The column types a dialect uses. */
export interface SqlColumnTypes {
  /** Ids and other keys compared by the keyset (must sort bytewise). */
  key: DataTypeExpression;
  /** JSON payloads. */
  json: DataTypeExpression;
  /** Times. */
  timestamp: DataTypeExpression;
  /** Durations in ms. */
  float: DataTypeExpression;
}

/** What a migration step gets. */
export interface MigrationContext {
  /** The table prefix, used to name indexes. */
  prefix: string;
  /** The dialect's column types. */
  types: SqlColumnTypes;
}

/** One schema upgrade, from version `index` to `index + 1`. Runs inside the migration lock. */
export type MigrationStep = (db: Kysely<StoreTables>, ctx: MigrationContext) => Promise<void>;

/** The migrations, in order. The schema version is the number of steps applied. */
export const MIGRATIONS: readonly MigrationStep[] = [
  // 1: events, processing records and their indexes.
  async (db, { prefix, types }) => {
    await db.schema
      .createTable('events')
      .ifNotExists()
      .addColumn('id', types.key, (c) => c.primaryKey())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('data', types.json, (c) => c.notNull())
      .addColumn('priority', 'text', (c) => c.notNull())
      .addColumn('correlation_id', 'text', (c) => c.notNull())
      .addColumn('causation_id', 'text')
      .addColumn('user_id', 'text')
      .addColumn('organization_id', 'text')
      .addColumn('source', 'text')
      .addColumn('occurred_at', types.timestamp, (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('metadata', types.json)
      .addColumn('stored_at', types.timestamp, (c) => c.notNull())
      .addColumn('published_at', types.timestamp)
      .execute();
    await db.schema
      .createTable('event_processing')
      .ifNotExists()
      .addColumn('event_id', types.key, (c) => c.notNull())
      .addColumn('group_name', types.key, (c) => c.notNull())
      .addColumn('outcome', 'text', (c) => c.notNull())
      .addColumn('attempt', 'integer', (c) => c.notNull())
      .addColumn('error', 'text')
      .addColumn('duration_ms', types.float)
      .addColumn('at', types.timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint(`${prefix}event_processing_pk`, ['event_id', 'group_name'])
      .execute();
    const index = (name: string) => db.schema.createIndex(`${prefix}${name}`).ifNotExists();
    await index('events_type_occurred_idx').on('events').columns(['type', 'occurred_at', 'id']).execute();
    await index('events_correlation_occurred_idx').on('events').columns(['correlation_id', 'occurred_at', 'id']).execute();
    await index('events_user_idx').on('events').column('user_id').execute();
    await index('events_organization_idx').on('events').column('organization_id').execute();
    await index('events_occurred_idx').on('events').columns(['occurred_at', 'id']).execute();
    await index('events_unpublished_idx').on('events').columns(['occurred_at', 'id']).where(sql.ref('published_at'), 'is', null).execute();
    await index('event_processing_outcome_idx').on('event_processing').columns(['outcome', 'event_id']).execute();
  },
  // 2: (event, group) pairs handled by idempotent consumers (`handleOnce`). No foreign key to
  // events: a pair may be recorded for an event the store never held; retention removes it.
  async (db, { prefix, types }) => {
    await db.schema
      .createTable('handled')
      .ifNotExists()
      .addColumn('event_id', types.key, (c) => c.notNull())
      .addColumn('group_name', types.key, (c) => c.notNull())
      .addColumn('handled_at', types.timestamp, (c) => c.notNull())
      .addPrimaryKeyConstraint(`${prefix}handled_pk`, ['event_id', 'group_name'])
      .execute();
    await db.schema.createIndex(`${prefix}handled_at_idx`).ifNotExists().on('handled').column('handled_at').execute();
  },
];

/** The schema version this code writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS.length;
