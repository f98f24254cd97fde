import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/tensor/tensor.ts';
import { crossEntropy, linear, reshape, slice } from '../../src/tensor/ops/index.ts';
import { Rng } from '../../src/util/rng.ts';
import { countParams, numPatches, validateConfig } from '../../src/model/config.ts';
import { createModel } from '../../src/model/nanovlm.ts';
import { NO_PATCH_LABEL } from '../../src/data/patch-cover.ts';
import { gradcheck, param } from '../tensor/gradcheck.ts';
import { tinyConfig } from './helpers.ts';

const cfg = { ...tinyConfig(), patch_head: true };

function pictures(n: number): Tensor {
  const S = cfg.image_size;
  const images = Tensor.zeros([n, 3, S, S]);
  for (let i = 0; i < images.size; i++) images.data[i] = Math.sin(i * 0.37);
  return images;
}

test('the patch head: counted, absent from old config files and by default', () => {
  const model = createModel(cfg, { seed: 3 });
  assert.equal(countParams(cfg).trainingHeads, cfg.img_embd_dim * cfg.vocab_size + cfg.vocab_size);
  assert.equal(model.parameterCount(), countParams(cfg).total);
  const { patch_head: _, ...old } = cfg;
  assert.equal(validateConfig(old).patch_head, false);
  assert.equal(createModel(tinyConfig(), { seed: 3 }).patchHead, null);
});

test('the patch head loss is the cross-entropy of each labelled patch token against its target', () => {
  const model = createModel(cfg, { seed: 4 });
  const P = numPatches(cfg);
  const images = pictures(2);
  const ids = new Tensor(Int32Array.from([0, 5, 6, 1, 0, 7, 1, 2]), [2, 4]);
  const targets = new Int32Array(2 * P).fill(NO_PATCH_LABEL);
  targets[0] = 5;
  targets[3] = cfg.pad_token_id;
  targets[P + 1] = 9;
  const { patchLoss } = model.forward(images, ids, { patchTargets: targets });
  assert.ok(patchLoss);
  // By hand: the three labelled patch tokens' logits, their mean cross-entropy.
  const features = model.vision.forward(images);
  const V = cfg.img_embd_dim;
  const rows = [
    [0, 0],
    [0, 3],
    [1, 1],
  ];
  let expected = 0;
  for (const [b, p] of rows) {
    const token = reshape(slice(slice(features, 0, b!, b! + 1), 1, 1 + p!, 2 + p!), [1, 1, V]);
    const logits = linear(token, model.patchHead!.proj.weight, model.patchHead!.proj.bias!);
    const t = targets[b! * P + p!]!;
    expected += crossEntropy(logits, new Tensor(Int32Array.from([t]), [1, 1])).item() / rows.length;
  }
  assert.ok(Math.abs(patchLoss.item() - expected) < 1e-5, `${patchLoss.item()} vs ${expected}`);

  patchLoss.backward();
  assert.ok(
    model.patchHead!.proj.weight.grad!.some((x) => x !== 0),
    'the head receives a gradient',
  );
  assert.ok(
    model.vision.patch.proj.weight.grad!.some((x) => x !== 0),
    'and so does the encoder',
  );

  const none = model.forward(images, ids, { patchTargets: new Int32Array(2 * P).fill(NO_PATCH_LABEL) });
  assert.equal(none.patchLoss, null, 'no labelled patch, no loss');
  assert.equal(model.forward(images, ids).patchLoss, null, 'no targets, no loss');
  assert.throws(
    () => model.forward(images, ids, { patchTargets: new Int32Array(P) }),
    /targets for 2 × 16 patches/,
  );
});

test('the patch head loss: gradient against finite differences (features and weights)', () => {
  const head = createModel({ ...cfg, vocab_size: 7, img_embd_dim: 4 }, { seed: 5 }).patchHead!;
  const rng = new Rng(6);
  const targets = Int32Array.from([3, NO_PATCH_LABEL, 0, 6, 2, NO_PATCH_LABEL]);
  const proj = head.proj as { weight: Tensor; bias: Tensor | null };
  gradcheck('patch head loss', [param([2, 4, 4], rng), param([7, 4], rng), param([7], rng)], (f, w, b) => {
    // [CLS] + 3 patches per picture; the head's own Linear, its weights swapped for float64 ones
    [proj.weight, proj.bias] = [w, b];
    return head.loss(f, targets)!;
  });
});
