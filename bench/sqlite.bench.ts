// SQLite store `append` of batches against raw better-sqlite3 inserting the same rows (same table,
// same indexes) in one transaction per batch.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { EventEnvelope } from '@procur/event-bus';
import { sqliteStore } from '@procur/event-bus/sqlite';
import { events, measure, printTable, type Row } from './util.js';

const N = Number(process.env.BENCH_ROWS ?? 50_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

export async function run(): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'procur-bench-sqlite-'));
  const file = join(dir, 'bench.db');
  let round = 0;

  const ours = async () => {
    const store = sqliteStore({ filename: file, tablePrefix: `ours${round++}_` });
    await store.migrate();
    const rows = events(N);
    for (let i = 0; i < N; i += BATCH) await store.append(rows.slice(i, i + BATCH));
    await store.close();
    return N;
  };

  const raw = async () => {
    const prefix = `raw${round++}_`;
    // Same schema and indexes as ours: let the store create them, then insert by hand.
    const schemaStore = sqliteStore({ filename: file, tablePrefix: prefix });
    await schemaStore.migrate();
    await schemaStore.close();
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const insert = db.prepare(
      `INSERT INTO ${prefix}events (id, type, data, priority, correlation_id, causation_id, user_id, organization_id, source, occurred_at, version, metadata, stored_at, published_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    );
    const insertBatch = db.transaction((batch: EventEnvelope[]) => {
      const storedAt = new Date().toISOString();
      for (const e of batch) {
        insert.run(e.id, e.type, JSON.stringify(e.data), e.priority, e.correlationId, e.causationId ?? null, e.userId ?? null,
          e.organizationId ?? null, e.source ?? null, e.occurredAt, e.version, e.metadata ? JSON.stringify(e.metadata) : null, storedAt, null);
      }
    });
    const rows = events(N);
    for (let i = 0; i < N; i += BATCH) insertBatch(rows.slice(i, i + BATCH));
    db.close();
    return N;
  };

  const rows: Row[] = [];
  // Interleave so both see the same machine state; medians over RUNS.
  const rawRate = await measure(RUNS, raw);
  const oursRate = await measure(RUNS, ours);
  rows.push({ name: 'raw better-sqlite3, one transaction per batch', opsPerSec: rawRate });
  rows.push({ name: 'sqliteStore.append', opsPerSec: oursRate, vs: 'raw better-sqlite3, one transaction per batch' });
  printTable(`SQLite append: ${N} events in batches of ${BATCH}, WAL, same indexes (rows/s, median of ${RUNS})`, rows);
  rmSync(dir, { recursive: true, force: true });
  return rows;
}
