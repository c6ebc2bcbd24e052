import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, consoleLogger, createEventSystem } from '@procur/event-bus';
import type { EventStore, EventSystem, Transport } from '@procur/event-bus';

/** Options naming the application module or the services to connect to. */
export interface AppOptions {
  /**
   * Path of a module exporting the event system (default export, `bus`, `system`), or a factory
   * of it. A TypeScript module (`.ts`, `.mts`, `.cts`) is loaded through tsx when the project
   * has it installed.
   */
  app?: string;
  /**
   * The transport to connect to: `memory`, `redis` (the `--redis-url` server) or `postgres` (the
   * `--postgres-url` database, the schema of `--postgres-schema`) (`PROCUR_EVENT_TRANSPORT`).
   * @default 'redis' when a Redis URL (or host) is given, otherwise 'memory'
   */
  transport?: string;
  /** Redis URL of the transport (`PROCUR_EVENT_REDIS_URL`). */
  redisUrl?: string;
  /** `keyPrefix` of the Redis transport; must be the app's (`PROCUR_EVENT_REDIS_KEY_PREFIX`). */
  redisKeyPrefix?: string;
  /** PostgreSQL URL of the event store, and of the transport with `transport: 'postgres'` (`PROCUR_EVENT_POSTGRES_URL`). */
  postgresUrl?: string;
  /** Schema of the PostgreSQL store, and of the PostgreSQL transport (`PROCUR_EVENT_POSTGRES_SCHEMA`). */
  postgresSchema?: string;
  /** SQLite file of the event store (`PROCUR_EVENT_SQLITE_FILE`). */
  sqlite?: string;
}

/** The connection settings the CLI reads from the environment, with what each does (for `--help`). @internal */
export const CLI_VARIABLES: ReadonlyArray<readonly [string, string]> = [
  ['PROCUR_BUS_APP', '--app: the app module'],
  ['PROCUR_EVENT_TRANSPORT', '--transport: memory | redis | postgres (default redis with a Redis URL, else memory)'],
  ['PROCUR_EVENT_REDIS_URL', '--redis-url: the Redis transport (also PROCUR_EVENT_REDIS_HOST/PORT/DB/PASSWORD/SSL)'],
  ['PROCUR_EVENT_REDIS_KEY_PREFIX', '--redis-key-prefix: the transport keyPrefix, as the app sets it'],
  ['PROCUR_EVENT_POSTGRES_URL', '--postgres-url: the PostgreSQL event store (and transport with --transport postgres)'],
  ['PROCUR_EVENT_POSTGRES_SCHEMA', '--postgres-schema: their schema'],
  ['PROCUR_EVENT_SQLITE_FILE', '--sqlite: a SQLite event store file'],
  ['PROCUR_DASHBOARD_AUTH', 'dashboard --auth'],
  ['PROCUR_DASHBOARD_TOKEN', 'dashboard --token'],
];

/** A connection URL for messages: the password (and a user's token) replaced by `***`. @internal */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const key of [...u.searchParams.keys()]) if (/pass|secret|token|key/i.test(key)) u.searchParams.set(key, '***');
    return u.toString();
  } catch {
    return '(a malformed URL)';
  }
}

function isSystem(v: unknown): v is EventSystem {
  return typeof v === 'object' && v !== null && 'publisher' in v && typeof (v as EventSystem).close === 'function';
}

/** How the CLI connected, for its own output (no secrets). */
export interface Connection {
  /** `'app'` for an app module, `'url'` for connection options. */
  via: 'app' | 'url';
  /**
   * The transport, e.g. `redis redis://127.0.0.1:6379/`, `postgres postgres://ops:***@db/bus`
   * or `memory (this process only)`.
   */
  transport: string;
  /** The store, e.g. `postgres postgres://ops:***@db/bus` or `memory`. */
  store: string;
}

function pick(flag: string | undefined, env: Record<string, string | undefined>, name: string): string | undefined {
  return flag ?? (env[name] || undefined);
}

/** The transports `--transport` names. @internal */
export const CLI_TRANSPORTS = ['memory', 'redis', 'postgres'] as const;

