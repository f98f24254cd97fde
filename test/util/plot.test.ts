import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { barChartPng, linePlotPng, niceTicks } from '../../src/util/plot.ts';

test('niceTicks covers the range with round steps', () => {
  assert.deepEqual(niceTicks(0, 10), [0, 2, 4, 6, 8, 10]);
  const t = niceTicks(1.3, 7.9);
  assert.ok(t[0]! >= 1.3 && t[t.length - 1]! <= 7.9 + 1e-9);
});

test('line plot draws both series in their colours', async () => {
  const png = linePlotPng({
    series: [
      { name: 'train', points: Array.from({ length: 50 }, (_, i) => [i, 5 / (1 + i)] as [number, number]) },
      {
        name: 'val',
        points: [
          [0, 5],
          [25, 0.4],
          [49, 0.3],
        ],
      },
    ],
    title: 'loss',
    xLabel: 'step',
  });
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.width, 720);
  let blue = 0;
  let red = 0;
  for (let i = 0; i < data.length; i += info.channels) {
    if (data[i]! < 80 && data[i + 2]! > 200) blue++;
    if (data[i]! > 200 && data[i + 1]! < 80) red++;
  }
  assert.ok(blue > 100 && red > 50, `blue ${blue} red ${red}`);
});

test('bar chart bar heights follow the values', async () => {
  const png = barChartPng({
    series: ['a'],
    groups: [
      { label: 'x', values: [10] },
      { label: 'y', values: [5] },
    ],
    yMax: 10,
  });
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const column = (x: number): number => {
    let n = 0;
    for (let y = 0; y < info.height; y++) {
      const i = (y * info.width + x) * info.channels;
      if (data[i]! < 80 && data[i + 2]! > 200) n++;
    }
    return n;
  };
  const w = info.width - 64 - 16;
  const first = column(Math.round(64 + w * 0.25));
  const second = column(Math.round(64 + w * 0.75));
  assert.ok(Math.abs(first / second - 2) < 0.1, `${first} vs ${second}`);
});
