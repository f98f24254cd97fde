// Autograd mechanics through the op fronts: accumulation, noGrad, repeated backward passes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, noGrad } from '../../src/tensor/tensor.ts';
import { setBackend } from '../../src/tensor/backends/index.ts';
import * as ops from '../../src/tensor/ops/index.ts';
import { Rng } from '../../src/util/rng.ts';

setBackend('ts');
const rng = new Rng(3);
function param(shape: number[]): Tensor {
  const t = Tensor.randn(shape, rng, 1, 'float64');
  t.requiresGrad = true;
  return t;
}

test('a tensor used twice receives both contributions', () => {
  const x = param([4]);
  ops.sum(ops.add(x, x)).backward();
  assert.deepEqual(Array.from(x.grad!), [2, 2, 2, 2]);
  // Two branches of a graph through a shared intermediate.
  const w = param([3, 4]);
  const h = ops.linear(x, w);
  x.grad = null;
  ops.sum(ops.add(ops.scale(h, 2), ops.mul(h, h))).backward();
  for (let j = 0; j < 3; j++) {
    for (let i = 0; i < 4; i++) {
      // d/dw[j,i] of Σ (2 h_j + h_j²) = (2 + 2 h_j) x_i
      const expected = (2 + 2 * h.data[j]!) * x.data[i]!;
      assert.ok(Math.abs(w.grad![j * 4 + i]! - expected) < 1e-12);
    }
  }
});

test('noGrad records nothing', () => {
  const x = param([2, 3]);
  const w = param([4, 3]);
  const y = noGrad(() => ops.mean(ops.gelu(ops.linear(x, w))));
  assert.equal(y.requiresGrad, false);
  assert.equal(y.node, null);
  assert.throws(() => y.backward(), /does not require a gradient/);
  assert.equal(x.grad, null);
  // Outside noGrad the same computation is recorded again.
  const z = ops.mean(ops.gelu(ops.linear(x, w)));
  assert.equal(z.requiresGrad, true);
  assert.ok(z.node);
});

test('inputs without requiresGrad get no gradient; constants do not start a graph', () => {
  const x = Tensor.randn([2, 3], rng, 1, 'float64');
  const w = param([4, 3]);
  ops.sum(ops.linear(x, w)).backward();
  assert.equal(x.grad, null);
  assert.ok(w.grad);
  const c = ops.add(x, x);
  assert.equal(c.requiresGrad, false);
  assert.equal(c.node, null);
});

test('parameter gradients accumulate across two backward passes', () => {
  const x = Tensor.randn([3, 5], rng, 1, 'float64');
  const w = param([2, 5]);
  const b = param([2]);
  const loss = () => ops.crossEntropy(ops.linear(x, w, b), Tensor.ids([0, 1, 1]));
  loss().backward();
  const once = Array.from(w.grad!);
  const onceB = Array.from(b.grad!);
  loss().backward();
  once.forEach((g, i) => assert.ok(Math.abs(w.grad![i]! - 2 * g) < 1e-12));
  onceB.forEach((g, i) => assert.ok(Math.abs(b.grad![i]! - 2 * g) < 1e-12));
});

test('a small model learns: loss falls with plain gradient descent (float32)', () => {
  // Map 4 one-hot classes through embedding -> layerNorm -> gelu -> linear and fit them.
  const emb = Tensor.randn([4, 8], rng, 0.5);
  const g = Tensor.full([8], 1);
  const bt = Tensor.zeros([8]);
  const w = Tensor.randn([4, 8], rng, 0.3);
  const params = [emb, g, bt, w];
  for (const p of params) p.requiresGrad = true;
  const ids = Tensor.ids([0, 1, 2, 3]);
  const targets = Tensor.ids([2, 3, 0, 1]);
  const step = (): number => {
    for (const p of params) p.grad = null;
    const loss = ops.crossEntropy(
      ops.linear(ops.gelu(ops.layerNorm(ops.embedding(emb, ids), g, bt)), w),
      targets,
    );
    loss.backward();
    for (const p of params) for (let i = 0; i < p.size; i++) p.data[i] -= 0.5 * p.grad![i]!;
    return loss.item();
  };
  const first = step();
  let last = first;
  for (let i = 0; i < 60; i++) last = step();
  assert.ok(last < first * 0.1, `loss ${first} -> ${last}`);
});

test('float32 gradients agree with float64 ones through a composite graph', () => {
  const shapes = { x: [2, 4, 6], w: [18, 6], g: [6], b: [6], head: [5, 6], conv: [2, 2, 3, 3] };
  const base = Object.fromEntries(
    Object.entries(shapes).map(([k, s]) => [k, Tensor.randn(s, rng, 0.5, 'float64')]),
  ) as Record<keyof typeof shapes, Tensor>;
  const targets = Tensor.ids([0, 4, -100, 2, 1, 3, 3, -100]);
  const grads = (dtype: 'float32' | 'float64') => {
    const p = Object.fromEntries(
      Object.entries(base).map(([k, t]) => {
        const c = Tensor.from(t.data, t.shape, dtype);
        c.requiresGrad = true;
        return [k, c];
      }),
    ) as Record<keyof typeof shapes, Tensor>;
    const img = ops.conv2d(ops.reshape(p.x, [2, 2, 2, 6]), p.conv, null, { padding: 1 });
    const h = ops.add(p.x, ops.reshape(ops.permute(img, [0, 2, 1, 3]), [2, 4, 6]));
    const a = ops.selfAttention(ops.linear(h, p.w), { heads: 2, causal: true });
    const logits = ops.linear(ops.gelu(ops.layerNorm(a, p.g, p.b)), p.head);
    ops.crossEntropy(logits, targets).backward();
    return Object.values(p).map((t) => Array.from(t.grad!));
  };
  const g32 = grads('float32');
  const g64 = grads('float64');
  g64.forEach((g, i) => {
    const scale = Math.max(...g.map(Math.abs));
    assert.ok(scale > 0);
    g.forEach((v, j) => assert.ok(Math.abs(g32[i]![j]! - v) <= 1e-4 * scale, `param ${i} element ${j}`));
  });
});
