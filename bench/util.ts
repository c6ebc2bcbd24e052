import { ENVELOPE_VERSION, newEventId, type EventEnvelope } from '@procur/event-bus';

/** Shared helpers of the benchmarks: timing, medians, table printing. */
export interface Row {
  name: string;
  /** Median operations per second over the runs. */
  opsPerSec: number;
  /** The baseline row's name this one is compared with. */
  vs?: string;
  note?: string;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

/** Runs `fn` (which returns ops done) `runs` times after one warm-up and returns the median ops/s. */
export async function measure(runs: number, fn: () => Promise<number>): Promise<number> {
  await fn();
  const rates: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const ops = await fn();
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    rates.push(ops / s);
  }
  return median(rates);
}

export function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2);
}

export function printTable(title: string, rows: Row[]): void {
  const byName = new Map(rows.map((r) => [r.name, r]));
  console.log(`\n## ${title}\n`);
  console.log('| case | ops/s (median) | ratio | note |');
  console.log('|---|---:|---:|---|');
  for (const r of rows) {
    const base = r.vs ? byName.get(r.vs) : undefined;
    const ratio = base ? `${(r.opsPerSec / base.opsPerSec).toFixed(3)} of ${base.name}` : '';
    console.log(`| ${r.name} | ${fmt(r.opsPerSec)} | ${ratio} | ${r.note ?? ''} |`);
  }
}

/** `n` offer events of 100 negotiations and 1,000 flows, as the store benchmarks append them. */
export function events(n: number): EventEnvelope[] {
  const now = new Date().toISOString();
  return Array.from({ length: n }, (_, i) => ({
    id: newEventId(),
    type: 'negotiation.offer.received',
    data: { negotiationId: `neg-${i % 100}`, amount: 1000 + i, roundNumber: 1 + (i % 5) },
    priority: 'normal' as const,
    correlationId: `corr-${i % 1000}`,
    userId: String(i % 50),
    organizationId: 'acme-corp',
    source: 'bench',
    occurredAt: now,
    version: ENVELOPE_VERSION,
  }));
}
