// Postgres store (the built package), on the server at PROCUR_BENCH_POSTGRES_URL
// (default postgres://postgres@127.0.0.1:5432/test), in a throw-away schema:
// 1. `append` of batches against raw pg multi-row INSERT of the same rows into an identical
//    table (created by migrating a second store with another table prefix: same columns and
//    indexes). Interleaved runs, each on fresh tables; medians and the ratio (goal >= 0.7).
// 2. `store.query({ correlationId })` (what `getEventsByCorrelationId` runs) at 1,000,000 rows:
//    p50/p99 latency, and the server's EXPLAIN of the exact SQL the store sent.
// BENCH_ROWS / BENCH_BATCH / BENCH_RUNS scale part 1; BENCH_QUERY_ROWS / BENCH_QUERIES part 2.
import type { EventEnvelope } from '@procur/event-bus';
import { postgresStore, type PostgresPoolLike } from '@procur/event-bus/postgres';
import pg from 'pg';
import { Report, events, fmt, machineNote, median, percentile, size } from './util.js';

let report: Report | undefined;
const out = (s: string) => report?.line(s);

const URL = process.env.PROCUR_BENCH_POSTGRES_URL ?? process.env.PROCUR_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = size('BENCH_ROWS', 50_000, 5_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const RUNS = size('BENCH_RUNS', 5, 1);
const QUERY_ROWS = size('BENCH_QUERY_ROWS', 1_000_000, 20_000);
const QUERIES = size('BENCH_QUERIES', 2000, 200);
/** Events per correlation id in part 2 (a business flow). */
const CHAIN = 10;

const COLUMNS = [
  'id', 'type', 'data', 'priority', 'correlation_id', 'causation_id', 'user_id', 'organization_id',
  'source', 'occurred_at', 'version', 'metadata', 'stored_at', 'published_at',
] as const;

/**
 * The raw baseline: one static `INSERT ... SELECT * FROM unnest($1::t1[], $2::t2[], ...)` per table,
 * prepared once (a named statement: parsed and planned once per connection) and sent with 14 array
 * parameters per batch, whatever the batch size. Column types are read from the table itself.
 */
async function rawInserter(client: pg.PoolClient, schema: string, prefix: string): Promise<(batch: EventEnvelope[]) => Promise<void>> {
  const cols = await client.query<{ column_name: string; udt_name: string }>(
    'select column_name, udt_name from information_schema.columns where table_schema = $1 and table_name = $2',
    [schema, `${prefix}events`],
  );
  const typeOf = new Map(cols.rows.map((r) => [r.column_name, r.udt_name]));
  const table = `"${schema}".${prefix}events`;
  const text = `insert into ${table} (${COLUMNS.join(', ')}) select * from unnest(${COLUMNS.map((c, k) => `$${k + 1}::${typeOf.get(c) ?? 'text'}[]`).join(', ')}) on conflict (id) do nothing`;
  const name = `raw_unnest_${prefix}`;
  return async (batch) => {
    const storedAt = new Date().toISOString();
    const arrays: unknown[][] = COLUMNS.map(() => new Array(batch.length));
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i]!;
      const row = [
        e.id, e.type, JSON.stringify(e.data), e.priority, e.correlationId, e.causationId ?? null, e.userId ?? null,
        e.organizationId ?? null, e.source ?? null, e.occurredAt, e.version, e.metadata ? JSON.stringify(e.metadata) : null, storedAt, null,
      ];
      for (let k = 0; k < row.length; k++) arrays[k]![i] = row[k];
    }
    await client.query({ name, text, values: arrays });
  };
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function appendBench(admin: pg.Pool, schema: string): Promise<{ raw: number; ours: number; ratio: number }> {
  let round = 0;
  const fresh = async (label: string) => {
    const prefix = `${label}${round++}_`;
    // The store creates the tables and indexes (also for the raw side, so they are identical).
    const store = postgresStore({ connectionString: URL, schema, tablePrefix: prefix, poolSize: 2 });
    await store.migrate();
    return { store, table: `"${schema}".${prefix}events`, prefix };
  };
  const drop = async (prefix: string) => {
    for (const t of ['events', 'event_processing', 'handled', 'schema_version']) await admin.query(`drop table if exists "${schema}".${prefix}${t}`);
  };

  const runOurs = async (): Promise<number> => {
    const { store, prefix } = await fresh('ours');
    const rows = events(N);
    const s = await timed(async () => {
      for (let i = 0; i < N; i += BATCH) await store.append(rows.slice(i, i + BATCH));
    });
    await store.close();
    await drop(prefix);
    return N / s;
  };
  const runRaw = async (): Promise<number> => {
    const { store, prefix } = await fresh('raw');
    await store.close();
    const client = await admin.connect();
    const rows = events(N);
    try {
      const insert = await rawInserter(client, schema, prefix);
      const s = await timed(async () => {
        for (let i = 0; i < N; i += BATCH) await insert(rows.slice(i, i + BATCH));
      });
      return N / s;
    } finally {
      client.release();
      await drop(prefix);
    }
  };

  // Warm-up of both, then interleaved runs (alternating which goes first), each on fresh tables.
  await runRaw();
  await runOurs();
  const raw: number[] = [];
  const ours: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    let a: number;
    let b: number;
    if (r % 2 === 0) {
      a = await runRaw();
      b = await runOurs();
    } else {
      b = await runOurs();
      a = await runRaw();
    }
    raw.push(a);
    ours.push(b);
    ratios.push(b / a);
  }
  const result = { raw: median(raw), ours: median(ours), ratio: median(ratios) };
  out(`### Postgres append: ${N.toLocaleString('en-US')} events in batches of ${BATCH}, same table and indexes (rows/s, median of ${RUNS} interleaved runs)\n`);
  out('| case | rows/s (median) | ratio | runs (rows/s) |');
  out('|---|---:|---:|---|');
  out(`| raw pg prepared \`INSERT ... SELECT * FROM unnest(...)\` ON CONFLICT DO NOTHING | ${fmt(result.raw)} | | ${raw.map(fmt).join(', ')} |`);
  out(
    `| postgresStore.append | ${fmt(result.ours)} | ${result.ratio.toFixed(3)} of raw (goal >= 0.7: ${result.ratio >= 0.7 ? 'met' : 'NOT met'}) | ${ours.map(fmt).join(', ')} |`,
  );
  out(`\nper-run ratios: ${ratios.map((x) => x.toFixed(3)).join(', ')}. Settings: ours \`postgresStore({ connectionString, schema, tablePrefix, poolSize: 2 })\` defaults, sequential \`append\` calls; raw: one pg client, the named prepared statement above, 14 array parameters per batch.\n`);
  report?.goal({ goal: 'PostgreSQL store append: >= 0.7 of raw prepared unnest INSERT (issue 2 goal, now against the stronger baseline)', measured: `${result.ratio.toFixed(2)} (${ratios.map((x) => x.toFixed(2)).join(', ')})`, value: result.ratio, target: 0.7, better: 'higher' });
  return result;
}

