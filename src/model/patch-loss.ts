/**
 * The patch loss: a training objective that makes every patch's image token name the thing it shows,
 * in the decoder's own words. The image token (the connector's output for that patch) is read through
 * the decoder's output embedding, as if it were a position about to say a word, and the target is the
 * first token of the covering thing's name (src/data/patch-cover.ts) or the padding token for
 * background. The language loss reaches a patch only through the decoder's attention, weakly and late;
 * this loss reaches all of them directly, dozens of labels per picture instead of one caption, and puts
 * each thing's token where the decoder can copy it from. It adds no parameters.
 */
import { crossEntropy, linear, reshape, slice } from '../tensor/ops/index.ts';
import { Tensor } from '../tensor/tensor.ts';
import { NO_PATCH_LABEL } from '../data/patch-cover.ts';

/**
 * imageTokens [B, 1 + P, n_embd] ([CLS] first), headWeight [vocab, n_embd], targets [B · P] token ids
 * (NO_PATCH_LABEL to skip a patch) -> mean cross-entropy over the labelled patches, or null if none is.
 */
export function patchLoss(imageTokens: Tensor, headWeight: Tensor, targets: Int32Array): Tensor | null {
  const [B, T, D] = imageTokens.shape as [number, number, number];
  const P = T - 1;
  if (targets.length !== B * P)
    throw new Error(`patchLoss: ${targets.length} targets for ${B} × ${P} patches`);
  if (!targets.some((t) => t !== NO_PATCH_LABEL)) return null;
  const patches = reshape(slice(imageTokens, 1, 1, T), [B * P, 1, D]);
  const logits = linear(patches, headWeight); // [B·P, 1, vocab]
  return crossEntropy(logits, new Tensor(targets, [B * P, 1]), { ignoreIndex: NO_PATCH_LABEL });
}
