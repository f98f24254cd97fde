import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/tensor/tensor.ts';
import { crossEntropy, linear, reshape, slice } from '../../src/tensor/ops/index.ts';
import { Rng } from '../../src/util/rng.ts';
import { numPatches } from '../../src/model/config.ts';
import { createModel } from '../../src/model/nanovlm.ts';
import { patchLoss } from '../../src/model/patch-loss.ts';
import { NO_PATCH_LABEL } from '../../src/data/patch-cover.ts';
import { gradcheck, param } from '../tensor/gradcheck.ts';
import { tinyConfig } from './helpers.ts';

const cfg = { ...tinyConfig(), image_tokens: 'all' as const };

function pictures(n: number): Tensor {
  const S = cfg.image_size;
  const images = Tensor.zeros([n, 3, S, S]);
  for (let i = 0; i < images.size; i++) images.data[i] = Math.sin(i * 0.37);
  return images;
}

test('the patch loss: each labelled patch image token read through the decoder head, against its target', () => {
  const model = createModel(cfg, { seed: 4 });
  const P = numPatches(cfg);
  const images = pictures(2);
  const ids = new Tensor(Int32Array.from([0, 5, 6, 1, 0, 7, 1, 2]), [2, 4]);
  const targets = new Int32Array(2 * P).fill(NO_PATCH_LABEL);
  targets[0] = 5;
  targets[3] = cfg.pad_token_id;
  targets[P + 1] = 9;
  const { patchLoss: loss } = model.forward(images, ids, { patchTargets: targets });
  assert.ok(loss);
  // By hand: the three labelled patches' image tokens ([CLS] is token 0), their mean cross-entropy.
  const tokens = model.encodeImages(images);
  const D = cfg.n_embd;
  const rows = [
    [0, 0],
    [0, 3],
    [1, 1],
  ] as const;
  let expected = 0;
  for (const [b, p] of rows) {
    const token = reshape(slice(slice(tokens, 0, b, b + 1), 1, 1 + p, 2 + p), [1, 1, D]);
    const logits = linear(token, model.decoder.headWeight);
    const t = Int32Array.from([targets[b * P + p]!]);
    expected += crossEntropy(logits, new Tensor(t, [1, 1])).item() / rows.length;
  }
  assert.ok(Math.abs(loss.item() - expected) < 1e-5, `${loss.item()} vs ${expected}`);

  loss.backward();
  assert.ok(
    model.vision.patch.proj.weight.grad!.some((x) => x !== 0),
    'the encoder receives a gradient',
  );
  assert.ok(
    model.connector.proj.weight.grad!.some((x) => x !== 0),
    'and the connector',
  );

  const none = model.forward(images, ids, { patchTargets: new Int32Array(2 * P).fill(NO_PATCH_LABEL) });
  assert.equal(none.patchLoss, null, 'no labelled patch, no loss');
  assert.equal(model.forward(images, ids).patchLoss, null, 'no targets, no loss');
  assert.throws(
    () => model.forward(images, ids, { patchTargets: new Int32Array(P) }),
    /targets for 2 × 16 patches/,
  );
  const clsOnly = createModel({ ...cfg, image_tokens: 'cls' }, { seed: 4 });
  assert.throws(() => clsOnly.forward(images, ids, { patchTargets: targets }), /needs every patch/);
});

test('the patch loss: gradient against finite differences (image tokens and head weight)', () => {
  const rng = new Rng(6);
  const targets = Int32Array.from([3, NO_PATCH_LABEL, 0, 6, 2, NO_PATCH_LABEL]);
  // [CLS] + 3 patches per picture, width 4, a vocabulary of 7
  gradcheck('patch loss', [param([2, 4, 4], rng), param([7, 4], rng)], (tokens, head) =>
    patchLoss(tokens, head, targets)!,
  );
});
