// The native (C) backend against the TypeScript reference, kernel by kernel, on random inputs with awkward
// sizes. Error measure: relErr(a, b) = max_i |a_i - b_i| / max(1, max_i |b_i|) (absolute for values
// below 1, relative to the largest magnitude above), required <= 1e-5. Forward outputs are poisoned
// with NaN first so an element the kernel forgot to write shows up. If the addon is not built this
// file fails (CI builds it): nothing here is skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  NATIVE_ADDON_PATH,
  backendKernelNames,
  loadNativeAddon,
  loadNativeBackend,
} from '../../src/tensor/backends/native.ts';
import { tsBackend as ts } from '../../src/tensor/backends/ts.ts';
import { Rng, hash32 } from '../../src/util/rng.ts';
import { ISAS, assertClose, poison, withIsa, withThreads } from '../helpers/native.ts';

const addon = loadNativeAddon();
const nb = loadNativeBackend();
const TOL = 1e-5;
const SIZES = [1, 3, 7, 33, 127, 257];
const rng = new Rng(1234);

test('the addon exports every Backend kernel, registered by the C files (NV_KERNEL), and nothing else as a kernel', () => {
  assert.deepEqual([...addon.kernels].sort(), backendKernelNames().sort());
  for (const name of backendKernelNames()) assert.equal(typeof nb[name], 'function', name);
});

function rand(n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rng.next() * 2 - 1) * scale;
  return a;
}
test('addon loads, reports its pool and picks the best micro-kernel', () => {
  assert.equal(nb.name, 'native');
  assert.ok(nb.threads >= 1);
  assert.equal(addon.isa(), addon.supportedIsa());
  assert.ok(ISAS.length >= 1 && ISAS.includes('generic'));
});

function gemmCase(
  isa: string,
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  beta: number,
  batch = 1,
  broadcastB = false,
): void {
  const sA = m * k;
  const sB = broadcastB ? 0 : k * n;
  const sC = m * n + 5; // gaps between items must be left alone
  const a = rand(batch * sA);
  const b = rand(broadcastB ? k * n : batch * sB);
  const c0 = beta === 0 ? poison(batch * sC) : rand(batch * sC);
  const cn = c0.slice();
  const ct = c0.slice();
  withIsa(isa, () =>
    nb.gemm(
      { m, n, k, transA, transB, alpha: alpha, beta, batch, strideA: sA, strideB: sB, strideC: sC },
      a,
      b,
      cn,
    ),
  );
  ts.gemm(
    { m, n, k, transA, transB, alpha: alpha, beta, batch, strideA: sA, strideB: sB, strideC: sC },
    a,
    b,
    ct,
  );
  const label = `${isa} gemm ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'} ${m}x${n}x${k} beta=${beta} batch=${batch}`;
  for (let z = 0; z < batch; z++) {
    const item = (x: Float32Array) => x.subarray(z * sC, z * sC + m * n);
    assertClose(`${label} item ${z}`, item(cn), item(ct));
    for (let g = z * sC + m * n; g < (z + 1) * sC; g++)
      assert.ok(Object.is(cn[g], c0[g]), `${label}: gap element ${g} was touched`);
  }
}

test('gemm: every transpose combination on awkward sizes, beta 0 over NaN and beta 1, every micro-kernel', () => {
  const shapes: [number, number, number][] = [
    [1, 1, 1],
    [3, 7, 33],
    [33, 127, 7],
    [127, 3, 257],
    [257, 33, 127],
    [7, 257, 3],
    [257, 257, 33],
  ];
  for (const isa of ISAS)
    for (const [m, n, k] of shapes)
      for (const transA of [false, true])
        for (const transB of [false, true]) {
          gemmCase(isa, transA, transB, m, n, k, 1, 0);
          gemmCase(isa, transA, transB, m, n, k, 0.5, 1);
        }
});

