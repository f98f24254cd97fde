/**
 * The patch head: a training-only objective that tells every patch token of the vision encoder which
 * thing it shows. Each patch's output goes through one Linear to the vocabulary, and the target is the
 * first token of the covering thing's name (src/data/patch-cover.ts), or the padding token for
 * background. The language loss reaches a patch only through the decoder's attention, weakly and late;
 * this loss reaches all of them directly, dozens of labels per picture instead of one caption.
 * Generation never uses the head.
 */
import { Linear, Module } from '../nn/index.ts';
import { crossEntropy, reshape, slice } from '../tensor/ops/index.ts';
import { Tensor } from '../tensor/tensor.ts';
import { NO_PATCH_LABEL } from '../data/patch-cover.ts';
import type { ModelConfig } from './config.ts';

export class PatchHead extends Module {
  readonly proj: Linear;
  constructor(readonly config: ModelConfig) {
    super();
    this.proj = this.child('proj', new Linear(config.img_embd_dim, config.vocab_size));
  }

  /**
   * features [B, 1 + P, img_embd_dim] ([CLS] first), targets [B · P] token ids (NO_PATCH_LABEL to skip)
   * -> mean cross-entropy over the labelled patches, or null when no patch is labelled.
   */
  loss(features: Tensor, targets: Int32Array): Tensor | null {
    const [B, T, V] = features.shape as [number, number, number];
    const P = T - 1;
    if (targets.length !== B * P)
      throw new Error(`PatchHead: ${targets.length} targets for ${B} × ${P} patches`);
    if (!targets.some((t) => t !== NO_PATCH_LABEL)) return null;
    const patches = reshape(slice(features, 1, 1, T), [B * P, 1, V]);
    const logits = this.proj.forward(patches); // [B·P, 1, vocab]
    return crossEntropy(logits, new Tensor(targets, [B * P, 1]), { ignoreIndex: NO_PATCH_LABEL });
  }
}
