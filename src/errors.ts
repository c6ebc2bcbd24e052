/**
 * Errors of `@procur/event-bus`.
 *
 * Every error the library throws is an {@link EventBusError} with a stable `code`. Recognise them
 * with {@link isEventBusError}, which checks the shape rather than the class, so it still works when
 * two copies of the package are loaded.
 *
 * @module
 */

/** Stable error codes. Match on these, not on messages. */
export const ErrorCode = {
  VALIDATION: 'ERR_VALIDATION',
  CONFIG: 'ERR_CONFIG',
  CLOSED: 'ERR_CLOSED',
  TIMEOUT: 'ERR_TIMEOUT',
  TASK_FAILED: 'ERR_TASK_FAILED',
  REVOKED: 'ERR_REVOKED',
  EXPIRED: 'ERR_EXPIRED',
  UNKNOWN_TASK: 'ERR_UNKNOWN_TASK',
  TRANSPORT: 'ERR_TRANSPORT',
  STORE: 'ERR_STORE',
  MISSING_PEER: 'ERR_MISSING_PEER',
  DECODE: 'ERR_DECODE',
  NOT_FOUND: 'ERR_NOT_FOUND',
  UNRECOVERABLE: 'ERR_UNRECOVERABLE',
  RETRY_LATER: 'ERR_RETRY_LATER',
  BATCH: 'ERR_BATCH',
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Options accepted by every error constructor. */
export interface EventBusErrorOptions {
  /** The underlying error (ES2022 `cause`). */
  cause?: unknown;
}

/**
 * Base class of every error thrown by the library.
 *
 * @example
 * ```ts
 * try { await bus.publisher.publish(input); }
 * catch (err) { if (isEventBusError(err, 'ERR_VALIDATION')) console.log(err.issues); }
 * ```
 */
export class EventBusError extends Error {
  /** A stable, machine-readable code from {@link ErrorCode}. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: EventBusErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = 'EventBusError';
  }
}

/**
 * True when `err` is an error of this library (optionally with the given code). Structural, so it
 * recognises errors thrown by another copy of the package.
 */
export function isEventBusError(err: unknown, code?: ErrorCode): err is EventBusError {
  if (typeof err !== 'object' || err === null) return false;
  const c = (err as { code?: unknown }).code;
  if (typeof c !== 'string' || !c.startsWith('ERR_')) return false;
  if (!(err instanceof Error)) return false;
  return code === undefined || c === code;
}

/** One failing field of a validated payload. */
export interface ValidationIssue {
  /** Dotted path of the field, e.g. `data.budgetMax`. Empty for the whole value. */
  path: string;
  /** What is wrong with it. */
  message: string;
}

/**
 * A payload, event, task argument or option failed validation. Nothing was stored or published.
 * `issues` names every failing field.
 */
export class EventValidationError extends EventBusError {
  /** Every failing field. */
  readonly issues: ValidationIssue[];
  /** The event type or task name that was validated, when there is one. */
  readonly subject: string | undefined;

  constructor(subject: string | undefined, issues: ValidationIssue[], options?: EventBusErrorOptions) {
    const list = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
    super(ErrorCode.VALIDATION, `[event-bus] Invalid ${subject ? `'${subject}'` : 'input'}: ${list}`, options);
    this.name = 'EventValidationError';
    this.issues = issues;
    this.subject = subject;
  }
}

/** A configuration value is missing or malformed. `variable` names the setting to fix. */
export class ConfigError extends EventBusError {
  /** The environment variable (or option key) at fault. */
  readonly variable: string;

  constructor(variable: string, message: string, options?: EventBusErrorOptions) {
    super(ErrorCode.CONFIG, `[event-bus:config] ${variable}: ${message}`, options);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

/** A call was made on an object after its `close()`. */
export class ClosedError extends EventBusError {
  constructor(what: string) {
    super(ErrorCode.CLOSED, `[event-bus] ${what} is closed; create a new one instead of reusing it after close().`);
    this.name = 'ClosedError';
  }
}

/** An operation did not finish within its time limit. */
export class TimeoutError extends EventBusError {
  constructor(message: string, options?: EventBusErrorOptions) {
    super(ErrorCode.TIMEOUT, message, options);
    this.name = 'TimeoutError';
  }
}

/** The transport (Redis, memory) failed or is unreachable. */
export class TransportError extends EventBusError {
  constructor(message: string, options?: EventBusErrorOptions) {
    super(ErrorCode.TRANSPORT, message, options);
    this.name = 'TransportError';
  }
}

/** The event store (SQLite, Postgres, memory) failed. */
export class StoreError extends EventBusError {
  constructor(message: string, options?: EventBusErrorOptions) {
    super(ErrorCode.STORE, message, options);
    this.name = 'StoreError';
  }
}

/** An optional peer dependency (ioredis, pg, better-sqlite3) is not installed. */
export class MissingPeerError extends EventBusError {
  /** The npm package to install. */
  readonly peer: string;

  constructor(peer: string, subpath: string, options?: EventBusErrorOptions) {
    super(
      ErrorCode.MISSING_PEER,
      `[event-bus] '${subpath}' needs the package '${peer}'. Install it: npm install ${peer}`,
      options,
    );
    this.name = 'MissingPeerError';
    this.peer = peer;
  }
}

/** A message on the transport could not be decoded into an event (not JSON, unknown version, missing fields). */
export class DecodeError extends EventBusError {
  constructor(message: string, options?: EventBusErrorOptions) {
    super(ErrorCode.DECODE, message, options);
    this.name = 'DecodeError';
  }
}

/** The entry asked for (a dead letter, an event) does not exist. */
export class NotFoundError extends EventBusError {
  constructor(message: string) {
    super(ErrorCode.NOT_FOUND, message);
    this.name = 'NotFoundError';
  }
}

/**
 * Thrown by a handler to say that retrying cannot help: the message goes straight to the dead
 * letter queue, whatever attempts are left.
 *
 * @example
 * ```ts
 * consumer.registerHandler('vendor.created', async (e) => {
 *   if (!e.data.vendorId) throw new UnrecoverableError('vendor id missing');
 * });
 * ```
 */
export class UnrecoverableError extends EventBusError {
  constructor(message: string, options?: EventBusErrorOptions) {
    super(ErrorCode.UNRECOVERABLE, message, options);
    this.name = 'UnrecoverableError';
  }
}

/**
 * Thrown by a handler to ask for redelivery after `delayMs`, without counting a failed attempt
 * (a downstream service said "try later").
 */
export class RetryLaterError extends EventBusError {
  /** How long to wait before the message is delivered again. */
  readonly delayMs: number;

  constructor(delayMs: number, message = `retry requested in ${delayMs} ms`) {
    super(ErrorCode.RETRY_LATER, message);
    this.name = 'RetryLaterError';
    this.delayMs = delayMs;
  }
}

/** Converts anything thrown into an `Error` (handlers may throw strings or plain objects). */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === 'string') return new Error(value);
  try {
    return new Error(JSON.stringify(value));
  } catch {
    return new Error(String(value));
  }
}

/** A task finished in failure (its retries are exhausted, or it raised `UnrecoverableError`). */
export class TaskFailedError extends EventBusError {
  /** The task id. */
  readonly taskId: string;
  /** The error's name on the worker. */
  readonly remoteName: string;
  /** The error's stack on the worker. */
  readonly remoteStack: string | undefined;

  constructor(taskId: string, taskName: string, remote: { name?: string; message: string; stack?: string }) {
    super(ErrorCode.TASK_FAILED, `[event-bus] Task '${taskName}' (${taskId}) failed: ${remote.message}`);
    this.name = 'TaskFailedError';
    this.taskId = taskId;
    this.remoteName = remote.name ?? 'Error';
    this.remoteStack = remote.stack;
  }
}

/**
 * A flow (chain, group, chord) failed because one of its steps failed for good (after its
 * retries) or could not be sent. `step` names it; the message says which and why.
 */
export class FlowFailedError extends TaskFailedError {
  /** The failed step: its path in the flow (`'2'`, `'0.1'`), task name and task id. */
  readonly step: { path: string; task: string; taskId: string };

  constructor(flowId: string, kind: string, remote: { name?: string; message: string; stack?: string }, step: { path: string; task: string; taskId: string }) {
    super(flowId, kind, remote);
    this.name = 'FlowFailedError';
    this.step = step;
  }
}

/** Waiting for a task's result took longer than allowed, or a task ran past its `timeoutMs`. */
export class TaskTimeoutError extends EventBusError {
  /** The task id. */
  readonly taskId: string;

  constructor(taskId: string, message: string) {
    super(ErrorCode.TIMEOUT, message);
    this.name = 'TaskTimeoutError';
    this.taskId = taskId;
  }
}

/** The task was revoked: it will not run (or was aborted while running). */
export class TaskRevokedError extends EventBusError {
  /** The task id. */
  readonly taskId: string;

  constructor(taskId: string, taskName: string) {
    super(ErrorCode.REVOKED, `[event-bus] Task '${taskName}' (${taskId}) was revoked`);
    this.name = 'TaskRevokedError';
    this.taskId = taskId;
  }
}

/**
 * The task expired: its `expiresAt` (or `expiresInMs`) passed before an attempt started, so the
 * worker that received it dropped it (state `EXPIRED`) and it never ran (or never ran again).
 * `get()` rejects with it; nothing retries it.
 *
 * @example
 * ```ts
 * const r = await report.applyAsync(args, { expiresInMs: 60_000 });
 * try { await r.get(); } catch (err) { if (isEventBusError(err, 'ERR_EXPIRED')) console.log('too late, skipped'); }
 * ```
 */
export class TaskExpiredError extends EventBusError {
  /** The task id. */
  readonly taskId: string;
  /** When it expired (ISO 8601), when known. */
  readonly expiresAt: string | undefined;

  constructor(taskId: string, taskName: string, expiresAt?: string) {
    super(
      ErrorCode.EXPIRED,
      `[event-bus] Task '${taskName}' (${taskId}) expired${expiresAt ? ` at ${expiresAt}` : ''} before a worker started it, so it never ran; send it again with a later expiresAt, or add workers to its queue`,
    );
    this.name = 'TaskExpiredError';
    this.taskId = taskId;
    this.expiresAt = expiresAt;
  }
}

/** No task of that name is defined in this process. */
export class UnknownTaskError extends EventBusError {
  /** The task name. */
  readonly taskName: string;

  constructor(taskName: string, known: readonly string[]) {
    super(
      ErrorCode.UNKNOWN_TASK,
      `[event-bus] Unknown task '${taskName}'. Define it with bus.tasks.define('${taskName}', ...) in this process` +
        (known.length ? ` (defined here: ${known.join(', ')})` : ''),
    );
    this.name = 'UnknownTaskError';
    this.taskName = taskName;
  }
}
