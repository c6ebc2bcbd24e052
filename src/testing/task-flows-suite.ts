/**
 * The flows conformance suite: `task.sig`, `bus.tasks.chain`, `group` and `chord` on a given
 * transport. {@link describeTaskQueue} runs it, so every transport of the package runs it.
 *
 * @module
 */
import { afterEach, describe, expect, test } from 'vitest';
import { z } from 'zod';
import {
  EventValidationError,
  FlowFailedError,
  TaskRevokedError,
  TaskTimeoutError,
  chainSig,
  createEventSystem,
  groupSig,
  memoryStore,
  priorityRank,
  silentLogger,
  type EventSystem,
  type TaskSignature,
  type Transport,
} from '@procur/event-bus';
import { sleep } from '@procur/event-bus/adapter-kit';
import { waitUntil } from './helpers.js';
import type { TaskTransportFactory } from './task-suite.js';
import { uniqueName } from './transport-suite.js';

/**
 * Runs the flows conformance suite against a transport. Each test gets its own transport (from
 * `factory`), its own namespace and a memory store.
 *
 * @example
 * ```ts
 * describeTaskFlows('memory', () => ({ transport: memoryTransport() }));
 * ```
 */
export function describeTaskFlows(name: string, factory: TaskTransportFactory): void {
  describe(`task flows conformance: ${name}`, () => {
    const systems: EventSystem[] = [];
    const teardowns: (() => Promise<void>)[] = [];
    let transport: Transport;
    let namespace: string;

    async function system(): Promise<EventSystem> {
      if (systems.length === 0) {
        const made = await factory();
        transport = made.transport;
        if (made.teardown) teardowns.push(made.teardown);
        namespace = uniqueName('flow');
      }
      const bus = await createEventSystem({
        transport,
        store: memoryStore(),
        logger: silentLogger,
        env: {},
        outbox: false,
        taskEvents: false,
        builtins: false,
        config: { namespace, retryBackoffMs: 20, retryBackoffMaxMs: 200, eventBlockTime: 100, claimIdleMs: 5000, workerHeartbeatMs: 100 },
      });
      systems.push(bus);
      return bus;
    }

    afterEach(async () => {
      for (const bus of systems.splice(0)) await bus.close().catch(() => {});
      for (const t of teardowns.splice(0)) await t().catch(() => {});
    });

    /** The tasks of most cases, on queue `flow`, with a count of runs per task. */
    function define(bus: EventSystem) {
      const runs: Record<string, number> = {};
      const count = (n: string) => (runs[n] = (runs[n] ?? 0) + 1);
      const add = bus.tasks.define('add', { queue: 'flow' }, async ([a, b]: [number, number]) => {
        count('add');
        return a + b;
      });
      const double = bus.tasks.define('double', { queue: 'flow' }, async (n: number) => {
        count('double');
        return n * 2;
      });
      const sum = bus.tasks.define('sum', { queue: 'flow' }, async (ns: number[]) => {
        count('sum');
        return ns.reduce((x, y) => x + y, 0);
      });
      const echo = bus.tasks.define('echo', { queue: 'flow' }, async (v: unknown) => {
        count('echo');
        return v;
      });
      return { runs, add, double, sum, echo };
    }

    test('chain: each result goes to the next step (open signature: as its args; partial: prepended)', async () => {
      const bus = await system();
      const { add, double } = define(bus);
      await bus.worker({ queues: { flow: 2 } }).start();
      // add(2, 3) = 5 -> double(5) = 10 -> add(10, 10) = 20
      const flow = await bus.tasks.chain([add.sig([2, 3]), double.sig(), add.sig([10])]);
      expect(await flow.get({ timeoutMs: 10_000 })).toBe(20);
      expect(await flow.status()).toBe('SUCCESS');
      const steps = await flow.steps();
      expect(steps.map((s) => [s.path, s.task, s.taskId, s.state])).toEqual([
        ['0', 'add', `${flow.id}.0`, 'SUCCESS'],
        ['1', 'double', `${flow.id}.1`, 'SUCCESS'],
        ['2', 'add', `${flow.id}.2`, 'SUCCESS'],
      ]);
      expect(steps[2]?.info?.args).toEqual([10, 10]);
    });

    test('an immutable signature ignores the previous result (si, and { immutable: true })', async () => {
      const bus = await system();
      const { double, echo } = define(bus);
      await bus.worker({ queues: { flow: 1 } }).start();
      const flow = await bus.tasks.chain([double.sig(4), echo.si('fixed'), double.sig(7, { immutable: true })]);
      expect(await flow.get({ timeoutMs: 10_000 })).toBe(14);
      const steps = await flow.steps();
      expect(steps.map((s) => s.info?.args)).toEqual([4, 'fixed', 7]);
      expect(steps.map((s) => s.info?.result)).toEqual([8, 'fixed', 14]);
    });

    test('a signature is plain JSON: one parsed back from JSON runs the same', async () => {
      const bus = await system();
      const { add, double } = define(bus);
      await bus.worker({ queues: { flow: 1 } }).start();
      const sigs = JSON.parse(JSON.stringify([add.sig([1, 1]), double.sig()])) as TaskSignature[];
      expect(sigs[1]).toEqual({ kind: 'task', task: 'double', queue: 'flow', immutable: false, options: {} });
      expect(await (await bus.tasks.chain(sigs)).get({ timeoutMs: 10_000 })).toBe(4);
    });

    test('a step that would get a result it cannot take is refused when the flow is sent, naming it; nothing is sent', async () => {
      const bus = await system();
      const { double, echo } = define(bus);
      const err = await bus.tasks.chain([double.sig(1), echo.sig({ not: 'an array' })]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EventValidationError);
      expect((err as Error).message).toMatch(/steps\[1\]\.args/);
      expect((err as Error).message).toMatch(/immutable/);
      await expect(bus.tasks.chain([])).rejects.toThrow(/at least one step/);
      await expect(bus.tasks.group([{ kind: 'nope' } as never])).rejects.toThrow(/steps\[0\]/);
      expect((await bus.tasks.queueInfo('flow')).length).toBe(0);
    });

    test('arguments complete when the flow is sent are checked against the task schema then', async () => {
      const bus = await system();
      const typed = bus.tasks.define('typed_step', { queue: 'flow', schema: z.object({ id: z.string() }) }, async (a: { id: string }) => a.id);
      await expect(bus.tasks.group([typed.sig({ id: 1 } as never)])).rejects.toThrow(/steps\[0\]\.args\.id/);
      expect((await bus.tasks.queueInfo('flow')).length).toBe(0);
    });

    test('group: members run in parallel and the results come in the order of the steps', async () => {
      const bus = await system();
      const nap = bus.tasks.define('nap', { queue: 'flow' }, async (ms: number) => {
        await sleep(ms);
        return ms;
      });
      await bus.worker({ queues: { flow: 4 } }).start();
      const flow = await bus.tasks.group([nap.sig(300), nap.sig(200), nap.sig(100), nap.sig(0)]);
      expect(await flow.get({ timeoutMs: 10_000 })).toEqual([300, 200, 100, 0]);
      expect(flow.name).toBe('group');
      expect((await flow.steps()).map((s) => s.path)).toEqual(['0', '1', '2', '3']);
    });

    test('chord: the callback gets the list of the header results, once, after a member retried', async () => {
      const bus = await system();
      const { runs, double, sum } = define(bus);
      let tries = 0;
      const flaky = bus.tasks.define('flaky_member', { queue: 'flow', maxRetries: 2 }, async (n: number, ctx) => {
        tries++;
        if (ctx.attempt === 1) throw new Error('first try fails');
        return n;
      });
      await bus.worker({ queues: { flow: 3 } }).start();
      const flow = await bus.tasks.chord([double.sig(1), flaky.sig(5), double.sig(3)], sum.sig());
      expect(await flow.get({ timeoutMs: 10_000 })).toBe(2 + 5 + 6);
      expect(tries).toBe(2);
      await sleep(200);
      expect(runs.sum).toBe(1);
      expect((await flow.steps()).map((s) => [s.path, s.task])).toEqual([
        ['0.0', 'double'],
        ['0.1', 'flaky_member'],
        ['0.2', 'double'],
        ['1', 'sum'],
      ]);
      expect((await flow.steps())[3]?.info?.args).toEqual([2, 5, 6]);
    });

    test('a chord member delivered several times (a redelivery) is recorded once: the callback runs once, with each result once', async () => {
      const bus = await system();
      const { runs, double, sum } = define(bus);
      const flow = await bus.tasks.chord([double.sig(1), double.sig(2), double.sig(3)], sum.sig());
      // Two more deliveries of member 0.0, as a redelivery after a crash would give (the same
      // message: same task id, same flow reference), before any worker runs.
      const body = JSON.stringify({ kind: 'task', version: 1, id: `${flow.id}.0.0`, task: 'double', queue: 'flow', args: 1, correlationId: flow.id, priority: 'normal', createdAt: new Date().toISOString(), flow: { id: flow.id, node: '0.0' } });
      await bus.transport.publish(`${namespace}:tasks:flow`, [{ body, priority: priorityRank('normal') }, { body, priority: priorityRank('normal') }]);
      await bus.worker({ queues: { flow: 3 } }).start();
      expect(await flow.get({ timeoutMs: 10_000 })).toBe(12);
      await waitUntil(() => runs.double === 5, 5000, 'every delivery run');
      await sleep(300);
      expect(runs.sum).toBe(1);
      expect((await flow.steps())[3]?.info?.args).toEqual([2, 4, 6]);
    });

    test('a step that fails after its retries fails the flow with the step named; later steps never run', async () => {
      const bus = await system();
      const { runs, double } = define(bus);
      const boom = bus.tasks.define('boom', { queue: 'flow', maxRetries: 1 }, async () => {
        throw new Error('renderer crashed');
      });
      await bus.worker({ queues: { flow: 1 } }).start();
      const flow = await bus.tasks.chain([double.sig(1), boom.sig(), double.sig()]);
      const err = await flow.get({ timeoutMs: 10_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FlowFailedError);
      expect((err as FlowFailedError).code).toBe('ERR_TASK_FAILED');
      expect((err as FlowFailedError).step).toEqual({ path: '1', task: 'boom', taskId: `${flow.id}.1` });
      expect((err as Error).message).toMatch(/step 1 'boom'.*renderer crashed/);
      expect(await flow.status()).toBe('FAILURE');
      await sleep(200);
      expect(runs.double).toBe(1);
      const steps = await flow.steps();
      expect(steps.map((s) => s.state)).toEqual(['SUCCESS', 'FAILURE', 'PENDING']);
      expect(steps[1]?.info?.attempt).toBe(2);
      expect(steps[2]?.info).toBeUndefined();
    });

    test("a result the next step's schema refuses fails the flow, naming that step", async () => {
      const bus = await system();
      const { double } = define(bus);
      const strict = bus.tasks.define('strict', { queue: 'flow', schema: z.string() }, async (s: string) => s);
      await bus.worker({ queues: { flow: 1 } }).start();
      const flow = await bus.tasks.chain([double.sig(2), strict.sig()]);
      const err = await flow.get({ timeoutMs: 10_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FlowFailedError);
      expect((err as FlowFailedError).step.task).toBe('strict');
      expect((err as Error).message).toMatch(/step 1 'strict'.*could not be sent/);
      // In a group, the member that refuses it is the one named.
      const nested = await bus.tasks.chain([double.sig(2), groupSig([double.sig(), strict.sig()])]);
      const err2 = await nested.get({ timeoutMs: 10_000 }).catch((e: unknown) => e);
      expect((err2 as FlowFailedError).step).toEqual({ path: '1.1', task: 'strict', taskId: `${nested.id}.1.1` });
    });

    test('revoking a flow aborts the running step and no step after it runs', async () => {
      const bus = await system();
      const { runs, double } = define(bus);
      let started = false;
      let aborted = false;
      const hold = bus.tasks.define('hold', { queue: 'flow' }, (_a: null, ctx) =>
        new Promise<number>((resolve) => {
          started = true;
          ctx.signal.addEventListener('abort', () => {
            aborted = true;
            resolve(1);
          });
        }),
      );
      await bus.worker({ queues: { flow: 2 } }).start();
      const flow = await bus.tasks.chain([double.sig(1), hold.si(null), double.sig(), double.sig()]);
      await waitUntil(() => started, 5000, 'the second step running');
      expect(await flow.status()).toBe('STARTED');
      expect((await flow.steps()).map((s) => s.state)).toEqual(['SUCCESS', 'STARTED', 'PENDING', 'PENDING']);
      expect(await flow.revoke()).toBe(true);
      await expect(flow.get({ timeoutMs: 5000 })).rejects.toBeInstanceOf(TaskRevokedError);
      await waitUntil(() => aborted, 5000, 'the running step aborted');
      await sleep(300);
      expect(runs.double).toBe(1);
      expect(await flow.status()).toBe('REVOKED');
      expect((await flow.steps()).map((s) => s.state)).toEqual(['SUCCESS', 'REVOKED', 'REVOKED', 'REVOKED']);
      expect(await flow.revoke()).toBe(false);
    });

    test('revoking a running step by its task id revokes its flow; nothing after it runs', async () => {
      const bus = await system();
      const { runs, double } = define(bus);
      let started = false;
      const hold = bus.tasks.define('hold_step', { queue: 'flow' }, (_a: null, ctx) =>
        new Promise<number>((resolve) => {
          started = true;
          ctx.signal.addEventListener('abort', () => resolve(1));
        }),
      );
      await bus.worker({ queues: { flow: 1 } }).start();
      const flow = await bus.tasks.chain([hold.si(null), double.sig()]);
      await waitUntil(() => started, 5000, 'the first step running');
      expect(await bus.tasks.result(`${flow.id}.0`).revoke()).toBe(true);
      await expect(flow.get({ timeoutMs: 5000 })).rejects.toBeInstanceOf(TaskRevokedError);
      await sleep(300);
      expect(runs.double).toBeUndefined();
    });

    test('get() of a flow no worker runs rejects TaskTimeoutError', async () => {
      const bus = await system();
      const { double } = define(bus);
      const flow = await bus.tasks.chain([double.sig(1), double.sig()]);
      const err = await flow.get({ timeoutMs: 300 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TaskTimeoutError);
      expect((err as TaskTimeoutError).code).toBe('ERR_TIMEOUT');
      expect(await flow.status()).toBe('PENDING');
    });

    test('nested: a group inside a chain gets the previous result, and a group of chains', async () => {
      const bus = await system();
      const { add, double, sum } = define(bus);
      await bus.worker({ queues: { flow: 4 } }).start();
      // double(1) = 2 -> [double(2) = 4, add(2, 1) = 3] -> sum([4, 3]) = 7
      const flow = await bus.tasks.chain([double.sig(1), groupSig([double.sig(), add.sig([1])]), sum.sig()]);
      expect(await flow.get({ timeoutMs: 10_000 })).toBe(7);
      expect((await flow.steps()).map((s) => s.path)).toEqual(['0', '1.0', '1.1', '2']);
      const g = await bus.tasks.group([chainSig([double.sig(1), double.sig()]), chainSig([add.sig([1, 2]), double.sig()]), double.sig(10)]);
      expect(await g.get({ timeoutMs: 10_000 })).toEqual([4, 6, 20]);
    });

    // The sender defines nothing and runs no worker: the continuation is the workers'. (That it
    // survives the sender's exit and a worker's SIGKILL is test/e2e/redis-flows-multiprocess.test.ts.)
    test('the workers carry a flow on: a producer-only system sends it, another system finishes it and reads it by id', async () => {
      const sender = await system();
      const workerBus = await system();
      const { double } = define(workerBus);
      const flow = await sender.tasks.chain([double.sig(1), double.sig(), double.sig()]);
      await workerBus.worker({ queues: { flow: 1 } }).start();
      expect(await workerBus.tasks.flow<number>(flow.id).get({ timeoutMs: 10_000 })).toBe(8);
    });

    test('a flow id is an idempotency key: sending it twice runs the flow once', async () => {
      const bus = await system();
      const { runs, double } = define(bus);
      await bus.worker({ queues: { flow: 2 } }).start();
      const flowId = uniqueName('order-7');
      const [a, b] = await Promise.all([bus.tasks.chain([double.sig(1), double.sig()], { flowId }), bus.tasks.chain([double.sig(1), double.sig()], { flowId })]);
      expect(a.id).toBe(flowId);
      expect(b.id).toBe(flowId);
      expect(await a.get({ timeoutMs: 10_000 })).toBe(4);
      expect(await b.get({ timeoutMs: 10_000 })).toBe(4);
      await sleep(200);
      expect(runs.double).toBe(2);
    });
  });
}
