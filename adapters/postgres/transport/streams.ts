/**
 * The message streams, dead letters and admin roles of the PostgreSQL transport: publish with
 * fan-out to every group, receive with `FOR UPDATE SKIP LOCKED`, ack, nack, claims after an idle
 * time, touch, the DLQ, `info`/`purge`, and the trimming of the stream log. Blocked receives wait
 * in this process (no transaction, no held connection) and are woken by `LISTEN`/`NOTIFY`, with a
 * fallback poll for missed notifications.
 *
 * @internal
 * @module
 */

import type {
  ClaimOptions,
  DeadLetter,
  DeadLetterInput,
  Delivery,
  EnsureGroupOptions,
  ListDeadLettersOptions,
  NackOptions,
  OutgoingMessage,
  ReceiveOptions,
  RedeliverMessage,
  SignalOptions,
  StreamInfo,
} from '@procur/event-bus';
import { TransportError } from '@procur/event-bus';
import { PRIORITY_LEVELS, TRANSPORT_DEFAULTS, clampRank, countOption, throwIfAborted } from '@procur/event-bus/adapter-kit';
import type { PgWriteBatch } from './batch.js';
import { abortable, type PgClientLike, type PgConnection, type PgQuery } from './connection.js';
import { decodeText, encodeText, isRowId } from './text.js';
import { plainArray, textArray } from './wire.js';

/** A publish of at least this many messages is sent as its own statement, not in the write batch. */
const PUBLISH_ALONE = 1000;

/** The largest delay an int4 of ms holds (about 24.8 days); longer delays are refused. */
const MAX_DELAY_MS = 2_147_483_647;

interface GroupIds {
  readonly groupId: number;
  readonly streamId: number;
}

interface ReceiveRow {
  o_id: string | null;
  o_body: string | null;
  o_priority: number | null;
  o_attempt: number | null;
  o_published_at: number | null;
}

/** Settings of {@link PgStreams}. */
export interface PgStreamSettings {
  /** The fallback poll of a blocked receive, in ms (a missed notification costs at most this). */
  readonly pollIntervalMs: number;
  /** How often the streams this transport used are trimmed; 0 turns it off. */
  readonly trimIntervalMs: number;
  /** A stream without groups keeps about this many messages; 0 keeps them all. */
  readonly ungroupedMaxLen: number;
  /** Rows one trimming statement deletes at most. */
  readonly trimBatch: number;
  /** Whether a receive waits for its commit to be flushed to disk (`synchronousReceive`). */
  readonly synchronousReceive: boolean;
}

function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

function delayOf(ms: number | undefined): number {
  if (ms === undefined || !(ms > 0)) return 0;
  if (ms > MAX_DELAY_MS) {
    throw new TransportError(`[event-bus:postgres] a delay of ${ms} ms is longer than the transport holds (${MAX_DELAY_MS} ms, about 24.8 days): schedule it later.`);
  }
  return Math.ceil(ms);
}

/** The stream roles of one PostgreSQL transport. */
export class PgStreams {
  private readonly groups = new Map<string, GroupIds>();
  private readonly streamIds = new Map<string, number>();
  private readonly registered = new Set<string>();
  private readonly generations = new Map<string, number>();
  private readonly waiters = new Map<string, Set<() => void>>();
  /** Streams (by id) this transport used, for trimming. */
  private readonly used = new Map<number, string>();
  private trimTimer: NodeJS.Timeout | undefined;
  private trimming: Promise<void> | undefined;
  private readonly q: (name: string) => string;
  /** The hot statement, built once. */
  private readonly receiveName: string;
  private readonly receiveText: string;

  constructor(
    private readonly c: PgConnection,
    private readonly s: PgStreamSettings,
    private readonly writes: PgWriteBatch,
  ) {
    const tag = c.names.tag;
    this.q = (name) => `procur_${tag}_${name}`;
    // Without synchronousReceive the receive's transaction commits without waiting for its WAL
    // flush (synchronous_commit off for that transaction only, read at its commit).
    this.receiveText = s.synchronousReceive
      ? `SELECT * FROM ${c.names.t('receive')}($1, $2, $3, $4::bigint[], $5)`
      : `SELECT r.* FROM (SELECT set_config('synchronous_commit', 'off', true)) AS a(x), ${c.names.t('receive')}($1, $2, $3, $4::bigint[], $5) AS r`;
    this.receiveName = this.q(s.synchronousReceive ? 'receive' : 'receive_async');
    c.onReconnect = () => {
      // Notifications sent while the listening connection was down are lost: re-read.
      for (const channel of this.waiters.keys()) this.bump(channel);
    };
    if (s.trimIntervalMs > 0) {
      this.trimTimer = setInterval(() => void this.trimUsed(), s.trimIntervalMs);
      this.trimTimer.unref();
    }
  }

