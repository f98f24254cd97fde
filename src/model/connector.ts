/**
 * The connector: maps vision features into the decoder's width. By default only the [CLS] output goes
 * through (one image token, as the paper describes); `image_tokens: "all"` passes every vision token.
 * Shape (see config.ts for why): Linear(img → hidden), GELU, Linear(hidden → n_embd); with
 * connector_hidden = 0 it is the single Linear(img → n_embd) followed by GELU.
 */
import { Linear, Module } from '../nn/index.ts';
import { gelu, slice } from '../tensor/ops/index.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { ModelConfig } from './config.ts';

export class Connector extends Module {
  readonly fc: Linear | null;
  readonly proj: Linear;
  constructor(readonly config: ModelConfig) {
    super();
    const H = config.connector_hidden;
    this.fc = H > 0 ? this.child('fc', new Linear(config.img_embd_dim, H)) : null;
    this.proj = this.child('proj', new Linear(H > 0 ? H : config.img_embd_dim, config.n_embd));
  }
  /** features [B, Tv, img_embd_dim] -> image tokens [B, 1 or Tv, n_embd]. */
  forward(features: Tensor): Tensor {
    const x = this.config.image_tokens === 'cls' ? slice(features, 1, 0, 1) : features;
    return this.fc ? this.proj.forward(gelu(this.fc.forward(x))) : gelu(this.proj.forward(x));
  }
}
