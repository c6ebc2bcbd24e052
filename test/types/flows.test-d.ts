/**
 * Type tests of flows (issue 15, "Flows"): signatures are typed by the task's arguments, and a
 * flow's handle by its result (a chain's last step, a group's tuple, a chord's callback). Every
 * `@ts-expect-error` must stay an error.
 */
import { describe, expectTypeOf, it } from 'vitest';
import { chainSig, chordSig, groupSig, type EventSystem, type FlowResult, type TaskSignature } from '@procur/event-bus';

declare const bus: EventSystem;
const add = bus.tasks.define('add', {}, async ([a, b]: [number, number]) => a + b);
const double = bus.tasks.define('double', {}, async (n: number) => n * 2);
const label = bus.tasks.define('label', {}, async (n: number) => `#${n}`);
const join = bus.tasks.define('join', {}, async (parts: string[]) => parts.join(','));

describe('signatures', () => {
  it('are typed by the task arguments and result', () => {
    expectTypeOf(add.sig([1, 2])).toEqualTypeOf<TaskSignature<[number, number], number>>();
    // A partial signature of a task taking an array: the arguments after the first.
    expectTypeOf(add.sig([1])).toEqualTypeOf<TaskSignature<[number, number], number>>();
    // An open signature: the previous result becomes the arguments.
    expectTypeOf(double.sig()).toEqualTypeOf<TaskSignature<number, number>>();
    expectTypeOf(double.si(3)).toEqualTypeOf<TaskSignature<number, number>>();
    // @ts-expect-error: the arguments of double are a number
    double.sig('three');
    // @ts-expect-error: add takes two numbers
    add.sig(['x']);
    // @ts-expect-error: si has no immutable option (it is immutable)
    double.si(3, { immutable: false });
    double.sig(3, { immutable: true, countdownMs: 100, priority: 'high' });
    // @ts-expect-error: an unknown priority
    double.sig(3, { priority: 'urgent' });
  });
});

describe('flows', () => {
  it('chain resolves to its last step result', async () => {
    const flow = await bus.tasks.chain([add.sig([1, 2]), double.sig(), label.sig()]);
    expectTypeOf(flow).toEqualTypeOf<FlowResult<string>>();
    expectTypeOf(await flow.get({ timeoutMs: 1000 })).toEqualTypeOf<string>();
  });

  it('group resolves to its members results in order', async () => {
    const flow = await bus.tasks.group([double.sig(1), label.sig(2)]);
    expectTypeOf(await flow.get()).toEqualTypeOf<[number, string]>();
  });

  it('chord resolves to its callback result; nested flows carry their result type', async () => {
    expectTypeOf(await (await bus.tasks.chord([label.sig(1), label.sig(2)], join.sig())).get()).toEqualTypeOf<string>();
    expectTypeOf(groupSig([double.sig(1), label.sig(1)]).__result).toEqualTypeOf<[number, string] | undefined>();
    expectTypeOf(chainSig([double.sig(1), label.sig()]).__result).toEqualTypeOf<string | undefined>();
    expectTypeOf(chordSig([double.sig(1)], join.sig()).__result).toEqualTypeOf<string | undefined>();
    const nested = await bus.tasks.chain([double.sig(1), groupSig([double.sig(), label.sig()]), join.sig()]);
    expectTypeOf(await nested.get()).toEqualTypeOf<string>();
    expectTypeOf(await nested.status()).toEqualTypeOf<'PENDING' | 'RECEIVED' | 'STARTED' | 'RETRY' | 'SUCCESS' | 'FAILURE' | 'REVOKED' | 'EXPIRED'>();
  });

  it('refuses what is not a step', () => {
    // @ts-expect-error: a string is not a signature
    void bus.tasks.chain(['double']);
  });
});
