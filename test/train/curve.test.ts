// loss.png: a log axis whose ticks cover the loss, validation dots, fixed colours, a smoothed line that
// starts on the raw one, and the image gain beside the loss.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { CURVE_COLORS, lossCurvePanels, lossCurvePng, smooth } from '../../src/train/curve.ts';
import type { MetricsRow } from '../../src/train/metrics.ts';
import { linePlotsSvg, logTicks } from '../../src/util/plot.ts';

/** 300 logged windows of a loss falling from 6 to about 1, a validation every 50 steps with its image gain. */
function run(): MetricsRow[] {
  const rows: MetricsRow[] = [];
  for (let step = 10; step <= 3000; step += 10) {
    rows.push({ step, loss: 1 + 5 * Math.exp(-step / 300) + 0.05 * Math.sin(step) });
    if (step % 500 === 0)
      rows.push({ step, val_loss: 1.1 + 5 * Math.exp(-step / 300), val_image_gain: step / 3000 });
  }
  return rows;
}

test('logTicks cover the range with one tick beyond each end', () => {
  for (const [lo, hi] of [
    [0.93, 6.2],
    [1.02, 1.9],
    [0.004, 300],
  ] as const) {
    const t = logTicks(lo, hi);
    assert.ok(t[0]! <= lo && t.at(-1)! >= hi, `${t} covers ${lo}..${hi}`);
    assert.ok(t.length >= 3 && t.length <= 12, `${t.length} ticks`);
    assert.ok(t.every((v, i) => i === 0 || v > t[i - 1]!));
  }
});

test('the loss panel: log y, ticks below the lowest loss, val as dots, fixed colours, no lag at the start', () => {
  const rows = run();
  const [loss, gain] = lossCurvePanels(rows, 'mini');
  assert.equal(loss!.logY, true);
  const byName = Object.fromEntries(loss!.series.map((s) => [s.name, s]));
  assert.equal(byName.train!.color, CURVE_COLORS.train);
  assert.equal(byName['train (smoothed)']!.color, CURVE_COLORS.smoothed);
  assert.equal(byName.val!.color, CURVE_COLORS.val);
  assert.equal(byName.val!.markers, true);
  assert.deepEqual(byName['train (smoothed)']!.points[0], byName.train!.points[0]);
  // A short run (no smoothed line) keeps the same colour for val.
  const short = lossCurvePanels(rows.slice(0, 20))[0]!;
  assert.equal(short.series.find((s) => s.name === 'val')?.color ?? CURVE_COLORS.val, CURVE_COLORS.val);
  assert.equal(short.series.length, 2);

  const svg = linePlotsSvg([loss!]).join('\n');
  const ticks = [...svg.matchAll(/class="ytick">([^<]+)</g)].map((m) => Number(m[1]));
  const losses = rows.filter((r) => r.loss !== undefined).map((r) => r.loss!);
  assert.ok(Math.min(...ticks) <= Math.min(...losses), `lowest tick ${Math.min(...ticks)}`);
  assert.ok(Math.max(...ticks) >= Math.max(...losses));
  assert.equal((svg.match(new RegExp(`<circle [^>]*fill="${CURVE_COLORS.val}"`, 'g')) ?? []).length, 6);

  assert.equal(gain!.series[0]!.name, 'image gain');
  assert.equal(gain!.series[0]!.points.length, 6);
  assert.equal(lossCurvePanels(rows.filter((r) => r.val_image_gain === undefined)).length, 1);
});

test('loss.png shows the image gain beside the loss, in its colours', async () => {
  const { data, info } = await sharp(lossCurvePng(run())).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.width, 1440, 'two panels');
  const count = (hex: string, x0: number, x1: number) => {
    const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    let n = 0;
    for (let y = 0; y < info.height; y++)
      for (let x = x0; x < x1; x++) {
        const i = (y * info.width + x) * info.channels;
        if (
          Math.abs(data[i]! - r!) < 20 &&
          Math.abs(data[i + 1]! - g!) < 20 &&
          Math.abs(data[i + 2]! - b!) < 20
        )
          n++;
      }
    return n;
  };
  assert.ok(count(CURVE_COLORS.val, 0, 720) > 60, 'val dots on the left');
  assert.ok(count(CURVE_COLORS.smoothed, 0, 720) > 200, 'the smoothed line on the left');
  assert.ok(count(CURVE_COLORS.gain, 720, 1440) > 60, 'the image gain on the right');
  assert.equal(count(CURVE_COLORS.gain, 0, 600), 0);
});

test('smooth: a centred window that narrows at both ends', () => {
  const pts = [0, 1, 2, 3, 4].map((x) => [x, x * x] as [number, number]);
  const got = smooth(pts, 1);
  const want: [number, number][] = [
    [0, 0],
    [1, (0 + 1 + 4) / 3],
    [2, (1 + 4 + 9) / 3],
    [3, (4 + 9 + 16) / 3],
    [4, 16],
  ];
  got.forEach(([x, y], i) => {
    assert.equal(x, want[i]![0]);
    assert.ok(Math.abs(y - want[i]![1]) < 1e-9, `${y} ~ ${want[i]![1]}`);
  });
});
