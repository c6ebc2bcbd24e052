#!/usr/bin/env node
/**
 * `procur-bus`: the command line of `@procur/event-bus`.
 *
 * Exit codes: 0 success; 1 the command ran and the answer is "no" (unhealthy, no such entry) or
 * it failed (transport or store unreachable, a task error); 2 bad usage or configuration
 * (unknown option, missing --app, malformed setting); 130 interrupted twice (SIGINT/SIGTERM).
 *
 * @packageDocumentation
 */
import { Command, CommanderError } from 'commander';
import { CLI_VARIABLES, loadApp, type AppOptions, type Connection } from './app.js';
import { CONFIG_VARIABLES } from '../config.js';
import { progress } from './progress.js';
import { escapeControl } from '../terminal-text.js';
import { describeDeadLetter } from '../http/dead-letter-view.js';
import { NotFoundError, isEventBusError } from '@procur/event-bus';
import type { EventSystem, StreamSummary } from '@procur/event-bus';

const CONNECTING = `
Connecting:
  --app <module> loads your configured system (needed by worker and beat: it holds the tasks).
  Every other command also connects without one: --redis-url for the transport, --postgres-url
  or --sqlite <file> for the event store, e.g.
    procur-bus dashboard --redis-url redis://127.0.0.1:6379 --postgres-url postgres://db/bus
    procur-bus inspect stats --redis-url redis://127.0.0.1:6379
  --transport postgres puts the transport on the --postgres-url database too (PostgreSQL alone):
    procur-bus inspect queues --transport postgres --postgres-url postgres://db/bus
  A transport or store not named is the in-process memory one: an inspecting command on it sees
  only its own process (it warns so on stderr).

Environment (options win):
${CLI_VARIABLES.map(([name, what]) => `  ${name.padEnd(34)} ${what}`).join('\n')}
  Settings of the system, as createEventSystem reads them:
${Object.values(CONFIG_VARIABLES)
  .map((v) => v.env)
  .reduce<string[]>((lines, name) => {
    const last = lines[lines.length - 1];
    if (last !== undefined && last.length + name.length < 96) lines[lines.length - 1] = `${last} ${name}`;
    else lines.push(`    ${name}`);
    return lines;
  }, [])
  .join('\n')}
`;

const EXIT_CODES = `
Exit codes:
  0    success
  1    the answer is "no" (health: unhealthy; dlq delete: no such entry; pause/resume: unknown queue) or the command failed
       (transport or store unreachable, demo step timed out)
  2    bad usage or configuration (unknown option, no --app or URL, malformed PROCUR_EVENT_* value,
       dashboard bound beyond loopback without --auth/--token)
  130  stopped by a second SIGINT/SIGTERM while shutting down

Output is for people by default; --json (before or after the command) prints JSON on stdout.
Progress bars go to stderr, only on a terminal. Secrets (--auth, --token, passwords in URLs) are
never printed: prefer PROCUR_DASHBOARD_AUTH / PROCUR_DASHBOARD_TOKEN to keep them out of ps.`;

const program = new Command();
program
  .name('procur-bus')
  .description('Operate a @procur/event-bus system: workers, scheduler, dashboard, health, dead letters, replay, demo.')
  .option('--app <module>', 'module exporting the configured event system (or a factory of it)')
  .option('--transport <kind>', 'connect without an app: memory | redis | postgres (PROCUR_EVENT_TRANSPORT; default redis with --redis-url, else memory)')
  .option('--redis-url <url>', 'connect without an app: the Redis transport (PROCUR_EVENT_REDIS_URL)')
  .option('--redis-key-prefix <prefix>', "the Redis transport's keyPrefix, when the app sets one")
  .option('--postgres-url <url>', 'connect without an app: the PostgreSQL event store, and transport with --transport postgres (PROCUR_EVENT_POSTGRES_URL)')
  .option('--postgres-schema <schema>', "the schema of the PostgreSQL store and transport, when the app sets one")
  .option('--sqlite <file>', 'connect without an app: a SQLite event store file (PROCUR_EVENT_SQLITE_FILE)')
  .option('--json', 'machine-readable output (JSON on stdout)')
  .addHelpText('after', CONNECTING + EXIT_CODES)
  .exitOverride();

