import { TaskTimeoutError } from '../errors.js';
import type { SystemContext } from '../context.js';
import type { Unsubscribe } from '../contracts/transport.js';
import type { TaskInfo } from './message.js';
import { FINAL_TASK_STATES, parseTaskStates, type TaskKeys } from './names.js';
import { releaseDedupe } from './dedupe.js';

const ignore = (): void => {};

interface PendingWrite {
  info: TaskInfo;
  /** Its JSON, built at the flush (only for what is stored or announced). */
  text?: string;
  persist: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Options of {@link TaskStates.write}. @internal */
export interface TaskStateWriteOptions {
  /**
   * Store the state under the task's key (kept `taskResultTtlMs`), as well as announcing it.
   * `false` only announces it (a transient step such as `STARTED`, or a result with
   * `ignoreResult`). @default true
   */
  persist?: boolean;
}

/**
 * The one owner of task state. Workers, revokes and sends write a task's state here; `get()`,
 * `status()`, `info()` and the dashboard read and watch it here. The state of a task is one JSON
 * {@link TaskInfo} under `<ns>:task:<id>` in the transport's key-value part, kept
 * `taskResultTtlMs`; every change is announced on a channel, final states on
 * `<ns>:task-done` (what `get()` waits for), the others on `<ns>:task-state`.
 *
 * The task lifecycle events (`<ns>:task-events`, stored in the event store) are the audit trail
 * of these changes, not a second copy to rebuild state from.
 *
 * @internal
 */
export class TaskStates {
  private pending: PendingWrite[] = [];
  private flushing: Promise<void> | undefined;
  private readonly waiters = new Map<string, Set<(info: TaskInfo) => void>>();
  private readonly watchers = new Set<(info: TaskInfo) => void>();
  private listening: Promise<Unsubscribe[]> | undefined;

  constructor(
    private readonly ctx: SystemContext,
    private readonly keys: TaskKeys,
    /** Announce transient, unpersisted steps (sent, started): on with task events. */
    private readonly announceTransient: boolean,
  ) {}

  /** A task's state, or `undefined` when nothing is recorded (pending, expired, or unreadable). */
  async read(id: string): Promise<TaskInfo | undefined> {
    const raw = await this.ctx.transport.kvGet(this.keys.state(id));
    if (raw === null) return undefined;
    const list = parseTaskStates(raw);
    return list.length === 1 ? list[0] : undefined;
  }