/** A pool that remembers the last statement the store sent, to EXPLAIN exactly that. */
function recordingPool(pool: pg.Pool, last: { sql: string; params: unknown[] }): PostgresPoolLike {
  return {
    async connect() {
      const client = await pool.connect();
      return new Proxy(client, {
        get(target, key, receiver) {
          if (key === 'query') {
            return (sql: string, params: unknown[]) => {
              if (typeof sql === 'string' && /^select/i.test(sql)) {
                last.sql = sql;
                last.params = params;
              }
              return target.query(sql, params);
            };
          }
          const v = Reflect.get(target, key, receiver) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      }) as never;
    },
    end: async () => undefined,
  };
}

async function queryBench(admin: pg.Pool, schema: string): Promise<void> {
  const prefix = 'q_';
  const table = `"${schema}".${prefix}events`;
  const last = { sql: '', params: [] as unknown[] };
  const pool = new pg.Pool({ connectionString: URL, max: 2 });
  const store = postgresStore({ pool: recordingPool(pool, last), schema, tablePrefix: prefix });
  try {
    await store.migrate();
    // Bulk load into the store's own table: 10 events per correlation id, one second apart,
    // interleaved across flows as real traffic is. Not via append: this is setup, not the benchmark.
    const loadS = await timed(async () => {
      const step = 250_000;
      for (let from = 1; from <= QUERY_ROWS; from += step) {
        const to = Math.min(QUERY_ROWS, from + step - 1);
        await admin.query(
          `insert into ${table} (${COLUMNS.join(', ')})
           select 'ev-' || lpad(g::text, 9, '0'),
                  (array['request.created','negotiation.started','negotiation.offer.received','contract.generated'])[1 + g % 4],
                  jsonb_build_object('n', g, 'amount', 1000 + g % 5000),
                  'normal',
                  'corr-' || (g % $1::int),
                  null, (g % 500)::text, 'org-' || (g % 20), 'bench',
                  timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second',
                  1, null, now(), now()
           from generate_series($2::int, $3::int) g`,
          [Math.max(1, Math.floor(QUERY_ROWS / CHAIN)), from, to],
        );
      }
      await admin.query(`analyze ${table}`);
    });
    const flows = Math.max(1, Math.floor(QUERY_ROWS / CHAIN));
    const pick = () => `corr-${Math.floor(Math.random() * flows)}`;
    // Warm-up, then measured queries (sequential: latency, not throughput).
    for (let i = 0; i < 200; i++) await store.query({ correlationId: pick() });
    const latencies: number[] = [];
    let returned = 0;
    for (let i = 0; i < QUERIES; i++) {
      const t0 = process.hrtime.bigint();
      const page = await store.query({ correlationId: pick() });
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      returned += page.events.length;
    }
    const wholeChain = await store.query({ correlationId: 'corr-42' });
    const explain = await admin.query(`explain (analyze, buffers, costs off) ${last.sql}`, last.params);
    const plan = explain.rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n');
    out(`### Postgres store.query({ correlationId }) at ${QUERY_ROWS.toLocaleString('en-US')} rows (${CHAIN} events per flow)\n`);
    out(`bulk load (INSERT ... SELECT generate_series, 7 indexes) + ANALYZE: ${loadS.toFixed(1)} s`);
    out(`${QUERIES} sequential queries, ${(returned / QUERIES).toFixed(1)} events each (whole chain: ${wholeChain.events.length}, nextCursor ${String(wholeChain.nextCursor)})\n`);
    out('| p50 ms | p90 ms | p99 ms | max ms |');
    out('|---:|---:|---:|---:|');
    out(
      `| ${percentile(latencies, 50).toFixed(3)} | ${percentile(latencies, 90).toFixed(3)} | ${percentile(latencies, 99).toFixed(3)} | ${Math.max(...latencies).toFixed(3)} |`,
    );
    out(`\nSQL sent by the store:\n\n    ${last.sql}\n\nEXPLAIN (ANALYZE, BUFFERS):\n\n${plan.split('\n').map((l) => `    ${l}`).join('\n')}`);
    if (!/Index Scan using \S*events_correlation_occurred_idx/.test(plan)) out('\n!! the plan does not use events_correlation_occurred_idx');
  } finally {
    await store.close();
    await pool.end();
  }
}

export async function run(): Promise<Report> {
  report = new Report('postgres', 'PostgreSQL store');
  const admin = new pg.Pool({ connectionString: URL, max: 2 });
  const schema = `procur_bench_${Date.now().toString(36)}`;
  try {
    const version = await admin.query<{ server_version: string }>('show server_version');
    out(`PostgreSQL ${version.rows[0]?.server_version} at ${URL.replace(/\/\/[^@/]*@/, '//')}, Node ${process.version}, ${machineNote()} at the start.\n`);
    await appendBench(admin, schema);
    await queryBench(admin, schema);
  } finally {
    await admin.query(`drop schema if exists "${schema}" cascade`).catch(() => undefined);
    await admin.end();
  }
  return report;
}
