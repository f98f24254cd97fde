/**
 * NanoVLM = vision encoder → connector → GPT decoder. Training input: images and token ids laid out as
 *   [image token(s)] [BOS] text [EOS] [PAD ...]
 * where the image tokens come from the connector and the rest from the ids. The loss is the mean
 * cross-entropy of predicting each next text token (text and EOS; never BOS, the image or padding).
 * Padding needs no attention mask: it only ever follows the real tokens, and causal attention never
 * lets a real token see a later one; padding targets are ignored.
 */
import { Module, initWeights } from '../nn/index.ts';
import { crossEntropy } from '../tensor/ops/index.ts';
import { Tensor } from '../tensor/tensor.ts';
import { Rng } from '../util/rng.ts';
import { validateConfig, type ModelConfig } from './config.ts';
import { Connector } from './connector.ts';
import { Decoder } from './decoder.ts';
import { VisionEncoder } from './vision.ts';
import { patchLoss } from './patch-loss.ts';
import { WordHead } from './word-head.ts';

export const IGNORE_INDEX = -100;

export interface ForwardOptions {
  /**
   * Real tokens per row (BOS + text + EOS); the rest is padding. When left out, padding is recognised
   * by `pad_token_id`.
   */
  lengths?: readonly number[];
  /** Per patch of each row, the patch loss's target (patch-loss.ts); without them there is no patch loss. */
  patchTargets?: Int32Array;
}

export interface ForwardResult {
  /** [B, L, vocab]: row j predicts token j + 1. */
  logits: Tensor;
  /** Scalar mean cross-entropy over the text targets. */
  loss: Tensor;
  /** The word head's loss (word-head.ts), when the config has one. */
  wordLoss: Tensor | null;
  /** The patch loss (patch-loss.ts), when patch targets are given. */
  patchLoss: Tensor | null;
}

export class NanoVLM extends Module {
  readonly vision: VisionEncoder;
  readonly connector: Connector;
  readonly decoder: Decoder;
  readonly wordHead: WordHead | null;
  constructor(readonly config: ModelConfig) {
    super();
    validateConfig(config);
    this.vision = this.child('vision', new VisionEncoder(config));
    this.connector = this.child('connector', new Connector(config));
    this.decoder = this.child('decoder', new Decoder(config));
    this.wordHead = config.word_head ? this.child('word_head', new WordHead(config)) : null;
  }

  /** images [B, 3, S, S] -> image tokens for the decoder [B, n_img, n_embd]. */
  encodeImages(images: Tensor): Tensor {
    return this.connector.forward(this.vision.forward(images));
  }

  /** images [B, 3, S, S] float32, ids [B, L] int32 -> logits and loss. */
  forward(images: Tensor, ids: Tensor, opts: ForwardOptions = {}): ForwardResult {
    if (ids.dtype !== 'int32' || ids.ndim !== 2) {
      throw new Error(
        `NanoVLM.forward: ids should be int32 [B, L], got ${ids.dtype} [${ids.shape.join(', ')}]`,
      );
    }
    if (images.shape[0] !== ids.shape[0]) {
      throw new Error(`NanoVLM.forward: ${images.shape[0]} images but ${ids.shape[0]} token rows`);
    }
    const features = this.vision.forward(images);
    const imageTokens = this.connector.forward(features);
    const logits = this.decoder.forward(imageTokens, ids);
    const loss = crossEntropy(logits, textTargets(ids, this.config, opts.lengths), {
      ignoreIndex: IGNORE_INDEX,
    });
    const wordLoss = this.wordHead?.loss(features, ids, opts.lengths) ?? null;
    const patch = opts.patchTargets ? this.patchLoss(imageTokens, opts.patchTargets) : null;
    return { logits, loss, wordLoss, patchLoss: patch };
  }

  /** The patch loss (patch-loss.ts) of image tokens against per-patch targets; needs all vision tokens. */
  private patchLoss(imageTokens: Tensor, targets: Int32Array): Tensor | null {
    if (this.config.image_tokens !== 'all') {
      throw new Error('NanoVLM: the patch loss needs every patch as an image token (image_tokens "all")');
    }
    return patchLoss(imageTokens, this.decoder.headWeight, targets);
  }
}

/** Next-token targets for ids [B, L]: ids shifted left by one, padding and the last column ignored. */
export function textTargets(ids: Tensor, config: ModelConfig, lengths?: readonly number[]): Tensor {
  const [B, L] = ids.shape as [number, number];
  if (lengths && lengths.length !== B)
    throw new Error(`textTargets: ${lengths.length} lengths for ${B} rows`);
  const t = new Int32Array(B * L).fill(IGNORE_INDEX);
  for (let b = 0; b < B; b++) {
    const len = lengths ? Math.min(lengths[b]!, L) : L;
    for (let j = 0; j + 1 < len; j++) {
      const next = ids.data[b * L + j + 1]!;
      if (!lengths && next === config.pad_token_id) break;
      t[b * L + j] = next;
    }
  }
  return new Tensor(t, [B, L]);
}

/**
 * A new model with seeded initialisation: zero biases, unit LayerNorms, residual projections scaled by
 * 1/sqrt(2 · blocks) in each tower. The decoder is GPT-2's normal(0, 0.02). The vision encoder's and
 * the connector's linear and convolution weights are normal(0, 1/fan-in): with 0.02 at these widths
 * the image reaches the logits scaled down by orders of magnitude and training settles on ignoring the
 * picture (measured: docs/training.md). The [CLS] token and positions keep 0.02.
 */
export function createModel(config: ModelConfig, { seed = 0 }: { seed?: number } = {}): NanoVLM {
  const model = new NanoVLM(config);
  const rng = new Rng(seed);
  initWeights(model.vision, rng, { residualLayers: config.vision_blocks, fanIn: true });
  initWeights(model.connector, rng, { fanIn: true });
  initWeights(model.decoder, rng, { residualLayers: config.n_layer });
  if (model.wordHead) initWeights(model.wordHead, rng);
  return model;
}
