// Smoke test of the benchmark harness's pure helpers (bench/stats.ts, bench/chart.ts): the figures
// RESULTS.md prints and the charts it embeds come from these. No Redis, no timing.
import { describe, expect, it } from 'vitest';
import { lineChart, niceMax, shortNumber } from '../../bench/chart.js';
import { diffCommandStats, mdTable, median, parseCommandStats, parseServerCpuSeconds, percentile, perOpCost, ratioText, subtractCalls } from '../../bench/stats.js';

describe('bench stats helpers', () => {
  it('median and nearest-rank percentiles', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(Number.isNaN(median([]))).toBe(true);
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile(xs, 100)).toBe(100);
    expect(percentile([], 99)).toBe(0);
  });

  it('ratio text leads with the median of the per-pair ratios', () => {
    expect(ratioText([0.62, 0.88, 0.68])).toBe('0.68 (0.62, 0.88, 0.68)');
  });

  it('commandstats deltas per operation, scripts counted, probes removed', () => {
    const before = parseCommandStats('# Commandstats\r\ncmdstat_xadd:calls=10,usec=100,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\ncmdstat_info:calls=1,usec=5,usec_per_call=5.00\r\n');
    const after = parseCommandStats(
      'cmdstat_xadd:calls=210,usec=2100,usec_per_call=10.00\r\ncmdstat_evalsha:calls=50,usec=900,usec_per_call=18.00\r\ncmdstat_xpending:calls=4,usec=8\r\ncmdstat_info:calls=3,usec=15\r\n',
    );
    const d = diffCommandStats(before, after);
    expect(d.get('xadd')).toEqual({ calls: 200, usec: 2000 });
    subtractCalls(d, 'info', 2);
    subtractCalls(d, 'xpending', 4);
    expect(d.has('info')).toBe(false);
    expect(d.has('xpending')).toBe(false);
    const c = perOpCost(d, 100);
    expect(c.commands).toBeCloseTo(2.5);
    expect(c.scripts).toBeCloseTo(0.5);
    expect(c.topText).toBe('xadd 2.00, evalsha 0.50');
    expect(c.commandUs).toBeCloseTo(20); // xadd's 2,000 µs over 100 ops; the script's 900 µs already hold its commands' time
    expect(parseServerCpuSeconds('used_cpu_sys:1.250000\r\nused_cpu_user:2.500000\r\n')).toBeCloseTo(3.75);
  });

  it('markdown tables escape pipes and right-align numbers', () => {
    const t = mdTable(['case', 'rate'], [['a|b', 1234.5]]);
    expect(t).toBe('| case | rate |\n|---|---:|\n| a\\|b | 1,235 |');
  });
});

describe('bench charts', () => {
  it('axis helpers', () => {
    expect(niceMax(7300)).toBe(10_000);
    expect(niceMax(2100)).toBe(2500);
    expect(shortNumber(1_000_000)).toBe('1M');
    expect(shortNumber(12_500)).toBe('13k');
    expect(shortNumber(1500)).toBe('1.5k');
  });

  it('draws one polyline per series with its points, on a log axis, escaping labels', () => {
    const svg = lineChart({
      title: 'Consume <rate>',
      xLabel: 'backlog',
      yLabel: 'events/s',
      logX: true,
      series: [
        { name: 'ours', points: [{ x: 10_000, y: 100 }, { x: 100_000, y: 200 }, { x: 1_000_000, y: 300 }] },
        { name: 'raw & co', points: [{ x: 10_000, y: 150 }, { x: 1_000_000, y: 250 }], dashed: true },
      ],
    });
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg.match(/<circle/g)).toHaveLength(5);
    expect(svg).toContain('Consume &lt;rate&gt;');
    expect(svg).toContain('raw &amp; co');
    expect(svg).toContain('stroke-dasharray');
    // Log axis: 100k sits halfway between 10k and 1M.
    const xs = [...svg.matchAll(/<circle cx="([\d.]+)"/g)].slice(0, 3).map((m) => Number(m[1]));
    expect(xs[1]! - xs[0]!).toBeCloseTo(xs[2]! - xs[1]!, 0);
    expect(svg).not.toContain('NaN');
  });
});
