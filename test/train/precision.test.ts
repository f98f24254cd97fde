// Mixed precision learns as fp32 does: the tiny fixture trained from the same seed with the products in
// bf16 (inputs rounded, fp32 sums; weights, AdamW, LayerNorm, softmax and loss in fp32) ends within 2% of
// fp32's validation loss, while its losses really differ (the products did round).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { train } from '../../src/train/trainer.ts';
import { resolveConfig } from '../../src/train/config.ts';
import { setPrecision, precisionInfo, type PrecisionChoice } from '../../src/tensor/precision.ts';
import { makeDataset } from './fixture.ts';

test('tiny fixture: bf16 products end within 2% of the fp32 val loss from the same seed', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'precision-'));
  const data = await makeDataset(path.join(root, 'data'), { count: 60 });
  const run = async (precision: PrecisionChoice) => {
    const info = setPrecision(precision);
    const losses: number[] = [];
    try {
      const config = resolveConfig({
        model: 'tiny',
        overrides: [
          ['data', data],
          ['batchSize', '8'],
          ['steps', '60'],
          ['warmupSteps', '5'],
          ['evalEvery', '0'],
          ['samples', '0'],
        ],
      });
      const s = await train({
        config,
        runDir: path.join(root, precision),
        quiet: true,
        handleSignals: false,
        hooks: { onStep: (x) => losses.push(x.loss) },
      });
      return { info, valLoss: s.valLoss!, losses };
    } finally {
      setPrecision('fp32');
    }
  };
  const fp32 = await run('fp32');
  const bf16 = await run('bf16');
  assert.equal(fp32.info.precision, 'fp32');
  // A CPU without a bf16 engine runs fp32 and says so (test/tensor/bf16.test.ts forces that case).
  if (bf16.info.precision !== 'bf16') {
    assert.match(bf16.info.note, /bf16 asked/);
    return;
  }
  assert.notDeepEqual(bf16.losses, fp32.losses, 'bf16 products should change the losses');
  assert.ok(fp32.losses.at(-1)! < fp32.losses[0]! * 0.8, 'the fixture learns');
  const rel = Math.abs(bf16.valLoss - fp32.valLoss) / fp32.valLoss;
  assert.ok(
    rel <= 0.02,
    `val loss fp32 ${fp32.valLoss.toFixed(4)} vs bf16 ${bf16.valLoss.toFixed(4)}: ${rel}`,
  );
  assert.equal(precisionInfo().precision, 'fp32');
});
