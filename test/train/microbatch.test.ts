import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { train } from '../../src/train/trainer.ts';
import { resolveConfig } from '../../src/train/config.ts';
import { makeDataset } from './fixture.ts';

test('micro-batches add up to the whole batch: same losses step after step', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'micro-'));
  const data = await makeDataset(path.join(root, 'data'), { count: 40 });
  const losses = async (micro: number) => {
    const out: number[] = [];
    const config = resolveConfig({
      model: 'tiny',
      overrides: [
        ['data', data],
        ['batchSize', '8'],
        ['microBatch', String(micro)],
        ['steps', '6'],
        ['warmupSteps', '2'],
        ['evalEvery', '0'],
        ['samples', '0'],
        // Dropout draws one seed per call, and pieces make more calls: compare without it.
        ['model.dropout', '0'],
      ],
    });
    await train({
      config,
      runDir: path.join(root, `m${micro}`),
      quiet: true,
      handleSignals: false,
      hooks: { onStep: (s) => out.push(s.loss) },
    });
    return out;
  };
  const whole = await losses(0);
  const pieces = await losses(3); // 8 rows as 3 + 3 + 2: unequal pieces, weighted by their tokens
  assert.equal(pieces.length, 6);
  for (let i = 0; i < 6; i++)
    assert.ok(Math.abs(whole[i]! - pieces[i]!) < 2e-5, `step ${i + 1}: ${whole[i]} vs ${pieces[i]}`);
  assert.ok(whole[5]! < whole[0]!);
});

test('--text both trains on ShortDesc and LongDesc: an epoch has twice the samples', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'text-'));
  const data = await makeDataset(path.join(root, 'data'), { count: 20 });
  const steps = async (text: string) => {
    const config = resolveConfig({
      model: 'tiny',
      overrides: [
        ['data', data],
        ['text', text],
        ['batchSize', '4'],
        ['epochs', '1'],
        ['evalEvery', '0'],
        ['samples', '0'],
      ],
    });
    const s = await train({ config, runDir: path.join(root, text), quiet: true, handleSignals: false });
    return s.step;
  };
  const short = await steps('short'); // 16 train records → 4 steps
  assert.equal(short, 4);
  assert.equal(await steps('both'), 2 * short);
});
