import type { F } from '../tensor/backend.ts';
import { add } from '../tensor/ops/index.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { MultiHeadAttention } from './attention.ts';
import type { DecodeStep } from './kv-cache.ts';
import { LayerNorm } from './layernorm.ts';
import { MLP } from './mlp.ts';
import { Module } from './module.ts';

export interface BlockOptions {
  causal?: boolean;
  /** Hidden width of the MLP as a multiple of dim. */
  mlpRatio?: number;
  dropout?: number;
}

/** Pre-LN transformer block: x + attn(ln1(x)), then x + mlp(ln2(x)). */
export class Block extends Module {
  readonly ln1: LayerNorm;
  readonly attn: MultiHeadAttention;
  readonly ln2: LayerNorm;
  readonly mlp: MLP;
  constructor(dim: number, heads: number, { causal = false, mlpRatio = 4, dropout = 0 }: BlockOptions = {}) {
    super();
    this.ln1 = this.child('ln1', new LayerNorm(dim));
    this.attn = this.child('attn', new MultiHeadAttention(dim, heads, { causal, dropout }));
    this.ln2 = this.child('ln2', new LayerNorm(dim));
    this.mlp = this.child('mlp', new MLP(dim, Math.round(dim * mlpRatio), { dropout }));
  }
  /** x [B, T, C] -> [B, T, C]; `keyMask` [B*T] hides padding keys. */
  forward(x: Tensor, keyMask: Uint8Array | null = null): Tensor {
    const h = add(x, this.attn.forward(this.ln1.forward(x), keyMask));
    return add(h, this.mlp.forward(this.ln2.forward(h)));
  }
  /**
   * What `forward` computes, for the new positions of a decode step only (generation: no graph, no
   * dropout): x [rows, C] in place, with this block's keys and values kept in layer `layer` of the cache.
   */
  decodeInto(x: F, step: DecodeStep, layer: number): void {
    const h = step.scratch.get('h', step.rows * this.ln1.dim);
    this.ln1.applyInto(x, h, step.rows, step.scratch);
    this.attn.decodeInto(h, x, step, layer);
    this.ln2.applyInto(x, h, step.rows, step.scratch);
    this.mlp.decodeInto(h, x, step.rows, step.scratch);
  }
}
