/**
 * Flows (Celery's canvas, BullMQ's flows): signatures, chains, groups and chords of tasks.
 *
 * A flow is durable: its definition is stored in the transport's key-value role when it is sent
 * (`<ns>:flow:<flowId>`), every step is an ordinary task whose message carries a reference to
 * the flow (`flow: { id, node }`), and the worker that finishes a step starts what comes next.
 * Nothing lives in the sender's memory, so a flow goes on after its sender exits and when a
 * worker dies mid-step (the step is redelivered and run again).
 *
 * Exactly-once continuation: a step's task id is derived from the flow id and the step's path
 * (`<flowId>.<path>`), and steps are sent through the task-id idempotency of `applyAsync`
 * (set-if-absent on the task's state), so a step finished twice (a redelivery) sends its next
 * step once. A group member records its result under its own key with set-if-absent (a
 * redelivered member's first result stays), then counts itself (`kvIncr`); once the count
 * reaches the group's size, the member checks that every member's result is recorded before
 * the group completes. A redelivered member counts again (it cannot know whether a crash came
 * before or after its count), so the count never falls short, and the recorded results, not the
 * count, decide: a crash between the two writes cannot stall the group, nor complete it early.
 *
 * The flow's own state (`PENDING`, then `SUCCESS` with the result, `FAILURE` naming the failed
 * step, or `REVOKED`) is a task state under the flow id, written through the one owner of task
 * state, so `get()` waits on the same notification as a task's.
 *
 * @module
 */
import { isoNow } from '../clock.js';
import { EventValidationError, FlowFailedError, TaskRevokedError, type ValidationIssue } from '../errors.js';
import { isEventPriority, newEventId, type EventPriority } from '../events/envelope.js';
import { zodIssues } from '../events/registry.js';
import type { TaskInfo, TaskMessage, TaskState } from './message.js';
import { FINAL_TASK_STATES } from './names.js';
import type { TaskRuntime } from './runtime.js';
import { NAME_RULE, describeValue, isName, revokeTask, type ApplyOptions, type GetOptions, type TaskRegistry } from './tasks.js';

/**
 * Options of `task.sig(args, options)`: how the step is sent (the apply options that can be
 * stored), and whether it takes the previous step's result.
 */
export interface SignatureOptions {
  /**
   * The step ignores the previous step's result: it runs with its own arguments only (Celery's
   * immutable signature, `task.si()`). @default false
   */
  immutable?: boolean;
  /** Run no earlier than this long after the step is sent (a finite number >= 0). */
  countdownMs?: number;
  /** Run no earlier than this time (stored as ISO 8601). */
  eta?: Date;
  /** Priority within the queue. @default the task's */
  priority?: EventPriority;
  /** Send to this queue instead of the task's. */
  queue?: string;
  /** Retries allowed; overrides the worker's definition. */
  maxRetries?: number;
  /** Correlation id of this step. @default the flow's correlation id */
  correlationId?: string;
}

/** The apply options of a step as stored (JSON): `eta` as ISO 8601. */
export interface StoredApplyOptions {
  /** See {@link SignatureOptions.countdownMs}. */
  countdownMs?: number;
  /** See {@link SignatureOptions.eta}, ISO 8601. */
  eta?: string;
  /** See {@link SignatureOptions.priority}. */
  priority?: EventPriority;
  /** See {@link SignatureOptions.maxRetries}. */
  maxRetries?: number;
  /** See {@link SignatureOptions.correlationId}. */
  correlationId?: string;
}

