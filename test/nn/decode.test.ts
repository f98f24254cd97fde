import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Block, DecoderScratch, KVCache, MultiHeadAttention, initWeights } from '../../src/nn/index.ts';
import { Tensor, noGrad } from '../../src/tensor/tensor.ts';
import { Rng } from '../../src/util/rng.ts';

const C = 16;
const HEADS = 2;
const T = 5;

function randomInput(rows: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: rows * T * C }, () => rng.normal());
}

/** Runs `decode` over positions [0, 3) at once, then one position at a time, as generation does. */
function decodeInSteps(
  B: number,
  x: Float32Array,
  decode: (xs: Float32Array, cache: KVCache, scratch: DecoderScratch, n: number) => void,
): Float32Array {
  const cache = new KVCache(1, B, T, C);
  const scratch = new DecoderScratch();
  const out = new Float32Array(B * T * C);
  for (const [from, to] of [
    [0, 3],
    [3, 4],
    [4, 5],
  ] as const) {
    const n = to - from;
    const xs = new Float32Array(B * n * C);
    for (let b = 0; b < B; b++) xs.set(x.subarray((b * T + from) * C, (b * T + to) * C), b * n * C);
    decode(xs, cache, scratch, n);
    cache.length = to;
    for (let b = 0; b < B; b++) out.set(xs.subarray(b * n * C, (b + 1) * n * C), (b * T + from) * C);
  }
  return out;
}

function assertClose(a: Float32Array, b: Float32Array, tol = 1e-5): void {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  assert.ok(worst < tol, `largest difference ${worst}`);
}

test('a causal block decoding with a KV cache computes what its forward pass does', () => {
  const B = 2;
  const block = new Block(C, HEADS, { causal: true });
  initWeights(block, new Rng(3));
  // Biases are zero after init: give them values, so the decode path must add them like forward.
  for (const [, p] of block.parameters())
    if (p.ndim === 1) p.data.forEach((_, i, d) => (d[i] = 0.1 * Math.sin(i)));
  const x = randomInput(B, 4);
  const full = noGrad(() => block.forward(new Tensor(x.slice(), [B, T, C]))).f;
  const stepped = decodeInSteps(B, x, (xs, cache, scratch, n) =>
    block.decodeInto(xs, { cache, T: n, rows: B * n, mask: null, scratch }, 0),
  );
  assertClose(stepped, Float32Array.from(full));
});

test('attention without biases decodes too (x += attention(h))', () => {
  const B = 1;
  const attn = new MultiHeadAttention(C, HEADS, { causal: true, bias: false });
  initWeights(attn, new Rng(5));
  const h = randomInput(B, 6);
  const full = noGrad(() => attn.forward(new Tensor(h.slice(), [B, T, C]))).f;
  const stepped = decodeInSteps(B, h, (hs, cache, scratch, n) => {
    const x = new Float32Array(hs.length); // starts at 0: x += attention gives the attention itself
    attn.decodeInto(hs, x, { cache, T: n, rows: B * n, mask: null, scratch }, 0);
    hs.set(x);
  });
  assertClose(stepped, Float32Array.from(full));
});
