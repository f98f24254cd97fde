/** The loss-curve picture beside metrics.jsonl: train loss (raw and smoothed) and validation loss. */
import { linePlotPng } from '../util/plot.ts';
import { writeFileAtomic } from '../util/fs.ts';
import type { MetricsRow } from './metrics.ts';

/** Keeps at most `max` points, evenly spaced, always including the last. */
function thin(points: [number, number][], max: number): [number, number][] {
  if (points.length <= max) return points;
  const stride = points.length / max;
  const out: [number, number][] = [];
  for (let i = 0; i < max; i++) out.push(points[Math.floor(i * stride)]!);
  out[out.length - 1] = points[points.length - 1]!;
  return out;
}

/** Exponential moving average with bias correction, so early points are not pulled towards zero. */
export function smooth(points: [number, number][], beta = 0.9): [number, number][] {
  let avg = 0;
  return points.map(([x, y], i) => {
    avg = beta * avg + (1 - beta) * y;
    return [x, avg / (1 - beta ** (i + 1))];
  });
}

export function lossCurvePng(rows: MetricsRow[], title = 'loss'): Buffer {
  const train = rows.filter((r) => r.loss !== undefined).map((r) => [r.step, r.loss!] as [number, number]);
  const val = rows
    .filter((r) => r.val_loss !== undefined)
    .map((r) => [r.step, r.val_loss!] as [number, number]);
  const series = [
    { name: 'train', points: thin(train, 1500) },
    // Rows are already window averages: a smoothed line only helps once there are many of them.
    { name: 'train (smoothed)', points: train.length >= 100 ? thin(smooth(train), 1500) : [] },
    { name: 'val', points: thin(val, 1500) },
  ].filter((s) => s.points.length);
  return linePlotPng({ series, title, xLabel: 'step', yLabel: 'cross-entropy (nats/token)' });
}

export async function writeLossCurve(file: string, rows: MetricsRow[], title?: string): Promise<void> {
  await writeFileAtomic(file, lossCurvePng(rows, title));
}