/**
 * A signature: one task call that is not sent yet (task name, queue, arguments, apply options).
 * Plain JSON: it can be stored, sent over the wire and passed to `chain` / `group` / `chord`
 * after `JSON.parse`.
 *
 * How a step takes the previous step's result (in a chain, and a chord's callback taking the
 * list of the group's results), as Celery's partial signatures do:
 * - **open** (`args` left out, `task.sig()`): the previous result becomes the arguments;
 * - **partial** (`args` an array, `task.sig([4])`): the previous result is prepended,
 *   `[previous, ...args]` (Celery's `add.s(4)` runs `add(previous, 4)`);
 * - **immutable** (`task.si(args)` or `{ immutable: true }`): the previous result is ignored;
 * - any other `args` (an object, a string...) where a previous result arrives is refused when the
 *   flow is sent: make the signature immutable, leave `args` out, or give an array.
 *
 * A step with nothing before it (a chain's first step, a group sent alone) runs with its `args`
 * as given (`null` when left out).
 */
export interface TaskSignature<TArgs = unknown, TResult = unknown> {
  /** Always `'task'`. */
  readonly kind: 'task';
  /** The task name. */
  readonly task: string;
  /** The queue the step is sent to. */
  readonly queue: string;
  /** The arguments; left out for an open signature. */
  readonly args?: unknown;
  /** True when the step ignores the previous result. */
  readonly immutable: boolean;
  /** How the step is sent. */
  readonly options: StoredApplyOptions;
  /** Type only (never set): the task's arguments. */
  readonly __args?: TArgs;
  /** Type only (never set): the task's result. */
  readonly __result?: TResult;
}

/** A chain or group that is not sent yet, to nest in another flow ({@link chainSig}, {@link groupSig}, {@link chordSig}). */
export interface FlowSignature<TResult = unknown> {
  /** `'chain'` (one after another) or `'group'` (in parallel). */
  readonly kind: 'chain' | 'group';
  /** The steps. */
  readonly steps: readonly FlowStep[];
  /** Type only (never set): the flow's result. */
  readonly __result?: TResult;
}

/** One step of a flow: a task signature or a nested chain or group. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type FlowStep = TaskSignature<any, any> | FlowSignature<any>;

/** The result type of a step. */
export type StepResult<S> = S extends TaskSignature<unknown, infer R> ? R : S extends FlowSignature<infer R> ? R : unknown;
/** The result type of a chain: its last step's. */
export type ChainResult<T extends readonly unknown[]> = T extends readonly [...unknown[], infer L] ? StepResult<L> : unknown;
/** The result type of a group: its members' results, in order. */
export type GroupResult<T extends readonly unknown[]> = { -readonly [K in keyof T]: StepResult<T[K]> };
/** The arguments of a task after the first (a partial signature's, for a task taking an array). */
export type TailArgs<T> = T extends readonly [unknown, ...infer R] ? R : never;

/** Options of `bus.tasks.chain`, `group` and `chord`. */
export interface FlowOptions {
  /**
   * The flow id (a non-empty string of at most 200 characters; UUIDv7 by default). An
   * idempotency key, as a task id is: sending a flow id that exists returns its handle and
   * sends nothing.
   */
  flowId?: string;
  /** Correlation id of every step. @default the flow id */
  correlationId?: string;
}

/** What kind of flow a handle is on. */
export type FlowKind = 'chain' | 'group' | 'chord';

/** One task step of a flow and its state now ({@link FlowResult.steps}). */
export interface FlowStepInfo {
  /**
   * Where the step sits: zero-based indexes from the flow's top, joined by dots. A chain's
   * third step is `'2'`; a chord's header members are `'0.0'`, `'0.1'`, ... and its callback `'1'`.
   */
  path: string;
  /** The task name. */
  task: string;
  /** The queue. */
  queue: string;
  /** The step's task id (`<flowId>.<path>`). */
  taskId: string;
  /** Its state: `PENDING` until it is sent and runs. */
  state: TaskState;
  /** Everything recorded about the step's task, when anything is. */
  info?: TaskInfo;
}

/** A task state of a flow: what a flow's record holds besides a task's (the failed step). */
interface FlowStateInfo extends TaskInfo {
  step?: { path: string; task: string; taskId: string };
}

type FlowNode =
  | { t: 'task'; task: string; queue: string; args?: unknown; open?: true; immutable?: true; o: StoredApplyOptions }
  | { t: 'chain' | 'group'; c: FlowNode[] };

