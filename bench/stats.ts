// Pure helpers of the benchmarks (no package imports, so the unit smoke test can load them without
// a build): medians, percentiles, per-pair ratios, `INFO commandstats` / `INFO cpu` parsing and
// deltas, number formatting and markdown tables.

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Nearest-rank percentile (p in 0-100) of `values`; 0 for an empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))] as number;
}

/** `1,234` for large numbers, `12.3` / `1.23` / `0.123` for small ones. */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a >= 100) return Math.round(n).toLocaleString('en-US');
  if (a >= 10) return n.toFixed(1);
  if (a >= 1) return n.toFixed(2);
  return n.toFixed(3);
}

/** `0.93 (0.91, 0.93, 1.02)`: the median of per-pair ratios, then each pair's. */
export function ratioText(ratios: readonly number[]): string {
  return `${median(ratios).toFixed(2)} (${ratios.map((r) => r.toFixed(2)).join(', ')})`;
}

/** A markdown table. */
export function mdTable(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>, align?: readonly ('l' | 'r')[]): string {
  const a = align ?? headers.map((_, i) => (i === 0 ? 'l' : 'r'));
  const cell = (v: string | number) => (typeof v === 'number' ? fmt(v) : v).replace(/\|/g, '\\|');
  return [
    `| ${headers.join(' | ')} |`,
    `|${a.map((x) => (x === 'r' ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}

/** Calls and microseconds of one command in `INFO commandstats`. */
export interface CommandStat {
  calls: number;
  usec: number;
}

/** Parses `INFO commandstats` (`cmdstat_xadd:calls=3,usec=42,...`) into a map by command name. */
export function parseCommandStats(info: string): Map<string, CommandStat> {
  const out = new Map<string, CommandStat>();
  for (const line of info.split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (m) out.set(m[1] as string, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}

/** `after - before` per command (commands with no new calls left out). */
export function diffCommandStats(before: Map<string, CommandStat>, after: Map<string, CommandStat>): Map<string, CommandStat> {
  const out = new Map<string, CommandStat>();
  for (const [name, a] of after) {
    const b = before.get(name) ?? { calls: 0, usec: 0 };
    const calls = a.calls - b.calls;
    if (calls > 0) out.set(name, { calls, usec: a.usec - b.usec });
  }
  return out;
}

/** The server's CPU seconds (user + sys, main thread and children) from `INFO cpu`. */
export function parseServerCpuSeconds(info: string): number {
  const user = Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1] ?? 0);
  const sys = Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1] ?? 0);
  return user + sys;
}

/** Commands that run Lua: their time includes the commands they call, which commandstats counts again. */
export const SCRIPT_COMMANDS = new Set(['evalsha', 'eval', 'evalsha_ro', 'eval_ro', 'fcall', 'fcall_ro']);

/**
 * Per-operation cost from a commandstats delta: every command (those inside scripts too), script
 * calls, the commands' own execution time (usec of every non-script command, inside scripts or
 * not: Lua and protocol overhead excluded), top commands.
 */
export function perOpCost(delta: Map<string, CommandStat>, ops: number, top = 6): { commands: number; scripts: number; commandUs: number; topText: string } {
  let commands = 0;
  let scripts = 0;
  let commandUs = 0;
  for (const [name, s] of delta) {
    commands += s.calls;
    if (SCRIPT_COMMANDS.has(name)) scripts += s.calls;
    // The commands' own time, inside scripts or not; a script's usec includes its commands' time.
    else commandUs += s.usec;
  }
  const topText = [...delta.entries()]
    .sort((a, b) => b[1].calls - a[1].calls)
    .slice(0, top)
    .map(([name, s]) => `${name} ${(s.calls / ops).toFixed(2)}`)
    .join(', ');
  return { commands: commands / ops, scripts: scripts / ops, commandUs: commandUs / ops, topText };
}

/** Removes `calls` calls of `name` (the harness's own probes) from a delta, with their share of the time. */
export function subtractCalls(delta: Map<string, CommandStat>, name: string, calls: number): void {
  const s = delta.get(name);
  if (!s || calls <= 0) return;
  const left = Math.max(0, s.calls - calls);
  if (left === 0) delta.delete(name);
  else delta.set(name, { calls: left, usec: Math.round((s.usec * left) / s.calls) });
}
