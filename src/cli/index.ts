#!/usr/bin/env node
/**
 * `procur-bus`: the command line of `@procur/event-bus`.
 *
 * Exit codes: 0 success; 1 the command ran and the answer is "no" (unhealthy) or it failed;
 * 2 bad usage (unknown option, missing --app).
 *
 * @packageDocumentation
 */
import { Command, CommanderError } from 'commander';
import { loadApp, type AppOptions } from './app.js';
import { isEventBusError } from '@procur/event-bus';
import type { EventSystem } from '@procur/event-bus';

const program = new Command();
program
  .name('procur-bus')
  .description('Operate a @procur/event-bus system: schema, health, dead letters, replay.')
  .option('--app <module>', 'module exporting the configured event system (or a factory of it)')
  .option('--json', 'machine-readable output')
  .exitOverride();

function opts(): AppOptions & { json?: boolean } {
  return program.opts();
}

async function withApp<T>(fn: (bus: EventSystem) => Promise<T>): Promise<T> {
  const bus = await loadApp(opts());
  try {
    return await fn(bus);
  } finally {
    await bus.close();
  }
}

function print(human: string, data: unknown): void {
  if (opts().json) console.log(JSON.stringify(data, null, 2));
  else console.log(human);
}

program
  .command('migrate')
  .description("create or upgrade the event store's schema (idempotent)")
  .action(() =>
    withApp(async (bus) => {
      await bus.store.adapter.migrate();
      print(`schema of the '${bus.store.adapter.name}' store is up to date`, { ok: true, store: bus.store.adapter.name });
    }),
  );

program
  .command('health')
  .description('print the health status; exit 1 when unhealthy')
  .action(() =>
    withApp(async (bus) => {
      const h = await bus.monitor.getHealthStatus();
      print(
        `${h.healthy ? 'healthy' : 'UNHEALTHY'}: success rate ${h.successRate}%, ${h.pendingEvents} pending, ${h.dlqSize} in the DLQ` +
          (h.issues.length ? `\n  - ${h.issues.join('\n  - ')}` : ''),
        h,
      );
      if (!h.healthy) process.exitCode = 1;
    }),
  );

const dlq = program.command('dlq').description('inspect and act on the dead letter queue');
dlq
  .command('list')
  .option('--limit <n>', 'entries to show', '20')
  .action((o: { limit: string }) =>
    withApp(async (bus) => {
      const entries = await bus.dlq.list({ limit: Number(o.limit) });
      const lines = entries.map(
        (e) => `${e.id}  ${e.failedAt.toISOString()}  ${(e.event?.type ?? '(undecodable)').padEnd(28)} ${e.attempts} attempts  ${e.error}`,
      );
      print(lines.length ? lines.join('\n') : 'the dead letter queue is empty', entries);
    }),
  );
dlq
  .command('replay [id]')
  .option('--all', 'replay every entry')
  .action((id: string | undefined, o: { all?: boolean }) =>
    withApp(async (bus) => {
      if (o.all) {
        const n = await bus.dlq.replayAll();
        print(`replayed ${n} entries`, { replayed: n });
      } else if (id) {
        await bus.dlq.replay(id);
        print(`replayed ${id}`, { replayed: 1 });
      } else throw new CommanderError(2, 'usage', 'dlq replay needs an id or --all');
    }),
  );
dlq.command('delete <id>').action((id: string) =>
  withApp(async (bus) => {
    const existed = await bus.dlq.delete(id);
    print(existed ? `deleted ${id}` : `no entry ${id}`, { deleted: existed ? 1 : 0 });
    if (!existed) process.exitCode = 1;
  }),
);
dlq.command('purge').action(() =>
  withApp(async (bus) => {
    const n = await bus.dlq.purge();
    print(`purged ${n} entries`, { purged: n });
  }),
);

program
  .command('replay')
  .description('re-deliver stored events')
  .option('--correlation-id <id>')
  .option('--type <type...>')
  .option('--since <time>')
  .option('--until <time>')
  .option('--group <group>', 'deliver to this consumer group only')
  .action((o: { correlationId?: string; type?: string[]; since?: string; until?: string; group?: string }) =>
    withApp(async (bus) => {
      const n = await bus.replay({
        ...(o.correlationId ? { correlationId: o.correlationId } : {}),
        ...(o.type ? { types: o.type } : {}),
        ...(o.since ? { since: o.since } : {}),
        ...(o.until ? { until: o.until } : {}),
        ...(o.group ? { group: o.group } : {}),
        onProgress: ({ replayed }) => {
          if (!opts().json && process.stderr.isTTY) process.stderr.write(`\rreplayed ${replayed}`);
        },
      });
      if (!opts().json && process.stderr.isTTY) process.stderr.write('\n');
      print(`replayed ${n} events`, { replayed: n });
    }),
  );

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) return;
    if (err.code !== 'usage') {
      process.exitCode = err.exitCode || 2;
      return;
    }
    console.error(`procur-bus: ${err.message}`);
    process.exitCode = 2;
    return;
  }
  console.error(`procur-bus: ${(err as Error).message}`);
  process.exitCode = isEventBusError(err, 'ERR_CONFIG') ? 2 : 1;
});