/** The stored definition of a flow. @internal */
interface FlowDef {
  v: 1;
  id: string;
  kind: FlowKind;
  correlationId: string;
  root: FlowNode;
}

/** The reference a step's task message carries. @internal */
export interface FlowRef {
  /** The flow id. */
  id: string;
  /** The step's path in the flow. */
  node: string;
}

const MAX_STEPS = 10_000;

/** Makes a task signature (`task.sig` / `task.si`). @internal */
export function makeSignature<TArgs, TResult>(task: string, queue: string, hasArgs: boolean, args: unknown, options: SignatureOptions | undefined, immutable: boolean): TaskSignature<TArgs, TResult> {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new EventValidationError(task, [{ path: 'options', message: `must be an object such as { immutable: true }, got ${describeValue(options)}` }]);
  }
  const o = options ?? {};
  const stored: StoredApplyOptions = {};
  if (o.countdownMs !== undefined) stored.countdownMs = o.countdownMs;
  if (o.eta !== undefined) {
    if (!(o.eta instanceof Date) || Number.isNaN(o.eta.getTime())) throw new EventValidationError(task, [{ path: 'eta', message: `must be a valid Date, got ${describeValue(o.eta)}` }]);
    stored.eta = o.eta.toISOString();
  }
  if (o.priority !== undefined) stored.priority = o.priority;
  if (o.maxRetries !== undefined) stored.maxRetries = o.maxRetries;
  if (o.correlationId !== undefined) stored.correlationId = o.correlationId;
  const sig: { -readonly [K in keyof TaskSignature]: TaskSignature[K] } = { kind: 'task', task, queue: o.queue ?? queue, immutable: immutable || o.immutable === true, options: stored };
  if (hasArgs) sig.args = args;
  return sig as TaskSignature<TArgs, TResult>;
}

/**
 * A chain that is not sent yet, to nest in a group or another chain.
 *
 * @example
 * ```ts
 * await bus.tasks.group([chainSig([fetch.sig({ id: 1 }), render.sig()]), chainSig([fetch.sig({ id: 2 }), render.sig()])]);
 * ```
 */
export function chainSig<const T extends readonly FlowStep[]>(steps: T): FlowSignature<ChainResult<T>> {
  return { kind: 'chain', steps };
}

/** A group that is not sent yet, to nest in a chain (its members all get the previous result). */
export function groupSig<const T extends readonly FlowStep[]>(steps: T): FlowSignature<GroupResult<T>> {
  return { kind: 'group', steps };
}

/** A chord that is not sent yet: a chain of the group `header` and `callback`. */
export function chordSig<const T extends readonly FlowStep[], C extends FlowStep>(header: T, callback: C): FlowSignature<StepResult<C>> {
  return { kind: 'chain', steps: [groupSig(header), callback] };
}

function childPath(path: string, i: number): string {
  return path === '' ? String(i) : `${path}.${i}`;
}

function nodeAt(root: FlowNode, path: string): FlowNode | undefined {
  let n: FlowNode | undefined = root;
  if (path === '') return n;
  for (const part of path.split('.')) {
    if (!n || n.t === 'task') return undefined;
    n = n.c[Number(part)];
  }
  return n;
}

function taskNodes(node: FlowNode, path: string, out: Array<{ path: string; node: Extract<FlowNode, { t: 'task' }> }>): typeof out {
  if (node.t === 'task') out.push({ path, node });
  else node.c.forEach((c, i) => taskNodes(c, childPath(path, i), out));
  return out;
}

/**
 * Checks a step given to a flow and turns it into its stored form. `input` says whether a
 * previous result arrives at this step.
 */
