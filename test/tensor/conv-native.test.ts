// The fused conv2d kernels (native) against the TypeScript reference: every tiling the C side picks
// (several whole images per tile, bands of one large image, the transposed GEMM when the weights outweigh a
// tile's pixels), strides that do and do not divide the width, bias and no bias, each gradient alone, every
// micro-kernel, and results that do not depend on the thread count. Forward outputs are poisoned with NaN so
// an element the kernel forgot shows up; gradients start from random values to check they accumulate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadNativeBackend } from '../../src/tensor/backends/native.ts';
import { tsBackend as ts } from '../../src/tensor/backends/ts.ts';
import { Rng } from '../../src/util/rng.ts';
import { Tensor, backward as backprop } from '../../src/tensor/tensor.ts';
import { withBackend } from '../../src/tensor/backends/index.ts';
import { conv2d, chainedConv2d, chainedConvLimits } from '../../src/tensor/ops/conv.ts';
import { ISAS, assertClose, withIsa, withThreads } from '../helpers/native.ts';

const nb = loadNativeBackend();
const rng = new Rng(77);

function rand(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.next() * 2 - 1;
  return a;
}

/** [n, c, h, w, o, kh, kw, stride, pad] */
type Dims = [number, number, number, number, number, number, number, number, number];
const outSize = (size: number, k: number, s: number, p: number) => Math.floor((size + 2 * p - k) / s) + 1;

interface Inputs {
  x: Float32Array;
  w: Float32Array;
  b: Float32Array;
  dy: Float32Array;
  dx: Float32Array;
  dw: Float32Array;
  db: Float32Array;
  ySize: number;
}

function inputs([n, c, h, w, o, kh, kw, s, p]: Dims): Inputs {
  const ySize = n * o * outSize(h, kh, s, p) * outSize(w, kw, s, p);
  return {
    x: rand(n * c * h * w),
    w: rand(o * c * kh * kw),
    b: rand(o),
    dy: rand(ySize),
    dx: rand(n * c * h * w),
    dw: rand(o * c * kh * kw),
    db: rand(o),
    ySize,
  };
}

type Be = typeof nb;
const desc = ([n, c, h, w, o, kh, kw, stride, pad]: Dims) => ({ n, c, h, w, o, kh, kw, stride, pad });
const forward = (be: Be, d: Dims, v: Inputs, bias: boolean) => {
  const y = new Float32Array(v.ySize).fill(NaN);
  be.conv2d(desc(d), v.x, v.w, bias ? v.b : null, y);
  return y;
};
/** Which gradients to ask for: dx, dw, db. */
type Wanted = [boolean, boolean, boolean];
/** The gradients after one backward call; `overwrite` poisons dx first and asks for it to be written. */
const backward = (be: Be, d: Dims, v: Inputs, [gx, gw, gb]: Wanted, overwrite = false) => {
  const g = { dx: overwrite ? v.dx.map(() => NaN) : v.dx.slice(), dw: v.dw.slice(), db: v.db.slice() };
  be.conv2dBackward(
    desc(d),
    v.x,
    v.w,
    v.dy,
    gx ? g.dx : null,
    gw ? g.dw : null,
    gb ? g.db : null,
    !overwrite,
  );
  return g;
};

function compareCase(d: Dims, label: string): void {
  const v = inputs(d);
  for (const bias of [true, false])
    assertClose(`${label} y bias=${bias}`, forward(nb, d, v, bias), forward(ts, d, v, bias));
  const wanted: Wanted[] = [
    [true, true, true],
    [true, false, false],
    [false, true, false],
    [false, false, true],
    [false, true, true],
  ];
  for (const want of wanted) {
    const gn = backward(nb, d, v, want);
    const gt = backward(ts, d, v, want);
    assertClose(`${label} dx ${want}`, gn.dx, gt.dx);
    assertClose(`${label} dw ${want}`, gn.dw, gt.dw);
    assertClose(`${label} db ${want}`, gn.db, gt.db);
  }
  // dx overwritten (a fresh gradient buffer): every element written, even those no output reads
  const on = backward(nb, d, v, [true, true, false], true);
  const ot = backward(ts, d, v, [true, true, false], true);
  assertClose(`${label} dx overwritten`, on.dx, ot.dx);
  assertClose(`${label} dw beside an overwritten dx`, on.dw, ot.dw);
}

const CASES: [Dims, string][] = [
  [[1, 1, 1, 1, 1, 1, 1, 1, 0], '1x1'],
  [[37, 3, 16, 16, 32, 3, 3, 1, 1], 'stem conv1: many small images per tile'],
  [[13, 32, 16, 16, 64, 3, 3, 2, 1], 'stem conv2: stride 2, weights packed once (transposed GEMM)'],
  [[3, 2, 9, 7, 3, 5, 5, 2, 2], 'stride 2 on an odd width'],
  [[2, 3, 70, 61, 5, 3, 3, 1, 1], 'bands of output rows of a large image'],
  [[2, 8, 100, 100, 9, 4, 4, 3, 0], 'stride 3 with bands'],
  [[5, 2, 8, 12, 4, 2, 2, 4, 0], 'stride larger than the kernel'],
  [[4, 3, 8, 8, 5, 8, 8, 8, 0], 'patch-embedding conv (kernel = stride = image)'],
  [[3, 1, 5, 6, 2, 7, 3, 1, 3], 'padding larger than the kernel reach'],
  [[130, 4, 6, 6, 7, 2, 3, 1, 0], 'more images than weight-gradient groups'],
];

