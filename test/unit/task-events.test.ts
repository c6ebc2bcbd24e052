import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeEnvelope } from '../../src/events/envelope.js';
import { encodeTaskEvent, taskEventEnvelope } from '../../src/tasks/task-events.js';
import { TaskEventType } from '../../src/tasks/names.js';

const priority = fc.constantFrom('low' as const, 'normal' as const, 'high' as const, 'critical' as const);
const extraValue = fc.oneof(fc.string(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(undefined));

describe('task lifecycle event text', () => {
  it('is the JSON of the envelope, key for key and in order, for any strings and extras', () => {
    fc.assert(
      fc.property(
        fc.record({ id: fc.string({ minLength: 1 }), task: fc.string({ minLength: 1 }), queue: fc.string({ minLength: 1 }), correlationId: fc.string(), priority }),
        fc.dictionary(fc.constantFrom('attempt', 'worker', 'runtimeMs', 'error', 'retryInMs', 'eta', 'weird "key"'), extraValue),
        fc.string(),
        fc.option(fc.string(), { nil: undefined }),
        fc.constantFrom(...Object.values(TaskEventType)),
        (msg, extra, id, source, type) => {
          const text = encodeTaskEvent(id, type, msg, extra, '2026-12-02T17:00:00.000Z', source);
          expect(text).toBe(encodeEnvelope(taskEventEnvelope(id, type, msg, extra, '2026-12-02T17:00:00.000Z', source)));
        },
      ),
    );
  });

  it('stays the JSON of the envelope when one message is encoded again', () => {
    fc.assert(
      fc.property(
        fc.record({ id: fc.string({ minLength: 1 }), task: fc.string({ minLength: 1 }), queue: fc.string({ minLength: 1 }), correlationId: fc.string(), priority }),
        fc.array(fc.tuple(fc.constantFrom(...Object.values(TaskEventType)), fc.dictionary(fc.constantFrom('attempt', 'worker', 'runtimeMs'), extraValue)), { minLength: 2, maxLength: 4 }),
        (msg, events) => {
          for (const [type, extra] of events) {
            expect(encodeTaskEvent('e', type, msg, extra, 'at', 'src')).toBe(encodeEnvelope(taskEventEnvelope('e', type, msg, extra, 'at', 'src')));
          }
        },
      ),
    );
  });

  it('leaves what it does not build directly to the envelope encoder', () => {
    const msg = { id: 't1', task: 'n', queue: 'q', correlationId: 'c', priority: 'normal' as const };
    expect(encodeTaskEvent('e', TaskEventType.FAILED, msg, { error: { message: 'x' } }, 'now', undefined)).toBeUndefined();
    expect(encodeTaskEvent('e', TaskEventType.FAILED, msg, { runtimeMs: Number.NaN }, 'now', undefined)).toBeUndefined();
    expect(encodeTaskEvent('e', TaskEventType.FAILED, msg, { name: 'other' }, 'now', undefined)).toBeUndefined();
    expect(encodeTaskEvent('e', TaskEventType.SENT, { ...msg, priority: undefined as never }, {}, 'now', undefined)).toBeUndefined();
  });
});
