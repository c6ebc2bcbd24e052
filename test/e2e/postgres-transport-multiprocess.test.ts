/**
 * postgresTransport across separate processes (the pattern of the Redis multi-process tests):
 * two consumer processes of one group share the events exactly once while nobody dies and another
 * group gets them all; a consumer process and a task worker process killed with SIGKILL mid-work
 * lose nothing: the survivors claim what they held after `claimIdleMs`. One schema per test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { postgresTransport } from '../../adapters/postgres/index.js';
import { EventType, createEventSystem, silentLogger, type EventSystem } from '../../src/index.js';
import { POSTGRES_REQUIRED, TEST_POSTGRES_URL, dropSchema, probePostgres, uniqueSchema, warnSkipped } from './fixtures/postgres-helpers.js';

const unreachable = await probePostgres();
if (unreachable && !POSTGRES_REQUIRED) warnSkipped('the PostgreSQL transport multi-process tests', unreachable);

const FIXTURE = fileURLToPath(new URL('./fixtures/pg-transport-process.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLAIM_IDLE_MS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Proc {
  readonly child: ChildProcess;
  /** Lines printed after READY, by kind: H (event handled), S (task started), D (task done). */
  readonly lines: { H: string[]; S: string[]; D: string[] };
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
}

function start(schema: string, env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    cwd: ROOT,
    env: { ...process.env, PG_URL: TEST_POSTGRES_URL, SCHEMA: schema, CLAIM_IDLE_MS: String(CLAIM_IDLE_MS), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = { H: [] as string[], S: [] as string[], D: [] as string[] };
  let buffer = '';
  let onReady: () => void = () => {};
  let onFail: (err: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    onFail = reject;
  });
  const timer = setTimeout(() => onFail(new Error('the process did not start within 60 s')), 60_000);
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line === 'READY') {
        clearTimeout(timer);
        onReady();
      } else {
        const kind = line.slice(0, 1) as 'H' | 'S' | 'D';
        if (kind in lines) lines[kind].push(line.slice(2));
      }
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => process.stderr.write(`[pg-process ${child.pid}] ${chunk}`));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code) => {
    clearTimeout(timer);
    onFail(new Error(`the process exited early with ${code}`));
  });
  return { child, lines, ready, exited };
}

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await sleep(50);
  return check();
}

