// Does a trained model look at the picture? The fixture's texts name the colour of what is drawn, which
// only the image tells. The validation's image gain (loss with mismatched pictures minus the real loss)
// must become clearly positive, and greedy descriptions of held-out pictures must name the right colour.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { train } from '../../src/train/trainer.ts';
import { readMetrics } from '../../src/train/metrics.ts';
import { makeDataset, tinyRunConfig } from './fixture.ts';

test('a tiny model learns to use the image: image gain grows and descriptions name the colour', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'grounding-'));
  try {
    const data = await makeDataset(path.join(root, 'data'), { count: 400 });
    const config = tinyRunConfig(data, {
      batchSize: 8,
      steps: 1000,
      lr: '3e-3',
      warmupSteps: 10,
      evalEvery: 250,
      evalSamples: 40,
      samples: 40,
    });
    const summary = await train({
      config,
      runDir: path.join(root, 'run'),
      quiet: true,
      handleSignals: false,
    });
    const gains = readMetrics(path.join(root, 'run', 'metrics.jsonl'))
      .filter((r) => r.val_loss !== undefined)
      .map((r) => r.val_image_gain);
    assert.ok(gains.length >= 4 && gains.every((g) => Number.isFinite(g)), `gains: ${gains}`);
    assert.ok(Math.abs(summary.valImageGain! - gains.at(-1)!) < 1e-5, 'the summary reports the last gain');
    assert.ok(summary.valImageGain! > 0.3, `image gain ${summary.valImageGain} nats per token`);

    const colours = ['red', 'blue', 'green', 'yellow'];
    const named = summary.samples.map((s) => colours.find((c) => s.generated.includes(c)));
    const right = summary.samples.filter((s, i) => named[i] && s.reference.includes(named[i]!)).length;
    assert.ok(
      right >= 0.8 * summary.samples.length,
      `${right} of ${summary.samples.length} descriptions name the right colour:\n` +
        summary.samples.map((s) => `${s.generated} | ${s.reference}`).join('\n'),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
