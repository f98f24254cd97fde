import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  accuracy,
  fitMultiLabel,
  fitSoftmax,
  predict,
  sigmoidLoss,
  softmaxLoss,
  topKFound,
  type Features,
} from '../../src/eval/linear-probe.ts';
import { encoderFeatures } from '../../src/eval/probe-features.ts';
import { presetConfig } from '../../src/model/config.ts';
import { createModel } from '../../src/model/nanovlm.ts';
import { Tensor, noGrad } from '../../src/tensor/tensor.ts';
import { Rng } from '../../src/util/rng.ts';

function finiteDifference(loss: (l: Float32Array) => number, at: Float32Array, grad: Float32Array): void {
  const h = 1e-2;
  for (let k = 0; k < at.length; k++) {
    const up = Float32Array.from(at);
    const down = Float32Array.from(at);
    up[k]! += h;
    down[k]! -= h;
    const numeric = (loss(up) - loss(down)) / (2 * h);
    assert.ok(Math.abs(numeric - grad[k]!) < 2e-3, `logit ${k}: analytic ${grad[k]}, numeric ${numeric}`);
  }
}

test('sigmoid and softmax losses: gradients match finite differences, large logits stay finite', () => {
  const lg = Float32Array.from([0.3, -1.2, 2.5, 0, -0.4]);
  const grad = new Float32Array(5);
  const scratch = new Float32Array(5);
  const have = new Set([0, 2]);
  sigmoidLoss(lg, have, grad);
  finiteDifference((l) => sigmoidLoss(l, have, scratch), lg, grad);
  softmaxLoss(lg, 3, grad);
  finiteDifference((l) => softmaxLoss(l, 3, scratch), lg, grad);
  assert.ok(Math.abs(grad.reduce((a, b) => a + b, 0)) < 1e-6, 'softmax gradient sums to 0');
  const big = Float32Array.from([500, -500]);
  assert.ok(Number.isFinite(sigmoidLoss(big, new Set([1]), scratch)));
  assert.ok(Number.isFinite(softmaxLoss(big, 1, scratch)));
  assert.ok(Math.abs(softmaxLoss(big, 1, scratch) - 1000) < 1e-3);
});

/** n examples of `dim` noisy features; each example's labels shift a few of its features. */
function synthetic(n: number, dim: number, classes: number, rng: Rng, multi: boolean) {
  const x: Features = { n, dim, data: new Float32Array(n * dim) };
  const labels: number[][] = [];
  for (let i = 0; i < n; i++) {
    const ls = multi
      ? [rng.int(classes), rng.int(classes)].filter((v, j, a) => a.indexOf(v) === j)
      : [rng.int(classes)];
    labels.push(ls);
    for (let d = 0; d < dim; d++) x.data[i * dim + d] = (rng.next() - 0.5) * 2 + 10; // offset: standardising matters
    for (const l of ls) x.data[i * dim + (l % dim)]! += 2.5;
  }
  return { x, labels };
}

test('a multi-label probe finds the labels of held-out examples; shuffled labels give about chance', () => {
  const rng = new Rng(3);
  const { x, labels } = synthetic(600, 24, 12, rng, true);
  const heldOut = synthetic(300, 24, 12, rng, true);
  const { probe, loss } = fitMultiLabel(x, labels, 12, { epochs: 20, seed: 1 });
  assert.ok(Number.isFinite(loss));
  const found = topKFound(predict(probe, heldOut.x), 12, heldOut.labels);
  assert.ok(found > 0.9, `found ${found}`);
  const shuffled = rng.shuffle(labels.slice());
  const chance = topKFound(
    predict(fitMultiLabel(x, shuffled, 12, { epochs: 20 }).probe, heldOut.x),
    12,
    heldOut.labels,
  );
  assert.ok(chance < 0.4, `shuffled labels found ${chance}`);
});

test('a softmax probe tells classes apart; more epochs lower the training loss', () => {
  const rng = new Rng(5);
  const { x, labels } = synthetic(500, 16, 8, rng, false);
  const heldOut = synthetic(200, 16, 8, rng, false);
  const classes = Int32Array.from(labels.map((l) => l[0]!));
  const short = fitSoftmax(x, classes, 8, { epochs: 1, seed: 2 });
  const long = fitSoftmax(x, classes, 8, { epochs: 15, seed: 2 });
  assert.ok(long.loss < short.loss, `loss ${long.loss} after 15 epochs, ${short.loss} after 1`);
  const acc = accuracy(predict(long.probe, heldOut.x), 8, Int32Array.from(heldOut.labels.map((l) => l[0]!)));
  assert.ok(acc > 0.9, `held-out accuracy ${acc}`);
  // Same seed, same probe.
  assert.deepEqual(
    fitSoftmax(x, classes, 8, { epochs: 2, seed: 9 }).probe.w,
    fitSoftmax(x, classes, 8, { epochs: 2, seed: 9 }).probe.w,
  );
});

test('topKFound and accuracy count what they say', () => {
  // Two examples, three labels: the first has labels {0, 2} and its best two scores are 2 and 1.
  const scores = Float32Array.from([0.1, 0.5, 0.9, 0.8, 0.2, 0.3]);
  assert.equal(topKFound(scores, 3, [[0, 2], [0]]), 2 / 3);
  assert.equal(accuracy(scores, 3, [2, 1]), 0.5);
  assert.equal(topKFound(scores, 3, [[], []]), 0);
});

test('encoderFeatures: [CLS], patch tokens and stem as the encoder computes them, whatever the batch', () => {
  const config = presetConfig('tiny');
  const vision = createModel(config, { seed: 4 }).vision;
  const S = config.image_size;
  const rng = new Rng(8);
  const images = Array.from({ length: 3 }, () =>
    Float32Array.from({ length: 3 * S * S }, () => rng.next() * 2 - 1),
  );
  const f = encoderFeatures(vision, images, 2);
  // Features come without dropout (tiny has 0.1), and the encoder's mode is left as it was.
  assert.equal(vision.training, true);
  vision.eval();
  const V = config.img_embd_dim;
  const P = (S / config.patch_size) ** 2;
  assert.equal(f.cls.n, 3);
  assert.equal(f.clsMean.dim, 2 * V);
  assert.equal(f.patches.n, 3 * P);
  const enc = noGrad(() => vision.forward(new Tensor(images[1]!, [1, 3, S, S]))).f;
  const stem = noGrad(() => vision.patch.forward(new Tensor(images[1]!, [1, 3, S, S]))).f;
  const close = (a: number, b: number) => Math.abs(a - b) < 1e-4;
  for (let d = 0; d < V; d++) {
    assert.ok(close(f.cls.data[V + d]!, enc[d]!));
    assert.ok(close(f.clsMean.data[2 * V + d]!, enc[d]!));
    let mean = 0;
    for (let p = 0; p < P; p++) mean += enc[(p + 1) * V + d]! / P;
    assert.ok(close(f.clsMean.data[2 * V + V + d]!, mean));
    assert.ok(close(f.patches.data[(P + 2) * V + d]!, enc[3 * V + d]!)); // picture 1, patch 2
    assert.ok(close(f.stemPatches.data[(P + 2) * V + d]!, stem[2 * V + d]!));
  }
  const one = encoderFeatures(vision, images, 1);
  for (let i = 0; i < f.patches.data.length; i++) assert.ok(close(one.patches.data[i]!, f.patches.data[i]!));
});