test('gemm: several cache blocks (k > KC, m > MC), general beta, and both thread splits', () => {
  for (const isa of ISAS) {
    gemmCase(isa, false, true, 300, 130, 600, 0.75, -0.5);
    gemmCase(isa, true, false, 13, 700, 290, 1, 0); // few rows: threads split the columns
    gemmCase(isa, true, true, 161, 77, 513, 2, 1);
    // untransposed B: packed inside the first tile that uses each panel (AVX-512), part panels and tiles
    gemmCase(isa, false, false, 301, 130, 600, 0.75, -0.5);
    gemmCase(isa, false, false, 37, 45, 513, 1, 0);
    // a packed B over 2 MB, which 2 threads pack together into one shared buffer
    withThreads(2, () => gemmCase(isa, false, false, 50, 520, 1100, 1, 0));
    withThreads(2, () => gemmCase(isa, false, true, 40, 544, 1030, 0.5, 1));
  }
});

test('gemm: few rows times a transposed B (a decode step: x·Wᵀ), every micro-kernel', () => {
  // m <= 8 with transB takes a dot-product path on AVX-512 (no packing); m = 9 is the packed path again.
  for (const isa of ISAS) {
    for (let m = 1; m <= 9; m++)
      for (const n of [1, 15, 17, 50])
        for (const k of [1, 16, 17, 100]) {
          gemmCase(isa, false, true, m, n, k, 1, 0);
          gemmCase(isa, false, true, m, n, k, 0.5, 1);
        }
    gemmCase(isa, false, true, 1, 4096, 96, 1, 0); // big enough to be shared out between threads
    gemmCase(isa, false, true, 7, 700, 130, 1, 1);
    gemmCase(isa, false, true, 3, 33, 20, 1, 0, 3, true); // batched, one B for all
  }
});

test('gemm: batches with strides, a broadcast B (stride 0), alpha 0 and k 0', () => {
  for (const isa of ISAS) {
    gemmCase(isa, false, false, 7, 33, 3, 1, 0, 4);
    gemmCase(isa, true, false, 33, 7, 127, 1, 1, 3, true);
    gemmCase(isa, false, true, 127, 33, 7, 0.5, 0, 9, true); // small items: one item per thread
  }
  const c = poison(6);
  nb.gemm({ m: 2, n: 3, k: 0 }, new Float32Array(0), new Float32Array(0), c);
  assert.deepEqual([...c], [0, 0, 0, 0, 0, 0]);
  const a = Float32Array.from([NaN, 1]);
  const d = Float32Array.from([2]);
  nb.gemm({ m: 1, n: 1, k: 2, alpha: 0, beta: 3 }, a, a, d);
  assert.deepEqual([...d], [6]);
});

test('gemm: 1, 2 and 3 threads give identical results', () => {
  for (const [ta, tb, m, n, k] of [
    [false, false, 257, 257, 257],
    [false, true, 300, 130, 600],
    [true, false, 13, 700, 290],
    [true, true, 1000, 64, 64],
    [false, false, 50, 520, 1100], // packed B over 2 MB: threads share one packed B (1 thread: its own)
    [false, true, 40, 544, 1030],
    [false, true, 1, 4096, 96], // few rows: dot products, blocks of B's rows shared out
    [false, true, 6, 700, 130],
  ] as const) {
    const a = rand(m * k);
    const b = rand(k * n);
    const run = (threads: number) => {
      const c = poison(m * n);
      withThreads(threads, () => nb.gemm({ m, n, k, transA: ta, transB: tb }, a, b, c));
      return c;
    };
    const [c3, c2, c1] = [run(3), run(2), run(1)];
    assert.deepEqual(c2, c1, `gemm ${m}x${n}x${k}, 2 threads`);
    assert.deepEqual(c3, c1, `gemm ${m}x${n}x${k}, 3 threads`);
  }
});

