/**
 * `postgresTransport({ synchronousReceive: false })`: a receive's transaction commits with
 * `synchronous_commit` off (and only that transaction), and the transport conformance suite
 * still passes with it. By default a receive commits synchronously.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { describeTransport } from '@procur/event-bus/testing';
import { postgresTransport } from '@procur/event-bus/postgres';
import { POSTGRES_REQUIRED, TEST_POSTGRES_URL, dropSchema, probePostgres, safeUrl, uniqueSchema } from '../e2e/fixtures/postgres-helpers.js';

const unreachable = await probePostgres(TEST_POSTGRES_URL);

interface Recorded {
  name?: string;
  text: string;
  values?: unknown[];
}

/** A pool that records the statements the transport sends through `query`. */
function recordingPool(inner: pg.Pool, seen: Recorded[]) {
  return {
    connect: () => inner.connect(),
    query: (q: Recorded) => {
      seen.push(q);
      return inner.query(q as pg.QueryConfig);
    },
    end: () => inner.end(),
    on: (event: 'error', fn: (err: Error) => void) => inner.on(event, fn),
    removeListener: (event: 'error', fn: (err: Error) => void) => inner.removeListener(event, fn),
  };
}

if (unreachable !== undefined) {
  if (POSTGRES_REQUIRED) {
    it(`PostgreSQL at ${safeUrl()} is reachable (required because CI is set)`, () => {
      expect.fail(`Cannot reach PostgreSQL at ${safeUrl()}: ${unreachable}`);
    });
  } else {
    console.warn(`\n!!! [postgres-transport-async-receive.test] PostgreSQL at ${safeUrl()} is NOT reachable (${unreachable}): SKIPPED.\n`);
    it.skip('PostgreSQL transport synchronousReceive (PostgreSQL unreachable)', () => {});
  }
} else {
  const schema = uniqueSchema('pgasync');
  const admin = new pg.Pool({ connectionString: TEST_POSTGRES_URL, max: 2 });
  afterAll(async () => {
    await dropSchema(schema, admin);
    await admin.end();
  });

  /** The `synchronous_commit` a transaction runs the transport's receive statement with, read before its commit. */
  async function receiveCommitSetting(options: { synchronousReceive?: boolean }, prefix: string): Promise<string> {
    const seen: Recorded[] = [];
    const inner = new pg.Pool({ connectionString: TEST_POSTGRES_URL, max: 3 });
    const transport = postgresTransport({ pool: recordingPool(inner, seen), schema, tablePrefix: prefix, ...options });
    try {
      await transport.ensureGroup('s', 'g');
      await transport.publish('s', [{ body: 'one' }]);
      const got = await transport.receive('s', { group: 'g', consumer: 'c', max: 1 });
      expect(got.map((d) => d.body)).toEqual(['one']);
      const receive = seen.find((q) => q.text.includes(`${prefix}receive"(`));
      expect(receive).toBeDefined();
      const client = await admin.connect();
      try {
        await client.query('BEGIN');
        await client.query({ text: receive!.text, values: receive!.values });
        const { rows } = await client.query<{ s: string }>(`SELECT current_setting('synchronous_commit') AS s`);
        await client.query('ROLLBACK');
        // The setting does not outlive the transaction.
        const after = await client.query<{ s: string }>(`SELECT current_setting('synchronous_commit') AS s`);
        expect(after.rows[0]!.s).toBe('on');
        return rows[0]!.s;
      } finally {
        client.release();
      }
    } finally {
      await transport.close();
      await inner.end();
    }
  }

  describe('synchronousReceive', () => {
    it('by default a receive commits synchronously', async () => {
      expect(await receiveCommitSetting({}, 'sr1_')).toBe('on');
    });

    it('false: a receive commits with synchronous_commit off, for its transaction only', async () => {
      expect(await receiveCommitSetting({ synchronousReceive: false }, 'sr2_')).toBe('off');
    });
  });

  describeTransport(
    'postgres (synchronousReceive: false)',
    () => ({ transport: postgresTransport({ connectionString: TEST_POSTGRES_URL, schema, poolSize: 4, synchronousReceive: false }) }),
    { features: { persistent: true, distributed: true } },
  );
}
