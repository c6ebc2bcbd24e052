/**
 * Connections of the Redis transport: loading the optional `ioredis` peer, building connection
 * options from the options or the `PROCUR_EVENT_REDIS_*` settings, waiting for a connection with a
 * bound, and describing Redis in messages without ever printing a password.
 *
 * @module
 */

import { createRequire } from 'node:module';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { ClosedError, ConfigError, MissingPeerError, loadConfig } from '@procur/event-bus';

/** A connection the transport talks through: an ioredis client or cluster client. */
export type RedisClient = Redis | Cluster;

/** The ioredis constructor, loaded on first use. */
export type RedisConstructor = new (...args: unknown[]) => Redis;

let cached: RedisConstructor | undefined;

/**
 * Loads `ioredis` (an optional peer dependency) synchronously, in ESM and CJS builds alike.
 *
 * @throws `MissingPeerError` (code `ERR_MISSING_PEER`) when it is not installed.
 */
export function loadIoredis(): RedisConstructor {
  if (cached) return cached;
  try {
    // Not `typeof require`: the ESM bundle rewrites `require` to a shim that throws when called.
    // `__filename` exists only in CommonJS (and `import.meta` only in ESM).
    const req = createRequire(typeof __filename === 'string' ? __filename : import.meta.url);
    const mod = req('ioredis') as { default?: unknown; Redis?: unknown };
    cached = (mod.default ?? mod.Redis ?? mod) as RedisConstructor;
    return cached;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') {
      throw new MissingPeerError('ioredis', '@procur/event-bus/redis', { cause: err });
    }
    throw err;
  }
}

/** The ioredis `Cluster` constructor, loaded on first use (same peer as {@link loadIoredis}). */
export type ClusterConstructor = new (nodes: unknown[], options?: unknown) => Cluster;

/**
 * Loads the `Cluster` class of `ioredis`.
 *
 * @throws `MissingPeerError` (code `ERR_MISSING_PEER`) when `ioredis` is not installed.
 */
export function loadIoredisCluster(): ClusterConstructor {
  const Redis = loadIoredis() as unknown as { Cluster?: ClusterConstructor };
  if (typeof Redis.Cluster !== 'function') throw new MissingPeerError('ioredis', '@procur/event-bus/redis');
  return Redis.Cluster;
}

/** True for an ioredis `Cluster` client. */
export function isCluster(client: RedisClient): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

/** `redis://user:***@host:port/db`: a URL with its password masked. */
export function maskUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable Redis URL)';
  }
}

/** The URL forms {@link checkRedisUrl} accepts, for messages. */
export const ACCEPTED_URL_FORMS = "redis://[[user]:password@]host[:port][/db], rediss://... (TLS), unix:///path/to/redis.sock[?db=n] or an absolute socket path";

/**
 * Checks a Redis URL before ioredis sees it (ioredis takes any text as a host name, so
 * `http://host` would fail later with `connect ENOENT`) and returns it in the form ioredis reads
 * (`unix://` becomes the socket path).
 *
 * @param setting - the option or variable it came from, named in the error.
 * @throws `ConfigError` naming the accepted schemes, for another scheme, text that is no URL, or
 *   a database that is not a whole number. The password is never part of the message.
 */
export function checkRedisUrl(url: string, setting: string): string {
  if (url.startsWith('/')) return url;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'unix') {
    const path = url.slice('unix://'.length);
    if (!url.toLowerCase().startsWith('unix://') || !path.startsWith('/')) {
      throw new ConfigError(setting, `[event-bus:redis] a unix socket URL is unix:///absolute/path/to/redis.sock, got ${maskUrl(url)}.`);
    }
    return path;
  }
  if (scheme !== 'redis' && scheme !== 'rediss') {
    const shown = scheme ? `a URL with the scheme '${scheme}:'` : 'text that is not a URL';
    throw new ConfigError(setting, `[event-bus:redis] expected ${ACCEPTED_URL_FORMS}; got ${shown}.`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(setting, `[event-bus:redis] this ${scheme}:// URL cannot be parsed; expected ${ACCEPTED_URL_FORMS}.`);
  }
  const db = parsed.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d{1,5}$/.test(db)) {
    throw new ConfigError(setting, `[event-bus:redis] the database (the path of ${maskUrl(url)}) must be a whole number such as /0, got '${db}'.`);
  }
  return url;
}

/** The database a connection is meant to use (0 when none is set). */
export function wantedDb(client: RedisClient): number {
  if (isCluster(client)) return 0;
  const db = Number((client.options as Partial<RedisOptions>).db ?? 0);
  return Number.isInteger(db) && db > 0 ? db : 0;
}

/**
 * True when `client` looks able to run the transport: ioredis clients (and Cluster clients)
 * expose a method per Redis command, the generic `call` and a connection `status`. A client
 * without consumer groups lacks them: a hand-made mock the stream-group commands, ioredis-mock
 * (whose `xgroup`, `xreadgroup`, `xautoclaim` only reject "Unsupported command") `call` and
 * `status`.
 */
