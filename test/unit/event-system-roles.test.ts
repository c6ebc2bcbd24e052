import { afterEach, describe, expect, it } from 'vitest';
import { memoryTransport } from '../../adapters/memory/memory-transport.js';
import { ConfigError, EventType, createEventSystem, isEventBusError, silentLogger, type EventSystem, type Transport } from '../../src/index.js';
import { waitUntil } from '../../src/testing/index.js';

let bus: EventSystem | undefined;
afterEach(async () => {
  await bus?.close();
  bus = undefined;
});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (err: unknown) => err,
  );
}

/** A transport that declares only some roles (its other methods exist but must not be used). */
function withFeatures(t: Transport, features: Partial<Transport['features']>): Transport {
  return Object.assign(Object.create(t) as Transport, { features: { ...t.features, ...features } });
}

describe('createEventSystem roles', () => {
  it('takes streams from one adapter and key-value and signals from another', async () => {
    const streams = memoryTransport();
    const coordination = memoryTransport();
    bus = await createEventSystem({ streams, keyValue: coordination, signals: coordination, admin: streams, logger: silentLogger });
    expect(bus.transport.name).toBe('memory');
    const double = bus.tasks.define('double', { queue: 'math' }, async (n: number) => n * 2);
    const worker = bus.worker({ queues: { math: 1 } });
    await worker.start();
    const result = await double.applyAsync(21);
    expect(await result.get({ timeoutMs: 10_000 })).toBe(42);
    // The task went over the streams adapter, its state over the key-value adapter.
    expect((await streams.info((await bus.inspect.queues()).math!.stream)).length).toBeGreaterThan(0);
    expect((await coordination.kvScan('')).length).toBeGreaterThan(0);
    expect(await streams.kvScan('')).toEqual([]);
    // Events flow over the streams adapter too.
    const got: string[] = [];
    const c = bus.consumer('audit');
    c.registerHandler(EventType.REQUEST_CREATED, (e) => {
      got.push(e.data.requestId);
    });
    await c.start();
    await bus.publisher.publish({ type: EventType.REQUEST_CREATED, data: { requestId: 'r1', description: 'x', budgetMax: 1 } });
    await waitUntil(() => got.length === 1, 10_000);
    await bus.close();
    // close() closes every adapter once.
    expect(isEventBusError(await rejection(streams.kvGet('k')), 'ERR_CLOSED')).toBe(true);
    expect(isEventBusError(await rejection(coordination.kvGet('k')), 'ERR_CLOSED')).toBe(true);
  });

  it('a role option wins over transport for that role only', async () => {
    const transport = memoryTransport();
    const keyValue = memoryTransport();
    bus = await createEventSystem({ transport, keyValue, logger: silentLogger });
    await bus.transport.kvSet('k', 'v');
    expect(await keyValue.kvGet('k')).toBe('v');
    expect(await transport.kvGet('k')).toBeNull();
    await bus.transport.publish('s', [{ body: 'b' }]);
    expect((await transport.info('s')).length).toBe(1);
  });

  it('uses transport itself when no role option is given', async () => {
    const transport = memoryTransport();
    bus = await createEventSystem({ transport, logger: silentLogger });
    expect(bus.transport).toBe(transport);
  });

  it('refuses a missing role with a ConfigError naming the option', async () => {
    const streams = memoryTransport();
    const err = await rejection(createEventSystem({ streams, logger: silentLogger }));
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe('keyValue');
    expect((err as Error).message).toMatch(/keyValue, signals/);
    await streams.close();
  });

  it('refuses an adapter that does not declare the role it is given for', async () => {
    const streams = memoryTransport();
    const noKv = withFeatures(memoryTransport(), { keyValue: false });
    const err = await rejection(createEventSystem({ streams, keyValue: noKv, signals: streams, logger: silentLogger }));
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe('keyValue');
    expect((err as Error).message).toMatch(/features\.keyValue is false/);
    const err2 = await rejection(createEventSystem({ transport: withFeatures(memoryTransport(), { signals: false }), logger: silentLogger }));
    expect(err2).toBeInstanceOf(ConfigError);
    expect((err2 as ConfigError).variable).toBe('transport');
    await streams.close();
  });

  it('without an admin role, info and purge reject with ConfigError and the rest runs', async () => {
    const streams = withFeatures(memoryTransport(), { admin: false });
    const coordination = memoryTransport();
    bus = await createEventSystem({ streams, keyValue: coordination, signals: coordination, logger: silentLogger });
    expect(bus.transport.features.admin).toBe(false);
    expect(await rejection(bus.transport.info('s'))).toBeInstanceOf(ConfigError);
    expect(await rejection(bus.tasks.purge('q'))).toBeInstanceOf(ConfigError);
    await bus.transport.publish('s', [{ body: 'b' }]);
    await bus.close();
    expect(isEventBusError(await rejection(bus.transport.info('s')), 'ERR_CLOSED')).toBe(true);
  });
});
