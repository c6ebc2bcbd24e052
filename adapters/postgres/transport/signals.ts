/**
 * The signals role of the PostgreSQL transport: `notify`/`listen` over `NOTIFY`/`LISTEN`, on the
 * transport's one listening connection. A logical channel maps to a PostgreSQL channel named by
 * its hash (channel names are identifiers of at most 63 bytes); a message too long for a
 * notification payload (8000 bytes) is stored in `<prefix>signal_payloads` and the notification
 * carries its id.
 *
 * @internal
 * @module
 */

import { createHash } from 'node:crypto';
import type { SignalOptions, Unsubscribe } from '@procur/event-bus';
import { throwIfAborted } from '@procur/event-bus/adapter-kit';
import type { PgWriteBatch } from './batch.js';
import { abortable, type PgConnection } from './connection.js';
import { decodeText, encodeText } from './text.js';

/** Payloads up to this many bytes travel in the notification itself. */
export const MAX_INLINE_PAYLOAD_BYTES = 7900;

/** Channel names kept hashed at most (the cache starts over past this). */
const MAX_CACHED_CHANNELS = 1000;

/** The signal verbs of one PostgreSQL transport. */
export class PgSignals {
  constructor(
    private readonly c: PgConnection,
    private readonly writes: PgWriteBatch,
    /** Writes of this process a notification must not overtake (the key-value role's). */
    private readonly before: () => Promise<void> | undefined = () => undefined,
  ) {}

  /** Channel names already hashed (a worker notifies the same few channels all the time). */
  private readonly channels = new Map<string, string>();

  private channel(name: string): string {
    let pg = this.channels.get(name);
    if (pg === undefined) {
      pg = `procur_s_${this.c.names.tag}_${createHash('sha1').update(name).digest('hex').slice(0, 32)}`;
      if (this.channels.size >= MAX_CACHED_CHANNELS) this.channels.clear();
      this.channels.set(name, pg);
    }
    return pg;
  }

  async notify(channel: string, message: string, options?: SignalOptions): Promise<void> {
    this.c.life.assertOpen();
    throwIfAborted(options?.signal);
    const text = encodeText(message);
    const writes = this.before();
    if (writes) await writes;
    const inline = text.length * 3 <= MAX_INLINE_PAYLOAD_BYTES || Buffer.byteLength(text) <= MAX_INLINE_PAYLOAD_BYTES - 1;
    // Joins the write batch: after the writes issued before it, in one round trip with them.
    await abortable(
      inline ? this.writes.notify('notify', this.channel(channel), `=${text}`, false) : this.writes.notify('notify', this.channel(channel), text, true),
      options?.signal,
    );
  }

  async listen(channel: string, handler: (message: string) => void, options?: SignalOptions): Promise<Unsubscribe> {
    this.c.life.assertOpen();
    throwIfAborted(options?.signal);
    const deliver = (message: string) => {
      try {
        const r = (handler as (m: string) => unknown)(message);
        if (r instanceof Promise) r.catch(() => {});
      } catch {
        // A throwing listener keeps its subscription (contract).
      }
    };
    const onPayload = (payload: string) => {
      if (payload.startsWith('=')) return deliver(decodeText(payload.slice(1)));
      if (!payload.startsWith('@') || this.c.life.closed) return;
      void this.c
        .query<{ message: string }>('listen', {
          name: `procur_${this.c.names.tag}_payload`,
          text: `SELECT message FROM ${this.c.names.t('signal_payloads')} WHERE id = $1::bigint`,
          values: [payload.slice(1)],
        })
        .then(
          (res) => {
            const row = res.rows[0];
            if (row) deliver(decodeText(row.message));
          },
          () => undefined,
        );
    };
    const off = await this.c.subscribe(this.channel(channel), onPayload, options?.signal);
    let done: Promise<void> | undefined;
    return () => (done ??= off());
  }

  /** Deletes stored payloads older than a minute (maintenance). */
  async sweep(): Promise<void> {
    await this.c.query('sweep', {
      name: `procur_${this.c.names.tag}_payload_sweep`,
      text: `DELETE FROM ${this.c.names.t('signal_payloads')} WHERE created_at < clock_timestamp() - interval '1 minute'`,
    });
  }
}
