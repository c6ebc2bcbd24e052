/**
 * The scheduler (beat) across processes on the PostgreSQL transport and store (issue 14): three
 * separate processes run the scheduler of one every-second schedule on one database, and each
 * due run is sent exactly once in total: the task runs, counted by their scheduled slot (the
 * run's correlation id), hold no duplicate and no gap from the first to the last; the same when
 * the leader is killed with SIGKILL and another process takes over (the runs due meanwhile are
 * sent once each). The beat processes are `node -e` scripts of this file (no fixture file); the
 * worker runs here. One schema per test, dropped afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { postgresStore, postgresTransport } from '../../adapters/postgres/index.js';
import { createEventSystem, silentLogger, type EventSystem } from '../../src/index.js';
import { waitUntil } from '../../src/testing/index.js';
import { POSTGRES_REQUIRED, TEST_POSTGRES_URL, dropSchema, probePostgres, uniqueSchema, warnSkipped } from './fixtures/postgres-helpers.js';

const unreachable = await probePostgres();
if (unreachable && !POSTGRES_REQUIRED) warnSkipped('the PostgreSQL transport scheduler tests', unreachable);

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SRC = pathToFileURL(`${ROOT}src/index.ts`).href;
const PG = pathToFileURL(`${ROOT}adapters/postgres/index.ts`).href;
const ENTRY = 'every-second';
const PERIOD_MS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One beat process: the app's scheduler on the shared transport and store, no worker. */
const BEAT = `
const { createEventSystem, silentLogger } = await import(${JSON.stringify(SRC)});
const { postgresStore, postgresTransport } = await import(${JSON.stringify(PG)});
const url = process.env.PG_URL, schema = process.env.SCHEMA;
const bus = await createEventSystem({
  transport: postgresTransport({ connectionString: url, schema, poolSize: 3 }),
  store: postgresStore({ connectionString: url, schema, poolSize: 2 }),
  logger: silentLogger, env: {}, outbox: false, taskEvents: false, builtins: false,
  config: { eventSourcingEnabled: false },
});
bus.tasks.define('tick', { queue: 'beat' }, async () => undefined);
bus.scheduler.add({ name: ${JSON.stringify(ENTRY)}, task: 'tick', everyMs: ${PERIOD_MS} });
await bus.scheduler.start();
process.stdout.write('READY\\n');
process.on('SIGTERM', () => void bus.close().then(() => process.exit(0)));
`;

interface Beat {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
}

function startBeat(schema: string): Beat {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', BEAT], {
    cwd: ROOT,
    env: { ...process.env, PG_URL: TEST_POSTGRES_URL, SCHEMA: schema },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the beat process did not start within 40 s')), 40_000);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('READY')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the beat process exited early with ${code}`));
    });
  });
  child.stderr!.on('data', (d: Buffer) => process.stderr.write(`[beat ${child.pid}] ${d.toString()}`));
  return { child, ready, exited };
}

async function stopBeat(b: Beat): Promise<void> {
  if (b.child.exitCode !== null || b.child.signalCode !== null) return;
  b.child.kill('SIGTERM');
  const killed = setTimeout(() => b.child.kill('SIGKILL'), 10_000);
  await b.exited;
  clearTimeout(killed);
}

