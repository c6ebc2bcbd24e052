import {
  TimeoutError,
  createEventSystem,
  memoryStore,
  memoryTransport,
  silentLogger,
  type BusHooks,
  type EventEnvelope,
  type CheckedEventRef,
  type EventRef,
  type EventSystem,
  type EventSystemOptions,
  type HandlerData,
} from '@procur/event-bus';
import { sleep } from '@procur/event-bus/adapter-kit';

/**
 * An in-memory event system tuned for tests: memory transport and store, silent logger, fast
 * retries (10 ms doubling to 100 ms), short reads, and no outbox timer. Options override.
 *
 * @example
 * ```ts
 * const bus = await createTestSystem();
 * afterEach(() => bus.close());
 * ```
 */
export async function createTestSystem(options: EventSystemOptions = {}): Promise<EventSystem> {
  return createEventSystem({
    transport: options.transport ?? memoryTransport(),
    store: options.store ?? memoryStore(),
    logger: silentLogger,
    outbox: false,
    env: {},
    ...options,
    config: {
      retryBackoffMs: 10,
      retryBackoffMaxMs: 100,
      eventBlockTime: 50,
      claimIdleMs: 1000,
      ...options.config,
    },
  });
}

/** Options of {@link waitForEvent}. @typeParam TData - the payload type of the awaited event. */
export interface WaitForEventOptions<TData = unknown> {
  /** Which hook to watch: the event was published, or a handler finished it. @default 'handled' */
  hook?: 'published' | 'handled' | 'dead-lettered';
  /** Only an event for which this returns true. */
  predicate?: (event: EventEnvelope<TData>) => boolean;
  /** Reject with `TimeoutError` after this many ms. @default 5000 */
  timeoutMs?: number;
}

/**
 * Resolves with the first event of `type` that passes the hook (`'handled'` by default) from now
 * on. Subscribe before you publish. `type` is a catalog type, a `defineEvent` definition or its
 * `.type`, or a name; the event's `data` is typed by it.
 *
 * @throws `TimeoutError` when none comes within `timeoutMs`.
 */
export function waitForEvent<const R extends EventRef>(
  bus: EventSystem,
  ref: CheckedEventRef<R>,
  options: WaitForEventOptions<HandlerData<R>> = {},
): Promise<EventEnvelope<HandlerData<R>>> {
  const type = typeof ref === 'object' && ref !== null ? (ref as { type: string }).type : (ref as string);
  const hook = options.hook ?? 'handled';
  const timeoutMs = options.timeoutMs ?? 5000;
  return new Promise((resolve, reject) => {
    const off = bus.on(hook, (payload: BusHooks['published'] | BusHooks['handled'] | BusHooks['dead-lettered']) => {
      const event = payload.event;
      if (!event || event.type !== type) return;
      if (options.predicate && !options.predicate(event as EventEnvelope<HandlerData<R>>)) return;
      clearTimeout(timer);
      off();
      resolve(event as EventEnvelope<HandlerData<R>>);
    });
    const timer = setTimeout(() => {
      off();
      reject(new TimeoutError(`[event-bus:testing] No '${type}' event reached '${hook}' within ${timeoutMs} ms`));
    }, timeoutMs);
    timer.unref?.();
  });
}

/**
 * Waits until the events stream is quiet: no backlog, nothing pending or waiting for a retry in
 * any group, nothing delayed. Checks every 10 ms.
 *
 * @throws `TimeoutError` when it is still busy after `timeoutMs` (default 5000).
 */
export async function drain(bus: EventSystem, options: { timeoutMs?: number; stream?: string } = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  for (;;) {
    const info = await bus.transport.info(options.stream ?? bus.config.eventStreamName);
    const busy = info.delayed + info.groups.reduce((n, g) => n + g.pending + g.lag + g.retrying, 0);
    if (busy === 0) return;
    if (Date.now() > deadline) {
      throw new TimeoutError(`[event-bus:testing] Stream '${info.stream}' still has ${busy} message(s) in flight`);
    }
    await sleep(10);
  }
}

/** Collects the payloads of a hook into an array until the returned `stop()` is called. */
export function collect<K extends 'published' | 'handled' | 'failed' | 'dead-lettered'>(
  bus: EventSystem,
  hook: K,
): { items: BusHooks[K][]; stop: () => void } {
  const items: BusHooks[K][] = [];
  const stop = bus.on(hook, (p) => items.push(p));
  return { items, stop };
}

/**
 * Polls `check` every 10 ms until it returns true.
 *
 * @throws `TimeoutError` naming `what` when it is still false after `timeoutMs`.
 * @example
 * ```ts
 * await waitUntil(async () => (await bus.dlq.size()) === 1, 5000, 'the poison event in the DLQ');
 * ```
 */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new TimeoutError(`[event-bus:testing] ${what} not met within ${timeoutMs} ms`);
    await sleep(10);
  }
}
