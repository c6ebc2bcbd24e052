/**
 * The tables and functions of the PostgreSQL transport, and their versioned migrations. They
 * share the event store's migration mechanism: the same `<prefix>schema_version` table (the
 * store owns row `id = 1`, the transport row `id = 2`) and the same advisory lock, so the store
 * and the transport of one schema never migrate at the same time.
 *
 * Layout (see docs/postgres-transport.md):
 * - `<p>streams` (id, name) and `<p>groups` (id, stream_id, name): small, cached by clients;
 * - `<p>messages`: the stream log (body, priority, published and visible times), trimmed in
 *   bounded batches once no group needs a message;
 * - `<p>deliveries`: one row per (message, group): the group's backlog (`state` 0), pending
 *   deliveries (1), retries waiting for their delay (2) and delayed publishes (3). Receivers
 *   claim rows with `FOR UPDATE SKIP LOCKED`; an ack deletes the row.
 * - `<p>consumers`, `<p>dead_letters`, `<p>kv`, `<p>signal_payloads`.
 *
 * @internal
 * @module
 */

/** The names one transport uses, derived from its schema and table prefix. */
export interface PgNames {
  /** The quoted schema. */
  readonly schema: string;
  /** The raw schema name. */
  readonly schemaName: string;
  /** The raw table prefix. */
  readonly prefix: string;
  /** A short hash of (schema, prefix): prepared statement names, channels, lock ids. */
  readonly tag: string;
  /** The advisory lock class of this transport's stream locks (publish shared, ensureGroup exclusive). */
  readonly lockClass: number;
  /** `"schema"."<prefix>name"`. */
  t(name: string): string;
  /** The wake-up channel of a stream id. */
  wakeChannel(streamId: number): string;
}

/** A 32-bit FNV-1a hash of a string, as a signed int (a valid int4). */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

/** Quotes an identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The names of a transport in `schema` with `prefix`. */
export function pgNames(schema: string, prefix: string): PgNames {
  const h = hash32(`${schema}\u0000${prefix}`);
  const tag = (h >>> 0).toString(36);
  const qs = quoteIdent(schema);
  return {
    schema: qs,
    schemaName: schema,
    prefix,
    tag,
    lockClass: hash32(`procur-transport\u0000${schema}\u0000${prefix}`),
    t: (name) => `${qs}.${quoteIdent(`${prefix}${name}`)}`,
    wakeChannel: (streamId) => `procur_w_${tag}_${streamId}`,
  };
}

