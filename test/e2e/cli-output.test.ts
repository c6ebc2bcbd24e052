/**
 * What the CLI prints cannot act on the operator's terminal (issue 10, hole 12): event-derived
 * text (a handler's error in `dlq list`) has its control characters escaped in human output, and
 * the JSON output stays valid JSON carrying the text unchanged. The one escaper is shared with
 * the console logger.
 */
import { describe, expect, it, vi } from 'vitest';
import { consoleLogger } from '@procur/event-bus';
import { escapeControl } from '../../src/terminal-text.js';
import { cli } from './fixtures/cli.js';

const APP = 'test/e2e/fixtures/dashboard-app.ts';
// Clear screen, carriage return, bell, a one-byte CSI (C1), a right-to-left override, a newline.
const HOSTILE = 'vendor API down\u001b[2J\u001b[H\rAll good\u0007 \u009b31m \u202Eevil\nforged line';
// Anything a terminal acts on: C0 but newline, DEL, C1, bidi controls.
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;


describe('escapeControl', () => {
  it('makes control characters visible and leaves printable text alone', () => {
    expect(escapeControl('a\u001b[2Jb\rc\u0007d\u009be\u202ef\ng\th\u007f')).toBe('a\\u001b[2Jb\\rc\\u0007d\\u009be\\u202ef\\ng\\th\\u007f');
    expect(escapeControl('Zürich — 東京 ✓ "quoted" \\ back')).toBe('Zürich — 東京 ✓ "quoted" \\ back');
    expect(escapeControl('one\ntwo\u001b', { keepNewlines: true })).toBe('one\ntwo\\u001b');
    const json = JSON.stringify({ e: HOSTILE }, null, 2);
    expect(JSON.parse(escapeControl(json, { keepNewlines: true }))).toEqual({ e: HOSTILE });
  });

  it('is what the console logger uses: one line, no raw escape sequence', () => {
    const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      consoleLogger.error(`handler failed: ${HOSTILE}`, { error: HOSTILE });
      const line = String(spy.mock.calls[0]?.[0]);
      expect(line).not.toMatch(RAW_CONTROL);
      expect(line).not.toContain('\n');
      expect(line).toContain('\\u001b[2J');
    } finally {
      spy.mockRestore();
    }
  });
});

describe('procur-bus output', () => {
  it('dlq list escapes the control characters of handler errors; --json stays valid JSON with the text unchanged', () => {
    const env = { PROCUR_TEST_SEED_DLQ: '2', PROCUR_TEST_SEED_ERROR: HOSTILE };
    const human = cli(['--app', APP, 'dlq', 'list'], env);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).not.toMatch(RAW_CONTROL);
    expect(human.stdout).toContain('vendor API down\\u001b[2J\\u001b[H\\rAll good\\u0007 \\u009b31m \\u202eevil\\nforged line');
    // One line per entry: the newline inside the error forged none.
    expect(human.stdout.trim().split('\n')).toHaveLength(2);

    const json = cli(['--app', APP, 'dlq', 'list', '--json'], env);
    expect(json.code, json.stderr).toBe(0);
    expect(json.stdout).not.toMatch(RAW_CONTROL);
    const entries = JSON.parse(json.stdout) as { error: string }[];
    expect(entries.map((e) => e.error)).toEqual([HOSTILE, HOSTILE]);
  });

  it('an error message naming a hostile argument is escaped on stderr', () => {
    const r = cli(['--app', APP, 'inspect', 'bogus\u001b[2J']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('bogus\\u001b[2J');
    expect(r.stderr).not.toMatch(RAW_CONTROL);
  });
});
