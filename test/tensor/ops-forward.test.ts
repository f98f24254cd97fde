// Forward results of the op fronts (ts backend) against straightforward independent computations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, sizeOf } from '../../src/tensor/tensor.ts';
import { setBackend } from '../../src/tensor/backends/index.ts';
import * as ops from '../../src/tensor/ops/index.ts';
import { chainedConvLimits } from '../../src/tensor/ops/conv.ts';
import { Rng, hash32 } from '../../src/util/rng.ts';

setBackend('ts');
const rng = new Rng(11);
const rand = (shape: number[], dtype: 'float32' | 'float64' = 'float64') =>
  Tensor.randn(shape, rng, 1, dtype);

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-12, label = ''): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    assert.ok(
      d <= tol * Math.max(1, Math.abs(expected[i]!)),
      `${label}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

/** Element of a row-major tensor by multi-index. */
function at(t: Tensor, ...idx: number[]): number {
  let o = 0;
  for (let i = 0; i < idx.length; i++) o = o * t.shape[i]! + idx[i]!;
  return t.data[o]!;
}

test('matmul matches a naive triple loop, every transpose, batched and shared', () => {
  const [m, k, n] = [3, 5, 4];
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      for (const shared of [false, true]) {
        const a = rand([2, ...(transA ? [k, m] : [m, k])]);
        const b = rand(shared ? (transB ? [n, k] : [k, n]) : [2, ...(transB ? [n, k] : [k, n])]);
        const y = ops.matmul(a, b, { transA, transB });
        assert.deepEqual(y.shape, [2, m, n]);
        const expected: number[] = [];
        for (let z = 0; z < 2; z++) {
          for (let i = 0; i < m; i++) {
            for (let j = 0; j < n; j++) {
              let s = 0;
              for (let p = 0; p < k; p++) {
                const av = transA ? at(a, z, p, i) : at(a, z, i, p);
                const bz = shared ? [] : [z];
                const bv = transB ? at(b, ...bz, j, p) : at(b, ...bz, p, j);
                s += av * bv;
              }
              expected.push(s);
            }
          }
        }
        assertClose(y.data, expected, 1e-12, `matmul ${transA} ${transB} ${shared}`);
      }
    }
  }
});

test('linear equals matmul with the transposed weight plus bias', () => {
  const x = rand([2, 3, 4]);
  const w = rand([5, 4]);
  const b = rand([5]);
  const expected = ops.add(ops.matmul(x, w, { transB: true }), b);
  assertClose(ops.linear(x, w, b).data, expected.data);
});

/** Attention written out plainly, for comparison. */
function naiveAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  heads: number,
  causal: boolean,
  keyMask: Uint8Array | null,
): number[] {
  const [B, tq, C] = q.shape as [number, number, number];
  const tk = k.shape[1]!;
  const hd = C / heads;
  const out = new Array<number>(B * tq * C).fill(0);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < heads; h++) {
      for (let t = 0; t < tq; t++) {
        const visible: number[] = [];
        const scores: number[] = [];
        for (let j = 0; j < tk; j++) {
          if (causal && j > t + tk - tq) continue;
          if (keyMask && !keyMask[b * tk + j]) continue;
          let s = 0;
          for (let d = 0; d < hd; d++) s += at(q, b, t, h * hd + d) * at(k, b, j, h * hd + d);
          visible.push(j);
          scores.push(s / Math.sqrt(hd));
        }
        if (!visible.length) continue;
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const z = e.reduce((a, c) => a + c, 0);
        for (let d = 0; d < hd; d++) {
          let acc = 0;
          visible.forEach((j, i) => (acc += (e[i]! / z) * at(v, b, j, h * hd + d)));
          out[(b * tq + t) * C + h * hd + d] = acc;
        }
      }
    }
  }
  return out;
}

test('attention matches a naive implementation (causal, masks, tq < tk, hidden query)', () => {
  const cases: [number, number, number, boolean, Uint8Array | null][] = [
    [4, 4, 2, false, null],
    [4, 4, 2, true, null],
    [4, 4, 3, false, Uint8Array.from([1, 1, 0, 1, 1, 0, 0, 0])],
    [4, 4, 1, true, Uint8Array.from([1, 1, 1, 1, 0, 1, 1, 0])], // batch 1, query 0 sees nothing
    [2, 5, 2, true, null],
    [3, 5, 6, true, Uint8Array.from([1, 1, 1, 0, 0, 0, 1, 1, 1, 1])],
    [1, 7, 3, false, null],
  ];
  for (const [tq, tk, heads, causal, keyMask] of cases) {
    const q = rand([2, tq, 6]);
    const k = rand([2, tk, 6]);
    const v = rand([2, tk, 6]);
    const y = ops.attention(q, k, v, { heads, causal, keyMask });
    assertClose(
      y.data,
      naiveAttention(q, k, v, heads, causal, keyMask),
      1e-12,
      `attention ${tq}x${tk} h${heads}`,
    );
  }
  const hidden = ops.attention(rand([2, 4, 6]), rand([2, 4, 6]), rand([2, 4, 6]), {
    heads: 1,
    causal: true,
    keyMask: Uint8Array.from([1, 1, 1, 1, 0, 1, 1, 1]),
  });
  assert.deepEqual(
    Array.from(hidden.data.slice(24, 30)),
    [0, 0, 0, 0, 0, 0],
    'a query that sees no key outputs zeros',
  );
});

test('selfAttention on fused qkv equals attention on the split parts', () => {
  const qkv = rand([2, 5, 3 * 8]);
  const keyMask = Uint8Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
  const y = ops.selfAttention(qkv, { heads: 2, causal: true, keyMask });
  const [q, k, v] = [0, 1, 2].map((i) => ops.slice(qkv, 2, i * 8, (i + 1) * 8)) as [Tensor, Tensor, Tensor];
  assertClose(y.data, ops.attention(q, k, v, { heads: 2, causal: true, keyMask }).data);
  assertClose(y.data, naiveAttention(q, k, v, 2, true, keyMask), 1e-12, 'selfAttention');
});

/** Direct convolution loops. */
function naiveConv(x: Tensor, w: Tensor, b: Tensor | null, stride: number, pad: number): number[] {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [O, , kh, kw] = w.shape as [number, number, number, number];
  const oh = Math.floor((H + 2 * pad - kh) / stride) + 1;
  const ow = Math.floor((W + 2 * pad - kw) / stride) + 1;
  const out: number[] = [];
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let y = 0; y < oh; y++)
        for (let xx = 0; xx < ow; xx++) {
          let s = b ? b.data[o]! : 0;
          for (let c = 0; c < C; c++)
            for (let i = 0; i < kh; i++)
              for (let j = 0; j < kw; j++) {
                const iy = y * stride - pad + i;
                const ix = xx * stride - pad + j;
                if (iy >= 0 && iy < H && ix >= 0 && ix < W) s += at(x, n, c, iy, ix) * at(w, o, c, i, j);
              }
          out.push(s);
        }
  return out;
}

test('conv2d matches direct convolution (3x3, stride, padding, large and rectangular kernels)', () => {
  const cases: [number[], number[], boolean, number, number][] = [
    [[2, 3, 6, 6], [4, 3, 3, 3], true, 1, 1],
    [[1, 2, 9, 7], [3, 2, 5, 5], false, 2, 2],
    [[2, 3, 8, 8], [5, 3, 4, 4], true, 4, 0],
    [[1, 1, 5, 6], [2, 1, 2, 3], true, 1, 0],
    [[1, 2, 7, 7], [2, 2, 7, 7], true, 3, 3],
    [[7, 3, 4, 4], [5, 3, 3, 3], true, 1, 1],
  ];
  for (const [xs, ws, bias, stride, padding] of cases) {
    const x = rand(xs);
    const w = rand(ws);
    const b = bias ? rand([ws[0]!]) : null;
    const expected = naiveConv(x, w, b, stride, padding);
    const y = ops.conv2d(x, w, b, { stride, padding });
    assert.equal(y.size, expected.length);
    assertClose(y.data, expected, 1e-12, `conv2d ${xs} ${ws} s${stride} p${padding}`);
  }
});

test('chainedConv2d equals two conv2d calls, in one chunk and in several (uneven last chunk)', () => {
  const x = rand([5, 3, 8, 8]);
  const first = { weight: rand([4, 3, 3, 3]), bias: rand([4]), padding: 1 };
  const second = { weight: rand([6, 4, 3, 3]), bias: null, stride: 2, padding: 1 };
  const expected = ops.conv2d(ops.conv2d(x, first.weight, first.bias, first), second.weight, null, second);
  const saved = chainedConvLimits.chunkFloats;
  try {
    for (const chunkFloats of [saved, 2 * 4 * 8 * 8]) {
      chainedConvLimits.chunkFloats = chunkFloats; // 2 images per chunk: 5 -> 2 + 2 + 1
      const y = ops.chainedConv2d(x, first, second);
      assert.deepEqual(y.shape, expected.shape);
      assertClose(y.data, expected.data, 1e-12, `chainedConv2d chunk ${chunkFloats}`);
    }
  } finally {
    chainedConvLimits.chunkFloats = saved;
  }
  assert.throws(
    () => ops.chainedConv2d(x, first, { weight: rand([6, 5, 3, 3]) }),
    /chainedConv2d \(second\): input \[5, 4, 8, 8\] and weight \[6, 5, 3, 3\]/,
  );
});

test('patchify cuts row-major patches; a stride-p conv equals a linear layer over them', () => {
  const x = rand([2, 3, 4, 6]);
  const p = 2;
  const y = ops.patchify(x, p);
  assert.deepEqual(y.shape, [2 * 2 * 3, 3, 2, 2]);
  for (let n = 0; n < 2; n++)
    for (let py = 0; py < 2; py++)
      for (let px = 0; px < 3; px++)
        for (let c = 0; c < 3; c++)
          for (let i = 0; i < p; i++)
            for (let j = 0; j < p; j++) {
              assert.equal(at(y, (n * 2 + py) * 3 + px, c, i, j), at(x, n, c, py * p + i, px * p + j));
            }
  const w = rand([5, 3, p, p]);
  const b = rand([5]);
  const viaConv = ops.permute(ops.reshape(ops.conv2d(x, w, b, { stride: p }), [2, 5, 6]), [0, 2, 1]);
  const viaLinear = ops.linear(ops.reshape(y, [2, 6, 3 * p * p]), ops.reshape(w, [5, 3 * p * p]), b);
  assertClose(viaConv.data, viaLinear.data, 1e-12, 'conv vs patch linear');
});

test('layerNorm, gelu, relu, softmax against their formulas', () => {
  const x = rand([3, 5]);
  const g = rand([5]);
  const b = rand([5]);
  const y = ops.layerNorm(x, g, b, 1e-5);
  for (let r = 0; r < 3; r++) {
    const row = Array.from(x.data.slice(r * 5, r * 5 + 5));
    const mu = row.reduce((s, v) => s + v, 0) / 5;
    const variance = row.reduce((s, v) => s + (v - mu) ** 2, 0) / 5;
    const expected = row.map((v, c) => ((v - mu) / Math.sqrt(variance + 1e-5)) * g.data[c]! + b.data[c]!);
    assertClose(y.data.slice(r * 5, r * 5 + 5), expected, 1e-12, 'layerNorm');
  }
  // GELU tanh form: values computed separately with Python's math module.
  const gx = Tensor.from([-3, -1, 0, 0.5, 1, 2], [6], 'float64');
  const geluRef = [
    -0.0036373920817729943, -0.15880800939172324, 0, 0.34571400982514394, 0.8411919906082768,
    1.954597694087775,
  ];
  assertClose(ops.gelu(gx).data, geluRef, 1e-14, 'gelu');
  assert.deepEqual(Array.from(ops.relu(Tensor.from([-2, 0, 3], [3], 'float64')).data), [0, 0, 3]);
  const s = ops.softmax(Tensor.from([1, 2, 3, 1000, 1000, 1000], [2, 3], 'float64'));
  const e = [Math.exp(1), Math.exp(2), Math.exp(3)];
  const z = e[0]! + e[1]! + e[2]!;
  assertClose(
    s.data,
    [...e.map((v) => v / z), 1 / 3, 1 / 3, 1 / 3],
    1e-12,
    'softmax (large inputs stay finite)',
  );
});

test('crossEntropy is the mean negative log-softmax over non-ignored rows', () => {
  const logits = rand([2, 3, 4]);
  const targets = Tensor.ids([1, -100, 3, 0, 2, -100], [2, 3]);
  let total = 0;
  let count = 0;
  for (let r = 0; r < 6; r++) {
    const t = targets.data[r]!;
    if (t === -100) continue;
    const row = Array.from(logits.data.slice(r * 4, r * 4 + 4));
    total += Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) - row[t]!;
    count++;
  }
  assertClose([ops.crossEntropy(logits, targets).item()], [total / count], 1e-12, 'crossEntropy');
  assert.deepEqual(ops.crossEntropy(logits, targets).shape, []);
  const allIgnored = ops.crossEntropy(logits, Tensor.ids(new Array(6).fill(-100), [2, 3]));
  assert.equal(allIgnored.item(), 0);
  assert.throws(
    () => ops.crossEntropy(logits, Tensor.ids([1, 4, 0, 0, 0, 0], [2, 3])),
    /target 4 at position 1 is outside \[0, 4\)/,
  );
  assert.throws(() => ops.crossEntropy(logits, Tensor.ids([1, 2, 3])), /one entry per row/);
  assert.throws(() => ops.crossEntropy(logits, rand([2, 3])), /int32/);
});

test('embedding, add/mul broadcasting, scale, sum, mean', () => {
  const w = rand([4, 3]);
  const e = ops.embedding(w, Tensor.ids([2, 0, 2], [1, 3]));
  assert.deepEqual(e.shape, [1, 3, 3]);
  assert.deepEqual(Array.from(e.data), [...w.data.slice(6, 9), ...w.data.slice(0, 3), ...w.data.slice(6, 9)]);
  assert.throws(() => ops.embedding(w, Tensor.ids([4])), /id 4 at position 0 is outside \[0, 4\)/);
  const a = rand([2, 3]);
  const b = rand([3]);
  const sum = ops.add(a, b);
  const prod = ops.mul(a, b);
  for (let i = 0; i < 6; i++) {
    assert.equal(sum.data[i], a.data[i]! + b.data[i % 3]!);
    assert.equal(prod.data[i], a.data[i]! * b.data[i % 3]!);
  }
  assert.throws(() => ops.add(a, rand([2])), /not \[2, 3\] or a suffix/);
  assert.deepEqual(Array.from(ops.scale(Tensor.from([1, -2], [2], 'float64'), 3).data), [3, -6]);
  const s = Tensor.from([1, 2, 3, 4], [2, 2], 'float64');
  assert.equal(ops.sum(s).item(), 10);
  assert.equal(ops.mean(s).item(), 2.5);
});

test('shape ops: concat, slice, reshape, permute, expand (float and int32)', () => {
  const a = Tensor.from([0, 1, 2, 3, 4, 5], [2, 3], 'float64');
  const b = Tensor.from([6, 7], [2, 1], 'float64');
  assert.deepEqual(Array.from(ops.concat([a, b], 1).data), [0, 1, 2, 6, 3, 4, 5, 7]);
  assert.deepEqual(Array.from(ops.concat([a, a], 0).data), [0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5]);
  assert.deepEqual(Array.from(ops.slice(a, 1, 1, 3).data), [1, 2, 4, 5]);
  assert.deepEqual(Array.from(ops.slice(a, 0, 1, 2).data), [3, 4, 5]);
  const r = ops.reshape(a, [-1, 2]);
  assert.deepEqual(r.shape, [3, 2]);
  assert.equal(r.data, a.data, 'reshape shares the buffer');
  assert.throws(() => ops.reshape(a, [4, -1]), /cannot view/);
  assert.deepEqual(Array.from(ops.permute(a, [1, 0]).data), [0, 3, 1, 4, 2, 5]);
  const x = rand([2, 3, 4, 5]);
  const p = ops.permute(x, [2, 0, 3, 1]);
  assert.deepEqual(p.shape, [4, 2, 5, 3]);
  for (let i = 0; i < 4; i++)
    for (let j = 0; j < 2; j++)
      for (let k = 0; k < 5; k++)
        for (let l = 0; l < 3; l++) assert.equal(at(p, i, j, k, l), at(x, j, l, i, k));
  assert.throws(() => ops.permute(x, [0, 0, 1, 2]), /not a permutation/);
  assert.deepEqual(Array.from(ops.expand(b, [2, 3]).data), [6, 6, 6, 7, 7, 7]);
  assert.deepEqual(Array.from(ops.expand(Tensor.from([1, 2], [2], 'float64'), [2, 2]).data), [1, 2, 1, 2]);
  assert.throws(() => ops.expand(a, [2, 4]), /cannot expand/);
  // Token ids go through the same shape ops.
  const ids = Tensor.ids([1, 2, 3, 4, 5, 6], [2, 3]);
  const shifted = ops.slice(ids, 1, 1, 3);
  assert.equal(shifted.dtype, 'int32');
  assert.deepEqual(Array.from(shifted.data), [2, 3, 5, 6]);
  assert.deepEqual(Array.from(ops.concat([ids, ids], 1).data), [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6]);
  assert.throws(() => ops.slice(a, 1, 2, 4), /not within 0\.\.3/);
  assert.throws(() => ops.concat([a, rand([3, 3])], 1), /does not match/);
  assert.equal(sizeOf(ops.slice(a, 1, 2, 2).shape), 0);
});

test('dropout follows the counter-hash mask and p = 0 is the identity', () => {
  const x = Tensor.full([1000], 2, 'float64');
  const p = 0.25;
  const y = ops.dropout(x, p, 1234);
  let kept = 0;
  for (let i = 0; i < 1000; i++) {
    const keep = hash32(1234, i) / 2 ** 32 >= p;
    assert.equal(y.data[i], keep ? 2 / (1 - p) : 0);
    kept += keep ? 1 : 0;
  }
  assert.ok(kept > 700 && kept < 800, `kept ${kept} of 1000 at p = 0.25`);
  assert.equal(ops.dropout(x, 0, 1), x);
  assert.notDeepEqual(Array.from(ops.dropout(x, p, 1235).data), Array.from(y.data));
  assert.throws(() => ops.dropout(x, 1, 1), /\[0, 1\)/);
});

test('float32 tensors give the float64 results to float32 precision', () => {
  const x64 = rand([2, 4, 6]);
  const x32 = Tensor.from(x64.data, x64.shape, 'float32');
  const w64 = rand([6, 6]);
  const w32 = Tensor.from(w64.data, w64.shape, 'float32');
  const f = (x: Tensor, w: Tensor) =>
    ops.selfAttention(ops.concat([x, ops.linear(x, w), x], 2), { heads: 2, causal: true });
  const y32 = f(x32, w32);
  assert.equal(y32.dtype, 'float32');
  assertClose(y32.data, f(x64, w64).data, 1e-5, 'float32');
});

test('shape errors name the op and the shapes', () => {
  assert.throws(() => ops.matmul(rand([2, 3]), rand([4, 2])), /matmul: inner dimensions differ/);
  assert.throws(() => ops.matmul(rand([2, 2, 3]), rand([3, 3, 2])), /matmul: batch dimensions differ/);
  assert.throws(() => ops.linear(rand([2, 3]), rand([4, 2])), /linear: weight \[4, 2\]/);
  assert.throws(
    () => ops.layerNorm(rand([2, 3]), rand([2]), rand([3])),
    /layerNorm: gamma \[2\] should be \[3\]/,
  );
  assert.throws(
    () => ops.attention(rand([1, 2, 6]), rand([1, 2, 6]), rand([1, 2, 6]), { heads: 4 }),
    /6 channels cannot be split into 4 heads/,
  );
  assert.throws(
    () =>
      ops.attention(rand([1, 2, 6]), rand([1, 3, 6]), rand([1, 3, 6]), {
        heads: 1,
        keyMask: new Uint8Array(2),
      }),
    /keyMask has 2 entries, expected batch \* keys = 3/,
  );
  assert.throws(() => ops.selfAttention(rand([1, 2, 7]), { heads: 1 }), /qkv should be \[B, T, 3C\]/);
  assert.throws(
    () => ops.conv2d(rand([1, 1, 3, 3]), rand([1, 1, 5, 5])),
    /kernel 5x5 does not fit input 3x3/,
  );
  assert.throws(() => ops.conv2d(rand([1, 2, 3, 3]), rand([1, 1, 3, 3])), /conv2d: input/);
  assert.throws(() => ops.patchify(rand([1, 1, 6, 6]), 4), /patch size 4 does not divide the 6x6 image/);
  assert.throws(() => ops.add(rand([2]), Tensor.ids([1, 2])), /expected a float tensor, got int32/);
});