  private t(name: string): string {
    return this.c.names.t(name);
  }

  private enter(options: SignalOptions | undefined): void {
    this.c.life.assertOpen();
    throwIfAborted(options?.signal);
  }

  // ---- ids ----------------------------------------------------------------------------------

  private async lookupGroup(stream: string, group: string, signal?: AbortSignal): Promise<GroupIds | undefined> {
    const key = `${stream}\u0000${group}`;
    const hit = this.groups.get(key);
    if (hit) return hit;
    const res = await this.c.query<{ gid: number; sid: number }>(
      'receive',
      {
        name: this.q('group'),
        text: `SELECT g.id AS gid, s.id AS sid FROM ${this.t('groups')} g JOIN ${this.t('streams')} s ON s.id = g.stream_id WHERE s.name = $1 AND g.name = $2`,
        values: [encodeText(stream), encodeText(group)],
      },
      signal,
    );
    const row = res.rows[0];
    if (!row) return undefined;
    const ids = { groupId: Number(row.gid), streamId: Number(row.sid) };
    this.groups.set(key, ids);
    this.streamIds.set(stream, ids.streamId);
    return ids;
  }

  private async requireGroup(stream: string, group: string, signal?: AbortSignal): Promise<GroupIds> {
    const ids = await this.lookupGroup(stream, group, signal);
    if (!ids) {
      throw new TransportError(
        `[event-bus:postgres] Consumer group '${group}' does not exist on stream '${stream}'. Call ensureGroup('${stream}', '${group}') first.`,
      );
    }
    return ids;
  }

  private async lookupStream(stream: string, signal?: AbortSignal): Promise<number | undefined> {
    const hit = this.streamIds.get(stream);
    if (hit !== undefined) return hit;
    const res = await this.c.query<{ id: number }>(
      'info',
      { name: this.q('stream'), text: `SELECT id FROM ${this.t('streams')} WHERE name = $1`, values: [encodeText(stream)] },
      signal,
    );
    const id = res.rows[0]?.id;
    if (id === undefined) return undefined;
    this.streamIds.set(stream, Number(id));
    return Number(id);
  }

  // ---- wake-ups -----------------------------------------------------------------------------

  private generation(channel: string): number {
    return this.generations.get(channel) ?? 0;
  }

  private bump(channel: string): void {
    this.generations.set(channel, this.generation(channel) + 1);
    const set = this.waiters.get(channel);
    if (set) for (const w of [...set]) w();
  }

