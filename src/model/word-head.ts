/**
 * The word head: a training-only objective for the image path (in the spirit of VirTex and of CLIP's
 * bag-of-words baseline). From the mean of the vision encoder's outputs it predicts which tokens the
 * picture's description contains. The language-model loss reaches the encoder only through the
 * decoder's attention, weakly and late; this loss tells it directly what the things in the picture are.
 * Generation never uses the head.
 */
import { Linear, Module } from '../nn/index.ts';
import { crossEntropy, matmul, takeRows } from '../tensor/ops/index.ts';
import { Tensor } from '../tensor/tensor.ts';
import type { ModelConfig } from './config.ts';

export class WordHead extends Module {
  readonly proj: Linear;
  constructor(readonly config: ModelConfig) {
    super();
    this.proj = this.child('proj', new Linear(config.img_embd_dim, config.vocab_size));
  }

  /**
   * features [B, Tv, img_embd_dim], ids [B, L] -> the mean over every row's distinct text tokens of
   * -log softmax(word logits of that row's picture) at the token: a cross-entropy against the bag of words.
   */
  loss(features: Tensor, ids: Tensor, lengths?: readonly number[]): Tensor {
    const [B, Tv] = features.shape as [number, number, number];
    const pool = new Tensor(new Float32Array(B * Tv).fill(1 / Tv), [B, 1, Tv]);
    const logits = this.proj.forward(matmul(pool, features)); // [B, 1, vocab]
    const { rows, words } = wordBags(ids, this.config, lengths);
    const picked = takeRows(logits, rows); // [N, 1, vocab]
    return crossEntropy(picked, new Tensor(words, [words.length, 1]));
  }
}

/** The distinct text tokens of each row (no BOS, EOS or padding), as parallel (row, token) lists. */
export function wordBags(
  ids: Tensor,
  config: ModelConfig,
  lengths?: readonly number[],
): { rows: Int32Array; words: Int32Array } {
  const [B, L] = ids.shape as [number, number];
  const special = new Set([config.bos_token_id, config.eos_token_id, config.pad_token_id]);
  const rows: number[] = [];
  const words: number[] = [];
  for (let b = 0; b < B; b++) {
    const seen = new Set<number>();
    const len = lengths ? Math.min(lengths[b]!, L) : L;
    for (let j = 0; j < len; j++) {
      const id = ids.data[b * L + j]!;
      if (special.has(id) || seen.has(id)) continue;
      seen.add(id);
      rows.push(b);
      words.push(id);
    }
  }
  return { rows: Int32Array.from(rows), words: Int32Array.from(words) };
}