function opts(): AppOptions & { json?: boolean } {
  return program.opts();
}

/**
 * Connects (see {@link loadApp}); an inspecting command on the memory transport warns that it
 * sees only its own process (its answers say nothing of the workers and queues elsewhere).
 */
async function connect(inspecting: string | undefined, needsApp?: string): Promise<{ bus: EventSystem; connection: Connection }> {
  const loaded = await loadApp(opts(), needsApp ? { needsApp } : {});
  if (inspecting && !loaded.bus.transport.features.distributed) {
    warn(
      `procur-bus: warning: ${inspecting} runs on the in-process '${loaded.bus.transport.name}' transport: it sees only this process, ` +
        'not your workers, queues or dead letters. Connect to the shared transport with --redis-url (or PROCUR_EVENT_REDIS_URL), ' +
          '--transport postgres --postgres-url (or PROCUR_EVENT_TRANSPORT=postgres), or an --app that uses it.',
    );
  }
  return loaded;
}

async function withApp<T>(inspecting: string, fn: (bus: EventSystem) => Promise<T>): Promise<T> {
  const { bus } = await connect(inspecting);
  try {
    return await fn(bus);
  } finally {
    await bus.close();
  }
}

/** The events stream for people: the totals, then one line per partition when it is partitioned. */
function streamLines(info: StreamSummary): string[] {
  const figures = (s: StreamSummary) =>
    `depth ${s.depth}  length ${s.length}  lag ${s.lag}  pending ${s.pending}  retrying ${s.retrying}  delayed ${s.delayed}`;
  const parts = info.partitions ?? [];
  return [
    `${t(info.stream)}  ${figures(info)}  groups ${t(info.groups.map((g) => g.name).join(',') || '-')}${parts.length ? `  (${parts.length} partitions)` : ''}`,
    ...parts.map((p, i) => `  partition ${String(i).padEnd(3)} ${t(p.stream).padEnd(24)} ${figures(p)}`),
  ];
}

/** One value of a human-readable line: its control characters (newlines too) escaped. */
function t(value: unknown): string {
  return escapeControl(String(value));
}

/**
 * Prints the result. Text that came from events, tasks or errors cannot act on the terminal: the
 * human form has its control characters escaped (values with {@link t}, so a newline inside one
 * cannot forge a line), and the JSON form stays valid JSON with C1 and bidirectional controls
 * escaped too (JSON.stringify escapes only C0).
 */
function print(human: string, data: unknown): void {
  if (opts().json) console.log(escapeControl(JSON.stringify(data, null, 2) ?? 'null', { keepNewlines: true }));
  else console.log(escapeControl(human, { keepNewlines: true }));
}

/** A message on stderr, escaped like {@link print}'s output. */
function warn(message: string): void {
  console.error(escapeControl(message, { keepNewlines: true }));
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
        warn(`procur-bus: stop failed: ${t((err as Error).message)}`);
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
    const { bus } = await connect(undefined, 'worker runs the tasks your app module defines');
    const concurrency = Number(o.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new CommanderError(2, 'usage', '--concurrency must be a whole number >= 1');
    const names = o.queues ? o.queues.split(',').map((q) => q.trim()).filter(Boolean) : bus.tasks.queues();
    // Own keys only (Object.fromEntries): '--queues __proto__=2' reaches the worker, which refuses
    // the name, instead of vanishing into a plain object's prototype.
    const queues: Record<string, number> = Object.fromEntries(
      names.map((item) => {
        const [q, c] = item.split('=');
        return [q as string, c ? Number(c) : concurrency];
      }),
    );
    const worker = bus.worker({ queues, name: o.name });
    await worker.start();
    const lines = Object.entries(queues).map(([q, c]) => `  ${t(q).padEnd(16)} concurrency ${c}`);
    print(`worker ${t(worker.id)} ready\n${lines.join('\n')}\ntasks: ${t(bus.tasks.names().join(', '))}`, { id: worker.id, queues, tasks: bus.tasks.names() });
    await untilSignal(async () => {
      await worker.stop({ timeoutMs: 30_000 });
      await bus.close();
    });
  });

