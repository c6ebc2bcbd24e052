import { z } from 'zod';
import { ConfigError } from './errors.js';

/**
 * The settings of an event system. Every field has a default; {@link loadConfig} reads them from
 * `PROCUR_EVENT_*` environment variables, and options passed in code win over the environment.
 */
export interface EventBusConfig {
  /** Redis URL (`redis://` or `rediss://`); wins over host/port/db/password/ssl. `PROCUR_EVENT_REDIS_URL`. @default undefined */
  redisUrl: string | undefined;
  /** Redis host. `PROCUR_EVENT_REDIS_HOST`. @default 'localhost' */
  redisHost: string;
  /** Redis port. `PROCUR_EVENT_REDIS_PORT`. @default 6379 */
  redisPort: number;
  /** Redis database number. `PROCUR_EVENT_REDIS_DB`. @default 0 */
  redisDb: number;
  /** Redis password. `PROCUR_EVENT_REDIS_PASSWORD`. Never logged. @default undefined */
  redisPassword: string | undefined;
  /** Connect to Redis over TLS. `PROCUR_EVENT_REDIS_SSL`. @default false */
  redisSsl: boolean;
  /** The events stream. `PROCUR_EVENT_EVENT_STREAM_NAME`. @default 'procur:events' */
  eventStreamName: string;
  /**
   * Partitions of the event stream (`eventStreamName`): each its own stream of the transport (on
   * Redis its own hash-tag slot, so on a cluster they spread over the masters). Publishing routes
   * by the event's `correlationId`; every group reads every partition. Change it on a live system
   * only as docs/scaling.md says. `PROCUR_EVENT_EVENT_STREAM_PARTITIONS`. @default 1
   */
  eventStreamPartitions: number;
  /** The default consumer group. `PROCUR_EVENT_EVENT_CONSUMER_GROUP`. @default 'procur-workers' */
  eventConsumerGroup: string;
  /** Events fetched per read. `PROCUR_EVENT_EVENT_BATCH_SIZE`. @default 10 */
  eventBatchSize: number;
  /** How long one read blocks waiting for events, in ms. `PROCUR_EVENT_EVENT_BLOCK_TIME`. @default 1000 */
  eventBlockTime: number;
  /** Send events that exhausted their retries to the dead letter queue (else they are dropped after logging). `PROCUR_EVENT_DLQ_ENABLED`. @default true */
  dlqEnabled: boolean;
  /** The dead letter stream. `PROCUR_EVENT_DLQ_STREAM_NAME`. @default 'procur:dlq' */
  dlqStreamName: string;
  /** Retries after the first attempt before an event is dead-lettered. `PROCUR_EVENT_DLQ_MAX_RETRIES`. @default 3 */
  dlqMaxRetries: number;
  /** Write every published event to the event store (audit trail). `PROCUR_EVENT_EVENT_SOURCING_ENABLED`. @default true */
  eventSourcingEnabled: boolean;
  /** Days of events kept by `cleanupOldEvents`. `PROCUR_EVENT_EVENT_STORE_RETENTION_DAYS`. @default 90 */
  eventStoreRetentionDays: number;
  /** How long a delivered, unacked message waits before another consumer may claim it, in ms. `PROCUR_EVENT_CLAIM_IDLE_MS`. @default 30000 */
  claimIdleMs: number;
  /** First retry delay in ms, doubled per attempt. `PROCUR_EVENT_RETRY_BACKOFF_MS`. @default 1000 */
  retryBackoffMs: number;
  /** Largest retry delay in ms. `PROCUR_EVENT_RETRY_BACKOFF_MAX_MS`. @default 60000 */
  retryBackoffMaxMs: number;
  /** Largest encoded event accepted by the publisher, in bytes. `PROCUR_EVENT_MAX_EVENT_BYTES`. @default 1048576 */
  maxEventBytes: number;
  /** Prefix of task queues, task state, worker and scheduler keys (`<namespace>:tasks:<queue>`). `PROCUR_EVENT_NAMESPACE`. @default 'procur' */
  namespace: string;
  /** How long task results and states are kept, in ms. `PROCUR_EVENT_TASK_RESULT_TTL_MS`. @default 86400000 (1 day) */
  taskResultTtlMs: number;
  /** How often workers report that they are alive, in ms; a worker silent for 3 beats is offline. `PROCUR_EVENT_WORKER_HEARTBEAT_MS`. @default 2000 */
  workerHeartbeatMs: number;
  /**
   * The longest a call to the event store may take before it rejects with `StoreError`, in ms: a
   * database that is down, frozen or locked makes `publish()` fail within this bound instead of
   * hanging. The SQL stores (`postgresStore`, `sqliteStore`) read it from the environment when
   * their own `timeoutMs` option is not given; the publisher bounds its store calls with it for
   * every store. `PROCUR_EVENT_STORE_TIMEOUT_MS`. @default 10000
   */
  storeTimeoutMs: number;
}

