// Kernel-level checks of the TypeScript reference backend: conventions of src/tensor/backend.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tsBackend as be } from '../../src/tensor/backends/ts.ts';
import type { F } from '../../src/tensor/backend.ts';
import { Rng, hash32 } from '../../src/util/rng.ts';

const rng = new Rng(5);
function randArr(n: number, f64 = true): F {
  const a = f64 ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}
const nan = (n: number, f64 = true): F => (f64 ? new Float64Array(n) : new Float32Array(n)).fill(NaN);
function assertAllFinite(label: string, a: ArrayLike<number>): void {
  for (let i = 0; i < a.length; i++)
    assert.ok(Number.isFinite(a[i]!), `${label}: element ${i} was not written (${a[i]})`);
}
function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  label: string,
): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(
      Math.abs(actual[i]! - expected[i]!) <= tol * Math.max(1, Math.abs(expected[i]!)),
      `${label}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

test('gemm: transposes, alpha/beta, batch strides with a broadcast matrix, views at an offset', () => {
  for (const f64 of [true, false]) {
    for (const [m, n, k] of [
      [1, 1, 1],
      [3, 7, 5],
      [7, 3, 33],
      [4, 1, 9],
    ] as const) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const batch = 3;
          const a = randArr(m * k, f64); // strideA = 0: one A for every item
          const b = randArr(batch * k * n, f64);
          const c0 = randArr(batch * m * n, f64);
          const c = c0.slice();
          be.gemm(
            { m, n, k, transA, transB, alpha: 0.5, beta: 2, batch, strideB: k * n, strideC: m * n },
            a,
            b,
            c,
          );
          const expected: number[] = [];
          for (let z = 0; z < batch; z++)
            for (let i = 0; i < m; i++)
              for (let j = 0; j < n; j++) {
                let s = 0;
                for (let p = 0; p < k; p++) {
                  const av = transA ? a[p * m + i]! : a[i * k + p]!;
                  const bv = transB ? b[z * k * n + j * k + p]! : b[z * k * n + p * n + j]!;
                  s += av * bv;
                }
                expected.push(0.5 * s + 2 * c0[z * m * n + i * n + j]!);
              }
          assertClose(c, expected, f64 ? 1e-12 : 1e-5, `gemm ${m}x${n}x${k} ${transA} ${transB} f64=${f64}`);
        }
      }
    }
  }
  // beta = 0 overwrites NaN; a view at an offset writes only its own part.
  const host = nan(10);
  const out = host.subarray(2, 6);
  be.gemm({ m: 2, n: 2, k: 1 }, Float64Array.from([1, 2]), Float64Array.from([3, 4]), out);
  assert.deepEqual(Array.from(out), [3, 4, 6, 8]);
  assert.ok(Number.isNaN(host[1]!) && Number.isNaN(host[6]!), 'gemm wrote outside its view');
});

test('forward kernels overwrite every output element (poisoned with NaN)', () => {
  const rows = 3;
  const cols = 7;
  const n = rows * cols;
  const x = randArr(n);
  const y = nan(n);
  be.add(x, randArr(cols), y, n, cols);
  assertAllFinite('add', y);
  be.mul(x, randArr(n), y.fill(NaN), n, n);
  assertAllFinite('mul', y);
  be.scale(x, 3, y.fill(NaN), n);
  assertAllFinite('scale', y);
  be.gelu(x, y.fill(NaN), n);
  assertAllFinite('gelu', y);
  be.relu(x, y.fill(NaN), n);
  assertAllFinite('relu', y);
  be.softmax(x, y.fill(NaN), rows, cols);
  assertAllFinite('softmax', y);
  const s = nan(cols);
  be.sumRows(x, s, rows, cols, false);
  assertAllFinite('sumRows', s);
  const mean = nan(rows);
  const rstd = nan(rows);
  be.layerNorm(x, randArr(cols), randArr(cols), y.fill(NaN), mean, rstd, rows, cols, 1e-5);
  assertAllFinite('layerNorm y', y);
  assertAllFinite('layerNorm mean', mean);
  assertAllFinite('layerNorm rstd', rstd);
  const losses = nan(rows);
  const count = be.crossEntropy(x, Int32Array.from([2, -100, 6]), losses, rows, cols, -100);
  assert.equal(count, 2);
  assertAllFinite('crossEntropy', losses);
  assert.equal(losses[1], 0);
  const emb = nan(2 * cols);
  be.embedding(x, Int32Array.from([2, 0]), emb, 2, cols);
  assertAllFinite('embedding', emb);
  const mask = nan(n);
  be.dropout(x, y.fill(NaN), mask, n, 0.5, 3, 0);
  assertAllFinite('dropout y', y);
  assertAllFinite('dropout mask', mask);
  // conv2d with padding writes every output, border included: 2 images C=2, 4x5, O=3, 3x3, stride 2,
  // pad 1 -> 2x3 output.
  const conv = nan(2 * 3 * 2 * 3);
  be.conv2d(
    { n: 2, c: 2, h: 4, w: 5, o: 3, kh: 3, kw: 3, stride: 2, pad: 1 },
    randArr(80),
    randArr(3 * 2 * 9),
    null,
    conv,
  );
  assertAllFinite('conv2d', conv);
  // Attention with a fully hidden query (batch 1 query 0) and masked keys.
  const [B, H, T, D] = [2, 2, 3, 2];
  const C = H * D;
  const out = nan(B * T * C);
  const probs = nan(B * H * T * T);
  const keyMask = Uint8Array.from([1, 0, 1, 0, 1, 1]);
  be.attention(
    {
      batch: B,
      heads: H,
      tq: T,
      tk: T,
      headDim: D,
      qStride: C,
      kvStride: C,
      kvBatchStride: T * C,
      outStride: C,
      causal: true,
      keyMask,
    },
    randArr(B * T * C),
    randArr(B * T * C),
    randArr(B * T * C),
    out,
    probs,
  );
  assertAllFinite('attention out', out);
  assertAllFinite('attention probs', probs);
  assert.deepEqual(Array.from(out.subarray(T * C, T * C + C)), [0, 0, 0, 0], 'hidden query outputs zeros');
});

test('backward kernels accumulate (two calls give twice one call)', () => {
  const n = 12;
  const x = randArr(n);
  const dy = randArr(n);
  const once = (fn: (dx: F) => void): [F, F] => {
    const a = new Float64Array(n).fill(0.5);
    fn(a);
    const b = new Float64Array(n).fill(0.5);
    fn(b);
    fn(b);
    return [a, b];
  };
  // conv2d input gradient: 1 image, 1 channel 3x4, 1 output channel, 2x2 kernel -> dy 2x3.
  const convW = randArr(4);
  const convDy = randArr(6);
  const kernels: [string, (dx: F) => void][] = [
    ['geluBackward', (dx) => be.geluBackward(x, dy, dx, n)],
    ['reluBackward', (dx) => be.reluBackward(x, dy, dx, n)],
    ['softmaxBackward', (dx) => be.softmaxBackward(x, dy, dx, 3, 4)],
    ['axpy', (dx) => be.axpy(2, x, dx, n)],
    [
      'crossEntropyBackward',
      (dx) => be.crossEntropyBackward(x, Int32Array.from([1, -1, 3]), dx, 3, 4, -1, 0.5),
    ],
    ['embeddingBackward', (dx) => be.embeddingBackward(x, Int32Array.from([2, 2, 0]), dx, 3, 4)],
    [
      'conv2dBackward',
      (dx) =>
        be.conv2dBackward(
          { n: 1, c: 1, h: 3, w: 4, o: 1, kh: 2, kw: 2, stride: 1, pad: 0 },
          x,
          convW,
          convDy,
          dx,
          null,
          null,
          true,
        ),
    ],
    ['sumRows', (dx) => be.sumRows(x, dx, 1, n, true)],
  ];
  for (const [name, fn] of kernels) {
    const [a, b] = once(fn);
    for (let i = 0; i < n; i++) {
      assert.ok(
        Math.abs(b[i]! - 0.5 - 2 * (a[i]! - 0.5)) < 1e-12,
        `${name}: element ${i} did not accumulate`,
      );
    }
  }
});

test('dropout mask is the counter hash with an offset', () => {
  const n = 64;
  const x = randArr(n);
  const y = new Float64Array(n);
  const mask = new Float64Array(n);
  be.dropout(x, y, mask, n, 0.4, 77, 1000);
  for (let i = 0; i < n; i++) {
    const keep = hash32(77, 1000 + i) / 4294967296 >= 0.4;
    assert.equal(mask[i], keep ? 1 / 0.6 : 0);
    assert.equal(y[i], x[i]! * mask[i]!);
  }
});

test('adamw follows the decoupled weight decay formula with bias correction', () => {
  const n = 5;
  const p = Float32Array.from([0.5, -1, 2, 0, 3]);
  const m = new Float32Array(n);
  const v = new Float32Array(n);
  const ref = { p: Array.from(p), m: new Array(n).fill(0), v: new Array(n).fill(0) };
  const [lr, b1, b2, eps, wd] = [0.01, 0.9, 0.95, 1e-8, 0.1];
  for (let step = 1; step <= 3; step++) {
    const g = Float32Array.from([0.1, -0.2, 0.3, 0.4, -0.5].map((x) => x * step));
    be.adamw(p, g, m, v, n, lr, b1, b2, eps, wd, step);
    for (let i = 0; i < n; i++) {
      ref.m[i] = b1 * ref.m[i] + (1 - b1) * g[i]!;
      ref.v[i] = b2 * ref.v[i] + (1 - b2) * g[i]! ** 2;
      const mhat = ref.m[i] / (1 - b1 ** step);
      const vhat = ref.v[i] / (1 - b2 ** step);
      ref.p[i] -= lr * (mhat / (Math.sqrt(vhat) + eps) + wd * ref.p[i]!);
    }
  }
  assertClose(p, ref.p, 1e-6, 'adamw param');
  assertClose(m, ref.m, 1e-6, 'adamw m');
  assertClose(v, ref.v, 1e-6, 'adamw v');
});

test('sum and sumSquares accumulate in double precision', () => {
  const x = new Float32Array(100001).fill(0.1);
  x[0] = 1e7;
  const expected = 1e7 + 100000 * Math.fround(0.1);
  assert.ok(Math.abs(be.sum(x, x.length) - expected) < 1e-6);
  assert.equal(be.sumSquares(Float64Array.from([3, 4]), 2), 25);
});
