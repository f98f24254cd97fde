// bf16 products (GemmDesc.bf16): inputs rounded to bf16, sums in fp32.
// - Rounding: native (scalar roundBf16 and the packing's vector conversion) equals the ts reference bit for
//   bit on ties, subnormals, NaN, infinities and overflow.
// - Against an fp64 product of the unrounded inputs, every element is within
//     |C - A·B| <= (2^-7 + 2^-15 + k·2^-23) · Σ_p |A_ip| |B_pj|
//   (each input's rounding is at most 2^-8 relative, so a product's at most 2^-7 + 2^-16; fp32 sums of k
//   terms add at most about k·2^-24 of the same sum; the bound leaves a factor of 2 on the last).
// - Against the ts reference of the same rounding: relErr <= 1e-5, as the fp32 kernels are compared.
// - 1, 2 and 3 threads give bit-identical results; a bf16 engine turned off (setBf16, NANOVLM_BF16,
//   NANOVLM_ISA below avx512) computes the plain fp32 product and says 'off'.
// Every engine this CPU has is tested ('amx' only where cpuid reports it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { NATIVE_ADDON_PATH, loadNativeAddon, loadNativeBackend } from '../../src/tensor/backends/native.ts';
import { tsBackend as ts, roundBf16 } from '../../src/tensor/backends/ts.ts';
import type { GemmDesc } from '../../src/tensor/backend.ts';
import { withBackend } from '../../src/tensor/backends/index.ts';
import { precisionInfo, setPrecision, withPrecision } from '../../src/tensor/precision.ts';
import { Tensor, backward } from '../../src/tensor/tensor.ts';
import { linear } from '../../src/tensor/ops/linear.ts';
import { Rng } from '../../src/util/rng.ts';
import { withBf16Engine, withThreads } from '../helpers/native.ts';

const addon = loadNativeAddon();
const nb = loadNativeBackend();
const rng = new Rng(77);
const rand = (n: number) => Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
const ENGINES = ['amx', 'avx512bf16'].slice(['amx', 'avx512bf16', 'off'].indexOf(addon.supportedBf16()));

const bits = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);
const f32 = (u: number) => new Float32Array(new Uint32Array([u]).buffer)[0]!;
const SPECIAL = new Float32Array([
  1 + 2 ** -8, // a tie: down to the even 1
  1 + 3 * 2 ** -8, // a tie: up to the even 1 + 2^-6
  1 + 2 ** -8 + 2 ** -20, // just above a tie: up
  -(1 + 2 ** -8 + 2 ** -20),
  f32(0x3f80ffff), // the largest value below 1 + 2^-7 rounds up
  0,
  -0,
  f32(0x00000001), // subnormals flush to a signed zero
  f32(0x807fffff),
  2 ** -126, // the smallest normal stays
  Infinity,
  -Infinity,
  NaN,
  3.4028235e38, // the largest float rounds to infinity
  -3.4028235e38,
  65504,
  Math.PI,
  -1e-30,
]);

test('roundBf16: native scalar and the packing conversion equal the ts reference bit for bit', () => {
  const expected = new Float32Array(SPECIAL.length);
  ts.roundBf16(SPECIAL, expected, SPECIAL.length);
  assert.equal(expected[0], 1);
  assert.equal(expected[1], 1 + 2 ** -6);
  assert.equal(expected[2], 1 + 2 ** -7);
  assert.equal(expected[4], 1 + 2 ** -7);
  assert.ok(Object.is(expected[8], -0) && expected[7] === 0 && expected[9] === 2 ** -126);
  assert.equal(expected[13], Infinity);
  assert.ok(Number.isNaN(expected[12]));
  const scalar = new Float32Array(SPECIAL.length);
  nb.roundBf16(SPECIAL, scalar, SPECIAL.length);
  assert.deepEqual([...bits(scalar)], [...bits(expected)]);
  for (const engine of ENGINES) {
    // C (m×1) = A (m×1) · [1]: every product is the rounded input itself, through the packing of A
    // untransposed (rows) and of Bᵀ (two rows interleaved) for the transposed case.
    withBf16Engine(engine, () => {
      const m = SPECIAL.length;
      const c = new Float32Array(m);
      nb.gemm({ m, n: 1, k: 1, bf16: true }, SPECIAL, new Float32Array([1]), c);
      const ct = new Float32Array(m);
      nb.gemm({ m: 1, n: m, k: 1, bf16: true, transA: true }, new Float32Array([1]), SPECIAL, ct);
      for (const [label, got] of [
        ['A rows', c],
        ['B columns', ct],
      ] as const) {
        for (let i = 0; i < m; i++) {
          if (Number.isNaN(expected[i])) assert.ok(Number.isNaN(got[i]!), `${engine} ${label} ${i}`);
          else assert.ok(got[i] === expected[i], `${engine} ${label} ${i}: ${got[i]} vs ${expected[i]}`); // sums start at +0: -0 comes back +0
        }
      }
    });
  }
  assert.equal(roundBf16(1 + 2 ** -8), 1);
});

