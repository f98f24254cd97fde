// The buffer pool and step scopes: reuse, zeroed hand-outs, survivors, bounded memory, and that a scoped
// training step computes exactly what an unscoped one does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool, MIN_POOLED_BYTES, bufferPool, sizeClass } from '../../src/tensor/pool.ts';
import { currentScope } from '../../src/tensor/scope.ts';
import { nativeBackend, withBackend } from '../../src/tensor/backends/index.ts';
import { Tensor, gradOf, keep, retainGrad, withStepScope } from '../../src/tensor/tensor.ts';
import {
  add,
  attention,
  concat,
  conv2d,
  crossEntropy,
  dropout,
  embedding,
  expand,
  gelu,
  layerNorm,
  linear,
  matmul,
  mean,
  mul,
  patchify,
  permute,
  relu,
  reshape,
  scale,
  selfAttention,
  slice,
  softmax,
  sum,
} from '../../src/tensor/ops/index.ts';
import { AdamW, Parameter, initWeights } from '../../src/nn/index.ts';
import { Rng } from '../../src/util/rng.ts';
import { TinyGpt } from '../../tools/fixtures/tiny-gpt.ts';

// 4 x 16 tokens of width 32: activations of 2048 floats (8 KB), above the pooling threshold.
const CFG = { vocab: 64, dim: 32, heads: 2, layers: 2, maxLen: 16, tied: false };
const BATCH = 4;

function setup(seed = 0) {
  const rng = new Rng(seed);
  const model = new TinyGpt(CFG);
  initWeights(model, rng, { std: 0.05 });
  const opt = new AdamW(model.parameters(), { lr: 1e-2 });
  const n = BATCH * CFG.maxLen;
  const ids = Tensor.ids(
    Array.from({ length: n }, () => rng.int(CFG.vocab)),
    [BATCH, CFG.maxLen],
  );
  const targets = Tensor.ids(
    Array.from({ length: n }, () => rng.int(CFG.vocab)),
    [BATCH, CFG.maxLen],
  );
  const step = (): number => {
    const loss = crossEntropy(model.forward(ids), targets);
    opt.zeroGrad();
    loss.backward();
    opt.step();
    return loss.item();
  };
  return { model, opt, ids, targets, step };
}

test('size classes: four per power of two, never smaller than the request', () => {
  assert.equal(sizeClass(1), MIN_POOLED_BYTES);
  for (const bytes of [4097, 5000, 8192, 8193, 12000, 1 << 20, (1 << 20) + 1, 3 * (1 << 19), 123457]) {
    const c = sizeClass(bytes);
    assert.ok(c >= bytes && c <= bytes * 1.25 + 4, `${bytes} -> ${c}`);
    assert.equal(sizeClass(c), c, 'a class is its own class');
  }
  assert.equal(sizeClass(1 << 20), 1 << 20);
  assert.equal(sizeClass((1 << 20) + 1), (1 << 20) + (1 << 18));
});

test('BufferPool: hands released buffers out again, zeroes what is asked, trims idle ones', () => {
  const pool = new BufferPool();
  const a = pool.acquire(10_000);
  new Uint8Array(a).fill(9);
  pool.release(a);
  const b = pool.acquire(9_000, 9_000);
  assert.equal(b, a, 'same size class: reused');
  const bytes = new Uint8Array(b);
  assert.ok(
    bytes.subarray(0, 9_000).every((v) => v === 0),
    'the requested bytes are zeroed',
  );
  assert.equal(bytes[9_500], 9, 'bytes beyond the request are left alone');
  assert.deepEqual([pool.stats().hits, pool.stats().misses], [1, 1]);
  pool.release(b);
  // Idle through two steps: dropped. Used in either of them: kept.
  pool.endStep();
  assert.equal(pool.stats().freeBuffers, 1);
  pool.endStep();
  assert.equal(pool.stats().freeBuffers, 1, 'used in the step before: kept');
  pool.endStep();
  assert.equal(pool.stats().freeBuffers, 0, 'idle for two steps: dropped');
  assert.equal(pool.stats().freeBytes, 0);
  // The limit on free bytes.
  const small = new BufferPool(20_000);
  const bufs = [small.acquire(8192), small.acquire(8192), small.acquire(8192)];
  for (const buf of bufs) small.release(buf);
  assert.equal(small.stats().freeBuffers, 2);
  assert.equal(small.stats().dropped, 1);
  assert.throws(() => small.release(new ArrayBuffer(5000)), /not a pool buffer/);
});

test('a scoped step computes exactly what an unscoped one does, and reuses its buffers', () => {
  const plain = setup();
  const scoped = setup();
  for (let i = 0; i < 4; i++) {
    const before = bufferPool.stats();
    const l1 = plain.step();
    const l2 = withStepScope(scoped.step);
    assert.equal(l2, l1, `step ${i}: same loss`);
    const after = bufferPool.stats();
    if (i >= 2) assert.equal(after.misses, before.misses, `step ${i}: every buffer came from the pool`);
    assert.ok(after.hits > before.hits || i === 0);
  }
  for (const [name, p] of plain.model.parameters()) {
    const q = scoped.model.parameters().get(name)!;
    assert.deepEqual(q.data, p.data, `${name}: same weights`);
    assert.deepEqual(q.grad, p.grad, `${name}: same gradient`);
  }
  assert.equal(currentScope(), null);
});