program
  .command('beat')
  .description('run the scheduler of the app (each due run is sent once across every beat process)')
  .action(async () => {
    const { bus } = await connect(undefined, 'beat sends the schedule your app module defines');
    await bus.scheduler.start();
    const entries = await bus.scheduler.list();
    print(
      `beat running; ${entries.length} entries:\n${entries.map((e) => `  ${t(e.name).padEnd(28)} -> ${t(e.task).padEnd(24)} next ${t(e.nextRunAt)}`).join('\n')}`,
      entries,
    );
    await untilSignal(() => bus.close());
  });

program
  .command('inspect <what>')
  .description('active | registered | stats | queues | workers | streams (the events stream: depth in total and per partition)')
  .action((what: string) =>
    withApp(`inspect ${what}`, async (bus) => {
      switch (what) {
        case 'active': {
          const active = await bus.inspect.active();
          const lines = Object.entries(active).flatMap(([w, tasks]) => [
            `${t(w)}: ${tasks.length} active`,
            ...tasks.map((k) => `  ${t(k.id)}  ${t(k.name)} (${t(k.queue)}) attempt ${k.attempt} since ${t(k.startedAt)}`),
          ]);
          return print(lines.length ? lines.join('\n') : 'no worker online', active);
        }
        case 'registered': {
          const reg = await bus.inspect.registered();
          const lines = Object.entries(reg).map(([w, names]) => `${t(w)}: ${t(names.join(', '))}`);
          return print(lines.length ? lines.join('\n') : 'no worker online', reg);
        }
        case 'stats':
        case 'workers': {
          const workers = await bus.inspect.workers();
          const lines = workers.map(
            (w) =>
              `${w.online ? 'online ' : 'offline'} ${t(w.id)}  queues ${t(Object.entries(w.queues).map(([q, c]) => `${q}:${c}`).join(','))}  ` +
              `active ${w.active} processed ${w.processed} failed ${w.failed} retried ${w.retried}  last seen ${t(w.lastSeen)}`,
          );
          return print(lines.length ? lines.join('\n') : 'no workers reported', workers);
        }
        case 'queues': {
          const [queues, paused] = await Promise.all([bus.inspect.queues(), bus.tasks.pausedQueues()]);
          const lines = Object.entries(queues).map(([q, i]) => {
            const g = i.groups[0];
            return `${t(q).padEnd(16)}${paused.includes(q) ? ' PAUSED' : ''} waiting ${g ? g.lag : i.length} (by priority low..critical ${(g?.lagByPriority ?? i.lengthByPriority).join('/')})  delayed ${i.delayed}  running ${g?.pending ?? 0}  retrying ${g?.retrying ?? 0}`;
          });
          return print(lines.length ? lines.join('\n') : 'no queues', queues);
        }
        case 'streams':
        case 'stream': {
          const info = await bus.monitor.getStreamInfo();
          return print(streamLines(info).join('\n'), info);
        }
        default:
          throw new CommanderError(2, 'usage', `inspect takes active, registered, stats, queues, workers or streams (got '${what}')`);
      }
    }),
  );

program
  .command('purge')
  .description('delete waiting tasks (not running ones) of one queue or of every known queue')
  .option('--queue <queue>')
  .action((o: { queue?: string }) =>
    withApp('purge', async (bus) => {
      const queues = o.queue ? [o.queue] : Object.keys(await bus.inspect.queues());
      const purged = new Map<string, number>();
      for (const q of queues) purged.set(q, await bus.tasks.purge(q));
      print([...purged].map(([q, n]) => `${t(q)}: purged ${n} tasks`).join('\n') || 'no queues', Object.fromEntries(purged));
    }),
  );

/**
 * Whether anything names the queue: a task defined here, a worker's heartbeat, its stream (tasks
 * were sent to it), or its pause flag. A typo gets an error instead of pausing nothing.
 */