  /** Waits until `channel` is bumped past `gen`, `ms` pass, `signal` aborts or the transport closes. */
  private wait(channel: string, gen: number, ms: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.generation(channel) !== gen) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let set = this.waiters.get(channel);
      if (!set) {
        set = new Set();
        this.waiters.set(channel, set);
      }
      const life = this.c.life.signal;
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        life.removeEventListener('abort', done);
        const current = this.waiters.get(channel);
        if (current?.delete(done) && current.size === 0) this.waiters.delete(channel);
        resolve();
      };
      const timer = setTimeout(done, Math.max(1, ms));
      signal?.addEventListener('abort', done, { once: true });
      life.addEventListener('abort', done, { once: true });
      set.add(done);
    });
  }

  // ---- message streams ----------------------------------------------------------------------

  /** The columns of messages to publish: encoded bodies, clamped ranks, checked delays. */
  private encodeMessages(messages: readonly OutgoingMessage[]): { bodies: string[]; priorities: number[]; delays: number[] } {
    const bodies = new Array<string>(messages.length);
    const priorities = new Array<number>(messages.length);
    const delays = new Array<number>(messages.length);
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      bodies[i] = encodeText(m.body);
      priorities[i] = clampRank(m.priority);
      delays[i] = delayOf(m.delayMs);
    }
    return { bodies, priorities, delays };
  }

  /**
   * The publish statement, for the pool (`wire`: the bodies as a binary `text[]`, wire.ts) or
   * for the application's transaction (plain arrays: its client need only be pg-like).
   */
  publishQuery(stream: string, messages: readonly OutgoingMessage[], wire = false): PgQuery {
    const { bodies, priorities, delays } = this.encodeMessages(messages);
    return {
      name: this.q('publish'),
      text: `SELECT id::text AS id FROM ${this.t('publish')}($1, $2::text[], $3::int2[], $4::int4[]) AS id`,
      values: wire ? [encodeText(stream), textArray(bodies), plainArray(priorities), plainArray(delays)] : [encodeText(stream), bodies, priorities, delays],
    };
  }

  async publish(stream: string, messages: readonly OutgoingMessage[], options?: SignalOptions): Promise<string[]> {
    this.enter(options);
    if (messages.length === 0) return [];
    let ids: string[];
    if (messages.length >= PUBLISH_ALONE) {
      // A bulk publish is its own statement, on a connection beside the batch's: its round trip
      // is nothing next to its work, and the two run at once.
      const res = await this.c.run('publish', options?.signal, async (pool) =>
        pool.query(this.publishQuery(stream, messages, await this.c.binaryArrays(pool))),
      );
      ids = res.rows.map((r) => (r as { id: string }).id);
    } else {
      // A small one joins the write batch of this turn (with the acks, key writes and notifications).
      const { bodies, priorities, delays } = this.encodeMessages(messages);
      ids = await abortable(this.writes.publish('publish', encodeText(stream), bodies, priorities, delays), options?.signal);
    }
    const sid = this.streamIds.get(stream);
    if (sid === undefined) {
      // Learn the stream's id once, for trimming and local wake-ups.
      void this.lookupStream(stream).then((id) => id !== undefined && this.used.set(id, stream), () => undefined);
    } else {
      this.used.set(sid, stream);
      this.bump(this.c.names.wakeChannel(sid));
    }
    return ids;
  }

  /** Publishes inside the application's transaction (a pg client after `BEGIN`). */
  async publishWithin(client: PgClientLike, stream: string, messages: readonly OutgoingMessage[]): Promise<string[]> {
    this.c.life.assertOpen();
    if (messages.length === 0) return [];
    await this.c.migrate();
    const q = this.publishQuery(stream, messages);
    try {
      const res = (await client.query({ text: q.text, values: q.values! })) as unknown as { rows: Array<{ id: string }> };
      return res.rows.map((r) => r.id);
    } catch (err) {
      throw this.c.wrap('publish (in a transaction)', err);
    }
  }

  async ensureGroup(stream: string, group: string, options?: EnsureGroupOptions): Promise<void> {
    this.enter(options);
    const res = await this.c.query<{ o_group: number; o_stream: number }>(
      'ensureGroup',
      {
        name: this.q('ensure'),
        text: `SELECT o_group, o_stream FROM ${this.t('ensure_group')}($1, $2, $3)`,
        values: [encodeText(stream), encodeText(group), options?.startAt === 'end'],
      },
      options?.signal,
    );
    const row = res.rows[0]!;
    const ids = { groupId: Number(row.o_group), streamId: Number(row.o_stream) };
    this.groups.set(`${stream}\u0000${group}`, ids);
    this.streamIds.set(stream, ids.streamId);
    this.used.set(ids.streamId, stream);
  }

  async receive(stream: string, options: ReceiveOptions): Promise<Delivery[]> {
    this.c.life.assertOpen();
    try {
      return await this.receiveOpen(stream, options);
    } catch (err) {
      // Closed while it ran (a blocked read woken by close()): nothing, as the contract says.
      if (this.c.life.closed) return [];
      throw err;
    }
  }

  private async receiveOpen(stream: string, options: ReceiveOptions): Promise<Delivery[]> {
    const { signal } = options;
    // An aborted receive takes nothing: a message handed to a caller that left would sit pending.
    if (signal?.aborted) return [];
    const ids = await this.requireGroup(stream, options.group);
    this.used.set(ids.streamId, stream);
    const max = countOption(options.max, TRANSPORT_DEFAULTS.receiveMax);
    let ack = (options.ack ?? []).filter(isRowId);
    const blockMs = options.blockMs ?? 0;
    const channel = this.c.names.wakeChannel(ids.streamId);
    if (blockMs > 0 && max > 0 && !this.c.isListening(channel)) {
      // Without a listening connection the fallback poll still finds new messages.
      await this.c.subscribe(channel, () => this.bump(channel)).catch((err: unknown) => {
        if (this.c.life.closed) return;
        this.c.logger.warn('postgres transport: cannot LISTEN for new messages; polling instead', { stream, error: (err as Error).message });
      });
    }
    const deadline = Date.now() + blockMs;
    const consumer = encodeText(options.consumer);
    const regKey = `${ids.groupId}\u0000${options.consumer}`;
    for (;;) {
      if (this.c.life.closed) return [];
      const gen = this.generation(channel);
      const register = !this.registered.has(regKey);
      const res = await this.c.query<ReceiveRow>('receive', { name: this.receiveName, text: this.receiveText, values: [ids.groupId, consumer, max, ack, register] });
      ack = [];
      if (register) this.registered.add(regKey);
      const out: Delivery[] = [];
      let nextDue: number | null = null;
      for (const r of res.rows) {
        if (r.o_id === null) {
          nextDue = r.o_published_at;
          continue;
        }
        out.push({
          deliveryId: r.o_id,
          stream,
          group: options.group,
          body: decodeText(r.o_body!),
          priority: r.o_priority!,
          attempt: r.o_attempt!,
          publishedAt: Math.floor(r.o_published_at!),
        });
      }
      if (out.length > 0) {
        out.sort((a, b) => b.priority - a.priority || compareIds(a.deliveryId, b.deliveryId));
        return out;
      }
      if (!(blockMs > 0) || max === 0 || this.c.life.closed || signal?.aborted) return [];
      const now = Date.now();
      if (now >= deadline) return [];
      if (this.generation(channel) !== gen) continue;
      let ms = Math.min(deadline - now, this.s.pollIntervalMs);
      if (nextDue !== null) ms = Math.min(ms, Math.max(1, Math.ceil(nextDue - now) + 1));
      await this.wait(channel, gen, ms, signal);
      if (this.c.life.closed || signal?.aborted) return [];
      // The wait is over with nothing new: no read after the deadline (callers time-box it).
      if (Date.now() >= deadline && this.generation(channel) === gen) return [];
    }
  }

  async ack(stream: string, group: string, deliveryIds: readonly string[], options?: SignalOptions): Promise<void> {
    this.enter(options);
    const ids = deliveryIds.filter(isRowId);
    if (ids.length === 0) return;
    const g = await this.lookupGroup(stream, group, options?.signal);
    if (!g) return;
    // Joins the write batch of this turn (acks of many groups and streams in one round trip).
    await abortable(this.writes.ack('ack', g.groupId, ids), options?.signal);
  }

  async nack(stream: string, group: string, deliveryId: string, options?: NackOptions): Promise<void> {
    this.enter(options);
    if (!isRowId(deliveryId)) return;
    const g = await this.lookupGroup(stream, group, options?.signal);
    if (!g) return;
    const delay = delayOf(options?.delayMs);
    await this.c.query(
      'nack',
      {
        name: this.q('nack'),
        text: `WITH u AS (
          UPDATE ${this.t('deliveries')} SET id = nextval('${this.t('delivery_seq').replace(/'/g, "''")}'),
            state = CASE WHEN $3::int > 0 THEN 2 ELSE 0 END,
            visible_at = CASE WHEN $3::int > 0 THEN clock_timestamp() + $3::int * interval '1 millisecond' END,
            attempt = attempt + $4::int, consumer = NULL, delivered_at = NULL, active_at = NULL
          WHERE id = $1::bigint AND group_id = $2 AND state = 1 RETURNING 1)
        SELECT pg_notify($5, '') FROM u WHERE $3::int = 0`,
        values: [deliveryId, g.groupId, delay, options?.countAttempt === false ? 0 : 1, this.c.names.wakeChannel(g.streamId)],
      },
      options?.signal,
    );
    if (delay === 0) this.bump(this.c.names.wakeChannel(g.streamId));
  }

  async redeliver(stream: string, group: string, messages: readonly RedeliverMessage[], options?: SignalOptions): Promise<string[]> {
    this.enter(options);
    const g = await this.requireGroup(stream, group, options?.signal);
    if (messages.length === 0) return [];
    const res = await this.c.query<{ id: string }>(
      'redeliver',
      {
        name: this.q('redeliver'),
        text: `SELECT id::text AS id FROM ${this.t('redeliver')}($1, $2, $3::text[], $4::int2[], $5::int4[], $6::int4[]) AS id`,
        values: [
          g.groupId,
          g.streamId,
          messages.map((m) => encodeText(m.body)),
          messages.map((m) => clampRank(m.priority)),
          messages.map((m) => delayOf(m.delayMs)),
          messages.map((m) => (m.attempt !== undefined && m.attempt >= 1 ? Math.min(Math.floor(m.attempt), 2_147_483_647) : 1)),
        ],
      },
      options?.signal,
    );
    this.bump(this.c.names.wakeChannel(g.streamId));
    return res.rows.map((r) => r.id);
  }

  async claimStale(stream: string, options: ClaimOptions): Promise<Delivery[]> {
    this.enter(options);
    const g = await this.requireGroup(stream, options.group, options.signal);
    const max = countOption(options.max, TRANSPORT_DEFAULTS.claimMax);
    if (max === 0) return [];
    const minIdle = Math.max(0, Math.floor(options.minIdleMs || 0));
    const regKey = `${g.groupId}\u0000${options.consumer}`;
    if (!this.registered.has(regKey)) {
      await this.c.query('claimStale', {
        name: this.q('register'),
        text: `INSERT INTO ${this.t('consumers')} (group_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
        values: [g.groupId, encodeText(options.consumer)],
      });
      this.registered.add(regKey);
    }
    // The inner SELECT ... FOR UPDATE re-checks the idle time on the row's latest version, so a
    // delivery another claimer just took (and made fresh) is skipped: never claimed twice.
    const res = await this.c.query<ReceiveRow>(
      'claimStale',
      {
        name: this.q('claim'),
        text: `UPDATE ${this.t('deliveries')} d SET consumer = $2, attempt = d.attempt + 1, delivered_at = clock_timestamp(), active_at = clock_timestamp()
          FROM ${this.t('messages')} m
          WHERE d.id = ANY (ARRAY(
            SELECT x.id FROM ${this.t('deliveries')} x
            WHERE x.group_id = $1 AND x.state = 1 AND x.active_at <= now() - $3::int * interval '1 millisecond'
            ORDER BY x.active_at LIMIT $4 FOR UPDATE SKIP LOCKED))
          AND m.id = d.message_id
          RETURNING d.id::text AS o_id, m.body AS o_body, d.priority::int AS o_priority, d.attempt AS o_attempt,
            extract(epoch FROM m.published_at)::float8 * 1000 AS o_published_at`,
        values: [g.groupId, encodeText(options.consumer), minIdle, max],
      },
      options.signal,
    );
    return res.rows
      .map((r) => ({
        deliveryId: r.o_id!,
        stream,
        group: options.group,
        body: decodeText(r.o_body!),
        priority: r.o_priority!,
        attempt: r.o_attempt!,
        publishedAt: Math.floor(r.o_published_at!),
      }))
      .sort((a, b) => compareIds(a.deliveryId, b.deliveryId));
  }

  async touch(stream: string, group: string, consumer: string, deliveryIds: readonly string[], options?: SignalOptions): Promise<void> {
    this.enter(options);
    const ids = deliveryIds.filter(isRowId);
    if (ids.length === 0) return;
    const g = await this.lookupGroup(stream, group, options?.signal);
    if (!g) return;
    await this.c.query(
      'touch',
      {
        name: this.q('touch'),
        text: `UPDATE ${this.t('deliveries')} SET active_at = clock_timestamp() WHERE id = ANY ($1::bigint[]) AND group_id = $2 AND consumer = $3 AND state = 1`,
        values: [ids, g.groupId, encodeText(consumer)],
      },
      options?.signal,
    );
  }

  // ---- dead letters -------------------------------------------------------------------------

  async deadLetter(
    stream: string,
    group: string,
    delivery: Pick<Delivery, 'deliveryId' | 'body' | 'priority'>,
    input: DeadLetterInput,
    options?: SignalOptions,
  ): Promise<string | undefined> {
    this.enter(options);
    const g = await this.lookupGroup(stream, group, options?.signal);
    const id = isRowId(delivery.deliveryId) ? delivery.deliveryId : null;
    const body = typeof delivery.body === 'string' ? encodeText(delivery.body) : null;
    // Leaving the pending list and entering the DLQ happen in one statement.
    const res = await this.c.query<{ id: string }>(
      'deadLetter',
      {
        name: this.q('dead'),
        text: `WITH d AS (
            DELETE FROM ${this.t('deliveries')} WHERE id = $1::bigint AND group_id = $2 AND state = 1 RETURNING message_id, priority
          ), src AS (
            SELECT m.body, d.priority::int AS priority FROM d JOIN ${this.t('messages')} m ON m.id = d.message_id
            UNION ALL
            SELECT $3::text, $4::int WHERE $3::text IS NOT NULL AND NOT EXISTS (SELECT 1 FROM d)
          )
          INSERT INTO ${this.t('dead_letters')} (dlq, stream, grp, body, priority, error, stack, attempts, context)
          SELECT $5, $6, $7, src.body, src.priority, $8, $9, $10, $11 FROM src LIMIT 1
          RETURNING id::text AS id`,
        values: [
          id,
          g?.groupId ?? null,
          body,
          clampRank(delivery.priority),
          encodeText(input.dlq),
          encodeText(stream),
          encodeText(group),
          encodeText(input.error),
          input.stack === undefined ? null : encodeText(input.stack),
          Math.max(0, Math.min(Math.floor(input.attempts) || 0, 2_147_483_647)),
          JSON.stringify(input.context ?? {}),
        ],
      },
      options?.signal,
    );
    return res.rows[0]?.id;
  }

  private deadLetterColumns(): string {
    return `id::text AS id, stream, grp, body, priority::int AS priority, error, stack, attempts,
      extract(epoch FROM failed_at)::float8 * 1000 AS failed_at, context`;
  }

  private toDeadLetter(r: Record<string, unknown>): DeadLetter {
    let context: Record<string, string> = {};
    try {
      const parsed = JSON.parse(String(r.context)) as unknown;
      if (parsed && typeof parsed === 'object') context = parsed as Record<string, string>;
    } catch {
      // A context another program wrote: dropped.
    }
    const e: DeadLetter = {
      id: String(r.id),
      stream: decodeText(String(r.stream)),
      group: decodeText(String(r.grp)),
      body: decodeText(String(r.body)),
      priority: Number(r.priority),
      error: decodeText(String(r.error)),
      attempts: Number(r.attempts),
      failedAt: Math.floor(Number(r.failed_at)),
      context,
    };
    if (r.stack !== null && r.stack !== undefined) e.stack = decodeText(String(r.stack));
    return e;
  }

  async listDeadLetters(dlq: string, options?: ListDeadLettersOptions): Promise<DeadLetter[]> {
    this.enter(options);
    const limit = countOption(options?.limit, TRANSPORT_DEFAULTS.deadLetterLimit);
    if (limit === 0) return [];
    let after = '0';
    if (options?.after !== undefined) {
      if (!isRowId(options.after)) return [];
      after = options.after;
    }
    const res = await this.c.query(
      'listDeadLetters',
      {
        name: this.q('dlq_list'),
        text: `SELECT ${this.deadLetterColumns()} FROM ${this.t('dead_letters')} WHERE dlq = $1 AND id > $2::bigint ORDER BY id LIMIT $3`,
        values: [encodeText(dlq), after, limit],
      },
      options?.signal,
    );
    return res.rows.map((r) => this.toDeadLetter(r));
  }

  async getDeadLetter(dlq: string, id: string, options?: SignalOptions): Promise<DeadLetter | undefined> {
    this.enter(options);
    if (!isRowId(id)) return undefined;
    const res = await this.c.query(
      'getDeadLetter',
      {
        name: this.q('dlq_get'),
        text: `SELECT ${this.deadLetterColumns()} FROM ${this.t('dead_letters')} WHERE dlq = $1 AND id = $2::bigint`,
        values: [encodeText(dlq), id],
      },
      options?.signal,
    );
    const row = res.rows[0];
    return row ? this.toDeadLetter(row) : undefined;
  }

  async deleteDeadLetters(dlq: string, ids: readonly string[], options?: SignalOptions): Promise<number> {
    this.enter(options);
    const valid = [...new Set(ids.filter(isRowId))];
    if (valid.length === 0) return 0;
    const res = await this.c.query(
      'deleteDeadLetters',
      {
        name: this.q('dlq_del'),
        text: `DELETE FROM ${this.t('dead_letters')} WHERE dlq = $1 AND id = ANY ($2::bigint[])`,
        values: [encodeText(dlq), valid],
      },
      options?.signal,
    );
    return res.rowCount ?? 0;
  }

  async countDeadLetters(dlq: string, options?: SignalOptions): Promise<number> {
    this.enter(options);
    const res = await this.c.query<{ n: string }>(
      'countDeadLetters',
      { name: this.q('dlq_count'), text: `SELECT count(*)::text AS n FROM ${this.t('dead_letters')} WHERE dlq = $1`, values: [encodeText(dlq)] },
      options?.signal,
    );
    return Number(res.rows[0]?.n ?? 0);
  }

  async purgeDeadLetters(dlq: string, options?: SignalOptions): Promise<number> {
    this.enter(options);
    let total = 0;
    // Bounded batches: a huge DLQ never becomes one long transaction.
    for (;;) {
      const res = await this.c.query(
        'purgeDeadLetters',
        {
          name: this.q('dlq_purge'),
          text: `DELETE FROM ${this.t('dead_letters')} WHERE id = ANY (ARRAY(SELECT id FROM ${this.t('dead_letters')} WHERE dlq = $1 ORDER BY id LIMIT $2))`,
          values: [encodeText(dlq), this.s.trimBatch],
        },
        options?.signal,
      );
      const n = res.rowCount ?? 0;
      total += n;
      if (n < this.s.trimBatch) return total;
    }
  }

  // ---- admin --------------------------------------------------------------------------------

  async info(stream: string, options?: SignalOptions): Promise<StreamInfo> {
    this.enter(options);
    const empty = (): StreamInfo => ({ stream, length: 0, lengthByPriority: new Array<number>(PRIORITY_LEVELS).fill(0), delayed: 0, groups: [] });
    const sid = await this.lookupStream(stream, options?.signal);
    if (sid === undefined) return empty();
    const res = await this.c.query<{ kind: string; name: string | null; priority: number | null; a: string; b: string; c: string; d: number | null; e: string | null }>(
      'info',
      {
        name: this.q('info'),
        text: `SELECT 'm' AS kind, NULL::text AS name, priority::int AS priority,
              count(*) FILTER (WHERE visible_at <= clock_timestamp())::text AS a,
              count(*) FILTER (WHERE visible_at > clock_timestamp())::text AS b,
              '0' AS c, NULL::float8 AS d, NULL::text AS e
            FROM ${this.t('messages')} WHERE stream_id = $1 AND NOT direct GROUP BY priority
          UNION ALL
          SELECT 'g', g.name, d.priority::int,
              count(d.id) FILTER (WHERE d.state = 1)::text,
              count(d.id) FILTER (WHERE d.state = 0 OR (d.state >= 2 AND d.visible_at <= clock_timestamp()))::text,
              count(d.id) FILTER (WHERE d.state = 2 AND d.visible_at > clock_timestamp())::text,
              extract(epoch FROM clock_timestamp() - min(d.delivered_at) FILTER (WHERE d.state = 1))::float8 * 1000,
              (SELECT count(*) FROM ${this.t('consumers')} c WHERE c.group_id = g.id)::text
            FROM ${this.t('groups')} g LEFT JOIN ${this.t('deliveries')} d ON d.group_id = g.id
            WHERE g.stream_id = $1 GROUP BY g.id, g.name, d.priority`,
        values: [sid],
      },
      options?.signal,
    );
    const info = empty();
    const groups = new Map<string, StreamInfo['groups'][number]>();
    for (const r of res.rows) {
      if (r.kind === 'm') {
        const p = clampRank(r.priority ?? 1);
        info.lengthByPriority[p]! += Number(r.a);
        info.length += Number(r.a);
        info.delayed += Number(r.b);
        continue;
      }
      const name = decodeText(r.name!);
      let g = groups.get(name);
      if (!g) {
        g = { name, pending: 0, lag: 0, lagByPriority: new Array<number>(PRIORITY_LEVELS).fill(0), retrying: 0, consumers: Number(r.e ?? 0), oldestPendingMs: 0 };
        groups.set(name, g);
      }
      if (r.priority === null) continue;
      g.pending += Number(r.a);
      g.lag += Number(r.b);
      g.lagByPriority[clampRank(r.priority)]! += Number(r.b);
      g.retrying += Number(r.c);
      if (r.d !== null) g.oldestPendingMs = Math.max(g.oldestPendingMs, Math.max(0, Math.floor(r.d)));
    }
    info.groups = [...groups.values()];
    return info;
  }

  async purge(stream: string, options?: SignalOptions): Promise<number> {
    this.enter(options);
    const sid = await this.lookupStream(stream, options?.signal);
    if (sid === undefined) return 0;
    const res = await this.c.query<{ n: string }>(
      'purge',
      { name: this.q('purge'), text: `SELECT ${this.t('purge')}($1)::text AS n`, values: [sid] },
      options?.signal,
    );
    return Number(res.rows[0]?.n ?? 0);
  }

  /**
   * Trims a stream's log now: deletes, in bounded batches, the messages below the oldest one some
   * group still holds (a stream without groups keeps its latest `ungroupedMaxLen`). Returns how
   * many were removed.
   */
  async trim(stream: string, options?: SignalOptions): Promise<number> {
    this.enter(options);
    const sid = await this.lookupStream(stream, options?.signal);
    if (sid === undefined) return 0;
    return this.trimStream(sid, options?.signal);
  }

  private async trimStream(sid: number, signal?: AbortSignal): Promise<number> {
    let total = 0;
    for (let round = 0; round < 100; round++) {
      const res = await this.c.query(
        'trim',
        {
          name: this.q('trim'),
          text: `WITH gs AS (SELECT id FROM ${this.t('groups')} WHERE stream_id = $1),
            floor AS (
              SELECT CASE WHEN EXISTS (SELECT 1 FROM gs) THEN
                coalesce((SELECT min(x.mid) FROM gs, LATERAL (SELECT min(d.message_id) AS mid FROM ${this.t('deliveries')} d WHERE d.group_id = gs.id) x),
                  9223372036854775807)
              ELSE coalesce((SELECT id FROM ${this.t('messages')} WHERE stream_id = $1 AND NOT direct ORDER BY id DESC OFFSET greatest($3::int - 1, 0) LIMIT 1),
                0)
              END AS below
            )
            DELETE FROM ${this.t('messages')} WHERE id = ANY (ARRAY(
              SELECT m.id FROM ${this.t('messages')} m, floor
              WHERE m.stream_id = $1 AND m.id < floor.below AND m.visible_at <= clock_timestamp()
                AND (EXISTS (SELECT 1 FROM gs) OR $3::int > 0)
              ORDER BY m.id LIMIT $2))`,
          values: [sid, this.s.trimBatch, this.s.ungroupedMaxLen],
        },
        signal,
      );
      const n = res.rowCount ?? 0;
      total += n;
      if (n < this.s.trimBatch) break;
    }
    return total;
  }

  /** One round of the trimming timer: the streams this transport used, then expired keys. */
  private trimUsed(): Promise<void> {
    if (this.trimming || this.c.life.closed) return this.trimming ?? Promise.resolve();
    this.trimming = (async () => {
      for (const sid of [...this.used.keys()]) {
        if (this.c.life.closed) return;
        await this.trimStream(sid).catch(() => undefined);
      }
      await this.sweep?.().catch(() => undefined);
    })().finally(() => {
      this.trimming = undefined;
    });
    return this.trimming;
  }

  /** Extra maintenance run with each trimming round (expired keys, old signal payloads). */
  sweep: (() => Promise<unknown>) | undefined;

  /** Stops the trimming timer and wakes every blocked receive (they resolve `[]`). */
  stop(): Promise<void> {
    if (this.trimTimer) clearInterval(this.trimTimer);
    this.trimTimer = undefined;
    for (const set of this.waiters.values()) for (const w of [...set]) w();
    return this.trimming?.catch(() => undefined) ?? Promise.resolve();
  }
}