/**
 * Connects to the event system: the app module of `--app` when given, else the services named by
 * `--transport`, `--redis-url`, `--postgres-url` / `--sqlite` (or their `PROCUR_EVENT_*`
 * variables) with the library's defaults (a transport or store not named is the in-process memory
 * one: the caller warns that an inspecting command then sees only its own process). The transport
 * is `--transport`'s, else Redis when a Redis URL is given, else memory; `postgres` uses the
 * `--postgres-url` database (also the store) and `--postgres-schema`. Commands that run the app's
 * code (`needsApp`: worker, beat) need the module.
 *
 * @throws {@link ConfigError} when `--app` and connection flags are both given, a module exports
 *   no event system, `--postgres-url` and `--sqlite` are both given, `--transport` is not one of
 *   memory, redis, postgres, `--transport postgres` has no PostgreSQL URL or `--transport redis`
 *   no Redis URL, nothing is given, or a command that needs an app gets none.
 */
export async function loadApp(
  options: AppOptions,
  opts: { needsApp?: string; env?: Record<string, string | undefined> } = {},
): Promise<{ bus: EventSystem; connection: Connection }> {
  const env = opts.env ?? process.env;
  const path = options.app ?? (env.PROCUR_BUS_APP || undefined);
  const flags = ['transport', 'redisUrl', 'redisKeyPrefix', 'postgresUrl', 'postgresSchema', 'sqlite'] as const;
  const given = flags.filter((f) => options[f] !== undefined);
  if (path) {
    if (given.length) {
      throw new ConfigError('--app', `pass either --app or connection options (${given.map((f) => `--${f.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')}), not both: the app module makes its own connections`);
    }
    return { bus: await importApp(path), connection: { via: 'app', transport: '', store: '' } };
  }
  const redisUrl = pick(options.redisUrl, env, 'PROCUR_EVENT_REDIS_URL');
  const redisHost = env.PROCUR_EVENT_REDIS_HOST || undefined;
  const keyPrefix = pick(options.redisKeyPrefix, env, 'PROCUR_EVENT_REDIS_KEY_PREFIX');
  const postgresUrl = pick(options.postgresUrl, env, 'PROCUR_EVENT_POSTGRES_URL');
  const schema = pick(options.postgresSchema, env, 'PROCUR_EVENT_POSTGRES_SCHEMA');
  const sqlite = pick(options.sqlite, env, 'PROCUR_EVENT_SQLITE_FILE');
  const chosen = pick(options.transport, env, 'PROCUR_EVENT_TRANSPORT');
  const source = options.transport !== undefined ? '--transport' : 'PROCUR_EVENT_TRANSPORT';
  if (chosen !== undefined && !(CLI_TRANSPORTS as readonly string[]).includes(chosen)) {
    throw new ConfigError(source, `the transport must be one of ${CLI_TRANSPORTS.join(', ')}, got ${JSON.stringify(chosen)}`);
  }
  const kind = (chosen ?? (redisUrl || redisHost ? 'redis' : 'memory')) as (typeof CLI_TRANSPORTS)[number];
  if (kind === 'postgres' && !postgresUrl) {
    throw new ConfigError(
      source,
      'the postgres transport needs its database: pass --postgres-url postgres://user@host:5432/db (or set PROCUR_EVENT_POSTGRES_URL), and --postgres-schema when the app sets a schema',
    );
  }
  if (kind === 'redis' && !redisUrl && !redisHost) {
    throw new ConfigError(source, 'the redis transport needs its server: pass --redis-url redis://host:6379 (or set PROCUR_EVENT_REDIS_URL)');
  }
  if (postgresUrl && sqlite) throw new ConfigError('--postgres-url', 'pass either --postgres-url or --sqlite, not both');
  if (!redisUrl && !redisHost && !postgresUrl && !sqlite) {
    throw new ConfigError(
      '--app',
      'pass --app <module> (or PROCUR_BUS_APP), a module exporting your event system or a factory of it, or connect by URL: --redis-url (PROCUR_EVENT_REDIS_URL), --postgres-url or --sqlite <file>',
    );
  }
  if (opts.needsApp) {
    throw new ConfigError('--app', `${opts.needsApp}: pass --app <module> (or set PROCUR_BUS_APP), a module exporting your event system or a factory of it; --redis-url alone has no task code`);
  }
  let transport: Transport | undefined;
  let transportText = 'memory (this process only)';
  if (kind === 'postgres' && postgresUrl) {
    const { postgresTransport } = await import('@procur/event-bus/postgres');
    transport = postgresTransport({ connectionString: postgresUrl, ...(schema ? { schema } : {}) });
    transportText = `postgres ${redactUrl(postgresUrl)}${schema ? ` (schema ${schema})` : ''}`;
  } else if (kind === 'redis') {
    const { redisTransport } = await import('@procur/event-bus/redis');
    transport = redisTransport({ ...(redisUrl ? { url: redisUrl } : {}), ...(keyPrefix ? { keyPrefix } : {}) });
    transportText = `redis ${redisUrl ? redactUrl(redisUrl) : `${redisHost}:${env.PROCUR_EVENT_REDIS_PORT || 6379}`}${keyPrefix ? ` (key prefix ${keyPrefix})` : ''}`;
  }
  let store: EventStore | undefined;
  let storeText = 'memory';
  if (postgresUrl) {
    const { postgresStore } = await import('@procur/event-bus/postgres');
    store = postgresStore({ connectionString: postgresUrl, ...(schema ? { schema } : {}) });
    storeText = `postgres ${redactUrl(postgresUrl)}${schema ? ` (schema ${schema})` : ''}`;
  } else if (sqlite) {
    const { sqliteStore } = await import('@procur/event-bus/sqlite');
    store = sqliteStore({ filename: sqlite });
    storeText = `sqlite ${sqlite}`;
  }
  const bus = await createEventSystem({
    ...(transport ? { transport } : {}),
    ...(store ? { store } : {}),
    env,
    logger: consoleLogger,
    // An operator's command reads and acts on request: it must not re-publish other processes'
    // unpublished events (the outbox relay) or schedule the built-in cleanup.
    outbox: false,
    builtins: false,
  });
  return { bus, connection: { via: 'url', transport: transportText, store: storeText } };
}

const TYPESCRIPT = /\.[cm]?tsx?$/i;

interface TsxApi {
  tsImport(specifier: string, options: { parentURL: string }): Promise<unknown>;
}

/** tsx's loader API, from the project (the current directory) first, else next to this CLI. */
async function loadTsx(): Promise<TsxApi | undefined> {
  try {
    // Its ESM entry (the CommonJS one cannot import modules from an ES module here): found
    // through tsx's package.json, as `require.resolve` only knows the `require` condition.
    const manifest = createRequire(join(process.cwd(), 'package.json')).resolve('tsx/package.json');
    const exportsMap = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports?: Record<string, { import?: string | { default?: string } }> }).exports;
    const entry = exportsMap?.['./esm/api']?.import;
    const file = typeof entry === 'string' ? entry : entry?.default;
    if (file) return (await import(pathToFileURL(join(dirname(manifest), file)).href)) as TsxApi;
  } catch {
    // not installed in the project
  }
  try {
    // A variable, so the bundler leaves tsx (an optional tool of the user's) out of the CLI.
    const specifier = 'tsx/esm/api';
    return (await import(specifier)) as TsxApi;
  } catch {
    return undefined;
  }
}

