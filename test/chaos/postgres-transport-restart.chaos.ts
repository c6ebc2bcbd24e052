/**
 * Chaos: PostgreSQL restarted under load with postgresTransport (issue 14). A private cluster (this
 * scenario starts it itself, on a free loopback port) carries the transport alone; two consumer
 * processes of one group (fixture test/e2e/fixtures/pg-transport-process.ts) handle events while
 * this process publishes one every ~20 ms. The cluster is stopped with `pg_ctl stop -m immediate`
 * and started again, two rounds. Nobody is restarted: the publisher must publish again after each
 * round (rejections during it are typed `TransportError`s), the consumer processes and a task
 * worker process must stay alive, and every publish and task send that resolved must be handled
 * (nothing accepted is lost).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { postgresTransport } from '../../adapters/postgres/index.js';
import { EventType, createEventSystem, isEventBusError, silentLogger, type EventSystem } from '../../src/index.js';
import { POSTGRES_REQUIRED } from '../e2e/fixtures/postgres-helpers.js';
import { privatePostgres, privatePostgresUnavailable, type PrivatePostgres } from '../e2e/fixtures/private-postgres.js';

const FIXTURE = fileURLToPath(new URL('../e2e/fixtures/pg-transport-process.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const why = privatePostgresUnavailable();
if (why && !POSTGRES_REQUIRED) console.warn(`\n!! SKIPPING the PostgreSQL transport restart scenario: ${why}\n`);

interface Proc {
  child: ChildProcess;
  handled: string[];
  stderr: string[];
  ready: Promise<void>;
}
const alive = (p: Proc) => p.child.exitCode === null && p.child.signalCode === null;

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await sleep(100);
  return check();
}

describe.skipIf(why !== undefined && !POSTGRES_REQUIRED)('chaos: PostgreSQL restarted under load (postgresTransport)', () => {
  let server: PrivatePostgres | undefined;
  let bus: EventSystem | undefined;
  const procs: Proc[] = [];

  afterAll(async () => {
    for (const p of procs) if (alive(p)) p.child.kill('SIGKILL');
    await bus?.close().catch(() => undefined);
    await server?.destroy();
  }, 60_000);

  function consumer(url: string, role: 'consumer' | 'worker' = 'consumer'): Proc {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PG_URL: url, SCHEMA: 'chaos', ROLE: role, GROUP: 'workers', CLAIM_IDLE_MS: '2000', HANDLE_MS: '2', CONCURRENCY: '4' },
    });
    const handled: string[] = [];
    const stderr: string[] = [];
    let buffer = '';
    let onReady: () => void = () => {};
    const ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      child.once('exit', (code) => reject(new Error(`a consumer exited early with ${code}: ${stderr.join('')}`)));
    });
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line === 'READY') onReady();
        else if (line.startsWith('H ') || line.startsWith('D ')) handled.push(line.slice(2));
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => stderr.push(s));
    const p = { child, handled, stderr, ready };
    procs.push(p);
    return p;
  }

  it(
    'the system recovers without a restart: publishing resumes, consumers stay up, nothing accepted is lost',
    async () => {
      server = await privatePostgres();
      const pg = server;
      bus = await createEventSystem({
        transport: postgresTransport({ connectionString: pg.url, schema: 'chaos', poolSize: 3, operationTimeoutMs: 3000 }),
        logger: silentLogger,
        env: {},
        outbox: false,
        taskEvents: false,
        builtins: false,
        config: { eventSourcingEnabled: false, eventBlockTime: 200 },
      });
      await bus.transport.ensureGroup(bus.config.eventStreamName, 'workers');
      const consumers = [consumer(pg.url), consumer(pg.url)];
      const worker = consumer(pg.url, 'worker');
      await Promise.all([...consumers, worker].map((c) => c.ready));
      const tasks: string[] = [];
      const taskRejected: unknown[] = [];

      const accepted: string[] = [];
      const rejected: unknown[] = [];
      let running = true;
      let n = 0;
      const load = (async () => {
        while (running) {
          const requestId = `req-${n++}`;
          try {
            await bus!.publisher.publish({ type: EventType.REQUEST_CREATED, data: { requestId, description: 'x', budgetMax: 1 } });
            accepted.push(requestId);
            if (n % 5 === 0) {
              const label = `job-${n}`;
              await bus!.tasks.send('slow', label, { queue: 'work' }).then(
                () => tasks.push(label),
                (err: unknown) => taskRejected.push(err),
              );
            }
          } catch (err) {
            rejected.push(err);
          }
          await sleep(20);
        }
      })();

      for (let round = 0; round < 2; round++) {
        const before = accepted.length;
        expect(await until(() => accepted.length >= before + 50, 60_000)).toBe(true);
        const rejectedBefore = rejected.length;
        await pg.stopImmediate();
        expect(await until(() => rejected.length > rejectedBefore, 30_000)).toBe(true);
        await sleep(2000);
        await pg.start();
        // Publishing resumes on the same system, without a restart.
        const afterRestart = accepted.length;
        expect(await until(() => accepted.length >= afterRestart + 50, 90_000)).toBe(true);
      }
      running = false;
      await load;

      const handled = () => new Set(consumers.flatMap((c) => c.handled));
      const lost = () => accepted.filter((id) => !handled().has(id));
      const lostTasks = () => tasks.filter((t) => !worker.handled.includes(t));
      await until(() => lost().length === 0 && lostTasks().length === 0, 120_000);
      const all = consumers.flatMap((c) => c.handled);
      console.log(
        `[chaos pg-transport restart] sent ${accepted.length}, rejected ${rejected.length}, handled ${handled().size}, ` +
          `duplicates ${all.length - handled().size}, lost ${lost().length}; tasks sent ${tasks.length}, done ${new Set(worker.handled).size}, lost ${lostTasks().length}`,
      );
      expect(lost()).toEqual([]);
      expect(lostTasks()).toEqual([]);
      expect(alive(worker), worker.stderr.join('')).toBe(true);
      for (const err of rejected) expect(isEventBusError(err, 'ERR_TRANSPORT')).toBe(true);
      for (const err of taskRejected) expect(isEventBusError(err), String(err)).toBe(true);
      for (const c of consumers) expect(alive(c), c.stderr.join('')).toBe(true);
    },
    600_000,
  );
});