/** Runs `kernel` on both backends with copies of `inputs`; compares every array in `outputs`. */
function compare<T extends Record<string, Float32Array | Int32Array | Uint8Array>>(
  label: string,
  make: () => T,
  run: (be: typeof nb, x: T) => unknown,
  outputs: (keyof T & string)[],
  tol = TOL,
): void {
  const base = make();
  const clone = () => Object.fromEntries(Object.entries(base).map(([k, v]) => [k, v.slice()])) as T;
  const xn = clone();
  const xt = clone();
  const rn = run(nb, xn);
  const rt = run(ts, xt);
  if (typeof rt === 'number')
    assert.ok(
      Math.abs((rn as number) - rt) <= tol * Math.max(1, Math.abs(rt)),
      `${label}: returned ${rn} vs ${rt}`,
    );
  for (const o of outputs) assertClose(`${label} ${o}`, xn[o], xt[o], tol);
}

test('addBias, sumRows, add, mul (broadcast), scale, axpy', () => {
  for (const rows of SIZES)
    for (const cols of [1, 7, 257]) {
      const n = rows * cols;
      compare(
        `addBias ${rows}x${cols}`,
        () => ({ y: rand(n), b: rand(cols) }),
        (be, x) => be.addBias(x.y, x.b, rows, cols),
        ['y'],
      );
      for (const acc of [false, true])
        compare(
          `sumRows ${rows}x${cols} acc=${acc}`,
          () => ({ x: rand(n), out: acc ? rand(cols) : poison(cols) }),
          (be, x) => be.sumRows(x.x, x.out, rows, cols, acc),
          ['out'],
        );
      for (const bn of [n, cols])
        for (const op of ['add', 'mul'] as const)
          compare(
            `${op} n=${n} bn=${bn}`,
            () => ({ a: rand(n), b: rand(bn), out: poison(n) }),
            (be, x) => be[op](x.a, x.b, x.out, n, bn),
            ['out'],
          );
      compare(
        `scale ${n}`,
        () => ({ a: rand(n), out: poison(n) }),
        (be, x) => be.scale(x.a, -1.5, x.out, n),
        ['out'],
      );
      compare(
        `axpy ${n}`,
        () => ({ x: rand(n), y: rand(n) }),
        (be, x) => be.axpy(0.25, x.x, x.y, n),
        ['y'],
      );
    }
  // scale in place (out === a)
  const a = rand(1000);
  const expected = a.map((v) => v * 3);
  nb.scale(a, 3, a, 1000);
  assertClose('scale in place', a, expected);
});

test('layerNorm and its backward', () => {
  const shapes = SIZES.flatMap((rows) => [1, 3, 33, 257].map((cols) => [rows, cols] as const));
  // Wide rows: many rows per dgamma/dbeta chunk.
  shapes.push([97, 4096], [1000, 96]);
  for (const [rows, cols] of shapes) {
    const n = rows * cols;
    compare(
      `layerNorm ${rows}x${cols}`,
      () => ({
        x: rand(n, 3),
        g: rand(cols),
        b: rand(cols),
        y: poison(n),
        mean: poison(rows),
        rstd: poison(rows),
      }),
      (be, x) => be.layerNorm(x.x, x.g, x.b, x.y, x.mean, x.rstd, rows, cols, 1e-5),
      ['y', 'mean', 'rstd'],
    );
    const x = rand(n, 3);
    const mean = new Float32Array(rows);
    const rstd = new Float32Array(rows);
    ts.layerNorm(x, rand(cols), rand(cols), new Float32Array(n), mean, rstd, rows, cols, 1e-5);
    compare(
      `layerNormBackward ${rows}x${cols}`,
      () => ({ dy: rand(n), x, g: rand(cols), mean, rstd, dx: rand(n), dg: rand(cols), db: rand(cols) }),
      (be, v) => be.layerNormBackward(v.dy, v.x, v.g, v.mean, v.rstd, v.dx, v.dg, v.db, rows, cols),
      ['dx', 'dg', 'db'],
    );
  }
});

