/**
 * `npm run demo`: the procurement flow (flow.ts) on embedded defaults (memory transport) with a
 * SQLite file store at `.demo/procur-demo.db` (or `$PROCUR_DEMO_DIR`).
 *
 * request -> negotiation -> contract -> notification events under one correlation id, a handler
 * that fails twice then succeeds, a poison event that lands in the dead letter queue and is
 * replayed after a fix, the seed's four task queues run by a worker, then the audit trail and a
 * summary. `npx procur-bus demo` runs the same flow (on a memory store) from the installed package.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sqliteStore } from '@procur/event-bus/sqlite';
import { runDemo } from './flow.js';

const dir = process.env.PROCUR_DEMO_DIR ?? join(process.cwd(), '.demo');
const filename = join(dir, 'procur-demo.db');
mkdirSync(dir, { recursive: true });
for (const suffix of ['', '-wal', '-shm']) rmSync(filename + suffix, { force: true });

const { ok } = await runDemo({ store: sqliteStore({ filename }) });
console.log(`events kept in ${filename}`);
process.exitCode = ok ? 0 : 1;
