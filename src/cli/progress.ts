/** A progress line on stderr for long work (only on a terminal, never with `--json`). @internal */
export interface Progress {
  /** Reports `done` items so far (of `total`, when known), with an optional note. */
  update(done: number, note?: string): void;
  /** Ends the line. */
  finish(): void;
}

/**
 * Creates a progress line: a bar when the total is known (`[#####.....] 50/100  20/s`), else a
 * counter with the rate. Redrawn at most 10 times a second. A no-op when `enabled` is false or
 * stderr is not a terminal.
 *
 * @internal
 */
export function progress(label: string, total: number | undefined, enabled: boolean, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!enabled || !stream.isTTY) return { update() {}, finish() {} };
  const t0 = Date.now();
  let last = 0;
  let drawn = false;
  const draw = (done: number, note?: string) => {
    const secs = Math.max(0.001, (Date.now() - t0) / 1000);
    const rate = `${Math.round(done / secs)}/s`;
    let line: string;
    if (total !== undefined && total > 0) {
      const width = 30;
      const filled = Math.min(width, Math.round((done / total) * width));
      line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}  ${rate}`;
    } else line = `${label} ${done}  ${rate}`;
    if (note) line += `  ${note}`;
    const cols = stream.columns ?? 100;
    stream.write(`\r${line.slice(0, cols - 1).padEnd(Math.min(cols - 1, line.length))}\x1b[K`);
    drawn = true;
  };
  return {
    update(done, note) {
      const now = Date.now();
      if (now - last < 100 && done !== total) return;
      last = now;
      draw(done, note);
    },
    finish() {
      if (drawn) stream.write('\n');
    },
  };
}
