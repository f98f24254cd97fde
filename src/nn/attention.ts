import { selfAttention } from '../tensor/ops/index.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { Dropout } from './dropout.ts';
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
}