/** A sequence's qualified name as a string literal's content. */
function seq(n: PgNames, name: string): string {
  return n.t(name).replace(/'/g, "''");
}

/** One migration step: SQL run in the migration transaction. */
export type TransportMigration = (n: PgNames) => string;

/** The states of a delivery row. */
export const STATE = { ready: 0, pending: 1, retry: 2, delayed: 3 } as const;

/** The transport's migrations, in order; its schema version is the number applied. */
export const TRANSPORT_MIGRATIONS: readonly TransportMigration[] = [
  // 1: tables, indexes and the functions of the hot paths.
  (n) => `
CREATE TABLE IF NOT EXISTS ${n.t('streams')} (
  id serial PRIMARY KEY,
  name text COLLATE "C" NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS ${n.t('groups')} (
  id serial PRIMARY KEY,
  stream_id int NOT NULL REFERENCES ${n.t('streams')} (id) ON DELETE CASCADE,
  name text COLLATE "C" NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (stream_id, name)
);
CREATE TABLE IF NOT EXISTS ${n.t('messages')} (
  id bigserial PRIMARY KEY,
  stream_id int NOT NULL,
  priority smallint NOT NULL,
  direct boolean NOT NULL DEFAULT false,
  published_at timestamptz NOT NULL,
  visible_at timestamptz NOT NULL,
  body text NOT NULL
);
CREATE INDEX IF NOT EXISTS ${quoteIdent(`${n.prefix}messages_stream_idx`)} ON ${n.t('messages')} (stream_id, id);
CREATE SEQUENCE IF NOT EXISTS ${n.t('delivery_seq')};
CREATE TABLE IF NOT EXISTS ${n.t('deliveries')} (
  id bigint PRIMARY KEY DEFAULT nextval('${seq(n, 'delivery_seq')}'),
  group_id int NOT NULL,
  message_id bigint NOT NULL,
  priority smallint NOT NULL,
  state smallint NOT NULL,
  attempt int NOT NULL DEFAULT 1,
  visible_at timestamptz,
  consumer text,
  delivered_at timestamptz,
  active_at timestamptz
) WITH (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 0);
CREATE INDEX IF NOT EXISTS ${quoteIdent(`${n.prefix}deliveries_ready_idx`)} ON ${n.t('deliveries')} (group_id, priority DESC, id) WHERE state = 0;
CREATE INDEX IF NOT EXISTS ${quoteIdent(`${n.prefix}deliveries_pending_idx`)} ON ${n.t('deliveries')} (group_id, active_at) WHERE state = 1;
CREATE INDEX IF NOT EXISTS ${quoteIdent(`${n.prefix}deliveries_scheduled_idx`)} ON ${n.t('deliveries')} (group_id, visible_at) WHERE state >= 2;
CREATE INDEX IF NOT EXISTS ${quoteIdent(`${n.prefix}deliveries_message_idx`)} ON ${n.t('deliveries')} (group_id, message_id);
ALTER TABLE ${n.t('messages')} SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_vacuum_cost_delay = 0);
CREATE TABLE IF NOT EXISTS ${n.t('consumers')} (
  group_id int NOT NULL,
  name text COLLATE "C" NOT NULL,
  seen_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, name)
);
CREATE TABLE IF NOT EXISTS ${n.t('dead_letters')} (
  id bigserial PRIMARY KEY,
  dlq text COLLATE "C" NOT NULL,
  stream text NOT NULL,
  grp text NOT NULL,
  body text NOT NULL,
  priority smallint NOT NULL,
  error text NOT NULL,
  stack text,
  attempts int NOT NULL,
  failed_at timestamptz NOT NULL DEFAULT now(),
  context text NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS ${quoteIdent(`${n.prefix}dead_letters_dlq_idx`)} ON ${n.t('dead_letters')} (dlq, id);
CREATE TABLE IF NOT EXISTS ${n.t('kv')} (
  key text COLLATE "C" PRIMARY KEY,
  value text NOT NULL,
  expires_at timestamptz
) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02);
CREATE INDEX IF NOT EXISTS ${quoteIdent(`${n.prefix}kv_expires_idx`)} ON ${n.t('kv')} (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS ${n.t('signal_payloads')} (
  id bigserial PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  message text NOT NULL
);

-- The stream's id, created when missing.
CREATE OR REPLACE FUNCTION ${n.t('stream_id')}(p_stream text) RETURNS int LANGUAGE plpgsql AS $fn$
DECLARE sid int;
BEGIN
  SELECT id INTO sid FROM ${n.t('streams')} WHERE name = p_stream;
  IF sid IS NULL THEN
    INSERT INTO ${n.t('streams')} (name) VALUES (p_stream) ON CONFLICT (name) DO NOTHING RETURNING id INTO sid;
    IF sid IS NULL THEN SELECT id INTO sid FROM ${n.t('streams')} WHERE name = p_stream; END IF;
  END IF;
  RETURN sid;
END $fn$;

-- Appends messages to a stream and fans them out to every group of it, in one statement after a
-- shared lock on the stream: ensure_group takes it exclusively, so a group being created sees
-- every message of a publish that could not see the group (the statement after the lock takes a
-- fresh snapshot). Works inside the application's transaction too.
CREATE OR REPLACE FUNCTION ${n.t('publish')}(p_stream text, p_bodies text[], p_priorities int2[], p_delays int4[])
RETURNS SETOF bigint LANGUAGE plpgsql AS $fn$
DECLARE sid int;
BEGIN
  sid := ${n.t('stream_id')}(p_stream);
  PERFORM pg_advisory_xact_lock_shared(${n.lockClass}, sid);
  RETURN QUERY
  WITH m AS (
    INSERT INTO ${n.t('messages')} (stream_id, priority, published_at, visible_at, body)
    SELECT sid, u.p, now(), now() + greatest(u.d, 0) * interval '1 millisecond', u.b
    FROM unnest(p_bodies, p_priorities, p_delays) WITH ORDINALITY AS u(b, p, d, ord)
    ORDER BY u.ord
    RETURNING id, priority, visible_at
  ), d AS (
    INSERT INTO ${n.t('deliveries')} (group_id, message_id, priority, state, visible_at)
    SELECT g.id, m.id, m.priority,
      CASE WHEN m.visible_at > now() THEN 3 ELSE 0 END,
      CASE WHEN m.visible_at > now() THEN m.visible_at END
    FROM m CROSS JOIN ${n.t('groups')} g WHERE g.stream_id = sid
    ORDER BY m.id, g.id
  )
  SELECT m.id FROM m ORDER BY m.id;
  IF EXISTS (SELECT 1 FROM ${n.t('groups')} WHERE stream_id = sid) THEN
    PERFORM pg_notify('procur_w_${n.tag}_' || sid, '');
  END IF;
END $fn$;

-- Messages for one group only (DLQ replay), with their attempt; not part of the stream log.
CREATE OR REPLACE FUNCTION ${n.t('redeliver')}(p_group int, p_stream int, p_bodies text[], p_priorities int2[], p_delays int4[], p_attempts int4[])
RETURNS SETOF bigint LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN QUERY
  WITH u AS MATERIALIZED (
    SELECT nextval('${seq(n, 'messages_id_seq')}') AS mid, u.b, u.p, u.d, u.a
    FROM unnest(p_bodies, p_priorities, p_delays, p_attempts) WITH ORDINALITY AS u(b, p, d, a, ord)
    ORDER BY u.ord
  ), m AS (
    INSERT INTO ${n.t('messages')} (id, stream_id, priority, direct, published_at, visible_at, body)
    SELECT u.mid, p_stream, u.p, true, now(), now(), u.b FROM u
  ), d AS (
    INSERT INTO ${n.t('deliveries')} (group_id, message_id, priority, state, attempt, visible_at)
    SELECT p_group, u.mid, u.p, CASE WHEN u.d > 0 THEN 2 ELSE 0 END, greatest(u.a, 1),
      CASE WHEN u.d > 0 THEN now() + u.d * interval '1 millisecond' END
    FROM u ORDER BY u.mid
  )
  SELECT u.mid FROM u ORDER BY u.mid;
  PERFORM pg_notify('procur_w_${n.tag}_' || p_stream, '');
END $fn$;

-- Creates a group (idempotent) and gives it the stream's backlog (or, from the end, only the
-- delayed publishes not visible yet), under the stream's exclusive lock.
CREATE OR REPLACE FUNCTION ${n.t('ensure_group')}(p_stream text, p_group text, p_from_end boolean)
RETURNS TABLE (o_group int, o_stream int) LANGUAGE plpgsql AS $fn$
DECLARE sid int; gid int;
BEGIN
  sid := ${n.t('stream_id')}(p_stream);
  SELECT id INTO gid FROM ${n.t('groups')} WHERE stream_id = sid AND name = p_group;
  IF gid IS NULL THEN
    PERFORM pg_advisory_xact_lock(${n.lockClass}, sid);
    INSERT INTO ${n.t('groups')} (stream_id, name) VALUES (sid, p_group) ON CONFLICT (stream_id, name) DO NOTHING RETURNING id INTO gid;
    IF gid IS NULL THEN
      SELECT id INTO gid FROM ${n.t('groups')} WHERE stream_id = sid AND name = p_group;
    ELSE
      INSERT INTO ${n.t('deliveries')} (group_id, message_id, priority, state, visible_at)
      SELECT gid, m.id, m.priority,
        CASE WHEN m.visible_at > clock_timestamp() THEN 3 ELSE 0 END,
        CASE WHEN m.visible_at > clock_timestamp() THEN m.visible_at END
      FROM ${n.t('messages')} m
      WHERE m.stream_id = sid AND NOT m.direct AND (NOT p_from_end OR m.visible_at > clock_timestamp())
      ORDER BY m.visible_at, m.id;
    END IF;
  END IF;
  RETURN QUERY SELECT gid, sid;
END $fn$;

-- Acknowledges p_ack, makes due retries and delayed publishes ready, then hands up to p_max
-- ready deliveries to p_consumer (highest priority first, FIFO within a rank), skipping rows
-- other receivers hold. When nothing is ready it returns one row with a NULL id whose
-- o_published_at is when the next scheduled delivery is due (ms since the epoch), if any.
CREATE OR REPLACE FUNCTION ${n.t('receive')}(p_group int, p_consumer text, p_max int, p_ack bigint[], p_register boolean)
RETURNS TABLE (o_id bigint, o_body text, o_priority int, o_attempt int, o_published_at float8) LANGUAGE plpgsql AS $fn$
DECLARE got int;
BEGIN
  IF p_ack IS NOT NULL AND cardinality(p_ack) > 0 THEN
    DELETE FROM ${n.t('deliveries')} WHERE id = ANY (p_ack) AND group_id = p_group AND state = 1;
  END IF;
  IF p_register THEN
    INSERT INTO ${n.t('consumers')} (group_id, name) VALUES (p_group, p_consumer) ON CONFLICT DO NOTHING;
  END IF;
  IF p_max <= 0 THEN RETURN; END IF;
  UPDATE ${n.t('deliveries')} SET state = 0, id = nextval('${seq(n, 'delivery_seq')}'), visible_at = NULL
  WHERE id = ANY (ARRAY(
    SELECT x.id FROM ${n.t('deliveries')} x
    WHERE x.group_id = p_group AND x.state >= 2 AND x.visible_at <= clock_timestamp()
    ORDER BY x.visible_at LIMIT 1000 FOR UPDATE SKIP LOCKED));
  RETURN QUERY
  UPDATE ${n.t('deliveries')} d SET state = 1, consumer = p_consumer, delivered_at = clock_timestamp(), active_at = clock_timestamp()
  FROM ${n.t('messages')} m
  WHERE d.id = ANY (ARRAY(
    SELECT x.id FROM ${n.t('deliveries')} x
    WHERE x.group_id = p_group AND x.state = 0
    ORDER BY x.priority DESC, x.id LIMIT p_max FOR UPDATE SKIP LOCKED))
  AND m.id = d.message_id
  RETURNING d.id, m.body, d.priority::int, d.attempt, extract(epoch FROM m.published_at)::float8 * 1000;
  GET DIAGNOSTICS got = ROW_COUNT;
  IF got = 0 THEN
    RETURN QUERY SELECT NULL::bigint, NULL::text, NULL::int, NULL::int,
      (SELECT extract(epoch FROM min(x.visible_at))::float8 * 1000 FROM ${n.t('deliveries')} x WHERE x.group_id = p_group AND x.state >= 2);
  END IF;
END $fn$;

-- Empties a stream's backlog: every delivery not pending, every delayed message, and the
-- messages no group holds any more. Returns how many messages were removed.
CREATE OR REPLACE FUNCTION ${n.t('purge')}(p_stream int) RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE has_groups boolean; freed bigint[]; dropped bigint[]; removed bigint;
BEGIN
  has_groups := EXISTS (SELECT 1 FROM ${n.t('groups')} WHERE stream_id = p_stream);
  WITH del AS (
    DELETE FROM ${n.t('deliveries')} WHERE group_id IN (SELECT id FROM ${n.t('groups')} WHERE stream_id = p_stream) AND state <> 1
    RETURNING message_id
  ) SELECT coalesce(array_agg(DISTINCT message_id), '{}') INTO freed FROM del;
  WITH dm AS (
    DELETE FROM ${n.t('messages')} m WHERE m.stream_id = p_stream AND (
      m.visible_at > clock_timestamp() OR NOT has_groups
      OR (m.id = ANY (freed) AND NOT EXISTS (
        SELECT 1 FROM ${n.t('deliveries')} d JOIN ${n.t('groups')} g ON g.id = d.group_id
        WHERE g.stream_id = p_stream AND d.message_id = m.id)))
    RETURNING id
  ) SELECT coalesce(array_agg(id), '{}') INTO dropped FROM dm;
  SELECT count(*) INTO removed FROM (SELECT unnest(freed) UNION SELECT unnest(dropped)) x;
  RETURN removed;
END $fn$;
`,
  // 2: the group commit of small writes (batch.ts): acks, key writes, publishes and notifications
  // issued in one turn, in one call. Returns the ids of each publish (o_call: its 1-based index).
  (n) => `
CREATE OR REPLACE FUNCTION ${n.t('flush')}(p_keys text[], p_values text[], p_ttls float8[],
  p_ack_groups int4[], p_ack_ids bigint[], p_channels text[], p_payloads text[], p_big boolean[],
  p_pub_streams text[], p_pub_counts int4[], p_bodies text[], p_priorities int2[], p_delays int4[])
RETURNS TABLE (o_call int, o_id bigint) LANGUAGE plpgsql AS $fn$
DECLARE i int; pid bigint; off int := 0;
BEGIN
  IF cardinality(p_ack_ids) > 0 THEN
    DELETE FROM ${n.t('deliveries')} d USING unnest(p_ack_ids, p_ack_groups) AS a(id, g)
    WHERE d.id = a.id AND d.group_id = a.g AND d.state = 1;
  END IF;
  IF cardinality(p_keys) > 0 THEN
    INSERT INTO ${n.t('kv')} (key, value, expires_at)
    SELECT u.k, u.v, CASE WHEN u.t IS NULL THEN NULL ELSE clock_timestamp() + u.t * interval '1 millisecond' END
    FROM unnest(p_keys, p_values, p_ttls) AS u(k, v, t)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at;
  END IF;
  FOR i IN 1 .. coalesce(cardinality(p_pub_streams), 0) LOOP
    RETURN QUERY SELECT i, x.x FROM ${n.t('publish')}(p_pub_streams[i], p_bodies[off + 1 : off + p_pub_counts[i]],
      p_priorities[off + 1 : off + p_pub_counts[i]], p_delays[off + 1 : off + p_pub_counts[i]]) AS x(x);
    off := off + p_pub_counts[i];
  END LOOP;
  FOR i IN 1 .. coalesce(cardinality(p_channels), 0) LOOP
    IF p_big[i] THEN
      INSERT INTO ${n.t('signal_payloads')} (message) VALUES (p_payloads[i]) RETURNING id INTO pid;
      PERFORM pg_notify(p_channels[i], '@' || pid);
    ELSE
      PERFORM pg_notify(p_channels[i], p_payloads[i]);
    END IF;
  END LOOP;
END $fn$;
`,
];

/** The transport's schema version (the number of its migrations). */
export const TRANSPORT_SCHEMA_VERSION = TRANSPORT_MIGRATIONS.length;

/** The row of `<prefix>schema_version` that holds the transport's version (the store's is 1). */
export const TRANSPORT_VERSION_ROW = 2;