test('pool buffers handed out as zeroed are zero, even after a step dirtied them', () => {
  const n = 4096;
  const dirtied = withStepScope(() => {
    const t = Tensor.zeros([n]);
    t.data.fill(NaN);
    gradOf(t).fill(NaN);
    return [t.rawData.buffer, t.grad!.buffer];
  });
  withStepScope(() => {
    const t = Tensor.zeros([n]);
    const g = gradOf(t);
    assert.deepEqual(new Set([t.data.buffer, g.buffer]), new Set(dirtied), 'both dirtied buffers reused');
    assert.ok(t.data.every((v) => v === 0));
    assert.ok(
      g.every((v) => v === 0),
      'a gradient starts at zero (it accumulates)',
    );
  });
});

test('returned and kept tensors survive later steps; others are released with a clear error', () => {
  const { model, ids, targets, step } = setup(1);
  let dropped: Tensor | null = null;
  const { logits, loss } = withStepScope(() => {
    const logits = model.forward(ids);
    const hidden = model.lnF.forward(model.tok.forward(ids));
    keep(hidden);
    dropped = gelu(hidden);
    const loss = crossEntropy(logits, targets);
    loss.backward();
    return { logits, loss, hidden };
  });
  const saved = Float32Array.from(logits.data);
  const lossValue = loss.item();
  for (let i = 0; i < 5; i++) withStepScope(step);
  assert.deepEqual(logits.data, saved, 'the returned logits are untouched by later steps');
  assert.equal(loss.item(), lossValue);
  assert.equal(logits.node, null, 'the graph does not outlive the scope');
  const t = dropped as unknown as Tensor;
  assert.equal(t.released, true);
  assert.throws(() => t.data, /released at the end of the step scope.*keep\(\)/);
  assert.throws(() => t.size, /released/);
});

test('inside a scope intermediate gradients are freed after use, leaves keep theirs, retainGrad keeps one', () => {
  withStepScope(() => {
    const rng = new Rng(2);
    const x = Tensor.randn([64, 32], rng);
    const w = new Parameter([48, 32], 0.01);
    const h = linear(x, w);
    const kept = retainGrad(gelu(h));
    const y = sum(reshape(kept, [-1]));
    y.backward();
    assert.equal(h.grad, null, 'intermediate gradient freed');
    assert.ok(kept.grad && kept.grad.every((v) => v === 1), 'retained gradient');
    assert.ok(w.grad && w.grad.some((v) => v !== 0), 'parameter gradient kept');
  });
});

test('a parameter made inside a scope is never released', () => {
  let param: Parameter | null = null;
  withStepScope(() => {
    param = new Parameter([64, 64], 0.5);
    sum(linear(Tensor.full([4, 64], 1), param)).backward();
  });
  withStepScope(() => {
    Tensor.zeros([64 * 64]).data.fill(3);
  });
  const q = param as unknown as Parameter;
  assert.equal(q.released, false);
  assert.ok(
    q.data.every((v) => v === 0.5),
    'values intact after its buffer class was reused',
  );
  assert.ok(q.grad && q.grad.every((v) => v === 4), 'gradient intact');
});

test('no growth of the pool across 50 steps; idle sizes are dropped when the shapes change', () => {
  const { step } = setup(3);
  const free: number[] = [];
  for (let i = 0; i < 50; i++) {
    withStepScope(step);
    free.push(bufferPool.stats().freeBytes);
  }
  assert.ok(free[49]! > 0);
  assert.equal(free[49], free[4], 'the same pool after 5 and after 50 steps');
  assert.equal(new Set(free.slice(4)).size, 1, 'constant from step 5 on');
  // A different workload: the old sizes are dropped after two steps.
  const big = 1 << 16;
  for (let i = 0; i < 3; i++) {
    withStepScope(() => {
      gelu(Tensor.full([big], 1));
    });
  }
  const expected = 2 * sizeClass(big * 4);
  assert.equal(bufferPool.stats().freeBytes, expected, 'only the new step buffers are left');
});

test('scopes nest (what the inner returns belongs to the outer), reject async functions, end on throw', () => {
  let fromInner: Tensor | null = null;
  let view: Tensor | null = null;
  withStepScope(() => {
    fromInner = withStepScope(() => {
      const base = Tensor.full([2048], 2);
      view = reshape(base, [32, 64]);
      return gelu(view);
    });
    assert.equal((fromInner as unknown as Tensor).released, false, 'alive in the outer scope');
    assert.equal((view as unknown as Tensor).released, true, 'not returned by the inner scope');
  });
  assert.equal((fromInner as unknown as Tensor).released, true, 'released by the outer scope');

  const survivor = withStepScope(() => reshape(Tensor.full([2048], 5), [2, 1024]));
  withStepScope(() => Tensor.zeros([2048]).data.fill(1));
  assert.ok(
    survivor.data.every((v) => v === 5),
    'a returned view keeps its buffer',
  );

  assert.throws(() => withStepScope(async () => 1), /synchronous/);
  assert.equal(currentScope(), null);
  assert.throws(() =>
    withStepScope(() => {
      Tensor.zeros([4096]);
      throw new Error('boom');
    }),
  );
  assert.equal(currentScope(), null, 'the scope ended with the exception');
});