export function hasConsumerGroups(client: unknown): boolean {
  const c = client as Record<string, unknown> | null | undefined;
  if (!c || typeof c !== 'object') return false;
  return typeof c['status'] === 'string' && ['call', 'xgroup', 'xreadgroup', 'xautoclaim', 'xack', 'evalsha'].every((m) => typeof c[m] === 'function');
}

/**
 * Splits a Redis Cluster URL list (`redis://h1:7000,redis://h2:7001`, commas between URLs) into
 * seed nodes for ioredis `Cluster`, or returns `undefined` for a single URL. Each URL is checked
 * as {@link checkRedisUrl} does; the user name and password of the first URL that has one apply
 * to every node.
 *
 * @throws `ConfigError` naming `setting` for a list with a unix socket, a database other than 0
 *   (a cluster has only database 0), or an entry that is no `redis://`/`rediss://` URL.
 */
export function clusterSeeds(url: string, setting: string): { nodes: { host: string; port: number }[]; username?: string; password?: string; tls: boolean } | undefined {
  if (!url.includes(',')) return undefined;
  const parts = url.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
  const nodes: { host: string; port: number }[] = [];
  let username: string | undefined;
  let password: string | undefined;
  let tls = false;
  for (const part of parts) {
    const checked = checkRedisUrl(part, setting);
    if (checked.startsWith('/')) throw new ConfigError(setting, `[event-bus:redis] a Redis Cluster URL list (URLs separated by commas) takes redis:// or rediss:// URLs, not a unix socket.`);
    const u = new URL(checked);
    if (u.pathname.replace(/^\//, '') !== '' && u.pathname !== '/0') {
      throw new ConfigError(setting, `[event-bus:redis] a Redis Cluster has only database 0; remove the database from ${maskUrl(part)} in the URL list.`);
    }
    if (u.protocol === 'rediss:') tls = true;
    if (password === undefined && u.password) password = decodeURIComponent(u.password);
    if (username === undefined && u.username) username = decodeURIComponent(u.username);
    nodes.push({ host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : 6379 });
  }
  const out: { nodes: { host: string; port: number }[]; username?: string; password?: string; tls: boolean } = { nodes, tls };
  if (username !== undefined) out.username = username;
  if (password !== undefined) out.password = password;
  return out;
}

/** How the transport reaches Redis, and how it names that in messages. */
export interface ConnectionPlan {
  /** Arguments for `new Redis(...)`: `[url, options]` or `[options]`. */
  args: unknown[];
  /** Set for a Redis Cluster URL list: arguments for `new Cluster(nodes, options)` instead. */
  cluster?: [nodes: { host: string; port: number }[], options: Record<string, unknown>];
  /** Where Redis is, for messages (password masked). */
  where: string;
  /** The setting to check when Redis cannot be reached. */
  hint: string;
  /** Secrets to scrub from any message. */
  secrets: string[];
}

/** Options the transport sets on connections it opens (the user's options win, except where noted). */
const OWN_DEFAULTS: Partial<RedisOptions> = {
  lazyConnect: true,
  // Commands are only written to a live connection: the transport waits (bounded) for 'ready'
  // itself, so an outage fails fast instead of queueing a publish that may run minutes later.
  enableOfflineQueue: false,
  // ioredis keeps the process alive this long after disconnect() when the socket is already gone.
  disconnectTimeout: 100,
};

function secretsOf(...values: (string | undefined)[]): string[] {
  const out = new Set<string>();
  for (const v of values) {
    if (!v) continue;
    out.add(v);
    try {
      out.add(decodeURIComponent(v));
      out.add(encodeURIComponent(v));
    } catch {
      // keep the raw value only
    }
  }
  return [...out];
}

function passwordOfUrl(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.password || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Plans the connection from a URL, explicit ioredis options, or (neither given) the
 * `PROCUR_EVENT_REDIS_*` environment variables read by `loadConfig`.
 */
export function planConnection(url: string | undefined, redisOptions: Partial<RedisOptions>, env: Record<string, string | undefined>): ConnectionPlan {
  const own = { ...OWN_DEFAULTS, ...redisOptions };
  const list = url ?? (redisOptions.host === undefined && redisOptions.port === undefined && redisOptions.path === undefined ? loadConfig(env).redisUrl : undefined);
  const seeds = list ? clusterSeeds(list, url ? 'url' : 'PROCUR_EVENT_REDIS_URL') : undefined;
  if (list && seeds) {
    const nodeOptions: Record<string, unknown> = { ...own };
    if (seeds.password !== undefined && nodeOptions['password'] === undefined) nodeOptions['password'] = seeds.password;
    if (seeds.username !== undefined && nodeOptions['username'] === undefined) nodeOptions['username'] = seeds.username;
    if (seeds.tls && nodeOptions['tls'] === undefined) nodeOptions['tls'] = {};
    const { lazyConnect, enableOfflineQueue, ...redisNodeOptions } = nodeOptions;
    return {
      args: [],
      cluster: [seeds.nodes, { lazyConnect, enableOfflineQueue, redisOptions: redisNodeOptions }],
      where: `the Redis Cluster ${list.split(',').map((u) => maskUrl(u.trim())).join(',')}`,
      hint: url ? 'the url option' : 'PROCUR_EVENT_REDIS_URL',
      secrets: secretsOf(seeds.password, redisOptions.password),
    };
  }
  if (url) {
    return {
      args: [checkRedisUrl(url, 'url'), own],
      where: maskUrl(url),
      hint: 'the url option',
      secrets: secretsOf(passwordOfUrl(url), redisOptions.password),
    };
  }
  const explicit = redisOptions.host !== undefined || redisOptions.port !== undefined || redisOptions.path !== undefined;
  if (explicit) {
    return {
      args: [own],
      where: redisOptions.path ?? `${redisOptions.host ?? 'localhost'}:${redisOptions.port ?? 6379}`,
      hint: 'the host/port options',
      secrets: secretsOf(redisOptions.password),
    };
  }
  const config = loadConfig(env);
  if (config.redisUrl) {
    return {
      args: [checkRedisUrl(config.redisUrl, 'PROCUR_EVENT_REDIS_URL'), own],
      where: maskUrl(config.redisUrl),
      hint: 'PROCUR_EVENT_REDIS_URL',
      secrets: secretsOf(passwordOfUrl(config.redisUrl), config.redisPassword, redisOptions.password),
    };
  }
  const fromEnv: Partial<RedisOptions> = {
    host: config.redisHost,
    port: config.redisPort,
    db: config.redisDb,
  };
  if (config.redisPassword !== undefined) fromEnv.password = config.redisPassword;
  if (config.redisSsl) fromEnv.tls = {};
  return {
    args: [{ ...fromEnv, ...own }],
    where: `${config.redisHost}:${config.redisPort}${config.redisSsl ? ' (TLS)' : ''}`,
    hint: 'PROCUR_EVENT_REDIS_HOST / PROCUR_EVENT_REDIS_PORT (or PROCUR_EVENT_REDIS_URL)',
    secrets: secretsOf(config.redisPassword, redisOptions.password),
  };
}

/** Replaces every secret in `text` with `***`. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length > 0) out = out.split(s).join('***');
  return out;
}

/**
 * Waits until `client` is ready, at most until `deadline` (ms since the epoch). Starts a lazy
 * connection. Rejects with the abort reason when `signal` aborts, with `ClosedError` when `closed`
 * aborts, and with `unreachable()` on timeout or when the connection has ended.
 */
export function whenReady(
  client: RedisClient,
  deadline: number,
  unreachable: () => Error,
  closed: AbortSignal,
  signal?: AbortSignal,
): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  if (closed.aborted) return Promise.reject(new ClosedError('redis transport'));
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (client.status === 'end') return Promise.reject(unreachable());
  if (client.status === 'wait') client.connect().catch(() => {});
  return new Promise<void>((resolve, reject) => {
    const onReady = () => done(undefined);
    const onEnd = () => done(unreachable());
    const onClosed = () => done(new ClosedError('redis transport'));
    const onAbort = () => done(signal?.reason);
    const timer = setTimeout(() => done(unreachable()), Math.max(0, deadline - Date.now()));
    function done(err: unknown) {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('end', onEnd);
      closed.removeEventListener('abort', onClosed);
      signal?.removeEventListener('abort', onAbort);
      if (err === undefined) resolve();
      else reject(err);
    }
    client.once('ready', onReady);
    client.once('end', onEnd);
    closed.addEventListener('abort', onClosed, { once: true });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Settles like `promise`, or rejects with `onTimeout()` at `deadline`, or with the abort reason.
 * A late rejection of `promise` is swallowed (never an unhandled rejection).
 */
export function bounded<T>(promise: Promise<T>, deadline: number, onTimeout: () => Error, signal?: AbortSignal): Promise<T> {
  promise.catch(() => {});
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => finish(() => reject(onTimeout())), Math.max(0, deadline - Date.now()));
    const onAbort = () => finish(() => reject(signal?.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    let settled = false;
    function finish(fn: () => void) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      fn();
    }
    promise.then(
      (v) => finish(() => resolve(v)),
      (e) => finish(() => reject(e)),
    );
  });
}

/**
 * Closes a connection the transport opened: QUIT when live (bounded, so replies to commands in
 * flight still arrive), else `disconnect` (called through `disconnect`, which must run at most once).
 */
export async function closeConnection(client: RedisClient, disconnect: () => void, graceMs = 1000): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    disconnect();
    return;
  }
  try {
    await bounded(client.quit(), Date.now() + graceMs, () => new Error('quit timed out'));
  } catch {
    // fall through to a hard disconnect
  }
  if ((client.status as string) !== 'end') disconnect();
}
