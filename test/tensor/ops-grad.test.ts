// Finite-difference checks (float64, ts backend) of every op's backward.
import { test } from 'node:test';
import { Tensor } from '../../src/tensor/tensor.ts';
import * as ops from '../../src/tensor/ops/index.ts';
import { chainedConvLimits } from '../../src/tensor/ops/conv.ts';
import { Rng } from '../../src/util/rng.ts';
import { gradcheck, param } from './gradcheck.ts';

const rng = new Rng(7);

/** Values bounded away from 0, so relu's kink is never within the finite-difference step. */
function awayFromZero(shape: number[]): Tensor {
  const t = param(shape, rng);
  for (let i = 0; i < t.size; i++) t.data[i] = (t.data[i]! < 0 ? -0.1 : 0.1) + t.data[i]!;
  return t;
}

test('linear', () => {
  gradcheck('linear with bias', [param([2, 3, 4], rng), param([5, 4], rng), param([5], rng)], (x, w, b) =>
    ops.linear(x, w, b),
  );
  gradcheck('linear without bias', [param([3, 4], rng), param([2, 4], rng)], (x, w) => ops.linear(x, w));
});

test('matmul: every transpose combination, batched and with a shared b', () => {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const [m, k, n] = [3, 4, 2];
      const label = `matmul transA=${transA} transB=${transB}`;
      const aShape = transA ? [k, m] : [m, k];
      const bShape = transB ? [n, k] : [k, n];
      const opts = { transA, transB };
      gradcheck(`${label} 2-D`, [param(aShape, rng), param(bShape, rng)], (a, b) => ops.matmul(a, b, opts));
      gradcheck(`${label} batched`, [param([2, 3, ...aShape], rng), param([2, 3, ...bShape], rng)], (a, b) =>
        ops.matmul(a, b, opts),
      );
      gradcheck(`${label} shared b`, [param([3, ...aShape], rng), param(bShape, rng)], (a, b) =>
        ops.matmul(a, b, opts),
      );
    }
  }
});

test('add, mul, scale, with broadcasting and a tensor used twice', () => {
  gradcheck('add same shape', [param([3, 4], rng), param([3, 4], rng)], (a, b) => ops.add(a, b));
  gradcheck('add bias suffix', [param([2, 3, 4], rng), param([4], rng)], (a, b) => ops.add(a, b));
  gradcheck('add table suffix', [param([2, 3, 4], rng), param([3, 4], rng)], (a, b) => ops.add(a, b));
  gradcheck('add scalar', [param([2, 3], rng), param([], rng)], (a, b) => ops.add(a, b));
  gradcheck('mul same shape', [param([3, 4], rng), param([3, 4], rng)], (a, b) => ops.mul(a, b));
  gradcheck('mul broadcast', [param([2, 3, 4], rng), param([3, 4], rng)], (a, b) => ops.mul(a, b));
  gradcheck('mul x by itself', [param([5], rng)], (a) => ops.mul(a, a));
  gradcheck('scale', [param([2, 5], rng)], (a) => ops.scale(a, -0.7));
  gradcheck('x*x + x', [param([4], rng)], (a) => ops.add(ops.mul(a, a), a));
});

test('layerNorm', () => {
  gradcheck('layerNorm', [param([3, 2, 5], rng), param([5], rng), param([5], rng)], (x, g, b) =>
    ops.layerNorm(x, g, b),
  );
  gradcheck('layerNorm large eps', [param([4, 3], rng, 0.1), param([3], rng), param([3], rng)], (x, g, b) =>
    ops.layerNorm(x, g, b, 0.05),
  );
});

test('gelu, relu, softmax', () => {
  gradcheck('gelu', [param([3, 7], rng, 2)], (x) => ops.gelu(x));
  gradcheck('relu', [awayFromZero([3, 7])], (x) => ops.relu(x));
  gradcheck('softmax', [param([3, 6], rng, 2)], (x) => ops.softmax(x));
});

