import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG, isEventBusError, loadConfig } from '../../src/index.js';

describe('loadConfig', () => {
  it('gives the seed defaults with an empty environment', () => {
    const c = loadConfig({});
    expect(c).toEqual({ ...DEFAULT_CONFIG });
    expect(c.eventStreamName).toBe('procur:events');
    expect(c.eventConsumerGroup).toBe('procur-workers');
    expect(c.eventBatchSize).toBe(10);
    expect(c.eventBlockTime).toBe(1000);
    expect(c.dlqStreamName).toBe('procur:dlq');
    expect(c.dlqMaxRetries).toBe(3);
    expect(c.eventStoreRetentionDays).toBe(90);
    expect(c.claimIdleMs).toBe(30_000);
    expect(c.retryBackoffMs).toBe(1000);
    expect(c.retryBackoffMaxMs).toBe(60_000);
  });

  it('reads every PROCUR_EVENT_* variable', () => {
    const c = loadConfig({
      PROCUR_EVENT_REDIS_HOST: 'cache',
      PROCUR_EVENT_REDIS_PORT: '6380',
      PROCUR_EVENT_REDIS_DB: '2',
      PROCUR_EVENT_REDIS_PASSWORD: 's3cret',
      PROCUR_EVENT_REDIS_SSL: 'true',
      PROCUR_EVENT_REDIS_URL: 'redis://127.0.0.1:6379/1',
      PROCUR_EVENT_EVENT_STREAM_NAME: 'x:events',
      PROCUR_EVENT_EVENT_CONSUMER_GROUP: 'g',
      PROCUR_EVENT_EVENT_BATCH_SIZE: '50',
      PROCUR_EVENT_EVENT_BLOCK_TIME: '250',
      PROCUR_EVENT_DLQ_ENABLED: 'false',
      PROCUR_EVENT_DLQ_STREAM_NAME: 'x:dlq',
      PROCUR_EVENT_DLQ_MAX_RETRIES: '5',
      PROCUR_EVENT_EVENT_SOURCING_ENABLED: '0',
      PROCUR_EVENT_EVENT_STORE_RETENTION_DAYS: '30',
      PROCUR_EVENT_CLAIM_IDLE_MS: '5000',
      PROCUR_EVENT_RETRY_BACKOFF_MS: '100',
      PROCUR_EVENT_RETRY_BACKOFF_MAX_MS: '2000',
    });
    expect(c).toMatchObject({
      redisHost: 'cache',
      redisPort: 6380,
      redisDb: 2,
      redisPassword: 's3cret',
      redisSsl: true,
      redisUrl: 'redis://127.0.0.1:6379/1',
      eventStreamName: 'x:events',
      eventConsumerGroup: 'g',
      eventBatchSize: 50,
      eventBlockTime: 250,
      dlqEnabled: false,
      dlqStreamName: 'x:dlq',
      dlqMaxRetries: 5,
      eventSourcingEnabled: false,
      eventStoreRetentionDays: 30,
      claimIdleMs: 5000,
      retryBackoffMs: 100,
      retryBackoffMaxMs: 2000,
    });
  });

  it('lets options in code win over the environment', () => {
    const c = loadConfig({ PROCUR_EVENT_EVENT_BATCH_SIZE: '50' }, { eventBatchSize: 7 });
    expect(c.eventBatchSize).toBe(7);
  });

  it.each([
    ['PROCUR_EVENT_REDIS_PORT', 'abc', /whole number/],
    ['PROCUR_EVENT_REDIS_PORT', '70000', /at most 65535/],
    ['PROCUR_EVENT_EVENT_BATCH_SIZE', '0', /at least 1/],
    ['PROCUR_EVENT_DLQ_ENABLED', 'maybe', /true or false/],
    ['PROCUR_EVENT_REDIS_URL', 'http://x', /redis:\/\//],
  ])('rejects %s=%s with a ConfigError naming the variable', (name, value, reason) => {
    let caught: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect(isEventBusError(caught, 'ERR_CONFIG')).toBe(true);
    expect((caught as ConfigError).variable).toBe(name);
    expect((caught as Error).message).toContain(name);
    expect((caught as Error).message).toMatch(reason);
  });

  it('never echoes a secret in the error', () => {
    expect(() => loadConfig({ PROCUR_EVENT_REDIS_URL: 'http://user:hunter2@host' })).toThrow(ConfigError);
    try {
      loadConfig({ PROCUR_EVENT_REDIS_URL: 'http://user:hunter2@host' });
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2');
    }
  });

  it('names a bad override and rejects unknown keys', () => {
    expect(() => loadConfig({}, { eventBatchSize: -1 })).toThrow(/config\.eventBatchSize/);
    expect(() => loadConfig({}, { nope: 1 } as never)).toThrow(/config\.nope: unknown setting/);
  });

  it('refuses a max backoff below the first backoff', () => {
    expect(() => loadConfig({ PROCUR_EVENT_RETRY_BACKOFF_MS: '500', PROCUR_EVENT_RETRY_BACKOFF_MAX_MS: '100' })).toThrow(
      /PROCUR_EVENT_RETRY_BACKOFF_MAX_MS/,
    );
  });
});
