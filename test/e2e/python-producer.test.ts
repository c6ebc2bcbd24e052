/**
 * docs/migrating-from-python.md's Python producer, run as written (the ```python block of the
 * page) with Debian's python3-redis against the real Redis: the bus consumes the event it XADDs in
 * the documented wire format, and a snake_case payload (the Python habit) ends in the dead letter
 * queue with the field named, without stopping the consumer.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, expect, it } from 'vitest';
import { EventType, type EventEnvelope, type EventSystem } from '@procur/event-bus';
import { waitUntil } from '../../src/testing/index.js';
import { REDIS_REQUIRED, TEST_REDIS_URL, adminClient, deleteKeys, probeRedis, redisBus, uniquePrefix } from './fixtures/redis-helpers.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));
/** Debian's interpreter, where `apt-get install python3-redis` puts redis-py (CI installs it). */
const PYTHON = process.env.PROCUR_TEST_PYTHON ?? '/usr/bin/python3';
const hasPythonRedis = spawnSync(PYTHON, ['-c', 'import redis'], { stdio: 'ignore' }).status === 0;
const reachable = await probeRedis(TEST_REDIS_URL);
const enabled = (reachable && hasPythonRedis) || REDIS_REQUIRED;
if (!enabled) console.warn(`\n!!! [python-producer.test] Redis or redis-py for ${PYTHON} unavailable (apt-get install python3-redis): SKIPPED.\n`);

const doc = readFileSync(join(root, 'docs/migrating-from-python.md'), 'utf8');
const producer = /### A Python producer\n[\s\S]*?```python\n([\s\S]*?)```/.exec(doc)?.[1];
const work = mkdtempSync(join(tmpdir(), 'procur-python-'));
let bus: EventSystem | undefined;
let prefix = '';

afterEach(async () => {
  await bus?.close();
  bus = undefined;
  const admin = adminClient();
  await deleteKeys(admin, prefix);
  admin.disconnect();
});

it.skipIf(!enabled)('a Python producer writing the documented wire format is consumed by the bus; a snake_case payload is dead-lettered', async () => {
  expect(producer, 'the ```python block under "### A Python producer" in docs/migrating-from-python.md').toBeDefined();
  expect(hasPythonRedis, `${PYTHON} cannot import redis: apt-get install -y python3-redis`).toBe(true);
  const script = join(work, 'producer.py');
  writeFileSync(script, producer!);
  // The same script used as a module, with a payload in the Python system's snake_case.
  writeFileSync(
    join(work, 'snake.py'),
    [
      'import os, redis',
      'from producer import publish',
      'client = redis.Redis.from_url(os.environ["PROCUR_EVENT_REDIS_URL"])',
      'print(publish(client, "request.created", {"request_id": "req-py-snake", "description": "Need CRM"}, key_prefix=os.environ["PROCUR_KEY_PREFIX"]))',
    ].join('\n'),
  );

  prefix = uniquePrefix();
  bus = await redisBus(prefix, { config: { eventBlockTime: 100, retryBackoffMs: 10, retryBackoffMaxMs: 50, dlqMaxRetries: 1 } });
  const got: EventEnvelope[] = [];
  const consumer = bus.consumer('python-migration');
  consumer.registerHandler(EventType.REQUEST_CREATED, (e) => {
    got.push(e);
  });
  await consumer.start();

  const env = { ...process.env, PROCUR_EVENT_REDIS_URL: TEST_REDIS_URL, PROCUR_KEY_PREFIX: prefix };
  const { stdout } = await run(PYTHON, [script, 'corr-from-python'], { cwd: work, env, timeout: 30_000 });
  const eventId = stdout.trim();
  await waitUntil(() => got.length === 1, 15_000, 'the event from the Python producer');
  expect(got[0]).toMatchObject({
    id: eventId,
    type: 'request.created',
    data: { requestId: 'req-py-001', description: 'Need CRM', budgetMax: 50000 },
    priority: 'high',
    correlationId: 'corr-from-python',
    userId: '1',
    organizationId: 'acme-corp',
    source: 'python-procur',
  });

  const { stdout: snakeId } = await run(PYTHON, [join(work, 'snake.py')], { cwd: work, env, timeout: 30_000 });
  await waitUntil(async () => (await bus!.dlq.size()) === 1, 15_000, 'the snake_case event in the DLQ');
  const [dead] = await bus.dlq.list();
  expect(dead?.event?.id).toBe(snakeId.trim());
  expect(dead?.error).toMatch(/requestId/);
  expect(got).toHaveLength(1); // the handler never saw the invalid payload

  // The consumer keeps going after the dead letter.
  await run(PYTHON, [script, 'corr-after'], { cwd: work, env, timeout: 30_000 });
  await waitUntil(() => got.length === 2, 15_000, 'the event after the dead letter');
  expect(got[1]?.correlationId).toBe('corr-after');
}, 90_000);