test('crossEntropy, with ignored rows and a custom ignore index', () => {
  const targets = Tensor.ids([4, -100, 0, 2, -100, 3], [2, 3]);
  gradcheck('crossEntropy ignore -100', [param([2, 3, 5], rng, 2)], (x) => ops.crossEntropy(x, targets));
  const targets0 = Tensor.ids([1, 0, 2, 0]);
  gradcheck('crossEntropy ignoreIndex 0', [param([4, 3], rng)], (x) =>
    ops.crossEntropy(x, targets0, { ignoreIndex: 0 }),
  );
  // A composite: linear then loss, so the scalar's gradient flows through another op.
  gradcheck('linear + crossEntropy', [param([4, 3], rng), param([5, 3], rng)], (x, w) =>
    ops.crossEntropy(ops.linear(x, w), Tensor.ids([0, 4, -100, 2])),
  );
});

test('attention: full, causal, key mask, fewer queries than keys, fully hidden query', () => {
  const [B, T, C, heads] = [2, 4, 6, 2];
  const qkv = () => [param([B, T, C], rng), param([B, T, C], rng), param([B, T, C], rng)];
  gradcheck('attention full', qkv(), (q, k, v) => ops.attention(q, k, v, { heads }));
  gradcheck('attention causal', qkv(), (q, k, v) => ops.attention(q, k, v, { heads, causal: true }));
  const keyMask = Uint8Array.from([1, 1, 1, 0, 1, 1, 0, 0]);
  gradcheck('attention key mask', qkv(), (q, k, v) => ops.attention(q, k, v, { heads, keyMask }));
  gradcheck('attention causal + mask', qkv(), (q, k, v) =>
    ops.attention(q, k, v, { heads, causal: true, keyMask }),
  );
  // Query 0 of batch 1 sees no key at all (causal, first key padded): its output is zeros.
  const hideFirst = Uint8Array.from([1, 1, 1, 1, 0, 1, 1, 1]);
  gradcheck('attention fully hidden query', qkv(), (q, k, v) =>
    ops.attention(q, k, v, { heads, causal: true, keyMask: hideFirst }),
  );
  const tq = 2;
  const q2 = param([B, tq, C], rng);
  gradcheck('attention causal tq < tk', [q2, param([B, T, C], rng), param([B, T, C], rng)], (q, k, v) =>
    ops.attention(q, k, v, { heads: 3, causal: true }),
  );
  gradcheck(
    'attention cross tq < tk',
    [param([B, tq, C], rng), param([B, T, C], rng), param([B, T, C], rng)],
    (q, k, v) => ops.attention(q, k, v, { heads: 1 }),
  );
});

test('selfAttention on a fused qkv', () => {
  gradcheck('selfAttention causal', [param([2, 3, 12], rng)], (x) =>
    ops.selfAttention(x, { heads: 2, causal: true }),
  );
  const keyMask = Uint8Array.from([1, 1, 0, 1, 0, 0]);
  gradcheck('selfAttention mask', [param([2, 3, 12], rng)], (x) =>
    ops.selfAttention(x, { heads: 2, keyMask }),
  );
  // Through a linear projection, as the model uses it.
  gradcheck('linear -> selfAttention', [param([2, 3, 4], rng), param([12, 4], rng)], (x, w) =>
    ops.selfAttention(ops.linear(x, w), { heads: 1, causal: true }),
  );
});

test('embedding with repeated ids', () => {
  const ids = Tensor.ids([3, 0, 3, 1, 3, 2], [2, 3]);
  gradcheck('embedding', [param([5, 4], rng)], (w) => ops.embedding(w, ids), { allowZero: true });
});

test('conv2d: 3x3 padded, strided 5x5, patch stem with bias, rectangular kernel', () => {
  gradcheck('conv2d 3x3 pad 1', [param([2, 2, 5, 5], rng), param([3, 2, 3, 3], rng)], (x, w) =>
    ops.conv2d(x, w, null, { padding: 1 }),
  );
  gradcheck(
    'conv2d 5x5 stride 2 pad 2',
    [param([1, 2, 7, 6], rng), param([2, 2, 5, 5], rng), param([2], rng)],
    (x, w, b) => ops.conv2d(x, w, b, { stride: 2, padding: 2 }),
  );
  gradcheck(
    'conv2d 4x4 stride 4 (patch stem)',
    [param([2, 3, 8, 8], rng), param([4, 3, 4, 4], rng), param([4], rng)],
    (x, w, b) => ops.conv2d(x, w, b, { stride: 4 }),
  );
  gradcheck('conv2d 2x3 stride 1', [param([1, 1, 4, 5], rng), param([2, 1, 2, 3], rng)], (x, w) =>
    ops.conv2d(x, w),
  );
});