test('gelu, relu and their backward', () => {
  for (const n of [...SIZES, 100_003]) {
    for (const op of ['gelu', 'relu'] as const) {
      compare(
        `${op} ${n}`,
        () => ({ x: rand(n, 6), y: poison(n) }),
        (be, x) => be[op](x.x, x.y, n),
        ['y'],
      );
      const back = op === 'gelu' ? 'geluBackward' : 'reluBackward';
      compare(
        `${back} ${n}`,
        () => ({ x: rand(n, 6), dy: rand(n), dx: rand(n) }),
        (be, x) => be[back](x.x, x.dy, x.dx, n),
        ['dx'],
      );
    }
  }
  // far tails: exp overflow must not leak inf or NaN
  const x = Float32Array.from([-100, -30, -10, 0, 10, 30, 100]);
  const y = poison(7);
  nb.gelu(x, y, 7);
  assertClose('gelu tails', y, [0, 0, 0, 0, 10, 30, 100]);
});

test('softmax and softmaxBackward', () => {
  for (const rows of SIZES)
    for (const cols of [1, 7, 257, 4096]) {
      if (rows * cols > 300_000) continue;
      const n = rows * cols;
      compare(
        `softmax ${rows}x${cols}`,
        () => ({ x: rand(n, 20), y: poison(n) }),
        (be, x) => be.softmax(x.x, x.y, rows, cols),
        ['y'],
      );
      const y = new Float32Array(n);
      ts.softmax(rand(n, 5), y, rows, cols);
      compare(
        `softmaxBackward ${rows}x${cols}`,
        () => ({ y, dy: rand(n), dx: rand(n) }),
        (be, x) => be.softmaxBackward(x.y, x.dy, x.dx, rows, cols),
        ['dx'],
      );
    }
});

test('crossEntropy and its backward, with ignored rows', () => {
  for (const rows of SIZES)
    for (const vocab of [1, 7, 257, 4096]) {
      if (rows * vocab > 600_000) continue;
      const targets = new Int32Array(rows);
      for (let r = 0; r < rows; r++) targets[r] = r % 5 === 3 ? -100 : rng.int(vocab);
      compare(
        `crossEntropy ${rows}x${vocab}`,
        () => ({ logits: rand(rows * vocab, 10), t: targets, losses: poison(rows) }),
        (be, x) => be.crossEntropy(x.logits, x.t as Int32Array, x.losses, rows, vocab, -100),
        ['losses'],
      );
      compare(
        `crossEntropyBackward ${rows}x${vocab}`,
        () => ({ logits: rand(rows * vocab, 10), t: targets, d: rand(rows * vocab) }),
        (be, x) => be.crossEntropyBackward(x.logits, x.t as Int32Array, x.d, rows, vocab, -100, 1 / rows),
        ['d'],
      );
    }
  assert.throws(
    () => nb.crossEntropy(new Float32Array(4), Int32Array.from([0, 2]), new Float32Array(2), 2, 2, -100),
    /targets\[1\] = 2 is outside \[0, 2\)/,
  );
});

interface AttnCase {
  batch: number;
  heads: number;
  tq: number;
  tk: number;
  hd: number;
  causal: boolean;
  fused?: boolean; // q, k, v as views of one [B, T, 3C] buffer
  tmax?: number; // k/v rows read from a cache of tmax rows per batch
  mask?: boolean;
}

