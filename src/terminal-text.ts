/**
 * Text for terminals and log lines: control characters made visible, so text that came from an
 * event, a task or a handler's error (`\u001b[2J` clears the screen, `\r` rewrites a line) cannot
 * act on the operator's terminal. One implementation, used by the console logger and the CLI.
 *
 * @internal
 * @module
 */

// C0 controls, DEL, C1 controls (U+009B is a one-byte CSI for some terminals), the line and
// paragraph separators, and the bidirectional overrides and isolates (text that reads in another
// order than it is stored).
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const SHORT: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function visible(c: string): string {
  return SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * Escapes control characters as `\n`, `\r`, `\t` or `\uXXXX` (the JSON and JavaScript escapes):
 * ESC, CR, BEL, backspace, DEL, C1, U+2028/2029 and bidirectional controls. Printable text,
 * including non-ASCII letters, is unchanged.
 *
 * With `keepNewlines`, `\n` stays a line break (for output made of several lines whose values were
 * escaped one by one, or for `JSON.stringify(v, null, 2)`, whose only raw controls are its line
 * breaks: the result stays valid JSON).
 *
 * @example
 * ```ts
 * escapeControl('boom\u001b[2J\rok'); // 'boom\\u001b[2J\\rok'
 * ```
 * @internal
 */
export function escapeControl(text: string, options: { keepNewlines?: boolean } = {}): string {
  return text.replace(options.keepNewlines ? CONTROL_BUT_NEWLINE : CONTROL, visible);
}
