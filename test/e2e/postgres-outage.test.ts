/**
 * PostgreSQL failing under a publishing process (issue 10, hole 1), on a private cluster this
 * test starts and stops by itself: `pg_ctl stop -m immediate` while inserts are in flight must
 * not kill the process (every failed publish is a typed `StoreError`) and publishing resumes by
 * itself when the server is back; a frozen server (SIGSTOP) makes publish reject with
 * `StoreError` within the store timeout instead of hanging, and SIGCONT recovers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresStore } from '../../adapters/postgres/index.js';
import { EventType, StoreError, createEventSystem, silentLogger, type EventSystem } from '../../src/index.js';
import { waitUntil } from '../../src/testing/index.js';
import { POSTGRES_REQUIRED } from './fixtures/postgres-helpers.js';
import { privatePostgres, privatePostgresUnavailable, type PrivatePostgres } from './fixtures/private-postgres.js';

const unavailable = privatePostgresUnavailable();
if (unavailable && !POSTGRES_REQUIRED) console.warn(`\n!! SKIPPING the PostgreSQL outage tests: ${unavailable}\n`);

const FIXTURE = fileURLToPath(new URL('./fixtures/pg-outage-publisher.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Publisher {
  child: ChildProcess;
  lines: string[];
  stderr: string[];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  ok(): string[];
  errors(): { code: string; ms: number; ids: string[] }[];
}

function startPublisher(url: string, schema: string, env: Record<string, string> = {}): Publisher {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PG_URL: url, PG_SCHEMA: schema, ...env },
  });
  const lines: string[] = [];
  const stderr: string[] = [];
  let buffer = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    buffer += chunk;
    const parts = buffer.split('\n');
    buffer = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => stderr.push(chunk));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    lines,
    stderr,
    exit,
    ok: () => lines.filter((l) => l.startsWith('OK ')).flatMap((l) => l.slice(3).split(',')),
    errors: () =>
      lines
        .filter((l) => l.startsWith('ERR '))
        .map((l) => {
          const [, code, ms, ids] = l.split(' ');
          return { code: code!, ms: Number(ms), ids: ids!.split(',') };
        }),
  };
}

const alive = (p: Publisher) => p.child.exitCode === null && p.child.signalCode === null;

describe.skipIf(unavailable !== undefined && !POSTGRES_REQUIRED)('postgres store outage (private cluster)', () => {
  let server: PrivatePostgres;
  beforeAll(async () => {
    server = await privatePostgres();
  }, 120_000);
  afterAll(async () => {
    await server?.destroy();
  }, 60_000);

  it(
    'a publishing process survives pg_ctl stop -m immediate mid-insert, rounds after round, and resumes after each restart',
    async () => {
      const p = startPublisher(server.url, 'outage_stop', { STORE_TIMEOUT_MS: '3000' });
      try {
        await waitUntil(() => p.lines.includes('READY') && p.ok().length > 0, 30_000);
        for (let round = 0; round < 4; round++) {
          const before = p.ok().length;
          // Publishing at full speed: the stop lands on inserts in flight.
          await waitUntil(() => p.ok().length >= before + 200, 30_000);
          const errorsBefore = p.errors().length;
          await server.stopImmediate();
          await waitUntil(() => p.errors().length > errorsBefore || !alive(p), 30_000);
          await new Promise((r) => setTimeout(r, 500));
          expect(alive(p), `publisher died in round ${round}: ${p.stderr.join('')}`).toBe(true);
          await server.start();
          const okAfter = p.ok().length;
          await waitUntil(() => p.ok().length > okAfter + 50 || !alive(p), 30_000);
          expect(alive(p), `publisher died after restart ${round}: ${p.stderr.join('')}`).toBe(true);
        }
        p.child.kill('SIGTERM');
        const { code } = await p.exit;
        expect(code, p.stderr.join('')).toBe(0);
        const errors = p.errors();
        // Every failure was typed: a StoreError, nothing untyped.
        expect(errors.length).toBeGreaterThan(0);
        expect(errors.filter((e) => e.code !== 'ERR_STORE')).toEqual([]);
        // Every publish that resolved is durable: its events are in the database.
        const ok = p.ok();
        const client = new pg.Client({ connectionString: server.url });
        await client.connect();
        try {
          const { rows } = await client.query<{ id: string }>('select id from outage_stop.procur_events');
          const stored = new Set(rows.map((r) => r.id));
          expect(ok.filter((id) => !stored.has(id))).toEqual([]);
        } finally {
          await client.end();
        }
      } finally {
        if (alive(p)) p.child.kill('SIGKILL');
      }
    },
    240_000,
  );

  it(
    'a frozen server (SIGSTOP) makes publish reject with StoreError within the store timeout; SIGCONT recovers',
    async () => {
      const timeoutMs = 1500;
      const bus: EventSystem = await createEventSystem({
        store: postgresStore({ connectionString: server.url, schema: 'outage_freeze', poolSize: 3, timeoutMs }),
        logger: silentLogger,
        env: {},
        outbox: false,
        config: { storeTimeoutMs: timeoutMs },
      });
      const input = (n: number) => ({
        id: `f-${n}`,
        type: EventType.REQUEST_CREATED,
        data: { requestId: `r-${n}`, description: 'freeze test', budgetMax: n },
      });
      try {
        await bus.publisher.publish(input(0));
        server.freeze();
        let thawed = false;
        // However the freeze goes, the server is thawed again (a stuck cluster would hang destroy()).
        const thaw = setTimeout(() => {
          thawed = true;
          server.thaw();
        }, 20_000);
        try {
          const results = await Promise.allSettled([1, 2, 3, 4, 5].map((n) => bus.publisher.publish(input(n))));
          expect(thawed, 'publish waited for the thaw instead of timing out').toBe(false);
          for (const r of results) {
            expect(r.status).toBe('rejected');
            expect((r as PromiseRejectedResult).reason).toBeInstanceOf(StoreError);
          }
          expect((results[0] as PromiseRejectedResult).reason.message).toMatch(/storeTimeoutMs|timeoutMs/);
        } finally {
          clearTimeout(thaw);
          server.thaw();
        }
        // Back: the same system publishes again by itself.
        await waitUntil(
          async () => {
            try {
              await bus.publisher.publish(input(100));
              return true;
            } catch {
              return false;
            }
          },
          30_000,
        );
        expect(await bus.store.adapter.getEvent('f-100')).toBeDefined();
      } finally {
        server.thaw();
        await bus.close();
      }
    },
    120_000,
  );
});