describe.skipIf(unreachable !== undefined && !POSTGRES_REQUIRED)('postgresTransport across processes', () => {
  const admin = new pg.Pool({ connectionString: TEST_POSTGRES_URL, max: 2 });
  let schema = '';
  let producer: EventSystem | undefined;
  let processes: Proc[] = [];
  afterEach(async () => {
    for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
    await Promise.race([Promise.all(processes.map((p) => p.exited)), sleep(10_000)]);
    for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    processes = [];
    await producer?.close().catch(() => undefined);
    producer = undefined;
    if (schema) await dropSchema(schema, admin);
    schema = '';
  });
  afterAll(() => admin.end());

  async function makeProducer(label: string): Promise<EventSystem> {
    schema = uniqueSchema(label);
    producer = await createEventSystem({
      transport: postgresTransport({ connectionString: TEST_POSTGRES_URL, schema, poolSize: 3 }),
      logger: silentLogger,
      env: {},
      outbox: false,
      taskEvents: false,
      builtins: false,
      config: { eventSourcingEnabled: false, claimIdleMs: CLAIM_IDLE_MS, eventBlockTime: 200 },
    });
    // Migrate once here, so the processes do not race to create the schema.
    await producer.transport.ensureGroup(producer.config.eventStreamName, 'warmup');
    return producer;
  }

  async function publishAll(bus: EventSystem, total: number): Promise<string[]> {
    const ids = Array.from({ length: total }, (_, i) => `req-${i}`);
    for (let i = 0; i < total; i += 200) {
      await bus.publisher.publishMany(
        ids.slice(i, i + 200).map((requestId) => ({ type: EventType.REQUEST_CREATED, data: { requestId, description: 'x', budgetMax: 1 } })),
      );
    }
    return ids;
  }

  it('two consumer processes of one group share 1,000 events exactly once; another group gets all', async () => {
    const bus = await makeProducer('pgt_mp_share');
    processes = [
      start(schema, { ROLE: 'consumer', GROUP: 'workers' }),
      start(schema, { ROLE: 'consumer', GROUP: 'workers' }),
      start(schema, { ROLE: 'consumer', GROUP: 'audit' }),
    ];
    await Promise.all(processes.map((p) => p.ready));
    const ids = await publishAll(bus, 1000);
    const [w1, w2, audit] = processes as [Proc, Proc, Proc];
    const shared = () => w1.lines.H.length + w2.lines.H.length;
    expect(await until(() => shared() >= 1000 && audit.lines.H.length >= 1000, 90_000)).toBe(true);
    await sleep(1000); // a duplicate would show up now
    const all = [...w1.lines.H, ...w2.lines.H];
    expect(all).toHaveLength(1000);
    expect(new Set(all)).toEqual(new Set(ids));
    expect(w1.lines.H.length).toBeGreaterThan(0);
    expect(w2.lines.H.length).toBeGreaterThan(0);
    expect(audit.lines.H).toHaveLength(1000);
    expect(new Set(audit.lines.H)).toEqual(new Set(ids));
  }, 180_000);

  it('a consumer process killed with SIGKILL mid-work loses nothing: the survivor claims its deliveries', async () => {
    const bus = await makeProducer('pgt_mp_kill');
    processes = [start(schema, { ROLE: 'consumer', GROUP: 'workers', HANDLE_MS: '5' }), start(schema, { ROLE: 'consumer', GROUP: 'workers', HANDLE_MS: '5' })];
    await Promise.all(processes.map((p) => p.ready));
    const ids = await publishAll(bus, 600);
    const [victim, survivor] = processes as [Proc, Proc];
    expect(await until(() => victim.lines.H.length >= 30, 60_000)).toBe(true);
    victim.child.kill('SIGKILL');
    await victim.exited;
    // It died holding deliveries it had not acked.
    const atDeath = (await bus.transport.info(bus.config.eventStreamName)).groups.find((g) => g.name === 'workers')!;
    expect(atDeath.pending).toBeGreaterThan(0);
    const handled = () => new Set([...victim.lines.H, ...survivor.lines.H]);
    expect(await until(() => handled().size >= ids.length, 120_000)).toBe(true);
    expect(handled()).toEqual(new Set(ids));
    const workers = (await bus.transport.info(bus.config.eventStreamName)).groups.find((g) => g.name === 'workers')!;
    expect(workers.lag).toBe(0);
  }, 240_000);

  it('a task worker process killed with SIGKILL mid-task loses nothing: every task completes on the survivor', async () => {
    const bus = await makeProducer('pgt_mp_task');
    const victim = start(schema, { ROLE: 'worker', CONCURRENCY: '2', HANDLE_MS: '1500' });
    processes = [victim];
    await victim.ready;
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => bus.tasks.send('slow', `job-${i}`, { queue: 'work' })));
    expect(await until(() => victim.lines.S.length >= 2, 60_000)).toBe(true);
    victim.child.kill('SIGKILL');
    await victim.exited;
    const held = victim.lines.S.filter((label) => !victim.lines.D.includes(label));
    expect(held.length).toBeGreaterThan(0);
    const survivor = start(schema, { ROLE: 'worker', CONCURRENCY: '2', HANDLE_MS: '100' });
    processes.push(survivor);
    await survivor.ready;
    const ranOn = await Promise.all(results.map((r) => r.get({ timeoutMs: 90_000 })));
    // Every task finished somewhere; the ones the victim held when it died, on the survivor.
    const done = new Set([...victim.lines.D, ...survivor.lines.D]);
    expect(done).toEqual(new Set(Array.from({ length: 6 }, (_, i) => `job-${i}`)));
    for (const label of held) expect(survivor.lines.D).toContain(label);
    for (const [i, pid] of ranOn.entries()) {
      expect([victim.child.pid, survivor.child.pid]).toContain(pid);
      if (held.includes(`job-${i}`)) expect(pid).toBe(survivor.child.pid);
    }
  }, 240_000);
});
