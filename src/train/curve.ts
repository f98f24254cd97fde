/**
 * The loss-curve picture beside metrics.jsonl. Left: train loss (raw, and smoothed once there are many
 * rows) and validation loss as dots, on a log axis so the late, slow part of the descent stays visible.
 * Right (once validations measured it): the image gain, val loss with mismatched pictures minus the real
 * one. Each series has the same colour in every run.
 */
import { linePlotsPng, type LinePlotOptions, type LineSeries } from '../util/plot.ts';
import { writeFileAtomic } from '../util/fs.ts';
import type { MetricsRow } from './metrics.ts';

export const CURVE_COLORS = {
  train: '#93c5fd',
  smoothed: '#1d4ed8',
  val: '#dc2626',
  gain: '#16a34a',
} as const;

/** Keeps at most `max` points, evenly spaced, always including the last. */
function thin(points: [number, number][], max: number): [number, number][] {
  if (points.length <= max) return points;
  const stride = points.length / max;
  const out: [number, number][] = [];
  for (let i = 0; i < max; i++) out.push(points[Math.floor(i * stride)]!);
  out[out.length - 1] = points[points.length - 1]!;
  return out;
}

/**
 * A centred moving average over up to `halfWidth` points each side, the window narrowing at both ends:
 * it has no lag, so the smoothed line starts where the raw one does instead of above a falling start.
 */
export function smooth(points: [number, number][], halfWidth = 10): [number, number][] {
  const prefix = [0];
  for (const [, y] of points) prefix.push(prefix.at(-1)! + y);
  return points.map(([x], i) => {
    const h = Math.min(halfWidth, i, points.length - 1 - i);
    return [x, (prefix[i + h + 1]! - prefix[i - h]!) / (2 * h + 1)];
  });
}

/** The panels of the loss picture (exported for tests). */
export function lossCurvePanels(rows: MetricsRow[], title = 'loss'): LinePlotOptions[] {
  const pointsOf = (key: 'loss' | 'val_loss' | 'val_image_gain') =>
    rows.filter((r) => typeof r[key] === 'number').map((r) => [r.step, r[key]!] as [number, number]);
  const train = pointsOf('loss');
  const series: LineSeries[] = [
    { name: 'train', points: thin(train, 1500), color: CURVE_COLORS.train, markers: false },
    // Rows are already window averages: a smoothed line only helps once there are many of them.
    ...(train.length >= 100
      ? [
          {
            name: 'train (smoothed)',
            points: thin(smooth(train), 1500),
            color: CURVE_COLORS.smoothed,
            markers: false,
          },
        ]
      : []),
    { name: 'val', points: pointsOf('val_loss'), color: CURVE_COLORS.val, markers: true },
  ];
  const panels: LinePlotOptions[] = [
    { series, title, xLabel: 'step', yLabel: 'cross-entropy (nats/token, log scale)', logY: true },
  ];
  const gain = pointsOf('val_image_gain');
  if (gain.length) {
    panels.push({
      series: [{ name: 'image gain', points: gain, color: CURVE_COLORS.gain, markers: true }],
      title: 'image gain (mismatched minus real val loss)',
      xLabel: 'step',
      yLabel: 'nats/token',
    });
  }
  return panels;
}

export function lossCurvePng(rows: MetricsRow[], title = 'loss'): Buffer {
  return linePlotsPng(lossCurvePanels(rows, title));
}

export async function writeLossCurve(file: string, rows: MetricsRow[], title?: string): Promise<void> {
  await writeFileAtomic(file, lossCurvePng(rows, title));
}