function normalize(step: unknown, where: string, input: boolean, registry: TaskRegistry, issues: ValidationIssue[], count: { n: number }): FlowNode {
  if (typeof step !== 'object' || step === null) {
    issues.push({ path: where, message: `must be a signature (task.sig(args)) or a nested flow (chainSig / groupSig / chordSig), got ${describeValue(step)}` });
    return { t: 'chain', c: [] };
  }
  const s = step as Partial<TaskSignature> & Partial<FlowSignature>;
  if (s.kind === 'chain' || s.kind === 'group') {
    if (!Array.isArray(s.steps) || s.steps.length === 0) {
      issues.push({ path: `${where}.steps`, message: `a nested ${s.kind} needs at least one step` });
      return { t: s.kind, c: [] };
    }
    const c = s.steps.map((x, i) => normalize(x, `${where}.steps[${i}]`, s.kind === 'chain' ? i > 0 || input : input, registry, issues, count));
    return { t: s.kind, c };
  }
  if (s.kind !== 'task') {
    issues.push({ path: where, message: `must be a signature (task.sig(args)) or a nested flow (chainSig / groupSig / chordSig): kind is ${describeValue(s.kind)}` });
    return { t: 'chain', c: [] };
  }
  count.n++;
  if (!isName(s.task)) issues.push({ path: `${where}.task`, message: `${NAME_RULE}, got ${describeValue(s.task)}` });
  if (!isName(s.queue)) issues.push({ path: `${where}.queue`, message: `${NAME_RULE}, got ${describeValue(s.queue)}` });
  const o = (typeof s.options === 'object' && s.options !== null ? s.options : {}) as StoredApplyOptions;
  if (o.countdownMs !== undefined && (typeof o.countdownMs !== 'number' || !Number.isFinite(o.countdownMs) || o.countdownMs < 0)) {
    issues.push({ path: `${where}.options.countdownMs`, message: `must be a finite number of milliseconds >= 0, got ${describeValue(o.countdownMs)}` });
  }
  if (o.eta !== undefined && (typeof o.eta !== 'string' || Number.isNaN(Date.parse(o.eta)))) issues.push({ path: `${where}.options.eta`, message: `must be an ISO 8601 date-time, got ${describeValue(o.eta)}` });
  if (o.priority !== undefined && !isEventPriority(o.priority)) issues.push({ path: `${where}.options.priority`, message: `must be 'low', 'normal', 'high' or 'critical', got ${describeValue(o.priority)}` });
  if (o.maxRetries !== undefined && (!Number.isInteger(o.maxRetries) || o.maxRetries < 0)) issues.push({ path: `${where}.options.maxRetries`, message: `must be a whole number >= 0, got ${describeValue(o.maxRetries)}` });
  if (o.correlationId !== undefined && (typeof o.correlationId !== 'string' || o.correlationId.length === 0 || o.correlationId.length > 512)) {
    issues.push({ path: `${where}.options.correlationId`, message: `must be a non-empty string of at most 512 characters, got ${describeValue(o.correlationId)}` });
  }
  const open = !('args' in s) || s.args === undefined;
  const immutable = s.immutable === true;
  if (input && !immutable && !open && !Array.isArray(s.args)) {
    issues.push({
      path: `${where}.args`,
      message: `receives the previous step's result, which is prepended to an array of arguments only: make it immutable (${String(s.task)}.si(args) or { immutable: true }), leave args out to get the result as the arguments, or give the arguments as an array`,
    });
  }
  // Arguments complete now (nothing is added to them later) are checked against the task's schema now.
  const schema = typeof s.task === 'string' ? registry.definition(s.task)?.options.schema : undefined;
  if (schema && !open && (!input || immutable)) {
    const r = schema.safeParse(s.args);
    if (!r.success) issues.push(...zodIssues(r.error, `${where}.args`));
  }
  const node: FlowNode = { t: 'task', task: s.task as string, queue: s.queue as string, o };
  if (!open) node.args = s.args;
  else node.open = true;
  if (immutable) node.immutable = true;
  return node;
}

/** Keys of a flow in the key-value role. */
function flowKeys(runtime: TaskRuntime, id: string) {
  const base = `${runtime.ctx.config.namespace}:flow:${id}`;
  return {
    def: base,
    result: (path: string) => `${base}:r:${path}`,
    count: (path: string) => `${base}:n:${path}`,
  };
}

