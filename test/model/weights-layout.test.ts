import { test } from 'node:test';
import assert from 'node:assert/strict';
import { weightsLayout } from '../../src/model/weights-layout.ts';
import { tinyConfig, tinyModel } from './helpers.ts';

test("weightsLayout lists the model's own parameters, in order, with their shapes", () => {
  const variants = [
    {},
    { tie_word_embeddings: false },
    { word_head: true, tie_word_embeddings: false },
    { connector_hidden: 0 },
    { image_tokens: 'all' as const },
    { vision_blocks: 0, n_layer: 3, mlp_ratio: 2 },
    { patch_conv_channels: [4, 6] as [number, number], patch_size: 4 },
  ];
  for (const v of variants) {
    const model = tinyModel(v);
    const fromModel = [...model.stateDict()].map(([n, t]) => [n, [...t.shape]]);
    const fromConfig = [...weightsLayout(tinyConfig(v))].map(([n, s]) => [n, [...s]]);
    assert.deepEqual(fromConfig, fromModel, JSON.stringify(v));
  }
});