type Case = [m: number, n: number, k: number, transA: boolean, transB: boolean];
const CASES: Case[] = [
  [1, 1, 1, false, false],
  [13, 33, 7, false, true],
  [12, 32, 256, false, false],
  [37, 70, 513, true, false],
  [100, 65, 300, true, true],
  [50, 300, 31, false, true],
  [97, 257, 129, false, false],
  // a few rows times Wᵀ (the decode path: no packing)
  [1, 70, 100, false, true],
  [3, 33, 513, false, true],
  [8, 600, 96, false, true],
];

/** op(X)[i, p] of a stored matrix. */
const at = (x: Float32Array, trans: boolean, rows: number, cols: number, i: number, p: number) =>
  trans ? x[p * rows + i]! : x[i * cols + p]!;

test('bf16 gemm: within the stated bound of an fp64 product, both transposes, edges, k across blocks', () => {
  for (const engine of ENGINES) {
    withBf16Engine(engine, () => {
      for (const [m, n, k, transA, transB] of CASES) {
        const a = rand(m * k);
        const b = rand(k * n);
        const c = new Float32Array(m * n).fill(NaN);
        nb.gemm({ m, n, k, transA, transB, bf16: true }, a, b, c);
        const factor = 2 ** -7 + 2 ** -15 + k * 2 ** -23;
        let worst = 0;
        for (let i = 0; i < m; i++)
          for (let j = 0; j < n; j++) {
            let exact = 0;
            let mag = 0;
            for (let p = 0; p < k; p++) {
              const x = at(a, transA, m, k, i, p) * at(b, transB, k, n, p, j);
              exact += x;
              mag += Math.abs(x);
            }
            const err = Math.abs(c[i * n + j]! - exact);
            assert.ok(
              err <= factor * mag,
              `${engine} ${m}x${n}x${k} [${i}, ${j}]: error ${err} > ${factor * mag}`,
            );
            worst = Math.max(worst, err / mag);
          }
        // the rounding is really there: an fp32 product would be ~1000 times closer
        if (k >= 7) assert.ok(worst > 2 ** -12, `${engine} ${m}x${n}x${k}: error ${worst} looks unrounded`);
      }
    });
  }
});

test('bf16 gemm: native equals the ts reference of the same rounding (alpha, beta, batches)', () => {
  for (const engine of ENGINES) {
    withBf16Engine(engine, () => {
      for (const [m, n, k, transA, transB] of CASES) {
        for (const [alpha, beta, batch] of [
          [1, 0, 1],
          [0.5, 2, 1],
          [-1, 1, 3],
        ] as const) {
          const d: GemmDesc = { m, n, k, transA, transB, alpha, beta, batch, bf16: true };
          Object.assign(d, { strideA: m * k, strideB: k * n, strideC: m * n });
          const a = rand(batch * m * k);
          const b = rand(batch * k * n);
          const c0 = beta === 0 ? new Float32Array(batch * m * n).fill(NaN) : rand(batch * m * n);
          const cn = c0.slice();
          const ct = c0.slice();
          nb.gemm(d, a, b, cn);
          ts.gemm(d, a, b, ct);
          let diff = 0;
          let mag = 1;
          for (let i = 0; i < ct.length; i++) {
            diff = Math.max(diff, Number.isNaN(cn[i]!) ? Infinity : Math.abs(cn[i]! - ct[i]!));
            mag = Math.max(mag, Math.abs(ct[i]!));
          }
          assert.ok(diff / mag <= 1e-5, `${engine} ${m}x${n}x${k} a${alpha} b${beta}: ${diff / mag}`);
        }
      }
    });
  }
});