test('conv2d with a constant input or constant weights: only the wanted gradients are computed', () => {
  const x = Tensor.randn([3, 2, 5, 4], rng, 1, 'float64');
  const w = Tensor.randn([2, 2, 3, 3], rng, 1, 'float64');
  gradcheck('conv2d dw, db', [param([2, 2, 3, 3], rng), param([2], rng)], (wt, b) =>
    ops.conv2d(x, wt, b, { padding: 1 }),
  );
  gradcheck('conv2d dx', [param([3, 2, 5, 4], rng)], (xt) =>
    ops.conv2d(xt, w, null, { stride: 2, padding: 1 }),
  );
});

test('chainedConv2d in several chunks: the backward recomputes each chunk of intermediate maps', () => {
  const saved = chainedConvLimits.chunkFloats;
  chainedConvLimits.chunkFloats = 2 * 3 * 4 * 4; // two images of 3x4x4 maps per chunk: 3 -> 2 + 1
  try {
    gradcheck(
      'chainedConv2d',
      [param([3, 2, 4, 4], rng), param([3, 2, 3, 3], rng), param([3], rng), param([2, 3, 2, 2], rng)],
      (x, w1, b1, w2) =>
        ops.chainedConv2d(x, { weight: w1, bias: b1, padding: 1 }, { weight: w2, stride: 2 }),
    );
    const x = Tensor.randn([3, 2, 4, 4], rng, 1, 'float64'); // a constant input: no dx, first layer frozen
    const w1 = Tensor.randn([3, 2, 3, 3], rng, 1, 'float64');
    gradcheck('chainedConv2d second layer only', [param([2, 3, 3, 3], rng), param([2], rng)], (w2, b2) =>
      ops.chainedConv2d(x, { weight: w1, padding: 1 }, { weight: w2, bias: b2 }),
    );
  } finally {
    chainedConvLimits.chunkFloats = saved;
  }
});

test('patchify, dropout', () => {
  gradcheck('patchify', [param([2, 3, 4, 6], rng)], (x) => ops.patchify(x, 2));
  gradcheck('dropout', [param([4, 5], rng)], (x) => ops.dropout(x, 0.3, 99));
});

test('shape ops: concat, slice, reshape, permute, expand', () => {
  for (const axis of [0, 1, -1]) {
    gradcheck(`concat axis ${axis}`, [param([2, 3, 2], rng), param([2, 3, 2], rng)], (a, b) =>
      ops.concat([a, b], axis),
    );
  }
  gradcheck(
    'concat uneven',
    [param([2, 1, 3], rng), param([2, 4, 3], rng), param([2, 2, 3], rng)],
    (a, b, c) => ops.concat([a, b, c], 1),
  );
  gradcheck('concat with itself', [param([2, 3], rng)], (a) => ops.concat([a, a], 0));
  gradcheck('slice middle axis', [param([2, 5, 3], rng)], (x) => ops.slice(x, 1, 1, 4), { allowZero: false });
  gradcheck('slice last axis', [param([3, 6], rng)], (x) => ops.slice(x, -1, 2, 6));
  gradcheck('reshape', [param([2, 6], rng)], (x) => ops.reshape(x, [3, -1]));
  gradcheck('permute [0,2,1,3]', [param([2, 3, 2, 4], rng)], (x) => ops.permute(x, [0, 2, 1, 3]));
  gradcheck('permute [2,0,1]', [param([2, 3, 4], rng)], (x) => ops.permute(x, [2, 0, 1]));
  gradcheck('expand row', [param([1, 3], rng)], (x) => ops.expand(x, [4, 3]));
  gradcheck('expand column + leading', [param([3, 1], rng)], (x) => ops.expand(x, [2, 3, 5]));
  gradcheck('takeRows with repeats', [param([3, 2, 4], rng)], (x) =>
    ops.takeRows(x, Int32Array.from([2, 0, 2, 1, 2])),
  );
});

test('sum and mean', () => {
  gradcheck('sum', [param([3, 4], rng)], (x) => ops.sum(x));
  gradcheck('mean of a product', [param([3, 4], rng), param([4], rng)], (x, b) => ops.mean(ops.mul(x, b)));
});
