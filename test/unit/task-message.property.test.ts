/**
 * Property-based tests of the task message decoder and the task path (issue 10): whatever text
 * sits on a task queue, `decodeTaskMessage` returns a usable message or throws `DecodeError`, and
 * a worker runs it or dead-letters it and keeps going; whatever a caller passes to `send`, it
 * resolves with a handle or rejects with an `EventBusError`. Seeded and bounded.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError, EventValidationError, isEventBusError } from '../../src/index.js';
import { decodeTaskMessage, taskKeys, type TaskMessage } from '../../src/tasks/message.js';
import { createTestSystem, waitUntil } from '../../src/testing/index.js';

const SEED = 20261202;
const PRIORITIES = ['low', 'normal', 'high', 'critical'] as const;
const nastyString = fc.oneof(fc.string(), fc.constantFrom('toString', '__proto__', 'constructor', 'valueOf', '', '\u0000'));
const anyValue = fc.oneof(fc.anything({ withBigInt: true, withDate: true, withMap: true, withNullPrototype: true, withSparseArray: true, withBoxedValues: true }), fc.constant(undefined));

const messageArb = (task: fc.Arbitrary<string>, queue: fc.Arbitrary<string>): fc.Arbitrary<TaskMessage> =>
  fc.record(
    {
      kind: fc.constant('task' as const),
      version: fc.constant(1),
      id: fc.uuid(),
      task,
      queue,
      args: fc.jsonValue(),
      correlationId: fc.string({ minLength: 1 }),
      priority: fc.constantFrom(...PRIORITIES),
      createdAt: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      maxRetries: fc.nat(5),
    },
    { requiredKeys: ['kind', 'version', 'id', 'task', 'queue', 'args', 'correlationId', 'priority', 'createdAt'] },
  );

const FIELDS = ['kind', 'version', 'id', 'task', 'queue', 'args', 'correlationId', 'priority', 'createdAt', 'maxRetries', '__proto__'];

/** Text from one task queue entry: valid messages, one field replaced, several mangled, any text. */
function textArb(task: fc.Arbitrary<string>, queue: fc.Arbitrary<string>, fields = FIELDS): fc.Arbitrary<string> {
  const valid = messageArb(task, queue);
  return fc.oneof(
    valid.map((m) => JSON.stringify(m)),
    fc.tuple(valid, fc.constantFrom(...fields), fc.oneof(nastyString, fc.jsonValue())).map(([m, k, v]) => JSON.stringify({ ...m, [k]: v })),
    fc.tuple(valid, fc.dictionary(fc.constantFrom(...fields), fc.option(fc.jsonValue(), { nil: undefined }))).map(([m, p]) => JSON.stringify({ ...m, ...p })),
    fc.json(),
    fc.string(),
  );
}

