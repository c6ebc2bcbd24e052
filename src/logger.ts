import { escapeControl } from './terminal-text.js';

/**
 * The logging interface the library writes to. Compatible with pino, winston and `console`-like
 * objects: pass yours as `createEventSystem({ logger })`.
 */
export interface Logger {
  /** Detailed diagnostics. */
  debug(message: string, fields?: Record<string, unknown>): void;
  /** Notable events (start, stop). */
  info(message: string, fields?: Record<string, unknown>): void;
  /** Something went wrong and was handled (a retry, a deferred publish). */
  warn(message: string, fields?: Record<string, unknown>): void;
  /** Something went wrong and needs attention. */
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A logger that drops everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The default logger: warnings and errors to `console.error` as one line each, the rest dropped.
 * Control characters in the message and fields (an escape sequence in a handler's error) are
 * escaped, so a log line cannot act on the terminal or forge another line.
 */
export const consoleLogger: Logger = {
  debug() {},
  info() {},
  warn(message, fields) {
    console.error(`[event-bus] warn: ${escapeControl(message)}${fields ? ` ${escapeControl(safeJson(fields))}` : ''}`);
  },
  error(message, fields) {
    console.error(`[event-bus] error: ${escapeControl(message)}${fields ? ` ${escapeControl(safeJson(fields))}` : ''}`);
  },
};

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}
