import { dropout } from '../tensor/ops/index.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { Module } from './module.ts';
import { nextDropoutSeed } from './random.ts';

/** Zeroes each element with probability p while training (scaling the rest by 1/(1-p)); identity in eval. */
export class Dropout extends Module {
  constructor(readonly p: number) {
    super();
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout: p must be in [0, 1), got ${p}`);
  }
  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    return dropout(x, this.p, nextDropoutSeed());
  }
}
