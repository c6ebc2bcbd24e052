/**
 * The dashboard in its own process (`procur-bus dashboard`) against the real Redis, watching the
 * work of this process: it has its own (memory) store, so everything it shows comes through the
 * shared transport: worker heartbeats, the task-events stream, result notifications, the DLQ.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { EventType, UnrecoverableError, type EventSystem, type Worker } from '@procur/event-bus';
import { REDIS_REQUIRED, TEST_REDIS_URL, adminClient, deleteKeys, probeRedis, redisBus, uniquePrefix } from './fixtures/redis-helpers.js';
import { until } from './fixtures/dashboard-helpers.js';

const reachable = await probeRedis(TEST_REDIS_URL);
const enabled = reachable || REDIS_REQUIRED;
if (!enabled) console.warn('\n!!! [dashboard-redis.test] Redis unreachable at ' + TEST_REDIS_URL + ': SKIPPED.\n');

const root = fileURLToPath(new URL('../../', import.meta.url));
const ACTION = { 'x-procur-dashboard': '1', 'content-type': 'application/json' };

describe.skipIf(!enabled)('dashboard in a separate process on Redis', () => {
  const prefix = uniquePrefix();
  let admin: Redis;
  let bus: EventSystem;
  let worker: Worker;
  let child: ChildProcess;
  let url = '';
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let lateRuns = 0;
  let fixed = false;
  const handled: string[] = [];

  beforeAll(async () => {
    admin = adminClient();
    await admin.connect();
    bus = await redisBus(prefix, { config: { eventBlockTime: 100, workerHeartbeatMs: 200, retryBackoffMs: 10 } });
    bus.tasks.define('generate_contract', { queue: 'contracts' }, async (a: { negotiationId: string }) => {
      await gate;
      return { contractId: `ctr-${a.negotiationId}` };
    });
    bus.tasks.define('send_later', { queue: 'contracts' }, () => {
      lateRuns++;
    });
    const c = bus.consumer('enrichment');
    c.registerHandler(EventType.VENDOR_ENRICHMENT_STARTED, (e) => {
      if (!fixed) throw new UnrecoverableError('source down');
      handled.push(e.data.vendorId);
    });
    await c.start();

    child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', '--app', 'test/e2e/fixtures/dashboard-app.ts', 'dashboard', '--port', '0', '--json'], {
      cwd: root,
      env: { ...process.env, PROCUR_TEST_REDIS_URL: TEST_REDIS_URL, PROCUR_TEST_KEY_PREFIX: prefix },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await until(() => out.includes('}'), 20_000, `the dashboard process to start (${err})`);
    url = (JSON.parse(out) as { url: string }).url;
    // The live feed starts with the first API call; later task events reach it through its group.
    expect((await fetch(`${url}api/snapshot`)).status).toBe(200);
  }, 40_000);

  afterAll(async () => {
    release?.();
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.on('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await worker?.stop({ timeoutMs: 1000 });
    await bus?.close();
    if (admin) {
      await deleteKeys(admin, prefix);
      await admin.quit();
    }
  });

  const getJson = async <T>(path: string, init?: RequestInit) => (await (await fetch(`${url}${path}`, init)).json()) as T;

  it('sees a worker of another process come online', async () => {
    worker = bus.worker({ name: 'remote', queues: { contracts: 2 } });
    await worker.start();
    await until(async () => {
      const { workers } = await getJson<{ workers: { id: string; online: boolean }[] }>('api/workers');
      return workers.some((w) => w.id === worker.id && w.online);
    }, 10_000, 'the remote worker online');
  });

  it('follows a task of another process from received to succeeded', async () => {
    const r = await bus.tasks.send('generate_contract', { negotiationId: 'neg-7' });
    type List = { tasks: { id: string; state: string }[] };
    const stateOf = async () => (await getJson<List>('api/tasks')).tasks.find((t) => t.id === r.id)?.state;
    await until(async () => ['RECEIVED', 'STARTED'].includes((await stateOf()) ?? ''), 10_000, 'the task received');
    release();
    await until(async () => (await stateOf()) === 'SUCCESS', 10_000, 'the task succeeded');
    const detail = await getJson<{ task: { result: unknown; args: unknown } }>(`api/tasks/${r.id}`);
    expect(detail.task).toMatchObject({ result: { contractId: 'ctr-neg-7' }, args: { negotiationId: 'neg-7' } });
  });

  it('revokes a pending task of another process', async () => {
    const r = await bus.tasks.send('send_later', null, { countdownMs: 800 });
    expect(await getJson(`api/tasks/${r.id}/revoke`, { method: 'POST', headers: ACTION })).toMatchObject({ revoked: true });
    await new Promise((x) => setTimeout(x, 1500));
    await until(async () => (await bus.tasks.queueInfo('contracts')).delayed === 0, 5000);
    await new Promise((x) => setTimeout(x, 300));
    expect(lateRuns).toBe(0);
    expect(await r.status()).toBe('REVOKED');
  });

  it("replays another process's dead letter, which that process then handles", async () => {
    await bus.publisher.publishVendorEnrichmentStarted({ vendorId: 'v-9', category: 'crm' });
    let entries: { id: string; type: string }[] = [];
    await until(async () => {
      entries = (await getJson<{ entries: { id: string; type: string }[] }>('api/dlq')).entries;
      return entries.length === 1;
    }, 10_000, 'the dead letter');
    expect(entries[0]!.type).toBe(EventType.VENDOR_ENRICHMENT_STARTED);
    fixed = true;
    expect((await fetch(`${url}api/dlq/${entries[0]!.id}/replay`, { method: 'POST', headers: ACTION })).status).toBe(200);
    await until(() => handled.length === 1, 10_000, 'the replayed event handled');
    expect(handled).toEqual(['v-9']);
  });
});
