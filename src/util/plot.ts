/**
 * Small charts as PNG: the chart is written as SVG and rasterised with @resvg/resvg-js, so there is no
 * native canvas dependency. Used for loss curves (train/) and grade bar charts (eval/).
 */
import { Resvg } from '@resvg/resvg-js';

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export interface LineSeries {
  name: string;
  points: [number, number][];
  /** A fixed colour (default: the palette, by position). */
  color?: string;
  /** Draw every point as a dot (default: only when there are few points). */
  markers?: boolean;
  /** Line width (default 1.6; 0 draws the dots only). */
  lineWidth?: number;
}
export interface LinePlotOptions {
  series: LineSeries[];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  /** Plot y on a log10 scale (all y must be > 0). */
  logY?: boolean;
}
export interface BarGroup {
  /** One label per group on the x axis (e.g. a grading dimension). */
  label: string;
  /** One value per series (e.g. per system), in series order; null for missing. */
  values: (number | null)[];
  /** Optional error bars (e.g. standard deviation), in series order. */
  errors?: (number | null)[];
}
export interface BarChartOptions {
  series: string[];
  groups: BarGroup[];
  title?: string;
  yLabel?: string;
  yMax?: number;
  width?: number;
  height?: number;
}

/** "Nice" tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/**
 * Ticks for a log10 axis covering [lo, hi] (values > 0), one tick at or below lo and one at or above hi:
 * decades, 1-2-5 steps, or every digit when the range is narrow. Returns the tick values.
 */
export function logTicks(lo: number, hi: number): number[] {
  if (!(lo > 0)) lo = 1e-12;
  if (!(hi > lo)) hi = lo * 10;
  // The densest of decades, 1-2-5 steps and every digit that stays readable (at most 8 ticks).
  let best: number[] = [];
  for (const mantissas of [[1], [1, 2, 5], [1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9]]) {
    const all: number[] = [];
    for (let e = Math.floor(Math.log10(lo)) - 1; e <= Math.ceil(Math.log10(hi)) + 1; e++)
      for (const m of mantissas) all.push(Number((m * 10 ** e).toPrecision(6)));
    const below = all.filter((v) => v <= lo).at(-1) ?? all[0]!;
    const above = all.find((v) => v >= hi) ?? all.at(-1)!;
    const ticks = all.filter((v) => v >= below && v <= above);
    if (!best.length || ticks.length <= 8) best = ticks;
  }
  return best.length <= 12 ? best : best.filter((_, i) => i % 2 === 0 || i === best.length - 1);
}

const fmt = (v: number): string =>
  Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-2 && v !== 0)
    ? v.toExponential(1)
    : String(Number(v.toPrecision(4)));

interface Frame {
  svg: string[];
  left: number;
  top: number;
  plotW: number;
  plotH: number;
}

function frame(width: number, height: number, title?: string, xLabel?: string, yLabel?: string): Frame {
  const left = 64;
  const top = title ? 36 : 16;
  const right = 16;
  const bottom = 48;
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  if (title)
    svg.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`);
  if (xLabel)
    svg.push(
      `<text x="${left + (width - left - right) / 2}" y="${height - 8}" text-anchor="middle">${esc(xLabel)}</text>`,
    );
  if (yLabel)
    svg.push(
      `<text transform="translate(14 ${top + (height - top - bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
    );
  return { svg, left, top, plotW: width - left - right, plotH: height - top - bottom };
}

function render(svg: string[]): Buffer {
  svg.push('</svg>');
  return new Resvg(svg.join('\n'), { font: { loadSystemFonts: true } }).render().asPng();
}

function legend(
  f: Frame,
  names: string[],
  colors: string[] = names.map((_, i) => PALETTE[i % PALETTE.length]!),
): void {
  names.forEach((name, i) => {
    const y = f.top + 8 + i * 16;
    const x = f.left + f.plotW - 150;
    f.svg.push(`<rect x="${x}" y="${y - 8}" width="12" height="10" fill="${colors[i]}"/>`);
    f.svg.push(`<text x="${x + 18}" y="${y + 1}">${esc(name)}</text>`);
  });
}

/** A line chart of one or more series (e.g. train and val loss against step). */
export function linePlotPng(opts: LinePlotOptions): Buffer {
  return linePlotsPng([opts], { width: opts.width, height: opts.height });
}

/** Several line charts side by side in one picture (e.g. the loss beside the image gain). */
export function linePlotsPng(
  panels: LinePlotOptions[],
  size: { width?: number; height?: number } = {},
): Buffer {
  return render(linePlotsSvg(panels, size));
}

/** The SVG of linePlotsPng, without its closing tag (tests read it). */
export function linePlotsSvg(
  panels: LinePlotOptions[],
  size: { width?: number; height?: number } = {},
): string[] {
  const { width = 720 * panels.length, height = 420 } = size;
  const panelW = width / panels.length;
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  panels.forEach((p, k) => {
    svg.push(
      `<g transform="translate(${(k * panelW).toFixed(1)} 0)">`,
      ...linePanel(p, panelW, height),
      '</g>',
    );
  });
  return svg;
}

