/**
 * A process of the PostgreSQL chaos scenario (test/chaos/postgres-faults.chaos.ts): a publisher or
 * a consumer of the real event system over the Redis transport and the PostgreSQL store. Run with
 * `node --import tsx`.
 *
 * Env: ROLE (`publisher` | `consumer`), REDIS_URL, KEY_PREFIX, PG_URL, PG_SCHEMA, OUT (a file),
 * STORE_TIMEOUT_MS (default 2000), NAME.
 *
 * Every line goes to OUT with a synchronous write, so nothing printed is lost if the process dies:
 * - publisher: `OK <id,...>` once publishMany resolved, `ERR <code> <id,...>` when it rejected
 *   (`UNTYPED:<name>` for an error that is not an EventBusError);
 * - consumer: `H <id>` once the handler ran (the consumer acks after that).
 *
 * Prints `READY` on stdout once running. SIGTERM: stops after the call in flight, closes, exits 0.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { postgresStore } from '../../adapters/postgres/index.js';
import { redisTransport } from '../../adapters/redis/index.js';
import { EventType, createEventSystem, isEventBusError } from '../../src/index.js';
import { sleep } from '../../src/lifecycle.js';

const need = (name: string): string => {
  const v = process.env[name];
  if (!v) {
    console.error(`postgres-faults-child: ${name} is required`);
    process.exit(2);
  }
  return v;
};
const role = need('ROLE');
const out = openSync(need('OUT'), 'a');
const timeoutMs = Number(process.env.STORE_TIMEOUT_MS ?? 2000);
const name = process.env.NAME ?? `${role}-${process.pid}`;

const bus = await createEventSystem({
  transport: redisTransport({ url: need('REDIS_URL'), keyPrefix: need('KEY_PREFIX') }),
  store: postgresStore({ connectionString: need('PG_URL'), schema: need('PG_SCHEMA'), poolSize: 4, timeoutMs }),
  env: {},
  taskEvents: false,
  builtins: false,
  // Publishers relay what they stored but could not hand over (or mark) during a fault.
  outbox: role === 'publisher' ? { intervalMs: 500, graceMs: 1000 } : false,
  config: { storeTimeoutMs: timeoutMs, eventBlockTime: 200, claimIdleMs: 3000 },
});

let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
});

if (role === 'consumer') {
  const consumer = bus.consumer(name, { group: 'chaos', startAt: 'beginning' });
  consumer.registerHandler(EventType.SYSTEM_WARNING, (event) => {
    writeSync(out, `H ${event.id}\n`);
  });
  await consumer.start({ concurrency: 20, batchSize: 50 });
  process.stdout.write('READY\n');
  while (!stopping) await sleep(50);
} else {
  let seq = 0;
  const lane = async (l: number) => {
    while (!stopping) {
      const inputs = Array.from({ length: 10 }, () => ({
        id: `c-${name}-${l}-${seq++}`,
        type: EventType.SYSTEM_WARNING,
        data: { message: 'chaos' },
      }));
      const ids = inputs.map((i) => i.id).join(',');
      try {
        await bus.publisher.publishMany(inputs);
        writeSync(out, `OK ${ids}\n`);
        await sleep(5);
      } catch (err) {
        const code = isEventBusError(err) ? err.code : `UNTYPED:${(err as Error).name}`;
        writeSync(out, `ERR ${code} ${ids}\n`);
        await sleep(50);
      }
    }
  };
  process.stdout.write('READY\n');
  await Promise.all([lane(0), lane(1)]);
}
await bus.close();
closeSync(out);
process.exit(0);
