/**
 * The PostgreSQL transport against the real PostgreSQL (127.0.0.1:5432 db `test`, or
 * PROCUR_TEST_POSTGRES_URL): the transport conformance suite (every role), then PostgreSQL-only
 * behaviour. One schema for this file, dropped at the end. Skipped (loudly) only when PostgreSQL
 * is unreachable and CI is not set; in CI that fails.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { partitionTransport } from '@procur/event-bus';
import { describeBatchHandlers, describePartitions, describeTaskQueue, describeTransport } from '@procur/event-bus/testing';
import { postgresTransport } from '@procur/event-bus/postgres';
import { POSTGRES_REQUIRED, TEST_POSTGRES_URL, dropSchema, probePostgres, safeUrl, uniqueSchema } from '../e2e/fixtures/postgres-helpers.js';

const unreachable = await probePostgres(TEST_POSTGRES_URL);

if (unreachable !== undefined) {
  if (POSTGRES_REQUIRED) {
    it(`PostgreSQL at ${safeUrl()} is reachable (required because CI is set)`, () => {
      expect.fail(`Cannot reach PostgreSQL at ${safeUrl()}: ${unreachable}. Set PROCUR_TEST_POSTGRES_URL.`);
    });
  } else {
    console.warn(`\n!!! [postgres-transport.test] PostgreSQL at ${safeUrl()} is NOT reachable (${unreachable}): SKIPPED. With CI set, this is a failure.\n`);
    it.skip('PostgreSQL transport suite (PostgreSQL unreachable)', () => {});
  }
} else {
  const schema = uniqueSchema('pgt');
  const admin = new pg.Pool({ connectionString: TEST_POSTGRES_URL, max: 2 });
  afterAll(async () => {
    await dropSchema(schema, admin);
    await admin.end();
  });

  describeTransport('postgres', () => ({ transport: postgresTransport({ connectionString: TEST_POSTGRES_URL, schema, poolSize: 4 }) }), {
    features: { persistent: true, distributed: true },
  });

  // A table prefix per test: the task suite's systems share names such as the DLQ (Redis: a key prefix per test).
  let n = 0;
  describeTaskQueue('postgres', () => ({
    transport: postgresTransport({ connectionString: TEST_POSTGRES_URL, schema, tablePrefix: `tq${++n}_`, poolSize: 4 }),
  }));

  // The batch handler and partition cases every transport runs.
  describeBatchHandlers('postgres', () => ({
    transport: postgresTransport({ connectionString: TEST_POSTGRES_URL, schema, tablePrefix: `bh${++n}_`, poolSize: 4 }),
  }));
  describePartitions('postgres', () => {
    const inner = postgresTransport({ connectionString: TEST_POSTGRES_URL, schema, tablePrefix: `pt${++n}_`, poolSize: 4 });
    return { inner, transport: partitionTransport(inner, { partitions: 3 }), partitions: 3 };
  });
}