test('every op gives the same values and gradients in a scope, over buffers left dirty (NaN) by a step', () => {
  const rng = new Rng(7);
  const leaf = (shape: number[]) => {
    const t = Tensor.randn(shape, rng);
    t.requiresGrad = true;
    return t;
  };
  const ids = Tensor.ids(Array.from({ length: 40 }, () => rng.int(64)));
  const targets = Tensor.ids(Array.from({ length: 40 }, (_, i) => (i % 7 === 3 ? -100 : rng.int(64))));
  // Each case maps scope-made intermediates (so their gradients are pooled too) to one output.
  const cases: [string, Tensor[], (xs: Tensor[]) => Tensor][] = [
    ['matmul', [leaf([3, 40, 50]), leaf([3, 50, 30])], ([a, b]) => matmul(a!, b!)],
    [
      'matmul transA transB',
      [leaf([3, 50, 40]), leaf([3, 30, 50])],
      ([a, b]) => matmul(a!, b!, { transA: true, transB: true }),
    ],
    ['matmul shared b', [leaf([3, 40, 50]), leaf([50, 30])], ([a, b]) => matmul(a!, b!)],
    [
      'matmul shared b, transA',
      [leaf([3, 50, 40]), leaf([50, 30])],
      ([a, b]) => matmul(a!, b!, { transA: true }),
    ],
    ['linear', [leaf([40, 50]), leaf([30, 50]), leaf([30])], ([x, w, b]) => linear(x!, w!, b!)],
    ['add, mul, scale', [leaf([40, 50]), leaf([50])], ([a, b]) => scale(mul(add(a!, b!), b!), 0.5)],
    ['relu, gelu, softmax', [leaf([40, 50])], ([x]) => softmax(gelu(relu(x!)))],
    ['layerNorm', [leaf([40, 50]), leaf([50]), leaf([50])], ([x, g, b]) => layerNorm(x!, g!, b!)],
    ['dropout', [leaf([40, 50])], ([x]) => dropout(x!, 0.3, 11)],
    ['concat, slice', [leaf([40, 20]), leaf([40, 30])], ([a, b]) => slice(concat([a!, b!], 1), 1, 5, 45)],
    ['permute, expand', [leaf([4, 1, 30, 20])], ([x]) => permute(expand(x!, [4, 3, 30, 20]), [1, 3, 0, 2])],
    ['sum, mean', [leaf([40, 50])], ([x]) => add(scale(x!, 2), add(sum(x!), mean(x!)))],
    ['embedding', [leaf([64, 32])], ([w]) => embedding(w!, ids)],
    ['crossEntropy', [leaf([40, 64])], ([x]) => crossEntropy(x!, targets)],
    [
      'attention',
      [leaf([2, 40, 16]), leaf([2, 30, 16]), leaf([2, 30, 16])],
      ([q, k, v]) => attention(q!, k!, v!, { heads: 2, causal: true }),
    ],
    ['selfAttention', [leaf([2, 40, 48])], ([x]) => selfAttention(x!, { heads: 4 })],
    [
      'conv2d',
      [leaf([2, 3, 16, 16]), leaf([4, 3, 3, 3]), leaf([4])],
      ([x, w, b]) => conv2d(x!, w!, b!, { padding: 1 }),
    ],
    ['patchify', [leaf([2, 3, 16, 16])], ([x]) => patchify(x!, 4)],
  ];
  const backends = nativeBackend() ? (['ts', 'native'] as const) : (['ts'] as const);
  for (const be of backends)
    for (const [name, inputs, op] of cases)
      withBackend(be, () => {
        // loss = Σ out * r with a fixed random r, through intermediates made in the scope (x * 1).
        let r: Float32Array | null = null;
        const run = (): Float32Array[] => {
          for (const x of inputs) x.grad = null;
          const out = op(inputs.map((x) => scale(x, 1)));
          r ??= Float32Array.from({ length: out.size }, () => rng.normal());
          sum(mul(out, new Tensor(r, out.shape))).backward();
          return [Float32Array.from(out.data), ...inputs.map((x) => Float32Array.from(x.grad!))];
        };
        const reference = run();
        for (let round = 0; round < 2; round++) {
          const got = withStepScope(() => {
            const values = run();
            // Poison every pool buffer this step used before it goes back.
            for (const buf of currentScope()!.owned) new Float32Array(buf).fill(NaN);
            return values;
          });
          got.forEach((g, i) =>
            assert.deepEqual(g, reference[i], `${be}: ${name}, round ${round}, array ${i}`),
          );
        }
      });
});