/** The default settings (the seed's defaults, plus ours). */
export const DEFAULT_CONFIG: Readonly<EventBusConfig> = Object.freeze({
  redisUrl: undefined,
  redisHost: 'localhost',
  redisPort: 6379,
  redisDb: 0,
  redisPassword: undefined,
  redisSsl: false,
  eventStreamName: 'procur:events',
  eventStreamPartitions: 1,
  eventConsumerGroup: 'procur-workers',
  eventBatchSize: 10,
  eventBlockTime: 1000,
  dlqEnabled: true,
  dlqStreamName: 'procur:dlq',
  dlqMaxRetries: 3,
  eventSourcingEnabled: true,
  eventStoreRetentionDays: 90,
  claimIdleMs: 30_000,
  retryBackoffMs: 1000,
  retryBackoffMaxMs: 60_000,
  maxEventBytes: 1_048_576,
  namespace: 'procur',
  taskResultTtlMs: 86_400_000,
  workerHeartbeatMs: 2000,
  storeTimeoutMs: 10_000,
});

/** How a setting's environment variable is parsed. */
export type ConfigValueKind = 'string' | 'int' | 'bool' | 'url';
type Kind = ConfigValueKind;

/** The environment variable and kind of every setting. */
export const CONFIG_VARIABLES: Readonly<Record<keyof EventBusConfig, { env: string; kind: ConfigValueKind; min?: number; max?: number }>> =
  Object.freeze({
    redisUrl: { env: 'PROCUR_EVENT_REDIS_URL', kind: 'url' },
    redisHost: { env: 'PROCUR_EVENT_REDIS_HOST', kind: 'string' },
    redisPort: { env: 'PROCUR_EVENT_REDIS_PORT', kind: 'int', min: 1, max: 65_535 },
    redisDb: { env: 'PROCUR_EVENT_REDIS_DB', kind: 'int', min: 0, max: 15_999 },
    redisPassword: { env: 'PROCUR_EVENT_REDIS_PASSWORD', kind: 'string' },
    redisSsl: { env: 'PROCUR_EVENT_REDIS_SSL', kind: 'bool' },
    eventStreamName: { env: 'PROCUR_EVENT_EVENT_STREAM_NAME', kind: 'string' },
    eventStreamPartitions: { env: 'PROCUR_EVENT_EVENT_STREAM_PARTITIONS', kind: 'int', min: 1, max: 1024 },
    eventConsumerGroup: { env: 'PROCUR_EVENT_EVENT_CONSUMER_GROUP', kind: 'string' },
    eventBatchSize: { env: 'PROCUR_EVENT_EVENT_BATCH_SIZE', kind: 'int', min: 1, max: 10_000 },
    eventBlockTime: { env: 'PROCUR_EVENT_EVENT_BLOCK_TIME', kind: 'int', min: 1, max: 600_000 },
    dlqEnabled: { env: 'PROCUR_EVENT_DLQ_ENABLED', kind: 'bool' },
    dlqStreamName: { env: 'PROCUR_EVENT_DLQ_STREAM_NAME', kind: 'string' },
    dlqMaxRetries: { env: 'PROCUR_EVENT_DLQ_MAX_RETRIES', kind: 'int', min: 0, max: 1000 },
    eventSourcingEnabled: { env: 'PROCUR_EVENT_EVENT_SOURCING_ENABLED', kind: 'bool' },
    eventStoreRetentionDays: { env: 'PROCUR_EVENT_EVENT_STORE_RETENTION_DAYS', kind: 'int', min: 1, max: 36_500 },
    claimIdleMs: { env: 'PROCUR_EVENT_CLAIM_IDLE_MS', kind: 'int', min: 10, max: 86_400_000 },
    retryBackoffMs: { env: 'PROCUR_EVENT_RETRY_BACKOFF_MS', kind: 'int', min: 0, max: 86_400_000 },
    retryBackoffMaxMs: { env: 'PROCUR_EVENT_RETRY_BACKOFF_MAX_MS', kind: 'int', min: 0, max: 86_400_000 },
    maxEventBytes: { env: 'PROCUR_EVENT_MAX_EVENT_BYTES', kind: 'int', min: 256, max: 512 * 1024 * 1024 },
    namespace: { env: 'PROCUR_EVENT_NAMESPACE', kind: 'string' },
    taskResultTtlMs: { env: 'PROCUR_EVENT_TASK_RESULT_TTL_MS', kind: 'int', min: 1000, max: 31 * 86_400_000 },
    workerHeartbeatMs: { env: 'PROCUR_EVENT_WORKER_HEARTBEAT_MS', kind: 'int', min: 50, max: 3_600_000 },
    storeTimeoutMs: { env: 'PROCUR_EVENT_STORE_TIMEOUT_MS', kind: 'int', min: 10, max: 3_600_000 },
  });

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

