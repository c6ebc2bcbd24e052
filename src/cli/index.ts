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

/** Runs until SIGINT/SIGTERM, then stops gracefully (a second signal exits at once). */
function untilSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) {
        console.error(`procur-bus: ${sig} again, exiting now`);
        process.exit(130);
      }
      stopping = true;
      console.error(`procur-bus: ${sig}: finishing running tasks (send again to exit at once)`);
      stop().then(resolve, (err: unknown) => {
        console.error(`procur-bus: stop failed: ${(err as Error).message}`);
        process.exitCode = 1;
        resolve();
      });
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}

program
  .command('worker')
  .description('run tasks of the app: every defined queue, or --queues')
  .option('--queues <list>', 'comma-separated queues (queue or queue=concurrency)')
  .option('--concurrency <n>', 'tasks at once per queue', '1')
  .option('--name <name>', 'worker name', 'worker')
  .action(async (o: { queues?: string; concurrency: string; name: string }) => {
    const bus = await loadApp(opts());
    const concurrency = Number(o.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new CommanderError(2, 'usage', '--concurrency must be a whole number >= 1');
    const names = o.queues ? o.queues.split(',').map((q) => q.trim()).filter(Boolean) : bus.tasks.queues();
    const queues: Record<string, number> = {};
    for (const item of names) {
      const [q, c] = item.split('=');
      queues[q as string] = c ? Number(c) : concurrency;
    }
    const worker = bus.worker({ queues, name: o.name });
    await worker.start();
    const lines = Object.entries(queues).map(([q, c]) => `  ${q.padEnd(16)} concurrency ${c}`);
    print(`worker ${worker.id} ready\n${lines.join('\n')}\ntasks: ${bus.tasks.names().join(', ')}`, { id: worker.id, queues, tasks: bus.tasks.names() });
    await untilSignal(async () => {
      await worker.stop({ timeoutMs: 30_000 });
      await bus.close();
    });
  });

program
  .command('beat')
  .description('run the scheduler of the app (each due run is sent once across every beat process)')
  .action(async () => {
    const bus = await loadApp(opts());
    await bus.scheduler.start();
    const entries = await bus.scheduler.list();
    print(
      `beat running; ${entries.length} entries:\n${entries.map((e) => `  ${e.name.padEnd(28)} -> ${e.task.padEnd(24)} next ${e.nextRunAt}`).join('\n')}`,
      entries,
    );
    await untilSignal(() => bus.close());
  });

program
  .command('inspect <what>')
  .description('active | registered | stats | queues | workers')
  .action((what: string) =>
    withApp(async (bus) => {
      switch (what) {
        case 'active': {
          const active = await bus.inspect.active();
          const lines = Object.entries(active).flatMap(([w, tasks]) => [
            `${w}: ${tasks.length} active`,
            ...tasks.map((t) => `  ${t.id}  ${t.name} (${t.queue}) attempt ${t.attempt} since ${t.startedAt}`),
          ]);
          return print(lines.length ? lines.join('\n') : 'no worker online', active);
        }
        case 'registered': {
          const reg = await bus.inspect.registered();
          const lines = Object.entries(reg).map(([w, t]) => `${w}: ${t.join(', ')}`);
          return print(lines.length ? lines.join('\n') : 'no worker online', reg);
        }
        case 'stats':
        case 'workers': {
          const workers = await bus.inspect.workers();
          const lines = workers.map(
            (w) =>
              `${w.online ? 'online ' : 'offline'} ${w.id}  queues ${Object.entries(w.queues).map(([q, c]) => `${q}:${c}`).join(',')}  ` +
              `active ${w.active} processed ${w.processed} failed ${w.failed} retried ${w.retried}  last seen ${w.lastSeen}`,
          );
          return print(lines.length ? lines.join('\n') : 'no workers reported', workers);
        }
        case 'queues': {
          const queues = await bus.inspect.queues();
          const lines = Object.entries(queues).map(([q, i]) => {
            const g = i.groups[0];
            return `${q.padEnd(16)} waiting ${g ? g.lag : i.length} (by priority low..critical ${i.lengthByPriority.join('/')})  delayed ${i.delayed}  running ${g?.pending ?? 0}  retrying ${g?.retrying ?? 0}`;
          });
          return print(lines.length ? lines.join('\n') : 'no queues', queues);
        }
        default:
          throw new CommanderError(2, 'usage', `inspect takes active, registered, stats, queues or workers (got '${what}')`);
      }
    }),
  );

program
  .command('purge')
  .description('delete waiting tasks (not running ones) of one queue or of every known queue')
  .option('--queue <queue>')
  .action((o: { queue?: string }) =>
    withApp(async (bus) => {
      const queues = o.queue ? [o.queue] : Object.keys(await bus.inspect.queues());
      const purged: Record<string, number> = {};
      for (const q of queues) purged[q] = await bus.tasks.purge(q);
      print(Object.entries(purged).map(([q, n]) => `${q}: purged ${n} tasks`).join('\n') || 'no queues', purged);
    }),
  );

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
