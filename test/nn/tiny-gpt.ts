// A minimal GPT built from the nn layers, shared by the nn tests (not a test file itself).
import { add, linear } from '../../src/tensor/ops/index.ts';
import type { Tensor } from '../../src/tensor/tensor.ts';
import { Block, Embedding, LayerNorm, Linear, Module, ModuleList, Parameter } from '../../src/nn/index.ts';

export interface TinyGptConfig {
  vocab: number;
  dim: number;
  heads: number;
  layers: number;
  maxLen: number;
  tied: boolean;
  dropout?: number;
}

export class TinyGpt extends Module {
  readonly tok: Embedding;
  readonly pos: Parameter;
  readonly blocks: ModuleList<Block>;
  readonly lnF: LayerNorm;
  readonly head: Linear | null;
  constructor(readonly cfg: TinyGptConfig) {
    super();
    this.tok = this.child('tok', new Embedding(cfg.vocab, cfg.dim));
    this.pos = this.param('pos', new Parameter([cfg.maxLen, cfg.dim]));
    const blocks = Array.from(
      { length: cfg.layers },
      () => new Block(cfg.dim, cfg.heads, { causal: true, dropout: cfg.dropout ?? 0 }),
    );
    this.blocks = this.child('blocks', new ModuleList(blocks));
    this.lnF = this.child('ln_f', new LayerNorm(cfg.dim));
    this.head = cfg.tied ? null : this.child('head', new Linear(cfg.dim, cfg.vocab, { bias: false }));
  }
  /** ids int32 [B, T] (T = maxLen) -> logits [B, T, vocab]. */
  forward(ids: Tensor): Tensor {
    let x = add(this.tok.forward(ids), this.pos);
    for (const b of this.blocks) x = b.forward(x);
    x = this.lnF.forward(x);
    return this.head ? this.head.forward(x) : linear(x, this.tok.weight);
  }
}