function attentionCase(c: AttnCase): void {
  const C = c.heads * c.hd;
  const tmax = c.tmax ?? c.tk;
  const label = `attention ${JSON.stringify(c)}`;
  let qStride = C;
  let kvStride = C;
  let kvBatchStride = tmax * C;
  const outStride = C;
  let qkv: Float32Array | null = null;
  if (c.fused) {
    qkv = rand(c.batch * c.tq * 3 * C);
    qStride = kvStride = 3 * C;
    kvBatchStride = c.tq * 3 * C;
  }
  const q = qkv ? qkv : rand(c.batch * c.tq * C);
  const k = qkv ? qkv.subarray(C) : rand(c.batch * tmax * C);
  const v = qkv ? qkv.subarray(2 * C) : rand(c.batch * tmax * C);
  let mask: Uint8Array | null = null;
  if (c.mask) {
    mask = new Uint8Array(c.batch * c.tk);
    for (let i = 0; i < mask.length; i++) mask[i] = rng.next() < 0.7 ? 1 : 0;
    for (let j = 0; j < c.tk; j++) mask[j] = 0; // batch 0 sees no key at all: zeros out
  }
  const nOut = c.batch * c.tq * C;
  const nProbs = c.batch * c.heads * c.tq * c.tk;
  const { batch, heads, tq, tk, hd: headDim } = c;
  const layout = { batch, heads, tq, tk, headDim, qStride, kvStride, kvBatchStride, outStride };
  const run = (be: typeof nb) => {
    const out = poison(nOut);
    const probs = poison(nProbs);
    be.attention({ ...layout, causal: c.causal, keyMask: mask }, q, k, v, out, probs);
    return { out, probs };
  };
  const fn = run(nb);
  const ft = run(ts);
  assertClose(`${label} out`, fn.out, ft.out);
  assertClose(`${label} probs`, fn.probs, ft.probs);

  const dout = rand(nOut);
  const grads = () => {
    const g = qkv ? rand(qkv.length) : null;
    return {
      dq: g ?? rand(q.length),
      dk: g ? g.subarray(C) : rand(k.length),
      dv: g ? g.subarray(2 * C) : rand(v.length),
      all: g,
    };
  };
  const init = grads();
  const copy = (x: typeof init) => {
    if (x.all) {
      const all = x.all.slice();
      return { dq: all, dk: all.subarray(C), dv: all.subarray(2 * C), all };
    }
    return { dq: x.dq.slice(), dk: x.dk.slice(), dv: x.dv.slice(), all: null };
  };
  const gn = copy(init);
  const gt = copy(init);
  for (const [be, g] of [
    [nb, gn],
    [ts, gt],
  ] as const)
    be.attentionBackward(layout, dout, q, k, v, ft.probs, g.dq, g.dk, g.dv);
  if (gn.all && gt.all) assertClose(`${label} dqkv`, gn.all, gt.all);
  else {
    assertClose(`${label} dq`, gn.dq, gt.dq);
    assertClose(`${label} dk`, gn.dk, gt.dk);
    assertClose(`${label} dv`, gn.dv, gt.dv);
  }
}

test('attention forward and backward: causal, full, fused qkv, KV cache layout, padding masks', () => {
  attentionCase({ batch: 1, heads: 1, tq: 1, tk: 1, hd: 1, causal: false });
  attentionCase({ batch: 2, heads: 3, tq: 7, tk: 7, hd: 5, causal: true });
  attentionCase({ batch: 2, heads: 2, tq: 33, tk: 33, hd: 16, causal: true, fused: true });
  attentionCase({ batch: 3, heads: 2, tq: 33, tk: 33, hd: 8, causal: false, fused: true, mask: true });
  attentionCase({ batch: 2, heads: 2, tq: 3, tk: 127, hd: 8, causal: true, tmax: 257 });
  attentionCase({ batch: 1, heads: 4, tq: 127, tk: 127, hd: 32, causal: true, mask: true });
  attentionCase({ batch: 2, heads: 1, tq: 7, tk: 257, hd: 3, causal: false, mask: true });
});

test('embedding and its backward with repeated ids', () => {
  for (const n of SIZES)
    for (const dim of [1, 7, 257]) {
      const vocab = 11;
      const ids = new Int32Array(n);
      for (let i = 0; i < n; i++) ids[i] = rng.int(vocab);
      compare(
        `embedding n=${n} dim=${dim}`,
        () => ({ w: rand(vocab * dim), ids, out: poison(n * dim) }),
        (be, x) => be.embedding(x.w, x.ids as Int32Array, x.out, n, dim),
        ['out'],
      );
      compare(
        `embeddingBackward n=${n} dim=${dim}`,
        () => ({ d: rand(n * dim), ids, dw: rand(vocab * dim) }),
        (be, x) => be.embeddingBackward(x.d, x.ids as Int32Array, x.dw, n, dim),
        ['dw'],
      );
    }
  assert.throws(
    () => nb.embedding(new Float32Array(6), Int32Array.from([3]), new Float32Array(2), 1, 2),
    /ids\[0\] = 3 is outside \[0, 3\)/,
  );
});