const defCache = new WeakMap<TaskRuntime, Map<string, FlowDef>>();

async function loadDef(runtime: TaskRuntime, id: string): Promise<FlowDef | undefined> {
  let cache = defCache.get(runtime);
  if (!cache) defCache.set(runtime, (cache = new Map()));
  const hit = cache.get(id);
  if (hit) return hit;
  const raw = await runtime.ctx.transport.kvGet(flowKeys(runtime, id).def);
  if (raw === null) return undefined;
  let def: FlowDef;
  try {
    def = JSON.parse(raw) as FlowDef;
  } catch {
    return undefined;
  }
  if (typeof def !== 'object' || def === null || def.v !== 1 || typeof def.root !== 'object') return undefined;
  // Definitions never change: keep the latest few hundred (a worker runs many steps of one flow).
  if (cache.size >= 500) cache.delete(cache.keys().next().value as string);
  cache.set(id, def);
  return def;
}

function flowState(def: FlowDef, state: TaskState, clock: TaskRuntime['ctx']['clock'], extra: Partial<FlowStateInfo> = {}): FlowStateInfo {
  return { id: def.id, name: def.kind, queue: 'flow', state, attempt: 0, correlationId: def.correlationId, updatedAt: isoNow(clock), ...extra };
}

async function isFinal(runtime: TaskRuntime, id: string): Promise<boolean> {
  const s = await runtime.states.read(id);
  return s !== undefined && FINAL_TASK_STATES.has(s.state);
}

/**
 * Sends a flow: checks every step, records the flow (set-if-absent on its id) and its
 * definition, then sends the steps that run first. Backs `bus.tasks.chain`, `group`, `chord`.
 *
 * @internal
 */
export async function startFlow<TResult>(
  registry: TaskRegistry,
  runtime: TaskRuntime,
  kind: FlowKind,
  steps: readonly unknown[],
  callback: unknown,
  options: FlowOptions = {},
): Promise<FlowResult<TResult>> {
  if (typeof options !== 'object' || options === null) throw new EventValidationError(kind, [{ path: 'options', message: `must be an object such as { flowId: 'order-42' }, got ${describeValue(options)}` }]);
  const field = kind === 'chord' ? 'header' : 'steps';
  if (!Array.isArray(steps)) throw new EventValidationError(kind, [{ path: field, message: `must be an array of signatures (task.sig(args)), got ${describeValue(steps)}` }]);
  const issues: ValidationIssue[] = [];
  if (steps.length === 0) issues.push({ path: field, message: `a ${kind} needs at least one step` });
  if (options.flowId !== undefined && (typeof options.flowId !== 'string' || options.flowId.length === 0 || options.flowId.length > 200)) {
    issues.push({ path: 'flowId', message: `must be a non-empty string of at most 200 characters, got ${describeValue(options.flowId)}` });
  }
  if (options.correlationId !== undefined && (typeof options.correlationId !== 'string' || options.correlationId.length === 0 || options.correlationId.length > 512)) {
    issues.push({ path: 'correlationId', message: `must be a non-empty string of at most 512 characters, got ${describeValue(options.correlationId)}` });
  }
  const count = { n: 0 };
  const members = steps.map((s, i) => normalize(s, `${field}[${i}]`, kind === 'chain' && i > 0, registry, issues, count));
  const root: FlowNode =
    kind === 'chord' ? { t: 'chain', c: [{ t: 'group', c: members }, normalize(callback, 'callback', true, registry, issues, count)] } : { t: kind, c: members };
  if (count.n > MAX_STEPS) issues.push({ path: 'steps', message: `a flow holds at most ${MAX_STEPS} task steps, got ${count.n}` });
  const id = options.flowId ?? newEventId();
  for (const { path } of issues.length ? [] : taskNodes(root, '', [])) {
    if (id.length + 1 + path.length > 256) issues.push({ path: 'steps', message: `step ${path}: its task id (<flowId>.<path>) is longer than 256 characters: use a shorter flowId or nest less deeply` });
  }
  if (issues.length) throw new EventValidationError(kind, issues);

  const def: FlowDef = { v: 1, id, kind, correlationId: options.correlationId ?? id, root };
  const { transport, config, clock } = runtime.ctx;
  const keys = flowKeys(runtime, id);
  // The flow id is an idempotency key: the first send records the flow, a later one finds it.
  const claimed = await runtime.states.claim(flowState(def, 'PENDING', clock));
  if (claimed === undefined) {
    const existing = await runtime.states.read(id);
    return new FlowResult<TResult>(runtime, id, (existing?.name as FlowKind | undefined) ?? kind);
  }
  try {
    await transport.kvSet(keys.def, JSON.stringify(def), { ttlMs: config.taskResultTtlMs });
    await startNode(registry, def, '', root, undefined);
  } catch (err) {
    // Not (fully) sent: free the id so that a retry of this call can use it (steps already sent
    // keep their task ids, so the retry does not send them twice).
    await runtime.states.unclaim(id, claimed).catch(() => false);
    throw err instanceof StepRefused ? err.refusal : err;
  }
  return new FlowResult<TResult>(runtime, id, kind);
}