function typescriptHint(path: string): string {
  return (
    `cannot load the TypeScript module '${path}': Node runs JavaScript only. Install tsx in your project (npm install --save-dev tsx) ` +
    `and procur-bus loads .ts app modules itself, or run it under a loader (node --import tsx node_modules/.bin/procur-bus ...), ` +
    `or build the module to JavaScript and pass the .js file`
  );
}

/** Imports the app module; a TypeScript one through tsx when it is installed. */
async function importModule(path: string): Promise<Record<string, unknown>> {
  const file = resolve(process.cwd(), path);
  const url = pathToFileURL(file).href;
  if (TYPESCRIPT.test(file)) {
    const tsx = await loadTsx();
    if (tsx) return (await tsx.tsImport(url, { parentURL: pathToFileURL(join(process.cwd(), 'index.js')).href })) as Record<string, unknown>;
  }
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_UNKNOWN_FILE_EXTENSION' && TYPESCRIPT.test(file)) throw new ConfigError('--app', typescriptHint(path));
    throw err;
  }
}

async function importApp(path: string): Promise<EventSystem> {
  const mod = await importModule(path);
  for (const key of ['default', 'bus', 'system', 'createSystem']) {
    let v = mod[key];
    if (typeof v === 'function') v = await (v as () => unknown)();
    if (isSystem(v)) return v;
  }
  throw new ConfigError('--app', `module '${path}' exports no event system (export it as default, 'bus' or 'system', or a factory 'createSystem')`);
}