function linePanel(opts: LinePlotOptions, width: number, height: number): string[] {
  const f = frame(width, height, opts.title, opts.xLabel, opts.yLabel);
  f.svg.splice(0, 2); // the panel goes inside the picture's <svg>
  const pts = opts.series
    .flatMap((s) => s.points)
    .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!opts.logY || y > 0));
  const ty = (y: number): number => (opts.logY ? Math.log10(Math.max(y, 1e-12)) : y);
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const [x0, x1] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  const [v0, v1] = ys.length ? [Math.min(...ys), Math.max(...ys)] : opts.logY ? [1, 10] : [0, 1];
  const xt = niceTicks(x0, x1 > x0 ? x1 : x0 + 1);
  // Tick positions in plotted units (log10 of the value on a log axis).
  const yt = opts.logY ? logTicks(v0, v1).map(Math.log10) : niceTicks(v0, v1 > v0 ? v1 : v0 + 1);
  const [y0, y1] = [ty(v0), ty(v1)];
  const [xa, xb] = [Math.min(x0, xt[0]!), Math.max(x1, xt[xt.length - 1]!)];
  const [ya, yb] = [Math.min(y0, yt[0]!), Math.max(y1, yt[yt.length - 1]!)];
  const sx = (x: number): number => f.left + ((x - xa) / (xb - xa || 1)) * f.plotW;
  const sy = (y: number): number => f.top + f.plotH - ((ty(y) - ya) / (yb - ya || 1)) * f.plotH;
  const syRaw = (v: number): number => f.top + f.plotH - ((v - ya) / (yb - ya || 1)) * f.plotH;
  for (const v of yt) {
    f.svg.push(
      `<line x1="${f.left}" x2="${f.left + f.plotW}" y1="${syRaw(v)}" y2="${syRaw(v)}" stroke="#e5e7eb"/>`,
    );
    const label = opts.logY ? fmt(Number((10 ** v).toPrecision(6))) : fmt(v);
    f.svg.push(`<text x="${f.left - 6}" y="${syRaw(v) + 4}" text-anchor="end" class="ytick">${label}</text>`);
  }
  for (const v of xt) {
    f.svg.push(`<text x="${sx(v)}" y="${f.top + f.plotH + 16}" text-anchor="middle">${fmt(v)}</text>`);
  }
  f.svg.push(
    `<rect x="${f.left}" y="${f.top}" width="${f.plotW}" height="${f.plotH}" fill="none" stroke="#6b7280"/>`,
  );
  const colors = opts.series.map((s, i) => s.color ?? PALETTE[i % PALETTE.length]!);
  opts.series.forEach((s, i) => {
    const good = s.points.filter(
      ([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!opts.logY || y > 0),
    );
    if (!good.length) return;
    const color = colors[i]!;
    const lineWidth = s.lineWidth ?? 1.6;
    const d = good.map(([x, y], j) => `${j ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
    if (lineWidth > 0)
      f.svg.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="${lineWidth}"/>`);
    if (s.markers ?? good.length < 40)
      for (const [x, y] of good)
        f.svg.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${color}"/>`);
  });
  legend(
    f,
    opts.series.map((s) => s.name),
    colors,
  );
  return f.svg;
}

/** A grouped bar chart (e.g. mean grade per dimension, one bar per system), with optional error bars. */
export function barChartPng(opts: BarChartOptions): Buffer {
  const { width = 760, height = 420 } = opts;
  const f = frame(width, height, opts.title, undefined, opts.yLabel);
  const all = opts.groups.flatMap((g) => g.values.map((v, i) => (v ?? 0) + (g.errors?.[i] ?? 0)));
  const yMax = opts.yMax ?? Math.max(1e-9, ...all);
  const yt = niceTicks(0, yMax);
  const top = Math.max(yMax, yt[yt.length - 1]!);
  const sy = (v: number): number => f.top + f.plotH - (v / top) * f.plotH;
  for (const v of yt) {
    f.svg.push(
      `<line x1="${f.left}" x2="${f.left + f.plotW}" y1="${sy(v)}" y2="${sy(v)}" stroke="#e5e7eb"/>`,
    );
    f.svg.push(`<text x="${f.left - 6}" y="${sy(v) + 4}" text-anchor="end">${fmt(v)}</text>`);
  }
  const groupW = f.plotW / Math.max(1, opts.groups.length);
  const barW = (groupW * 0.8) / Math.max(1, opts.series.length);
  opts.groups.forEach((g, gi) => {
    const gx = f.left + gi * groupW + groupW * 0.1;
    g.values.forEach((v, si) => {
      if (v === null || !Number.isFinite(v)) return;
      const x = gx + si * barW;
      f.svg.push(
        `<rect x="${x}" y="${sy(v)}" width="${barW - 2}" height="${sy(0) - sy(v)}" fill="${PALETTE[si % PALETTE.length]}"/>`,
      );
      const e = g.errors?.[si];
      if (e) {
        const cx = x + (barW - 2) / 2;
        f.svg.push(
          `<line x1="${cx}" x2="${cx}" y1="${sy(Math.min(top, v + e))}" y2="${sy(Math.max(0, v - e))}" stroke="#111827"/>`,
        );
      }
    });
    f.svg.push(
      `<text x="${gx + groupW * 0.4}" y="${f.top + f.plotH + 16}" text-anchor="middle">${esc(g.label)}</text>`,
    );
  });
  f.svg.push(`<line x1="${f.left}" x2="${f.left + f.plotW}" y1="${sy(0)}" y2="${sy(0)}" stroke="#6b7280"/>`);
  legend(f, opts.series);
  return render(f.svg);
}