/** Starts a node: sends a task step, the first step of a chain, every member of a group. */
async function startNode(registry: TaskRegistry, def: FlowDef, path: string, node: FlowNode, input: { value: unknown } | undefined): Promise<void> {
  if (node.t === 'task') {
    let args: unknown = node.open ? null : node.args;
    if (input && !node.immutable) args = node.open ? input.value : [input.value, ...(node.args as unknown[])];
    const o = node.o;
    const options: ApplyOptions = { taskId: `${def.id}.${path}`, queue: node.queue, correlationId: o.correlationId ?? def.correlationId };
    if (o.countdownMs !== undefined) options.countdownMs = o.countdownMs;
    if (o.eta !== undefined) options.eta = new Date(o.eta);
    if (o.priority !== undefined) options.priority = o.priority;
    if (o.maxRetries !== undefined) options.maxRetries = o.maxRetries;
    try {
      await registry.sendFlowStep(node.task, args, options, { id: def.id, node: path });
    } catch (err) {
      if (err instanceof EventValidationError) throw new StepRefused(path, node.task, err);
      throw err;
    }
    return;
  }
  if (node.t === 'chain') return startNode(registry, def, childPath(path, 0), node.c[0] as FlowNode, input);
  await Promise.all(node.c.map((c, i) => startNode(registry, def, childPath(path, i), c, input)));
}

/** A step whose arguments were refused when it was sent (they fail its schema): it names the step. */
class StepRefused extends Error {
  constructor(
    readonly path: string,
    readonly task: string,
    readonly refusal: EventValidationError,
  ) {
    super(refusal.message);
  }
}

