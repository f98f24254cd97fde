// Does the image path learn shapes, not only colours? In the fixture a box and a ball of the same colour
// differ only at their corners, so naming the right one needs the encoder to see form. Trained with the
// main job's image-path settings (every patch reaches the decoder, the patch loss), held-out descriptions
// must name the right shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { train } from '../../src/train/trainer.ts';
import { makeDataset, tinyRunConfig } from './fixture.ts';

const shapeOf = (s: string) => (/\bbox(es)?\b/.test(s) ? 'box' : /\bballs?\b/.test(s) ? 'ball' : null);

test('a tiny model tells a box from a ball of the same colour', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'shapes-'));
  try {
    const data = await makeDataset(path.join(root, 'data'), { count: 400 });
    const config = tinyRunConfig(data, {
      batchSize: 8,
      steps: 1500,
      lr: 3e-3,
      visionLrScale: 1,
      warmupSteps: 10,
      evalEvery: 0,
      evalSamples: 40,
      samples: 40,
      patchLossWeight: 1,
      'model.image_tokens': 'all',
    });
    const summary = await train({
      config,
      runDir: path.join(root, 'run'),
      quiet: true,
      handleSignals: false,
    });
    const right = summary.samples.filter((s) => {
      const named = shapeOf(s.generated);
      return named !== null && named === shapeOf(s.reference);
    }).length;
    assert.ok(
      right >= 0.85 * summary.samples.length,
      `${right} of ${summary.samples.length} descriptions name the right shape:\n` +
        summary.samples.map((s) => `${s.generated} | ${s.reference}`).join('\n'),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
