import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../../src/train/config.ts';
import { mainJobSettings } from '../../src/train/recipe.ts';

// The main job's settings as the string pairs they were before the recipe: the recipe must resolve to
// the same config, so the main job trains as it did.
const OLD_MAIN_JOB_PAIRS = (imageSize: number): [string, string][] => [
  ['batchSize', '8'],
  ['lr', '3e-3'],
  ['minLr', '3e-4'],
  ['warmupSteps', '30'],
  ['model.image_size', String(imageSize)],
  ['model.image_tokens', 'all'],
  ['model.dropout', '0'],
  ['visionLrScale', '0.01'],
  ['evalEvery', '500'],
  ['evalSamples', '160'],
  ['saveEvery', '500'],
];

test('the captions-only recipe resolves to the settings the main job trained with before the patch loss', () => {
  for (const [preset, px] of [
    ['mini', 112],
    ['tiny', 32],
  ] as const) {
    const viaRecipe = resolveConfig({ model: preset, recipe: mainJobSettings(preset, 'captions') });
    const viaPairs = resolveConfig({ model: preset, overrides: OLD_MAIN_JOB_PAIRS(px) });
    assert.deepEqual(viaRecipe, viaPairs);
    assert.equal(viaRecipe.train.visionLrScale, 0.01);
    assert.equal(viaRecipe.train.patchLossWeight, 0);
    assert.equal(viaRecipe.model.image_size, px);
  }
});

test('the grounded recipe (the default) is the captions-only one plus the patch loss, image path at 0.3', () => {
  const grounded = resolveConfig({ model: 'mini', recipe: mainJobSettings('mini') });
  const captions = resolveConfig({ model: 'mini', recipe: mainJobSettings('mini', 'captions') });
  assert.deepEqual(grounded, {
    model: captions.model,
    train: { ...captions.train, patchLossWeight: 1, visionLrScale: 0.3 },
  });
});

test('--key=value overrides go on top of a recipe; a bad recipe value names the recipe', () => {
  const c = resolveConfig({
    model: 'mini',
    recipe: mainJobSettings('mini'),
    overrides: [
      ['visionLrScale', '0.1'],
      ['model.image_size', '224'],
    ],
  });
  assert.equal(c.train.visionLrScale, 0.1);
  assert.equal(c.model.image_size, 224);
  assert.equal(c.train.batchSize, 8);
  const bad = { name: 'broken', train: { batchSize: 0 }, model: {} };
  assert.throws(
    () => resolveConfig({ model: 'mini', recipe: bad }),
    /recipe "broken": --batch-size \("batchSize"\) must be at least 1/,
  );
});