/** A node finished with `result`: start what follows it, or finish its parent. */
async function completeNode(registry: TaskRegistry, runtime: TaskRuntime, def: FlowDef, path: string, result: unknown): Promise<void> {
  const { transport, config, clock } = runtime.ctx;
  if (path === '') {
    const current = await runtime.states.read(def.id);
    if (current && FINAL_TASK_STATES.has(current.state)) return;
    await runtime.states.write(flowState(def, 'SUCCESS', clock, { result: result ?? null }));
    return;
  }
  const dot = path.lastIndexOf('.');
  const parentPath = dot < 0 ? '' : path.slice(0, dot);
  const index = Number(path.slice(dot + 1));
  const parent = nodeAt(def.root, parentPath);
  if (!parent || parent.t === 'task') return;
  if (parent.t === 'chain') {
    const next = parent.c[index + 1];
    if (!next) return completeNode(registry, runtime, def, parentPath, result);
    // A failed or revoked flow starts nothing more.
    if (await isFinal(runtime, def.id)) return;
    try {
      await startNode(registry, def, childPath(parentPath, index + 1), next, { value: result });
    } catch (err) {
      // The next step's arguments (this result) fail its schema: the flow fails, naming that step.
      if (err instanceof StepRefused) {
        await failFlow(runtime, def, err.path, err.task, { name: err.refusal.name, message: `could not be sent: ${err.refusal.message}` });
        return;
      }
      throw err;
    }
    return;
  }
  // A group member: record its result (set-if-absent: the first one stays), then count. The
  // count only says when to look: a member that finishes again (redelivered, perhaps after a
  // crash before its count) counts again, since it cannot know whether it counted, so the count
  // never falls short of the members done; whether the group is complete is decided by the
  // members' recorded results, each recorded once.
  const keys = flowKeys(runtime, def.id);
  await transport.kvSet(keys.result(path), JSON.stringify(result ?? null), { ifAbsent: true, ttlMs: config.taskResultTtlMs });
  const done = await transport.kvIncr(keys.count(parentPath), { ttlMs: config.taskResultTtlMs });
  if (done < parent.c.length) return;
  const raw = await Promise.all(parent.c.map((_, i) => transport.kvGet(keys.result(childPath(parentPath, i)))));
  if (raw.some((r) => r === null)) return;
  await completeNode(registry, runtime, def, parentPath, raw.map((r) => JSON.parse(r as string) as unknown));
}

async function failFlow(runtime: TaskRuntime, def: FlowDef, path: string, task: string, error: { name: string; message: string; stack?: string }): Promise<void> {
  const current = await runtime.states.read(def.id);
  if (current && FINAL_TASK_STATES.has(current.state)) return;
  const taskId = `${def.id}.${path}`;
  await runtime.states.write(
    flowState(def, 'FAILURE', runtime.ctx.clock, {
      error: { name: error.name, message: `step ${path} '${task}' (${taskId}) failed: ${error.message}`, ...(error.stack ? { stack: error.stack } : {}) },
      step: { path, task, taskId },
    }),
  );
}

/** How a flow step ended, as the worker reports it. @internal */
export type FlowStepOutcome =
  | { state: 'SUCCESS'; result: unknown }
  | { state: 'FAILURE'; error: { name: string; message: string; stack?: string } }
  | { state: 'REVOKED' };

/**
 * Called by the worker when a task that belongs to a flow (its message has `flow`) has ended
 * for good, after its state is recorded and before its delivery is acknowledged: starts what
 * follows (success), or fails or revokes the flow. Returns false when the continuation could
 * not be written (the transport failed): the worker then hands the delivery back, and the step
 * runs again and continues then (each next step is still sent once).
 *
 * @internal
 */
export async function onFlowStep(registry: TaskRegistry, runtime: TaskRuntime, msg: TaskMessage, outcome: FlowStepOutcome): Promise<boolean> {
  const ref = msg.flow as FlowRef;
  try {
    const def = await loadDef(runtime, ref.id);
    if (!def) {
      runtime.ctx.logger.warn('a flow step finished but its flow is no longer recorded (expired after taskResultTtlMs?); nothing follows it', { taskId: msg.id, flowId: ref.id });
      return true;
    }
    if (outcome.state === 'SUCCESS') await completeNode(registry, runtime, def, ref.node, outcome.result);
    else if (outcome.state === 'FAILURE') await failFlow(runtime, def, ref.node, msg.task, outcome.error);
    else if (!(await isFinal(runtime, def.id))) await runtime.states.write(flowState(def, 'REVOKED', runtime.ctx.clock));
    return true;
  } catch (err) {
    runtime.ctx.logger.warn('could not continue a flow; the step is handed back and continues when it runs again', { taskId: msg.id, flowId: ref.id, error: (err as Error).message });
    return false;
  }
}

/**
 * A handle on a sent flow (`bus.tasks.chain`, `group`, `chord`), shaped as a task's
 * {@link TaskResult}: wait for its result, read its state and its steps' states, revoke it.
 * Any process can make one from the flow id (`bus.tasks.flow(id)`).
 */