describe('decodeTaskMessage (property)', () => {
  it('returns a usable message or throws DecodeError, for any text', () => {
    fc.assert(
      fc.property(textArb(nastyString, nastyString, [...FIELDS, 'eta']), (text) => {
        let m: TaskMessage;
        try {
          m = decodeTaskMessage(text);
        } catch (err) {
          expect(err).toBeInstanceOf(DecodeError);
          return;
        }
        expect(m.kind).toBe('task');
        for (const f of ['id', 'task', 'queue', 'createdAt', 'correlationId'] as const) expect(typeof m[f]).toBe('string');
        expect(PRIORITIES).toContain(m.priority);
        if (m.maxRetries !== undefined) expect(Number.isInteger(m.maxRetries) && m.maxRetries >= 0).toBe(true);
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });
});

describe('the task path (property)', () => {
  it('a worker runs or dead-letters every entry of its queue, and keeps going', async () => {
    const bus = await createTestSystem({ taskEvents: false, config: { dlqMaxRetries: 0 } });
    try {
      let ran = 0;
      const echo = bus.tasks.define('prop.echo', { queue: 'prop', maxRetries: 0 }, (args) => {
        ran++;
        return args;
      });
      const worker = bus.worker({ queues: { prop: 1 } });
      await worker.start();
      const stream = taskKeys(bus.config.namespace).stream('prop');
      let sent = 0;
      // eta is left out here: a far-future eta would (rightly) wait.
      const body = textArb(fc.constantFrom('prop.echo', 'prop.echo', 'prop.missing', 'toString'), fc.constant('prop'));
      await fc.assert(
        fc.asyncProperty(fc.array(body, { minLength: 1, maxLength: 10 }), async (bodies) => {
          await bus.transport.publish(stream, bodies.map((b) => ({ body: b, priority: 1 })));
          sent += bodies.length;
          await waitUntil(async () => ran + (await bus.dlq.size()) >= sent, 10_000, 'every entry run or dead-lettered');
        }),
        { seed: SEED, numRuns: 30 },
      );
      expect(ran + (await bus.dlq.size())).toBe(sent);
      expect(ran).toBeGreaterThan(0);
      const r = await echo.delay({ still: 'working' });
      expect(await r.get({ timeoutMs: 10_000 })).toEqual({ still: 'working' });
    } finally {
      await bus.close();
    }
  });

  it('send resolves with a handle or rejects with an EventBusError, for any args and options', async () => {
    const bus = await createTestSystem({ taskEvents: false });
    try {
      bus.tasks.define('prop.any', { queue: 'prop-any' }, () => null);
      const options = fc.record(
        {
          eta: fc.oneof(fc.date(), fc.constant(new Date(NaN)), anyValue),
          countdownMs: fc.oneof(
            fc.integer({ min: -1e9, max: 1e9 }),
            fc.double(),
            fc.constantFrom(NaN, Infinity, -Infinity, 8.6e15, 8.64e15, Number.MAX_VALUE),
            anyValue,
          ),
          priority: fc.oneof(fc.constantFrom(...PRIORITIES), nastyString, anyValue),
          correlationId: fc.oneof(nastyString, anyValue),
          taskId: fc.oneof(nastyString, anyValue),
          queue: fc.oneof(nastyString, fc.constantFrom('prop-any', 'other'), anyValue),
          maxRetries: fc.oneof(fc.integer(), anyValue),
        },
        { requiredKeys: [] },
      );
      await fc.assert(
        fc.asyncProperty(fc.constantFrom('prop.any', 'prop.undefined', 'toString'), anyValue, options, async (name, args, o) => {
          let r;
          try {
            r = await bus.tasks.send(name, args, o as never);
          } catch (err) {
            if (!isEventBusError(err)) throw new Error(`not an EventBusError: ${String((err as Error)?.stack ?? err)}`);
            return;
          }
          // Accepted: then every option given was of its documented type (none coerced or dropped).
          expect(typeof r.id).toBe('string');
          const given = o as Record<string, unknown>;
          for (const k of ['queue', 'correlationId', 'taskId', 'priority'] as const) {
            if (given[k] !== undefined) expect(typeof given[k], k).toBe('string');
          }
          if (given.taskId !== undefined) expect(r.id).toBe(given.taskId);
          if (given.queue !== undefined) expect(r.queue).toBe(given.queue);
          if (given.countdownMs !== undefined) expect(Number.isFinite(given.countdownMs)).toBe(true);
          if (given.eta !== undefined) expect(given.eta instanceof Date && !Number.isNaN(given.eta.getTime())).toBe(true);
        }),
        { seed: SEED, numRuns: 300 },
      );
    } finally {
      await bus.close();
    }
  });
});

describe('send option validation (examples the property found)', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['a null-prototype queue', { queue: Object.create(null) }, 'queue'],
    ['a numeric queue', { queue: 5 }, 'queue'],
    ['a null queue', { queue: null }, 'queue'],
    ['an infinite countdown', { countdownMs: Infinity }, 'countdownMs'],
    ['a countdown past the last Date', { countdownMs: 8.7e15 }, 'countdownMs'],
    ['a null-prototype countdown', { countdownMs: Object.create(null) }, 'countdownMs'],
    ['a numeric string countdown', { countdownMs: '1000' }, 'countdownMs'],
    ['a numeric correlation id', { correlationId: 5 }, 'correlationId'],
    ['an empty correlation id', { correlationId: '' }, 'correlationId'],
    ['an invalid Date eta', { eta: new Date(NaN) }, 'eta'],
    ['a string eta', { eta: '2026-12-02T00:00:00Z' }, 'eta'],
    ['a null-prototype priority', { priority: Object.create(null) }, 'priority'],
    ["priority 'toString'", { priority: 'toString' }, 'priority'],
    ['a numeric task id', { taskId: 5 }, 'taskId'],
    ['a null-prototype task id', { taskId: Object.create(null) }, 'taskId'],
  ];
  it.each(cases)('rejects %s with an EventValidationError naming the option', async (_label, options, path) => {
    const bus = await createTestSystem({ taskEvents: false });
    try {
      bus.tasks.define('opt.t', { queue: 'opt' }, () => null);
      const err = await bus.tasks.send('opt.t', {}, options as never).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(EventValidationError);
      expect((err as EventValidationError).issues.map((i) => i.path)).toContain(path);
      expect((err as Error).message).toContain(`${path}: must`);
    } finally {
      await bus.close();
    }
  });

  it('rejects options that are not an object', async () => {
    const bus = await createTestSystem({ taskEvents: false });
    try {
      bus.tasks.define('opt.t', { queue: 'opt' }, () => null);
      await expect(bus.tasks.send('opt.t', {}, null as never)).rejects.toBeInstanceOf(EventValidationError);
      await expect(bus.tasks.sendMany('opt.t', [{}], null as never)).rejects.toBeInstanceOf(EventValidationError);
      expect(() => bus.tasks.define('opt.u', { queue: Object.create(null) }, () => null)).toThrow(EventValidationError);
    } finally {
      await bus.close();
    }
  });
});
