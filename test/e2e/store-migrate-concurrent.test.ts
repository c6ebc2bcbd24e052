/**
 * Ten processes start at once against an empty Postgres schema: the advisory lock lets one of
 * them migrate, the others wait and find the schema current; all start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { SCHEMA_VERSION } from '../../adapters/sql/index.js';
import { POSTGRES_REQUIRED, TEST_POSTGRES_URL, dropSchema, probePostgres, uniqueSchema, warnSkipped } from './fixtures/postgres-helpers.js';

const PROCESSES = 10;
const fixture = fileURLToPath(new URL('./fixtures/migrate-and-start.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

const unreachable = await probePostgres();
if (unreachable && !POSTGRES_REQUIRED) warnSkipped('the concurrent migration test', unreachable);

interface Child {
  proc: ChildProcess;
  out: string;
  err: string;
  ready: Promise<void>;
  exit: Promise<number | null>;
}

function start(schema: string): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', fixture], {
    cwd: repoRoot,
    env: { ...process.env, PG_URL: TEST_POSTGRES_URL, PG_SCHEMA: schema },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const child: Child = { proc, out: '', err: '', ready: Promise.resolve(), exit: Promise.resolve(null) };
  child.ready = new Promise((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => {
      child.out += d.toString();
      if (child.out.includes('ready\n')) resolve();
    });
    proc.on('exit', () => reject(new Error(`process exited before it was ready: ${child.err}`)));
  });
  child.ready.catch(() => undefined);
  proc.stderr!.on('data', (d: Buffer) => (child.err += d.toString()));
  child.exit = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  return child;
}

describe.skipIf(unreachable !== undefined && !POSTGRES_REQUIRED)('concurrent migration on Postgres', () => {
  const admin = new pg.Pool({ connectionString: TEST_POSTGRES_URL, max: 2 });
  const schema = uniqueSchema('migrate');
  afterAll(async () => {
    await dropSchema(schema, admin);
    await admin.end();
  });

  it(`${PROCESSES} processes starting at once migrate an empty schema once, and all start`, { timeout: 120_000 }, async () => {
    const exists = await admin.query('select 1 from pg_namespace where nspname = $1', [schema]);
    expect(exists.rows).toEqual([]);
    const children = Array.from({ length: PROCESSES }, () => start(schema));
    const killer = setTimeout(() => children.forEach((c) => c.proc.kill('SIGKILL')), 100_000);
    try {
      // Everyone has loaded its code; now release them together.
      await Promise.all(children.map((c) => c.ready));
      for (const c of children) c.proc.stdin!.end('go\n');
      const codes = await Promise.all(children.map((c) => c.exit));
      const results = children.map((c) => {
        const line = c.out.split('\n').find((l) => l.startsWith('{'));
        return line ? (JSON.parse(line) as { ok: boolean; error?: string }) : { ok: false, error: c.err || 'no output' };
      });
      expect(results.filter((r) => !r.ok)).toEqual([]);
      expect(codes).toEqual(Array(PROCESSES).fill(0));
    } finally {
      clearTimeout(killer);
    }

    const version = await admin.query(`select id, version from "${schema}".procur_schema_version`);
    expect(version.rows).toEqual([{ id: 1, version: SCHEMA_VERSION }]);
    const events = await admin.query(`select count(*)::int as n from "${schema}".procur_events`);
    expect(events.rows).toEqual([{ n: PROCESSES }]);
    // The version row was written by one migration and never rewritten: the steps ran once.
    // (Statistics reach the shared counters when the backends exit; wait for them briefly.)
    let stats: { n_tup_ins: string; n_tup_upd: string } | undefined;
    for (let i = 0; i < 50; i++) {
      const r = await admin.query(
        `select n_tup_ins, n_tup_upd from pg_stat_user_tables where schemaname = $1 and relname = 'procur_schema_version'`,
        [schema],
      );
      stats = r.rows[0] as typeof stats;
      if (stats && Number(stats.n_tup_ins) > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(stats).toEqual({ n_tup_ins: '1', n_tup_upd: '0' });
  });
});