export class FlowResult<TResult = unknown> {
  /** The queue of a flow's record (flows have none of their own). */
  readonly queue = 'flow';

  /** @internal */
  constructor(
    private readonly runtime: TaskRuntime,
    /** The flow id. */
    readonly id: string,
    /** `'chain'`, `'group'` or `'chord'`. */
    readonly name: FlowKind,
  ) {}

  /**
   * Waits for the flow's result, without polling: a chain's is its last step's, a group's the
   * list of its members' results in order, a chord's its callback's.
   *
   * @throws {@link FlowFailedError} (`ERR_TASK_FAILED`) naming the step that failed (after its retries) in `step` and in the message.
   * @throws {@link TaskRevokedError} (`ERR_REVOKED`) when the flow was revoked.
   * @throws `TaskTimeoutError` (`ERR_TIMEOUT`) when it does not finish within `timeoutMs` (30000 by default).
   */
  async get(options: GetOptions = {}): Promise<TResult> {
    const info = (await this.runtime.states.waitFinal(this.id, this.name, options.timeoutMs ?? 30_000, options.signal)) as FlowStateInfo;
    if (info.state === 'SUCCESS') return (info.result ?? null) as TResult;
    if (info.state === 'REVOKED') throw new TaskRevokedError(this.id, this.name);
    throw new FlowFailedError(this.id, this.name, info.error ?? { message: 'unknown error' }, info.step ?? { path: '', task: 'unknown', taskId: this.id });
  }

  /**
   * The flow's state now: `SUCCESS`, `FAILURE` or `REVOKED` once finished; before that
   * `STARTED` when any step has been received, else `PENDING`.
   */
  async status(): Promise<TaskState> {
    const own = await this.runtime.states.read(this.id);
    if (own && FINAL_TASK_STATES.has(own.state)) return own.state;
    return (await this.steps()).some((s) => s.state !== 'PENDING') ? 'STARTED' : 'PENDING';
  }

  /** The flow's own record (its state, result or error). */
  async info(): Promise<TaskInfo> {
    return (await this.runtime.states.read(this.id)) ?? { id: this.id, name: this.name, queue: this.queue, state: 'PENDING', attempt: 0, updatedAt: isoNow(this.runtime.ctx.clock) };
  }

  /** Every task step of the flow in order, with its state now (`[]` once the flow's record has expired). */
  async steps(): Promise<FlowStepInfo[]> {
    const def = await loadDef(this.runtime, this.id);
    if (!def) return [];
    return Promise.all(
      taskNodes(def.root, '', []).map(async ({ path, node }) => {
        const taskId = `${def.id}.${path}`;
        const info = await this.runtime.states.read(taskId);
        const step: FlowStepInfo = { path, task: node.task, queue: node.queue, taskId, state: info?.state ?? 'PENDING' };
        if (info) step.info = info;
        return step;
      }),
    );
  }

  /**
   * Revokes the flow in every process: no step that has not started will run, and running
   * steps are revoked as a task's `revoke()` does (their `ctx.signal` is aborted). Returns false
   * when the flow had already finished.
   */
  async revoke(): Promise<boolean> {
    const { runtime } = this;
    const current = await runtime.states.read(this.id);
    if (current && FINAL_TASK_STATES.has(current.state)) return false;
    // Recorded first: a step finishing meanwhile sees the flow final and starts nothing.
    await runtime.states.write({ ...(current ?? { id: this.id, name: this.name, queue: this.queue, attempt: 0 }), state: 'REVOKED', updatedAt: isoNow(runtime.ctx.clock) });
    const def = await loadDef(runtime, this.id);
    if (!def) return true;
    const nodes = taskNodes(def.root, '', []);
    // A step not sent yet gets a REVOKED state too, so a late send of it (set-if-absent) sends nothing.
    for (let i = 0; i < nodes.length; i += 50) {
      await Promise.all(nodes.slice(i, i + 50).map(({ path, node }) => revokeTask(runtime, `${def.id}.${path}`, node.task, node.queue)));
    }
    return true;
  }
}
