/**
 * Property-based tests of the config loader (issue 10): for any environment and any overrides,
 * `loadConfig` returns settings within their documented ranges or throws `ConfigError` naming
 * the variable, and never echoes a secret. Seeded and bounded.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, ConfigError, DEFAULT_CONFIG, loadConfig, type EventBusConfig } from '../../src/index.js';

const SEED = 20261202;
const KEYS = Object.keys(CONFIG_VARIABLES) as (keyof EventBusConfig)[];
const ENV_NAMES = KEYS.map((k) => CONFIG_VARIABLES[k].env);
const SECRET = 'S3cr3t-pa55word-xyz';

/** Strings an operator might really type, and worse. */
const envValue = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.integer().map(String),
  fc.double().map(String),
  fc.bigInt().map(String),
  fc.constantFrom('true', 'FALSE', 'yes', 'off', '1', '0', ' 42 ', '0x10', '1e3', '-0', '', ' ', 'NaN', 'Infinity', '9'.repeat(400), 'toString', '__proto__'),
  fc.constantFrom('redis://localhost:6379', `redis://:${SECRET}@host:6379/1`, `rediss://user:${SECRET}@h`, 'unix:///tmp/r.sock', 'http://x', `redis://u:${SECRET}@`),
);

const envArb = fc.dictionary(fc.oneof(fc.constantFrom(...ENV_NAMES), fc.string()), envValue, { maxKeys: 8 });

function checkRanges(c: EventBusConfig): void {
  for (const k of KEYS) {
    const spec = CONFIG_VARIABLES[k];
    const v = c[k];
    if (spec.kind === 'int') {
      expect(Number.isInteger(v), k).toBe(true);
      if (spec.min !== undefined) expect(v as number).toBeGreaterThanOrEqual(spec.min);
      if (spec.max !== undefined) expect(v as number).toBeLessThanOrEqual(spec.max);
    } else if (spec.kind === 'bool') expect(typeof v, k).toBe('boolean');
    else if (spec.kind === 'url') expect(v === undefined || /^(redis|rediss|unix):\/\//.test(v as string), k).toBe(true);
    else if (v !== undefined) expect(typeof v === 'string' && v.length > 0, k).toBe(true);
  }
  expect(c.retryBackoffMaxMs).toBeGreaterThanOrEqual(c.retryBackoffMs);
}

function attempt(fn: () => EventBusConfig): void {
  let c: EventBusConfig;
  try {
    c = fn();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw new Error(`not a ConfigError: ${String((err as Error)?.stack ?? err)}`);
    expect(err.message).not.toContain(SECRET);
    expect(err.variable.length).toBeGreaterThan(0);
    return;
  }
  checkRanges(c);
}

describe('loadConfig (property)', () => {
  it('any environment: settings within range, or a ConfigError naming the variable without the secret', () => {
    fc.assert(
      fc.property(envArb, fc.boolean(), (env, withPassword) => {
        if (withPassword) env.PROCUR_EVENT_REDIS_PASSWORD = SECRET;
        attempt(() => loadConfig(env));
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });

  it('any overrides: settings within range, or a ConfigError; unknown keys (toString too) are refused', () => {
    const overrideValue = fc.oneof(
      fc.anything({ withBigInt: true, withNullPrototype: true, withBoxedValues: true }),
      fc.integer(),
      fc.constantFrom(`redis://:${SECRET}@h`, true, false, undefined, null, NaN, Infinity),
    );
    const overridesArb = fc.dictionary(fc.oneof(fc.constantFrom(...KEYS), fc.constantFrom('toString', 'constructor', 'valueOf', 'hasOwnProperty', 'nope')), overrideValue, { maxKeys: 4 });
    fc.assert(
      fc.property(envArb, overridesArb, (env, overrides) => {
        const unknown = Object.keys(overrides).filter((k) => !Object.hasOwn(CONFIG_VARIABLES, k));
        if (unknown.length > 0) {
          expect(() => loadConfig(env, overrides as never)).toThrow(ConfigError);
          return;
        }
        attempt(() => loadConfig(env, overrides as never));
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });

  it('an empty environment gives the defaults', () => {
    expect(loadConfig({})).toEqual(DEFAULT_CONFIG);
  });
});
