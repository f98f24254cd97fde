import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_TRAIN, loadConfigFile, resolveConfig } from '../../src/train/config.ts';
import { decayedParameterNames } from '../../src/train/trainer.ts';
import { createModel, presetConfig } from '../../src/model/index.ts';

test('defaults follow the paper: lr 1e-3, dropout 0.1, 224×224 images in 16×16 patches', () => {
  const { train, model } = resolveConfig({ model: 'mini' });
  assert.equal(train.lr, 1e-3);
  assert.equal(model.dropout, 0.1);
  assert.equal(model.image_size, 224);
  assert.equal(model.patch_size, 16);
  assert.equal(train.text, 'short');
});

test('overrides: training keys (kebab, camel or dotted), model keys (bare or dotted), types checked', () => {
  const c = resolveConfig({
    model: 'tiny',
    overrides: [
      ['warmup-steps', '7'],
      ['train.grad_clip', '0.5'],
      ['n_layer', '3'],
      ['model.dropout', '0'],
      ['skipBad', 'true'],
    ],
  });
  assert.equal(c.train.warmupSteps, 7);
  assert.equal(c.train.gradClip, 0.5);
  assert.equal(c.train.skipBad, true);
  assert.equal(c.model.n_layer, 3);
  assert.equal(c.model.dropout, 0);
  assert.throws(() => resolveConfig({ model: 'tiny', overrides: [['nope', '1']] }), /unknown setting --nope/);
  assert.throws(
    () => resolveConfig({ model: 'tiny', overrides: [['minLr', '0.5']] }),
    /--min-lr \("minLr"\) must be between 0 and lr/,
  );
  assert.throws(
    () => resolveConfig({ model: 'tiny', overrides: [['model.dropout', '1.5']] }),
    /"dropout" must be in \[0, 1\)/,
  );
  assert.throws(() => resolveConfig({ model: 'mini', config: 'x.json' }), /--model or --config, not both/);
});

test('config files: a model config.json, or training keys with a model preset or object', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cfg-'));
  const modelFile = path.join(dir, 'config.json');
  writeFileSync(modelFile, JSON.stringify({ ...presetConfig('tiny'), n_layer: 1 }));
  const a = loadConfigFile(modelFile);
  assert.equal(a.model.n_layer, 1);
  assert.deepEqual(a.train, DEFAULT_TRAIN);
  const trainFile = path.join(dir, 'train.json');
  writeFileSync(trainFile, JSON.stringify({ model: { preset: 'tiny', n_embd: 64 }, lr: 3e-4, text: 'long' }));
  const b = loadConfigFile(trainFile);
  assert.equal(b.model.n_embd, 64);
  assert.equal(b.model.image_size, 32);
  assert.equal(b.train.lr, 3e-4);
  assert.equal(b.train.text, 'long');
  const bad = path.join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ model: 'tiny', learning_rate: 1 }));
  assert.throws(() => loadConfigFile(bad), /bad\.json: unknown key "learning_rate"/);
  writeFileSync(bad, JSON.stringify({ model: 'huge' }));
  assert.throws(() => loadConfigFile(bad), /bad\.json: "model" must be one of tiny, mini, base, large/);
  writeFileSync(bad, '{"model": ');
  assert.throws(() => loadConfigFile(bad), /bad\.json: invalid JSON/);
});

test('weight decay only on linear and convolution weight matrices', () => {
  const model = createModel(presetConfig('tiny'), { seed: 1 });
  const decayed = decayedParameterNames(model);
  const all = [...model.parameters().keys()];
  assert.ok(decayed.size > 10);
  for (const name of all) {
    const isNormOrBias = /\.(bias|ln\w*\.weight|norm\.weight)$/.test(name);
    const isEmbedding = /(wte|wpe|\.pos|\.cls)/.test(name);
    if (isNormOrBias || isEmbedding) assert.ok(!decayed.has(name), `${name} should not decay`);
  }
  for (const name of [
    'decoder.blocks.0.attn.qkv.weight',
    'vision.patch.conv1.weight',
    'connector.fc.weight',
  ]) {
    assert.ok(decayed.has(name), name);
  }
});