describe.skipIf(unreachable !== undefined && !POSTGRES_REQUIRED)('the scheduler across processes on PostgreSQL', () => {
  const admin = new pg.Pool({ connectionString: TEST_POSTGRES_URL, max: 1 });
  let schema = '';
  let bus: EventSystem | undefined;
  let beats: Beat[] = [];
  afterEach(async () => {
    await Promise.all(beats.map(stopBeat));
    beats = [];
    await bus?.close().catch(() => undefined);
    bus = undefined;
    if (schema) await dropSchema(schema, admin);
    schema = '';
  });
  afterAll(() => admin.end());

  /** This process: the worker of the schedule's task, recording each run's scheduled slot. */
  async function workerSystem(label: string): Promise<{ bus: EventSystem; runs: string[] }> {
    schema = uniqueSchema(label);
    const runs: string[] = [];
    bus = await createEventSystem({
      transport: postgresTransport({ connectionString: TEST_POSTGRES_URL, schema, poolSize: 3 }),
      store: postgresStore({ connectionString: TEST_POSTGRES_URL, schema, poolSize: 2 }),
      logger: silentLogger,
      env: {},
      outbox: false,
      taskEvents: false,
      builtins: false,
      config: { eventSourcingEnabled: false, eventBlockTime: 200 },
    });
    // Migrate here once, so the beat processes do not race to create the schema.
    await (bus.transport as { migrate?: () => Promise<void> }).migrate?.();
    await bus.store.adapter.migrate();
    bus.tasks.define('tick', { queue: 'beat' }, async (_args: unknown, ctx) => {
      runs.push(ctx.correlationId);
    });
    await bus.worker({ queues: { beat: 2 } }).start();
    return { bus, runs };
  }

  /** The slots (ms) of the runs, sorted; the correlation id is `schedule:<entry>:<ISO slot>`. */
  function slotsOf(runs: readonly string[]): number[] {
    const prefix = `schedule:${ENTRY}:`;
    for (const r of runs) expect(r.startsWith(prefix), r).toBe(true);
    return runs.map((r) => Date.parse(r.slice(prefix.length))).sort((a, b) => a - b);
  }

  /** Each slot once, and every slot from the first to the last: consecutive runs one period apart. */
  function expectEachSlotOnce(runs: readonly string[], atLeast: number): void {
    expect(new Set(runs).size, `duplicate runs: ${runs.join(', ')}`).toBe(runs.length);
    const slots = slotsOf(runs);
    expect(slots.length).toBeGreaterThanOrEqual(atLeast);
    for (const s of slots) expect(s % PERIOD_MS).toBe(0);
    expect(slots.slice(1).map((s, i) => s - slots[i]!), `gaps in ${slots.map((s) => new Date(s).toISOString()).join(', ')}`).toEqual(
      slots.slice(1).map(() => PERIOD_MS),
    );
  }

  /** Waits until every sent run has been run (nothing waiting or running on the queue). */
  async function drained(b: EventSystem): Promise<void> {
    await waitUntil(async () => {
      const info = await b.tasks.queueInfo('beat');
      return info.groups.every((g) => g.lag === 0 && g.pending === 0);
    }, 20_000);
  }

  /** The pid in the leader lock's value (`<host>:<pid>:<n>`), or undefined when nobody holds it. */
  async function leaderPid(b: EventSystem): Promise<number | undefined> {
    const id = await b.transport.kvGet(`${b.config.namespace}:scheduler:leader`);
    return id === null ? undefined : Number(id.split(':').at(-2));
  }

  it('three beat processes on one database: each due run of an every-second schedule is sent once', async () => {
    const { bus: b, runs } = await workerSystem('pgt_beat3');
    beats = [startBeat(schema), startBeat(schema), startBeat(schema)];
    await Promise.all(beats.map((p) => p.ready));
    await waitUntil(() => new Set(runs).size >= 6, 40_000);
    // The lock is held by one of them.
    expect(beats.map((p) => p.child.pid)).toContain(await leaderPid(b));
    await Promise.all(beats.map(stopBeat));
    await drained(b);
    await sleep(300); // a late duplicate would show up now
    expectEachSlotOnce(runs, 6);
  }, 60_000);

  it('the leader killed with SIGKILL: another process takes over and sends the runs due meanwhile, each once', async () => {
    const { bus: b, runs } = await workerSystem('pgt_beatkill');
    beats = [startBeat(schema), startBeat(schema), startBeat(schema)];
    await Promise.all(beats.map((p) => p.ready));
    await waitUntil(() => runs.length >= 3, 40_000);
    // Right after a run, so the leader dies between two runs (not between claiming one and sending it).
    const seen = runs.length;
    await waitUntil(() => runs.length > seen, 10_000, 'a new run');
    const pid = await leaderPid(b);
    const victim = beats.find((p) => p.child.pid === pid);
    expect(victim, `leader pid ${pid} is one of the beat processes`).toBeDefined();
    victim!.child.kill('SIGKILL');
    await victim!.exited;
    const atKill = runs.length;
    // A survivor takes the lock after its TTL and keeps sending.
    await waitUntil(async () => {
      const now = await leaderPid(b);
      return now !== undefined && now !== pid && runs.length >= atKill + 4;
    }, 30_000);
    const successor = await leaderPid(b);
    expect(beats.filter((p) => p !== victim).map((p) => p.child.pid)).toContain(successor);
    await Promise.all(beats.map(stopBeat));
    await drained(b);
    await sleep(300);
    expectEachSlotOnce(runs, atKill + 4);
  }, 60_000);
});