test('dropout masks match the TypeScript hash exactly', () => {
  for (const n of [...SIZES, 70_001])
    for (const p of [0, 0.1, 0.5, 1])
      for (const [seed, offset] of [
        [0, 0],
        [123456789, 1000],
        [4294967295, 4294967290], // offset + i wraps past 2^32
      ]) {
        const x = rand(n);
        const yn = poison(n),
          mn = poison(n),
          yt = poison(n),
          mt = poison(n);
        nb.dropout(x, yn, mn, n, p, seed!, offset!);
        ts.dropout(x, yt, mt, n, p, seed!, offset!);
        assert.deepEqual(mn, mt, `dropout mask n=${n} p=${p} seed=${seed}`);
        assertClose(`dropout y n=${n} p=${p}`, yn, yt);
      }
  // spot check against hash32 directly
  const m = poison(4);
  nb.dropout(new Float32Array(4), poison(4), m, 4, 0.5, 7, 3);
  for (let i = 0; i < 4; i++) assert.equal(m[i], hash32(7, 3 + i) / 2 ** 32 >= 0.5 ? 2 : 0);
});

test('sum and sumSquares in double precision', () => {
  for (const n of [...SIZES, 16_384, 16_385, 1_000_003]) {
    const x = rand(n, 2);
    for (const op of ['sum', 'sumSquares'] as const) {
      const a = nb[op](x, n);
      const b = ts[op](x, n);
      assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${op} ${n}: ${a} vs ${b}`);
    }
  }
  assert.equal(nb.sum(new Float32Array(0), 0), 0);
});

test('adamw over several steps', () => {
  for (const n of [...SIZES, 100_000]) {
    const g = rand(n);
    compare(
      `adamw ${n}`,
      () => ({ p: rand(n), m: new Float32Array(n), v: new Float32Array(n) }),
      (be, x) => {
        for (let step = 1; step <= 5; step++) be.adamw(x.p, g, x.m, x.v, n, 1e-2, 0.9, 0.95, 1e-8, 0.1, step);
      },
      ['p', 'm', 'v'],
    );
  }
});

test('every kernel gives identical results on 1 and 2 threads', () => {
  const rows = 2048,
    cols = 256,
    n = rows * cols;
  const x = rand(n, 3),
    g = rand(cols),
    b = rand(cols),
    dy = rand(n);
  const ids = Int32Array.from({ length: rows }, () => rng.int(50));
  const targets = Int32Array.from({ length: 64 }, (_, i) => (i % 7 === 0 ? -100 : rng.int(4096)));
  const logits = rand(64 * 4096, 5);
  const qkv = rand(4 * 128 * 3 * 64);
  const runAll = () => {
    const r: Record<string, Float32Array | number> = {};
    const y = poison(n),
      mean = poison(rows),
      rstd = poison(rows);
    nb.layerNorm(x, g, b, y, mean, rstd, rows, cols, 1e-5);
    Object.assign(r, { y, mean, rstd });
    const dx = new Float32Array(n),
      dg = new Float32Array(cols),
      db = new Float32Array(cols);
    nb.layerNormBackward(dy, x, g, mean, rstd, dx, dg, db, rows, cols);
    Object.assign(r, { dx, dg, db });
    const sr = poison(cols);
    nb.sumRows(x, sr, rows, cols, false);
    r.sumRows = sr;
    const gl = poison(n);
    nb.gelu(x, gl, n);
    r.gelu = gl;
    const sm = poison(n);
    nb.softmax(x, sm, rows, cols);
    r.softmax = sm;
    const losses = poison(64);
    r.count = nb.crossEntropy(logits, targets, losses, 64, 4096, -100);
    r.losses = losses;
    const dl = new Float32Array(logits.length);
    nb.crossEntropyBackward(logits, targets, dl, 64, 4096, -100, 1 / 64);
    r.dlogits = dl;
    const dw = new Float32Array(50 * cols);
    nb.embeddingBackward(dy, ids, dw, rows, cols);
    r.dembed = dw;
    r.sum = nb.sum(x, n);
    r.sumSquares = nb.sumSquares(x, n);
    const out = poison(4 * 128 * 64),
      probs = poison(4 * 2 * 128 * 128);
    const layout = {
      batch: 4,
      heads: 2,
      tq: 128,
      tk: 128,
      headDim: 32,
      qStride: 192,
      kvStride: 192,
      kvBatchStride: 128 * 192,
      outStride: 64,
    };
    nb.attention(
      { ...layout, causal: true, keyMask: null },
      qkv,
      qkv.subarray(64),
      qkv.subarray(128),
      out,
      probs,
    );
    Object.assign(r, { out, probs });
    const dqkv = new Float32Array(qkv.length);
    nb.attentionBackward(
      layout,
      out,
      qkv,
      qkv.subarray(64),
      qkv.subarray(128),
      probs,
      dqkv,
      dqkv.subarray(64),
      dqkv.subarray(128),
    );
    r.dqkv = dqkv;
    const p = x.slice(),
      m = new Float32Array(n),
      v = new Float32Array(n);
    nb.adamw(p, dy, m, v, n, 1e-3, 0.9, 0.999, 1e-8, 0.01, 1);
    r.adamw = p;
    const wideDx = new Float32Array(x.length),
      wideDg = new Float32Array(4096),
      wideDb = new Float32Array(4096);
    nb.layerNormBackward(dy, x, dy, x, dy, wideDx, wideDg, wideDb, n / 4096, 4096);
    Object.assign(r, { wideDx, wideDg, wideDb });
    return r;
  };
  const one = withThreads(1, runAll);
  const two = withThreads(2, runAll);
  const three = withThreads(3, runAll); // more threads than this machine may have cores
  for (const key of Object.keys(one)) {
    assert.deepEqual(two[key], one[key], `${key}: 2 threads`);
    assert.deepEqual(three[key], one[key], `${key}: 3 threads`);
  }
});

test('NANOVLM_THREADS sets the pool size', () => {
  const code = `console.log(require(${JSON.stringify(NATIVE_ADDON_PATH)}).threads())`;
  for (const n of ['1', '3']) {
    const r = spawnSync(process.execPath, ['-e', code], {
      env: { ...process.env, NANOVLM_THREADS: n },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), n);
  }
});

test('bad arguments throw clear errors instead of crashing', () => {
  const a = new Float32Array(4);
  assert.throws(
    () => nb.gemm({ m: 2, n: 2, k: 2 }, new Float64Array(4), a, a),
    /a is a Float64Array; the native backend computes in float32 only/,
  );
  assert.throws(
    () => nb.gemm({ m: 2, n: 2, k: 2 }, a, a, new Float32Array(3)),
    /nanovlm native gemm: c has 3 elements but the sizes need 4/,
  );
  assert.throws(
    () => nb.gemm({ m: 2, n: 2, k: 2, batch: 2, strideC: 4 }, a, a, a),
    /c has 4 elements but the sizes need 8/,
  );
  assert.throws(() => nb.layerNorm(a, a, a, a, a, a, 2, 2.5, 1e-5), /cols must be an integer/);
  assert.throws(() => nb.add(a, a, a, 4, 3), /bn must divide n/);
  assert.throws(() => nb.gelu([1, 2] as unknown as Float32Array, a, 2), /x must be a Float32Array/);
  assert.throws(() => nb.dropout(a, a, a, 4, 1.5, 0, 0), /p must be in \[0, 1\]/);
});