async function knownQueue(bus: EventSystem, queue: string): Promise<boolean> {
  if (bus.tasks.queues().includes(queue) || (await bus.tasks.isPaused(queue))) return true;
  if ((await bus.inspect.workers()).some((w) => Object.hasOwn(w.queues, queue))) return true;
  try {
    const info = await bus.tasks.queueInfo(queue);
    return info.groups.length > 0 || info.length > 0 || info.delayed > 0;
  } catch {
    return false; // no admin role: streams cannot be inspected
  }
}

/** The queue names known from workers and the pause flags, for an error message. */
async function knownQueueNames(bus: EventSystem): Promise<string[]> {
  const names = new Set([...bus.tasks.queues(), ...(await bus.tasks.pausedQueues())]);
  for (const w of await bus.inspect.workers()) for (const q of Object.keys(w.queues)) names.add(q);
  return [...names].sort();
}

for (const verb of ['pause', 'resume'] as const) {
  const pausing = verb === 'pause';
  program
    .command(`${verb} <queue>`)
    .description(
      pausing
        ? 'pause a task queue in every process: workers finish the tasks they run and start no new ones (sending still works)'
        : 'resume a paused task queue in every process',
    )
    .option('--force', pausing ? 'pause a queue nothing names yet (no task, worker or stream): e.g. before its workers start' : 'ignored (resuming is always safe)')
    .action((queue: string, o: { force?: boolean }) =>
      withApp(verb, async (bus) => {
        let known: boolean;
        try {
          known = o.force === true || (await knownQueue(bus, queue));
        } catch (err) {
          if (isEventBusError(err, 'ERR_VALIDATION')) throw new CommanderError(2, 'usage', `${verb}: the queue name must be 1-200 letters, digits or . _ : - (starting with a letter or digit), got '${queue}'`);
          throw err;
        }
        if (!known) {
          const names = await knownQueueNames(bus);
          throw new NotFoundError(
            `no queue '${queue}' is known: no task, worker, stream or pause names it${names.length ? ` (known: ${names.join(', ')})` : ''}. ` +
              (pausing ? 'Check the name, or pass --force to pause it before anything uses it.' : 'Check the name.'),
          );
        }
        const changed = pausing ? await bus.tasks.pause(queue) : await bus.tasks.resume(queue);
        const human = pausing
          ? changed
            ? `paused queue '${t(queue)}': workers finish the tasks they run and start no new ones (undo: procur-bus resume ${t(queue)})`
            : `queue '${t(queue)}' was paused already`
          : changed
            ? `resumed queue '${t(queue)}': workers take its tasks again`
            : `queue '${t(queue)}' was not paused`;
        print(human, { queue, paused: pausing, changed });
      }),
    );
}

program
  .command('migrate')
  .description("create or upgrade the event store's schema (idempotent)")
  .action(() =>
    withApp('', async (bus) => {
      await bus.store.adapter.migrate();
      // A transport with tables of its own (PostgreSQL) migrates them too.
      const transport = bus.transport as { migrate?: () => Promise<void> };
      if (typeof transport.migrate === 'function') await transport.migrate();
      print(
        `schema of the '${bus.store.adapter.name}' store${typeof transport.migrate === 'function' ? ` and the '${bus.transport.name}' transport` : ''} is up to date`,
        { ok: true, store: bus.store.adapter.name, transport: bus.transport.name },
      );
    }),
  );

program
  .command('health')
  .description('print the health status; exit 1 when unhealthy (for probes and cron)')
  .action(() =>
    withApp('health', async (bus) => {
      const h = await bus.monitor.getHealthStatus();
      const workers = h.workers.filter((w) => w.online).length;
      print(
        `${h.healthy ? 'healthy' : 'UNHEALTHY'}: success rate ${h.successRate}%, ${h.pendingEvents} pending, ${h.dlqSize} in the DLQ, ` +
          `${workers}/${h.workers.length} workers online (transport ${h.transport.name}, store ${h.store.name})` +
          (h.checks.length ? `\n${h.checks.map((c) => `  - [${t(c.rule)}] ${t(c.message)}`).join('\n')}` : ''),
        h,
      );
      if (!h.healthy) process.exitCode = 1;
    }),
  );

