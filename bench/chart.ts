// SVG line charts drawn from a benchmark's own measurements (no dependencies; the same style as
// bench/soak.ts's memory chart). Pure: the unit smoke test loads it without a build.

/** One line of a chart. */
export interface Series {
  name: string;
  points: { x: number; y: number }[];
  color?: string;
  /** Dashed line (a baseline, e.g. the raw driver). */
  dashed?: boolean;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Logarithmic x axis (backlog sizes 10k..1M). @default false */
  logX?: boolean;
  /** A note under the chart (settings, machine). */
  note?: string;
  width?: number;
  height?: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** `12k`, `1.5M`, `850`, `0.42`. */
export function shortNumber(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toFixed(a >= 1e4 ? 0 : 1)}k`;
  if (a >= 10 || v === 0) return String(Math.round(v));
  return String(+v.toFixed(2));
}

/** A "nice" upper bound for an axis: 1, 2, 2.5 or 5 times a power of ten, at least `max`. */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

/** A line chart with a legend; x values are placed on a linear or log axis and labelled with the data's own x values. */
export function lineChart(o: LineChartOptions): string {
  const W = o.width ?? 640;
  const H = o.height ?? 360;
  const left = 70;
  const right = 16;
  const top = 40;
  const legendH = 18 * Math.ceil(o.series.length / 2);
  const bottom = 48 + legendH + (o.note ? 16 : 0);
  const xs = [...new Set(o.series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const ys = o.series.flatMap((s) => s.points.map((p) => p.y)).filter((y) => Number.isFinite(y));
  const yMax = niceMax(Math.max(0, ...ys) * 1.05);
  const tx = (v: number) => (o.logX ? Math.log10(Math.max(v, 1e-9)) : v);
  const x0 = tx(xs[0] ?? 0);
  const x1 = tx(xs[xs.length - 1] ?? 1);
  const span = x1 - x0 || 1;
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const X = (v: number) => left + (xs.length === 1 ? plotW / 2 : (plotW * (tx(v) - x0)) / span);
  const Y = (v: number) => top + plotH - (plotH * v) / yMax;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${left}" y="20" font-size="13" font-weight="bold">${esc(o.title)}</text>`,
    `<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#ccc"/>`,
  ];
  for (let k = 0; k <= 4; k++) {
    const v = (yMax * k) / 4;
    out.push(`<line x1="${left}" y1="${Y(v).toFixed(1)}" x2="${W - right}" y2="${Y(v).toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${left - 6}" y="${(Y(v) + 4).toFixed(1)}" text-anchor="end" fill="#555">${shortNumber(v)}</text>`);
  }
  for (const v of xs) {
    out.push(`<line x1="${X(v).toFixed(1)}" y1="${top + plotH}" x2="${X(v).toFixed(1)}" y2="${top + plotH + 4}" stroke="#999"/>`);
    out.push(`<text x="${X(v).toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle" fill="#555">${shortNumber(v)}</text>`);
  }
  out.push(`<text x="${left + plotW / 2}" y="${top + plotH + 32}" text-anchor="middle" fill="#333">${esc(o.xLabel)}</text>`);
  out.push(`<text transform="translate(14 ${top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(o.yLabel)}</text>`);
  o.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const pts = [...s.points].filter((p) => Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    if (pts.length > 1) {
      out.push(`<polyline points="${pts.map((p) => `${X(p.x).toFixed(1)},${Y(p.y).toFixed(1)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    }
    for (const p of pts) out.push(`<circle cx="${X(p.x).toFixed(1)}" cy="${Y(p.y).toFixed(1)}" r="3" fill="${color}"><title>${esc(`${s.name}: ${shortNumber(p.x)} -> ${shortNumber(p.y)}`)}</title></circle>`);
    const lx = left + (i % 2) * (plotW / 2);
    const ly = top + plotH + 48 + 18 * Math.floor(i / 2);
    out.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 22}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${lx + 28}" y="${ly}" fill="#333">${esc(s.name)}</text>`);
  });
  if (o.note) out.push(`<text x="${left}" y="${H - 6}" fill="#777" font-size="10">${esc(o.note)}</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