  /**
   * Records a task's state: stores it (unless `persist: false`) and announces it to every
   * process. States written in one turn of the event loop (many tasks finishing together) go out
   * together: one multi-key write and one notification per channel carrying all of them. A
   * transient step (not final, not persisted) is dropped when announcements are off.
   */
  write(info: TaskInfo, options: TaskStateWriteOptions = {}): Promise<void> {
    const persist = options.persist ?? true;
    if (!persist && !this.announceTransient && !FINAL_TASK_STATES.has(info.state)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ info, persist, resolve, reject });
      this.flushing ??= new Promise<void>((r) => setImmediate(r)).then(() => this.flush());
    });
  }

  /**
   * Announces transient states of many tasks at once (the `PENDING` of a bulk send) with the
   * next flush, best effort: as {@link write} with `persist: false`, without a promise per state.
   * Nothing when announcements are off.
   */
  announce(infos: readonly TaskInfo[]): void {
    if (!this.announceTransient || infos.length === 0) return;
    for (const info of infos) this.pending.push({ info, persist: false, resolve: ignore, reject: ignore });
    this.flushing ??= new Promise<void>((r) => setImmediate(r)).then(() => this.flush());
  }

  /**
   * Records `info` (a `PENDING` state) only if the task has no state yet: the set-if-absent that
   * makes a task id an idempotency key across processes. The record is kept `ttlMs` (until the
   * next state replaces it). Returns the stored text when this call created the record,
   * `undefined` when the task already exists.
   */
  async claim(info: TaskInfo, ttlMs = this.ctx.config.taskResultTtlMs): Promise<string | undefined> {
    const text = JSON.stringify(info);
    const created = await this.ctx.transport.kvSet(this.keys.state(info.id), text, { ifAbsent: true, ttlMs });
    if (!created) return undefined;
    if (this.announceTransient) void this.write(info, { persist: false }).catch(() => {});
    return text;
  }

  /** Removes a record {@link claim} made, if it is still unchanged (the send failed). */
  unclaim(id: string, text: string): Promise<boolean> {
    return this.ctx.transport.kvDelete(this.keys.state(id), { ifEquals: text });
  }

  private async flush(): Promise<void> {
    this.flushing = undefined;
    const batch = this.pending;
    this.pending = [];
    const { stored, finals, others } = supersede(batch);
    const { transport, config } = this.ctx;
    try {
      await Promise.all([
        stored.length > 0
          ? transport.kvSetMany(
              stored.map((w) => ({ key: this.keys.state(w.info.id), value: textOf(w) })),
              { ttlMs: config.taskResultTtlMs },
            )
          : undefined,
        // A waiter that reads the key before it is written still gets the state from here.
        finals.length > 0 ? transport.notify(this.keys.doneChannel, joined(finals)) : undefined,
        others.length > 0 && this.announceTransient ? transport.notify(this.keys.stateChannel, joined(others)) : undefined,
      ]);
      for (const w of batch) w.resolve();
      // A finished task frees its dedupe key (best effort: a send that finds it held by a finished task takes it over).
      for (const w of finals) if (w.info.dedupeKey !== undefined) void releaseDedupe({ ctx: this.ctx, keys: this.keys }, w.info);
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
  }

  /**
   * Resolves with the task's final state, waiting for the notification (no polling).
   *
   * @throws {@link TaskTimeoutError} after `timeoutMs`.
   */
  async waitFinal(id: string, name: string, timeoutMs: number, signal?: AbortSignal): Promise<TaskInfo> {
    await this.ensureListening();
    return new Promise<TaskInfo>((resolve, reject) => {
      let settled = false;
      const set = this.waiters.get(id) ?? new Set();
      this.waiters.set(id, set);
      const finish = (err: Error | undefined, info?: TaskInfo) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        set.delete(onInfo);
        if (set.size === 0) this.waiters.delete(id);
        if (err) reject(err);
        else resolve(info as TaskInfo);
      };
      const onInfo = (info: TaskInfo) => finish(undefined, info);
      const onAbort = () => finish((signal?.reason as Error) ?? new Error('aborted'));
      set.add(onInfo);
      const timer = setTimeout(
        () => finish(new TaskTimeoutError(id, `[event-bus] No result for task '${name}' (${id}) within ${timeoutMs} ms; is a worker consuming its queue?`)),
        timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      // Registered before reading, so a result written in between is not missed.
      this.read(id).then(
        (info) => {
          if (info && FINAL_TASK_STATES.has(info.state)) finish(undefined, info);
        },
        (err: unknown) => finish(err as Error),
      );
    });
  }

  /**
   * Calls `handler` with every state change any process announces from now on (final states
   * always; transient steps when that process has task events on). Returns the unsubscribe.
   */
  async watch(handler: (info: TaskInfo) => void): Promise<Unsubscribe> {
    this.watchers.add(handler);
    try {
      await this.ensureListening();
    } catch (err) {
      this.watchers.delete(handler);
      throw err;
    }
    return async () => {
      this.watchers.delete(handler);
    };
  }

  /**
   * The recorded states (newest change first, at most `limit`): the tasks whose state is still
   * kept (`taskResultTtlMs`). Reads every state key of the namespace: a view for operators
   * (the dashboard loads it once at start), not a hot path.
   */
  async recent(limit: number): Promise<TaskInfo[]> {
    const rows = await this.ctx.transport.kvScan(this.keys.statePrefix);
    const out: TaskInfo[] = [];
    for (const { value } of rows) {
      const [info] = parseTaskStates(value);
      if (info) out.push(info);
    }
    out.sort((a, b) => (b.updatedAt ?? '').localeCompare(a.updatedAt ?? ''));
    return out.slice(0, Math.max(0, limit));
  }

  private dispatch(text: string, final: boolean): void {
    for (const info of parseTaskStates(text)) {
      if (final !== FINAL_TASK_STATES.has(info.state)) continue;
      const set = final ? this.waiters.get(info.id) : undefined;
      if (set) for (const fn of [...set]) fn(info);
      for (const w of [...this.watchers]) {
        try {
          w(info);
        } catch (err) {
          this.ctx.logger.warn('a task state watcher threw', { error: (err as Error).message });
        }
      }
    }
  }

  private ensureListening(): Promise<Unsubscribe[]> {
    const { transport } = this.ctx;
    this.listening ??= Promise.all([
      transport.listen(this.keys.doneChannel, (text) => this.dispatch(text, true)),
      transport.listen(this.keys.stateChannel, (text) => this.dispatch(text, false)),
    ]);
    this.listening.catch(() => {
      this.listening = undefined;
    });
    return this.listening;
  }

  /** Writes what is pending and stops listening. */
  async close(): Promise<void> {
    await this.flushing;
    const l = this.listening;
    this.listening = undefined;
    if (l) for (const off of await l.catch(() => [] as Unsubscribe[])) await off().catch(() => {});
  }
}

/** The JSON of a pending write (built once). */
function textOf(w: PendingWrite): string {
  return (w.text ??= JSON.stringify(w.info));
}

function joined(writes: PendingWrite[]): string {
  return writes.length === 1 ? textOf(writes[0] as PendingWrite) : `[${writes.map(textOf).join(',')}]`;
}

/**
 * What a flush writes of one batch: a task's transient steps are left out when its final state
 * is in the same batch (a short task's RECEIVED, STARTED and SUCCESS usually land in one batch:
 * only SUCCESS is announced and stored), and a stored state is left out for a later stored one
 * of the same task. The steps of a task that runs across turns are all announced (a timeline);
 * a final state always is (what `get()` waits for).
 */
function supersede(batch: PendingWrite[]): { stored: PendingWrite[]; finals: PendingWrite[]; others: PendingWrite[] } {
  const stored: PendingWrite[] = [];
  const finals: PendingWrite[] = [];
  const others: PendingWrite[] = [];
  if (batch.length === 1) {
    const w = batch[0] as PendingWrite;
    if (w.persist) stored.push(w);
    (FINAL_TASK_STATES.has(w.info.state) ? finals : others).push(w);
    return { stored, finals, others };
  }
  // The index of each task's last final write, and of its last stored write.
  const lastFinal = new Map<string, number>();
  const lastStored = new Map<string, number>();
  for (let i = 0; i < batch.length; i++) {
    const w = batch[i] as PendingWrite;
    if (FINAL_TASK_STATES.has(w.info.state)) lastFinal.set(w.info.id, i);
    if (w.persist) lastStored.set(w.info.id, i);
  }
  for (let i = 0; i < batch.length; i++) {
    const w = batch[i] as PendingWrite;
    if (w.persist && lastStored.get(w.info.id) === i) stored.push(w);
    if (FINAL_TASK_STATES.has(w.info.state)) finals.push(w);
    else if (!((lastFinal.get(w.info.id) ?? -1) > i)) others.push(w);
  }
  return { stored, finals, others };
}