const dlq = program.command('dlq').description('inspect and act on the dead letter queue');
dlq
  .command('list')
  .description('list entries, oldest first')
  .option('--limit <n>', 'entries to show', '20')
  .action((o: { limit: string }) =>
    withApp('dlq list', async (bus) => {
      const limit = Number(o.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new CommanderError(2, 'usage', '--limit must be a whole number >= 1');
      const entries = await bus.dlq.list({ limit });
      // Decoded the way the dashboard does: events by type, task messages by task name.
      const views = entries.map((e) => describeDeadLetter(e));
      const lines = views.map(
        (v) =>
          `${t(v.id)}  ${v.failedAt}  ${t(v.kind === 'task' ? `task ${v.type}` : v.type).padEnd(28)} ${v.attempts} attempts  ${t(v.error)}` +
          (v.kind === 'task' && v.taskId ? `  (task id ${t(v.taskId)})` : ''),
      );
      print(
        lines.length ? lines.join('\n') : 'the dead letter queue is empty',
        entries.map((e, i) => ({ ...e, kind: views[i]!.kind, ...(views[i]!.task ? { task: views[i]!.task } : {}) })),
      );
    }),
  );
dlq
  .command('replay [id]')
  .description('deliver an entry (or --all) again to the group that failed it, then remove it from the DLQ')
  .option('--all', 'replay every entry present now')
  .action((id: string | undefined, o: { all?: boolean }) =>
    withApp('dlq replay', async (bus) => {
      if (o.all) {
        // The entries present now: one that fails again while this runs is not replayed twice.
        const ids: string[] = [];
        let after: string | undefined;
        for (;;) {
          const page = await bus.dlq.list({ limit: 500, ...(after ? { after } : {}) });
          if (page.length === 0) break;
          ids.push(...page.map((e) => e.id));
          after = page[page.length - 1]!.id;
        }
        const bar = progress('replaying', ids.length, !opts().json);
        let n = 0;
        for (const entry of ids) {
          try {
            await bus.dlq.replay(entry);
            n++;
          } catch (err) {
            if (!isEventBusError(err, 'ERR_NOT_FOUND')) throw err;
          }
          bar.update(n);
        }
        bar.finish();
        print(`replayed ${n} entries`, { replayed: n });
      } else if (id) {
        await bus.dlq.replay(id);
        print(`replayed ${t(id)}`, { replayed: 1 });
      } else throw new CommanderError(2, 'usage', 'dlq replay needs an id or --all');
    }),
  );
dlq.command('delete <id>').description('delete one entry; exit 1 when it does not exist').action((id: string) =>
  withApp('dlq delete', async (bus) => {
    const existed = await bus.dlq.delete(id);
    print(existed ? `deleted ${t(id)}` : `no entry ${t(id)}`, { deleted: existed ? 1 : 0 });
    if (!existed) process.exitCode = 1;
  }),
);
dlq.command('purge').description('delete every entry').action(() =>
  withApp('dlq purge', async (bus) => {
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
    withApp('replay', async (bus) => {
      const bar = progress('replayed', undefined, !opts().json);
      const n = await bus.replay({
        ...(o.correlationId ? { correlationId: o.correlationId } : {}),
        ...(o.type ? { types: o.type } : {}),
        ...(o.since ? { since: o.since } : {}),
        ...(o.until ? { until: o.until } : {}),
        ...(o.group ? { group: o.group } : {}),
        onProgress: ({ replayed, lastOccurredAt }) => bar.update(replayed, `up to ${lastOccurredAt}`),
      });
      bar.finish();
      print(`replayed ${n} events`, { replayed: n });
    }),
  );

program
  .command('dashboard')
  .description('serve the dashboard (workers, tasks, queues, events, DLQ, health), /metrics and /health/events')
  .option('--port <n>', 'TCP port', '5555')
  .option('--host <address>', 'address to bind; anything but loopback needs --auth or --token', '127.0.0.1')
  .option('--auth <user:password>', 'HTTP Basic credentials (or PROCUR_DASHBOARD_AUTH)')
  .option('--token <token>', 'bearer token; open the page once as /?token=... (or PROCUR_DASHBOARD_TOKEN)')
  .option('--group <name>', 'ignored (deprecated): task states no longer need a consumer group')
  .option('--public <paths>', 'comma-separated paths served without credentials, e.g. /health/events')
  .option('--allowed-hosts <names>', 'comma-separated Host names served without credentials besides loopback (e.g. a proxy\'s name); others get 421')
  .action(async (o: { port: string; host: string; auth?: string; token?: string; group?: string; public?: string; allowedHosts?: string }) => {
    const port = Number(o.port);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new CommanderError(2, 'usage', '--port must be a port number');
    const basic = o.auth ?? process.env.PROCUR_DASHBOARD_AUTH;
    const token = o.token ?? process.env.PROCUR_DASHBOARD_TOKEN;
    if (basic && token) throw new CommanderError(2, 'usage', 'pass either --auth or --token, not both');
    const { startDashboard } = await import('@procur/event-bus/http');
    const { bus, connection } = await connect('the dashboard');
    let dashboard;
    try {
      dashboard = await startDashboard(bus, {
        port,
        host: o.host,
        ...(basic ? { auth: basic } : token ? { auth: { token } } : {}),
        ...(o.group ? { liveGroup: o.group } : {}),
        ...(o.public ? { publicPaths: o.public.split(',').map((p) => p.trim()).filter(Boolean) } : {}),
        ...(o.allowedHosts ? { allowedHosts: o.allowedHosts.split(',').map((h) => h.trim()).filter(Boolean) } : {}),
      });
    } catch (err) {
      await bus.close();
      throw err;
    }
    const auth = basic ? 'basic' : token ? 'token' : 'none';
    print(
      `dashboard on ${dashboard.url} (transport ${connection.transport || bus.transport.name}, store ${connection.store || bus.store.adapter.name}, auth ${auth})\n` +
        `  metrics ${dashboard.url}metrics   health ${dashboard.url}health/events` +
        (auth === 'token' ? '\n  open it once as <url>?token=<your token>' : ''),
      { url: dashboard.url, host: dashboard.host, port: dashboard.port, auth, transport: connection.transport || bus.transport.name, store: connection.store || bus.store.adapter.name },
    );
    const running = dashboard;
    await untilSignal(async () => {
      await running.close();
      await bus.close();
    });
  });

program
  .command('demo')
  .description('run the procurement flow in-process on embedded defaults (memory transport and store)')
  .option('--db <file>', 'keep the events in a SQLite file (needs better-sqlite3)')
  .option('--dashboard [port]', 'then keep running with the dashboard open (default port 5555)')
  .action(async (o: { db?: string; dashboard?: string | boolean }) => {
    const { runDemo } = await import('./demo.js');
    let store;
    if (o.db) {
      const { sqliteStore } = await import('@procur/event-bus/sqlite');
      store = sqliteStore({ filename: o.db });
    }
    const lines: string[] = [];
    const json = Boolean(opts().json);
    const result = await runDemo({ log: json ? (l) => lines.push(l) : undefined, store, keepOpen: Boolean(o.dashboard) });
    if (json) console.log(JSON.stringify({ ok: result.ok, correlationId: result.correlationId, events: result.events, log: lines }, null, 2));
    if (!result.ok) process.exitCode = 1;
    if (o.dashboard && result.bus) {
      const bus = result.bus;
      const { startDashboard } = await import('@procur/event-bus/http');
      const dashboard = await startDashboard(bus, { port: typeof o.dashboard === 'string' ? Number(o.dashboard) : 5555 });
      console.error(`\ndashboard on ${dashboard.url} (Ctrl-C to stop)`);
      await untilSignal(async () => {
        await dashboard.close();
        await bus.close();
      });
    }
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) return;
    if (err.code !== 'usage') {
      // Commander printed the message (unknown option, missing argument): bad usage.
      process.exitCode = 2;
      return;
    }
    warn(`procur-bus: ${t(err.message)}`);
    process.exitCode = 2;
    return;
  }
  warn(`procur-bus: ${t((err as Error).message)}`);
  process.exitCode = isEventBusError(err, 'ERR_CONFIG') ? 2 : 1;
});