test('bf16 gemm: 1, 2 and 3 threads give bit-identical results', () => {
  for (const engine of ENGINES) {
    withBf16Engine(engine, () => {
      for (const [m, n, k, transA, transB] of [
        [150, 300, 300, false, true],
        [257, 97, 513, true, false],
        [5, 4096, 96, false, true],
      ] as const) {
        const a = rand(m * k);
        const b = rand(k * n);
        const runs = [1, 2, 3].map((t) =>
          withThreads(t, () => {
            const c = new Float32Array(m * n);
            nb.gemm({ m, n, k, transA, transB, bf16: true }, a, b, c);
            return [...bits(c)];
          }),
        );
        assert.deepEqual(runs[1], runs[0], `${engine} 2 threads`);
        assert.deepEqual(runs[2], runs[0], `${engine} 3 threads`);
      }
    });
  }
});

test('bf16 engine off: the product is plain fp32 and the addon says so', () => {
  const [m, n, k] = [20, 40, 50];
  const a = rand(m * k);
  const b = rand(k * n);
  const fp32 = new Float32Array(m * n);
  nb.gemm({ m, n, k }, a, b, fp32);
  withBf16Engine('off', () => {
    assert.equal(addon.bf16(), 'off');
    const c = new Float32Array(m * n);
    nb.gemm({ m, n, k, bf16: true }, a, b, c);
    assert.deepEqual([...bits(c)], [...bits(fp32)]);
  });
  // asking for more than the CPU has is clamped to what it has
  withBf16Engine('amx', () => assert.equal(addon.bf16(), addon.supportedBf16()));
  assert.throws(() => addon.setBf16('fast'), /unknown bf16 engine "fast"/);
});

test('NANOVLM_BF16=off and NANOVLM_ISA=avx2 force the bf16 engine off in a fresh process', () => {
  const script = `const a = require(${JSON.stringify(NATIVE_ADDON_PATH)}); console.log(a.bf16(), a.isa())`;
  const run = (env: Record<string, string>) =>
    spawnSync(process.execPath, ['-e', script], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    }).stdout.trim();
  const sup = addon.supportedIsa();
  assert.equal(run({ NANOVLM_BF16: 'off' }), `off ${sup}`);
  assert.equal(run({ NANOVLM_ISA: 'avx2' }), `off ${sup === 'generic' ? 'generic' : 'avx2'}`);
  assert.equal(run({ NANOVLM_BF16: '', NANOVLM_ISA: '' }), `${addon.supportedBf16()} ${sup}`);
});

