import type { F } from '../tensor/backend.ts';
import { backend } from '../tensor/backends/index.ts';
import { selfAttention } from '../tensor/ops/index.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { Dropout } from './dropout.ts';
import type { DecodeStep } from './kv-cache.ts';
import { Linear } from './linear.ts';
import { Module } from './module.ts';

export interface AttentionOptions {
  /** Each position sees only itself and earlier ones (decoders). */
  causal?: boolean;
  /** Dropout on the output projection (residual dropout). */
  dropout?: number;
  bias?: boolean;
}

/**
 * Multi-head self-attention: one fused `qkv` projection [3C, C] (rows q | k | v, as GPT-2 and timm's
 * ViT lay them out), scaled dot-product attention per head, then the output projection `proj`.
 */
export class MultiHeadAttention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly drop: Dropout;
  readonly causal: boolean;
  constructor(
    readonly dim: number,
    readonly heads: number,
    { causal = false, dropout = 0, bias = true }: AttentionOptions = {},
  ) {
    super();
    if (dim % heads !== 0)
      throw new Error(`MultiHeadAttention: dim ${dim} is not divisible by ${heads} heads`);
    this.causal = causal;
    this.qkv = this.child('qkv', new Linear(dim, 3 * dim, { bias }));
    this.proj = this.child('proj', new Linear(dim, dim, { bias }));
    this.drop = this.child('drop', new Dropout(dropout));
  }
  /** x [B, T, C] -> [B, T, C]. `keyMask` [B*T] (1 = real token) hides padding from every query. */
  forward(x: Tensor, keyMask: Uint8Array | null = null): Tensor {
    const y = selfAttention(this.qkv.forward(x), { heads: this.heads, causal: this.causal, keyMask });
    return this.drop.forward(this.proj.forward(y));
  }
  /**
   * The decode path (inference: no graph, no dropout): x [rows, C] += attention of the new positions'
   * queries in h over every position so far. Their keys and values are appended to layer `layer` of
   * the cache, which the attention kernel reads in place (a row's keys are maxLength·C apart).
   */
  decodeInto(h: F, x: F, step: DecodeStep, layer: number): void {
    const { cache, T, rows, mask, scratch } = step;
    const C = this.dim;
    const B = cache.rows;
    const start = cache.length;
    const span = cache.maxLength * C;
    const qkv = scratch.get('qkv', rows * 3 * C);
    this.qkv.applyInto(h, qkv, rows);
    const kc = cache.k[layer]!;
    const vc = cache.v[layer]!;
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < T; i++) {
        const r = (b * T + i) * 3 * C;
        const dst = b * span + (start + i) * C;
        kc.set(qkv.subarray(r + C, r + 2 * C), dst);
        vc.set(qkv.subarray(r + 2 * C, r + 3 * C), dst);
      }
    }
    const tk = start + T;
    const att = scratch.get('att', rows * C);
    const probs = scratch.get('probs', B * this.heads * T * tk);
    const hd = C / this.heads;
    backend().attention(
      {
        batch: B,
        heads: this.heads,
        tq: T,
        tk,
        headDim: hd,
        qStride: 3 * C,
        kvStride: C,
        kvBatchStride: span,
        outStride: C,
        causal: this.causal,
        keyMask: mask,
      },
      qkv,
      kc,
      vc,
      att,
      probs,
    );
    this.proj.applyInto(att, x, rows, true);
  }
}
