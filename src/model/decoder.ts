/**
 * The text decoder: GPT-style. Token + learned position embeddings, pre-LN causal blocks, final
 * LayerNorm, and a head to the vocabulary tied to the token embedding by default. The image tokens
 * from the connector take the first positions, in place of token embeddings.
 */
import {
  Block,
  Dropout,
  Embedding,
  LayerNorm,
  Linear,
  Module,
  ModuleList,
  linearInto,
  type DecoderScratch,
  type KVCache,
} from '../nn/index.ts';
import { add, concat, linear, slice } from '../tensor/ops/index.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { decoderPositions, type ModelConfig } from './config.ts';

export class Decoder extends Module {
  readonly wte: Embedding;
  readonly wpe: Embedding;
  readonly drop: Dropout;
  readonly blocks: ModuleList<Block>;
  readonly ln_f: LayerNorm;
  readonly lm_head: Linear | null;
  constructor(readonly config: ModelConfig) {
    super();
    const D = config.n_embd;
    this.wte = this.child('wte', new Embedding(config.vocab_size, D));
    this.wpe = this.child('wpe', new Embedding(decoderPositions(config), D));
    this.drop = this.child('drop', new Dropout(config.dropout));
    const opts = { causal: true, mlpRatio: config.mlp_ratio, dropout: config.dropout };
    const blocks = Array.from({ length: config.n_layer }, () => new Block(D, config.n_head, opts));
    this.blocks = this.child('blocks', new ModuleList(blocks));
    this.ln_f = this.child('ln_f', new LayerNorm(D));
    this.lm_head = config.tie_word_embeddings
      ? null
      : this.child('lm_head', new Linear(D, config.vocab_size, { bias: false }));
  }

  /** The output head's weight [vocab, n_embd]: the token embedding when tied. */
  get headWeight(): Tensor {
    return this.lm_head ? this.lm_head.weight : this.wte.weight;
  }

  /**
   * image tokens [B, n_img, D] and text ids int32 [B, L] -> logits [B, L, vocab] for the text
   * positions only (row j is the prediction of token j + 1).
   */
  forward(imageTokens: Tensor, ids: Tensor): Tensor {
    const nImg = imageTokens.shape[1]!;
    const T = nImg + ids.shape[1]!;
    if (T > this.wpe.num) {
      throw new Error(`decoder: ${ids.shape[1]} text tokens exceed max_text_len ${this.config.max_text_len}`);
    }
    const tokens = concat([imageTokens, this.wte.forward(ids)], 1);
    let x = this.drop.forward(add(tokens, slice(this.wpe.weight, 0, 0, T)));
    for (const block of this.blocks) x = block.forward(x);
    const text = this.ln_f.forward(slice(x, 1, nImg, T));
    return linear(text, this.headWeight);
  }

  /**
   * `forward` for generation, with a KV cache: `x` [rows, T, C] holds the input embeddings (token or
   * image) of T new positions per row; positions are added here, counted per row from its first real
   * one (`pad[b]` left-padding positions, hidden from attention). Returns the logits of each row's last
   * position, [rows, vocab], in a scratch buffer that the next call overwrites.
   */
  decode(cache: KVCache, x: Float32Array, T: number, pad: Int32Array, scratch: DecoderScratch): Float32Array {
    const C = this.config.n_embd;
    const B = cache.rows;
    const start = cache.length;
    const tk = start + T;
    if (tk > cache.maxLength)
      throw new Error(`decoder: ${tk} positions exceed the cache (${cache.maxLength})`);
    const wpe = this.wpe.weight.f;
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < T; i++) {
        const pos = Math.max(0, start + i - pad[b]!);
        const o = (b * T + i) * C;
        for (let c = 0; c < C; c++) x[o + c]! += wpe[pos * C + c]!;
      }
    }
    let mask: Uint8Array | null = null;
    if (pad.subarray(0, B).some((p) => p > 0)) {
      mask = new Uint8Array(B * tk);
      for (let b = 0; b < B; b++) mask.fill(1, b * tk + Math.min(pad[b]!, tk), (b + 1) * tk);
    }
    const step = { cache, T, rows: B * T, mask, scratch };
    this.blocks.items.forEach((block, l) => block.decodeInto(x, step, l));
    cache.length = tk;
    // Only each row's last position needs logits.
    const last = scratch.get('last', B * C);
    for (let b = 0; b < B; b++) last.set(x.subarray((b * T + T - 1) * C, (b * T + T) * C), b * C);
    const lastN = scratch.get('lastN', B * C);
    this.ln_f.applyInto(last, lastN, B, scratch);
    const logits = scratch.get('logits', B * this.config.vocab_size);
    linearInto(lastN, logits, B, this.headWeight, null);
    return logits;
  }
}
