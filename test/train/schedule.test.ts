import { test } from 'node:test';
import assert from 'node:assert/strict';
import { learningRate } from '../../src/train/schedule.ts';
import { MetricsLog, readMetrics } from '../../src/train/metrics.ts';
import { lossCurvePng, smooth } from '../../src/train/curve.ts';
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

test('learning rate: linear warm-up, cosine decay to the floor, floor after the end', () => {
  const s = { lr: 1e-3, minLr: 1e-4, warmupSteps: 10, totalSteps: 110 };
  assert.equal(learningRate(0, s), 1e-4);
  assert.equal(learningRate(9, s), 1e-3);
  assert.equal(learningRate(10, s), 1e-3);
  assert.ok(Math.abs(learningRate(60, s) - 5.5e-4) < 1e-12);
  assert.ok(Math.abs(learningRate(110, s) - 1e-4) < 1e-12);
  assert.equal(learningRate(500, s), 1e-4);
  for (let i = 11; i < 110; i++) assert.ok(learningRate(i, s) < learningRate(i - 1, s));
});

test('metrics log: cut back to a step on resume, torn lines skipped', () => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'm-')), 'metrics.jsonl');
  const log = new MetricsLog(file);
  for (let step = 1; step <= 5; step++) log.append({ step, loss: 5 - step });
  appendFileSync(file, '{"step": 6, "lo'); // a kill in the middle of a line
  assert.equal(readMetrics(file).length, 5);
  const resumed = new MetricsLog(file, { keepUpToStep: 3 });
  assert.deepEqual(
    resumed.rows.map((r) => r.step),
    [1, 2, 3],
  );
  resumed.append({ step: 4, loss: 0.5, val_loss: 0.7 });
  assert.deepEqual(
    readMetrics(file).map((r) => r.step),
    [1, 2, 3, 4],
  );
  const fresh = new MetricsLog(file);
  assert.equal(fresh.rows.length, 0);
  assert.equal(readMetrics(file).length, 0);
});

test('loss curve: a PNG with train and val series; smoothing has no lag at the start', () => {
  const png = lossCurvePng([
    { step: 1, loss: 4 },
    { step: 2, loss: 3 },
    { step: 2, val_loss: 3.5 },
  ]);
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]);
  assert.deepEqual(smooth([[1, 4]]), [[1, 4]]);
  const noisy = Array.from(
    { length: 40 },
    (_, i) => [i, 10 - i * 0.1 + (i % 2 ? 1 : -1)] as [number, number],
  );
  const sm = smooth(noisy, 5);
  assert.deepEqual(sm[0], noisy[0], 'starts where the raw line starts');
  assert.ok(Math.abs(sm.at(-1)![1] - noisy.at(-1)![1]) < 1e-9, 'ends where the raw line ends');
  assert.ok(Math.abs(sm[20]![1] - (10 - 2)) < 0.15, `the middle is averaged: ${sm[20]![1]}`);
});