test('precision: auto picks bf16 only with an engine; bf16 without one runs fp32 and says so', () => {
  const engine = addon.bf16();
  const auto = withPrecision('auto', precisionInfo);
  assert.equal(auto.precision, engine === 'off' ? 'fp32' : 'bf16');
  withBf16Engine('off', () => {
    const info = withPrecision('bf16', precisionInfo);
    assert.equal(info.precision, 'fp32');
    assert.match(info.note, /^fp32 \(bf16 asked/);
    assert.equal(withPrecision('auto', precisionInfo).precision, 'fp32');
  });
  withBackend('ts', () => {
    assert.equal(withPrecision('auto', precisionInfo).precision, 'fp32'); // the reference is slow: never auto
    assert.equal(withPrecision('bf16', precisionInfo).engine, 'reference');
  });
  assert.equal(precisionInfo().precision, 'fp32');
  assert.throws(() => setPrecision('fp16' as never), /precision must be one of fp32, bf16, auto/);
});

test('linear in bf16: forward and both gradients equal the ts reference rounding, native and ts', () => {
  if (engineless()) return;
  const run = (be: 'ts' | 'native') =>
    withBackend(be, () =>
      withPrecision('bf16', () => {
        const r = new Rng(5);
        const x = new Tensor(Tensor.uniform([7, 33], r).f, [7, 33], true);
        const w = new Tensor(Tensor.uniform([20, 33], r).f, [20, 33], true);
        const y = linear(x, w);
        backward(y, Tensor.uniform([7, 20], r).f);
        return [y.data, x.grad!, w.grad!].map((a) => Float32Array.from(a));
      }),
    );
  const [nat, ref] = [run('native'), run('ts')];
  const fp32 = withBackend('ts', () => {
    const r = new Rng(5);
    const x = Tensor.uniform([7, 33], r);
    const w = Tensor.uniform([20, 33], r);
    return Float32Array.from(linear(x, w).data);
  });
  for (let t = 0; t < 3; t++)
    for (let i = 0; i < ref[t]!.length; i++)
      assert.ok(
        Math.abs(nat[t]![i]! - ref[t]![i]!) <= 1e-5 * Math.max(1, Math.abs(ref[t]![i]!)),
        `output ${t} [${i}]`,
      );
  let moved = 0;
  for (let i = 0; i < fp32.length; i++) moved = Math.max(moved, Math.abs(fp32[i]! - ref[0]![i]!));
  assert.ok(moved > 1e-4, 'bf16 rounding should move the result away from fp32');
});

const engineless = () => addon.supportedBf16() === 'off';

test('conv2d in bf16: forward, dx, dweight and dbias equal the ts reference, on every fp32 route', () => {
  if (engineless()) return;
  // [n, c, h, w, o, kh, kw, stride, pad]: small images in a batch, strided, many images (the fp32 weight
  // gradient's dot-product route), a reduction longer than a tile's pixels (the fp32 transposed forward)
  const shapes = [
    [3, 3, 16, 16, 32, 3, 3, 1, 1],
    [2, 32, 8, 8, 64, 3, 3, 2, 1],
    [40, 3, 16, 16, 8, 4, 4, 4, 0],
    [1, 64, 6, 6, 5, 3, 3, 1, 1],
  ] as const;
  const close = (label: string, got: Float32Array, want: Float32Array) => {
    let diff = 0;
    let mag = 1;
    for (let i = 0; i < want.length; i++) {
      diff = Math.max(diff, Number.isNaN(got[i]!) ? Infinity : Math.abs(got[i]! - want[i]!));
      mag = Math.max(mag, Math.abs(want[i]!));
    }
    assert.ok(diff / mag <= 1e-5, `${label}: ${diff / mag}`);
    return diff / mag;
  };
  for (const [n, c, h, w, o, kh, kw, stride, pad] of shapes) {
    const oh = Math.floor((h + 2 * pad - kh) / stride) + 1;
    const ow = Math.floor((w + 2 * pad - kw) / stride) + 1;
    const x = rand(n * c * h * w);
    const wt = rand(o * c * kh * kw);
    const b = rand(o);
    const dy = rand(n * o * oh * ow);
    const d = { n, c, h, w, o, kh, kw, stride, pad, bf16: true };
    const run = (be: typeof nb, desc: typeof d) => {
      const y = new Float32Array(n * o * oh * ow).fill(NaN);
      be.conv2d(desc, x, wt, b, y);
      const g = { dx: rand(x.length), dw: new Float32Array(wt.length), db: new Float32Array(o) };
      g.dx.fill(NaN);
      be.conv2dBackward(desc, x, wt, dy, g.dx, g.dw, g.db, false);
      return { y, ...g };
    };
    const [nat, ref] = [run(nb, d), run(ts, d)];
    const label = `${n}x${c}x${h}x${w} -> ${o} k${kh} s${stride}`;
    close(`${label} y`, nat.y, ref.y);
    close(`${label} dx`, nat.dx, ref.dx);
    close(`${label} dweight`, nat.dw, ref.dw);
    close(`${label} dbias`, nat.db, ref.db);
    const fp32 = run(ts, { ...d, bf16: false });
    let moved = 0;
    for (let i = 0; i < fp32.y.length; i++) moved = Math.max(moved, Math.abs(fp32.y[i]! - ref.y[i]!));
    assert.ok(moved > 1e-4, `${label}: bf16 should move the forward away from fp32`);
  }
});