test('conv2d and conv2dBackward match the TypeScript reference on every tiling path', () => {
  for (const [d, label] of CASES) compareCase(d, `${label} [${d.join(',')}]`);
});

test('conv2d kernels on every GEMM micro-kernel', () => {
  for (const isa of ISAS)
    withIsa(isa, () => {
      compareCase([9, 32, 16, 16, 64, 3, 3, 2, 1], `${isa} stem conv2`);
      compareCase([2, 3, 33, 35, 5, 3, 3, 1, 1], `${isa} bands`);
    });
});

test('conv2d kernels give the same bits with 1, 2 and 3 threads', () => {
  for (const d of [
    [70, 32, 16, 16, 64, 3, 3, 2, 1],
    [150, 3, 16, 16, 32, 3, 3, 1, 1],
    [3, 4, 50, 50, 6, 3, 3, 1, 1],
  ] as Dims[]) {
    const v = inputs(d);
    const run = () => ({
      y: forward(nb, d, v, true),
      ...backward(nb, d, v, [true, true, true]),
      fresh: backward(nb, d, v, [true, false, false], true).dx,
    });
    const one = withThreads(1, run);
    for (const t of [2, 3]) {
      const other = withThreads(t, run);
      for (const key of ['y', 'dx', 'dw', 'db', 'fresh'] as const)
        assert.deepEqual(other[key], one[key], `[${d.join(',')}] ${key} with ${t} threads`);
    }
  }
});

test('conv2d kernels check their buffers and sizes', () => {
  const x = new Float32Array(2 * 3 * 4 * 4);
  const w = new Float32Array(5 * 3 * 3 * 3);
  const y = new Float32Array(2 * 5 * 4 * 4);
  assert.throws(
    () =>
      nb.conv2d({ n: 2, c: 3, h: 4, w: 4, o: 5, kh: 3, kw: 3, stride: 1, pad: 1 }, x, w, null, y.subarray(1)),
    /y has/,
  );
  assert.throws(
    () =>
      nb.conv2d(
        { n: 2, c: 3, h: 4, w: 4, o: 5, kh: 3, kw: 3, stride: 1, pad: 1 },
        x,
        w,
        new Float32Array(4),
        y,
      ),
    /bias has/,
  );
  assert.throws(
    () => nb.conv2d({ n: 2, c: 3, h: 4, w: 4, o: 5, kh: 3, kw: 3, stride: 0, pad: 1 }, x, w, null, y),
    /stride must be an integer >= 1/,
  );
  assert.throws(
    () =>
      nb.conv2dBackward(
        { n: 2, c: 3, h: 4, w: 4, o: 5, kh: 3, kw: 3, stride: 1, pad: 1 },
        x,
        w,
        y,
        new Float64Array(96) as never,
        null,
        null,
        true,
      ),
    /dx is a Float64Array/,
  );
});

test('chainedConv2d on the native backend: outputs and every gradient equal two conv2d calls', () => {
  const saved = chainedConvLimits.chunkFloats;
  try {
    for (const chunkFloats of [saved, 7 * 32 * 16 * 16]) {
      chainedConvLimits.chunkFloats = chunkFloats; // the stem's shapes in chunks of 7 patches (uneven last)
      withBackend('native', () => {
        const param = (shape: number[]) => {
          const t = Tensor.from(rand(shape.reduce((a, b) => a * b)), shape);
          t.requiresGrad = true;
          return t;
        };
        const x = param([23, 3, 16, 16]);
        const l1 = { weight: param([32, 3, 3, 3]), bias: param([32]), padding: 1 };
        const l2 = { weight: param([64, 32, 3, 3]), bias: param([64]), stride: 2, padding: 1 };
        const all = [x, l1.weight, l1.bias, l2.weight, l2.bias];
        const seed = rand(23 * 64 * 8 * 8);
        const run = (f: () => Tensor) => {
          for (const t of all) t.grad = null;
          const y = f();
          backprop(y, seed);
          return [y.f as Float32Array, ...all.map((t) => t.grad as Float32Array)].map((a) => a.slice());
        };
        const pair = run(() => chainedConv2d(x, l1, l2));
        const twice = run(() => conv2d(conv2d(x, l1.weight, l1.bias, l1), l2.weight, l2.bias, l2));
        const names = ['y', 'dx', 'dw1', 'db1', 'dw2', 'db2'];
        pair.forEach((v, i) => assertClose(`chainedConv2d ${names[i]} chunk ${chunkFloats}`, v, twice[i]!));
      });
    }
  } finally {
    chainedConvLimits.chunkFloats = saved;
  }
});