function schemaFor(kind: Kind, min?: number, max?: number): z.ZodType {
  switch (kind) {
    case 'int': {
      let s = z.number('must be a whole number').int('must be a whole number');
      if (min !== undefined) s = s.min(min, `must be at least ${min}`);
      if (max !== undefined) s = s.max(max, `must be at most ${max}`);
      return s;
    }
    case 'bool':
      return z.boolean('must be true or false');
    case 'url':
      return z
        .string()
        .regex(/^(redis|rediss|unix):\/\//, 'must be a redis://, rediss:// or unix:// URL')
        .optional();
    default:
      return z.string().min(1, 'must not be empty');
  }
}

function fromEnv(raw: string, kind: Kind): unknown {
  const v = raw.trim();
  if (kind === 'int') return /^-?\d+$/.test(v) ? Number(v) : v;
  if (kind === 'bool') {
    const l = v.toLowerCase();
    return TRUE.has(l) ? true : FALSE.has(l) ? false : v;
  }
  return v;
}

/** Describes a rejected value without ever echoing a secret. */
function shown(key: keyof EventBusConfig, value: unknown): string {
  if (key === 'redisPassword' || key === 'redisUrl') return '(hidden)';
  let text: string;
  try {
    text = typeof value === 'bigint' ? `${value}n` : (JSON.stringify(value) ?? String(value));
  } catch {
    text = Object.prototype.toString.call(value);
  }
  // A URL with credentials pasted into the wrong variable: show it without them.
  return text.replace(/\/\/[^/@\s"]*@/g, '//(credentials hidden)@');
}

/** One setting from `override` (code) or `env`, validated; `undefined` when neither gives it. */
function settingValue<K extends keyof EventBusConfig>(
  key: K,
  env: Record<string, string | undefined>,
  override: EventBusConfig[K] | undefined,
  overrideName = `config.${key}`,
): EventBusConfig[K] | undefined {
  const spec = CONFIG_VARIABLES[key];
  let value: unknown;
  let origin: string;
  if (override !== undefined) {
    value = override;
    origin = overrideName;
  } else {
    const raw = env[spec.env];
    if (raw === undefined || raw.trim() === '') return undefined;
    value = fromEnv(raw, spec.kind);
    origin = spec.env;
  }
  const result = schemaFor(spec.kind, spec.min, spec.max).safeParse(value);
  if (!result.success) {
    const reason = result.error.issues[0]?.message ?? 'invalid value';
    throw new ConfigError(origin, `${reason} (got ${shown(key, value)})`);
  }
  return result.data as EventBusConfig[K];
}

/**
 * Reads one setting the way {@link loadConfig} does (`override` wins over the environment, then
 * the default), validated on its own: adapters use it for the settings they honour
 * (`sqliteStore` and `postgresStore` read `storeTimeoutMs`), without failing on unrelated ones.
 *
 * @param key - the camelCase setting.
 * @param env - the environment to read. @default process.env
 * @param override - a value given in code (wins over the environment).
 * @param overrideName - how errors name `override` (e.g. the adapter option it came from). @default `config.<key>`
 * @throws {@link ConfigError} naming the variable (or `overrideName`) when the value is invalid.
 * @example
 * ```ts
 * const timeoutMs = loadSetting('storeTimeoutMs'); // PROCUR_EVENT_STORE_TIMEOUT_MS, else 10000
 * ```
 */
export function loadSetting<K extends keyof EventBusConfig>(
  key: K,
  env: Record<string, string | undefined> = process.env,
  override?: EventBusConfig[K],
  overrideName?: string,
): EventBusConfig[K] {
  return settingValue(key, env, override, overrideName) ?? DEFAULT_CONFIG[key];
}

/**
 * Reads the configuration from `PROCUR_EVENT_*` environment variables, applies `overrides` on top
 * (code wins over the environment), fills defaults and validates everything.
 *
 * Empty variables count as unset.
 *
 * @param env - the environment to read. @default process.env
 * @param overrides - camelCase settings given in code.
 * @throws {@link ConfigError} naming the variable (or `config.<key>` for an override) and what
 *   to fix. Secret values are never included in the message.
 * @example
 * ```ts
 * const config = loadConfig(process.env, { eventBatchSize: 50 });
 * ```
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<EventBusConfig> = {},
): EventBusConfig {
  const out: Record<string, unknown> = { ...DEFAULT_CONFIG };
  for (const key of Object.keys(overrides)) {
    if (!Object.hasOwn(CONFIG_VARIABLES, key)) {
      throw new ConfigError(
        `config.${key}`,
        `unknown setting; known settings are ${Object.keys(CONFIG_VARIABLES).join(', ')}`,
      );
    }
  }
  for (const key of Object.keys(CONFIG_VARIABLES) as (keyof EventBusConfig)[]) {
    const value = settingValue(key, env, Object.hasOwn(overrides, key) ? overrides[key] : undefined);
    if (value !== undefined) out[key] = value;
  }
  const config = out as unknown as EventBusConfig;
  if (config.retryBackoffMaxMs < config.retryBackoffMs) {
    throw new ConfigError(
      CONFIG_VARIABLES.retryBackoffMaxMs.env,
      `must not be smaller than ${CONFIG_VARIABLES.retryBackoffMs.env} (${config.retryBackoffMs})`,
    );
  }
  return config;
}
