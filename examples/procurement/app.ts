/**
 * The procurement app module for the CLI: `procur-bus --app ./app.ts worker` (tsx loads the .ts).
 *
 * It runs on Redis when `PROCUR_EVENT_REDIS_URL` is set (every worker and producer process
 * shares it), else in-process. The event store is SQLite at `PROCUR_DEMO_DB` (default
 * `.demo/procurement.db`), or Postgres when `PROCUR_EVENT_DATABASE_URL` is set.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createEventSystem, type EventSystem } from '@procur/event-bus';
import { postgresStore } from '@procur/event-bus/postgres';
import { redisTransport } from '@procur/event-bus/redis';
import { sqliteStore } from '@procur/event-bus/sqlite';
import { defineProcurementTasks } from './tasks.js';

export async function createSystem(): Promise<EventSystem> {
  const redisUrl = process.env.PROCUR_EVENT_REDIS_URL;
  const dbFile = process.env.PROCUR_DEMO_DB ?? '.demo/procurement.db';
  if (!process.env.PROCUR_EVENT_DATABASE_URL) mkdirSync(dirname(dbFile), { recursive: true });
  const bus = await createEventSystem({
    source: 'procurement',
    transport: redisUrl ? redisTransport({ url: redisUrl, keyPrefix: process.env.PROCUR_DEMO_KEY_PREFIX ?? 'procur' }) : undefined,
    store: process.env.PROCUR_EVENT_DATABASE_URL ? postgresStore() : sqliteStore({ filename: dbFile }),
  });
  defineProcurementTasks(bus);
  return bus;
}
