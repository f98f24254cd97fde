import type { F } from '../tensor/backend.ts';
import { backend } from '../tensor/backends/index.ts';
import { gelu } from '../tensor/ops/index.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { Dropout } from './dropout.ts';
import type { DecoderScratch } from './kv-cache.ts';
import { Linear } from './linear.ts';
import { Module } from './module.ts';

/** The transformer feed-forward: `fc` (dim -> hidden), GELU, `proj` (hidden -> dim), dropout. */
export class MLP extends Module {
  readonly fc: Linear;
  readonly proj: Linear;
  readonly drop: Dropout;
  constructor(
    dim: number,
    hidden: number,
    { dropout = 0, bias = true }: { dropout?: number; bias?: boolean } = {},
  ) {
    super();
    this.fc = this.child('fc', new Linear(dim, hidden, { bias }));
    this.proj = this.child('proj', new Linear(hidden, dim, { bias }));
    this.drop = this.child('drop', new Dropout(dropout));
  }
  forward(x: Tensor): Tensor {
    return this.drop.forward(this.proj.forward(gelu(this.fc.forward(x))));
  }
  /** The decode path (inference: no graph, no dropout): x [rows, dim] += mlp(h). */
  decodeInto(h: F, x: F, rows: number, scratch: DecoderScratch): void {
    const n = rows * this.fc.outFeatures;
    const [hid, act] = [scratch.get('hid', n), scratch.get('act', n)];
    this.fc.applyInto(h, hid, rows);
    backend().gelu(hid, act, n);
    this.proj.applyInto(act, x, rows, true);
  }
}
