import { embedding } from '../tensor/ops/index.ts';
import type { Tensor } from '../tensor/tensor.ts';
import { Module, Parameter } from './module.ts';

/** A lookup table: int32 ids [...] -> rows of `weight` [num, dim] -> [..., dim]. */
export class Embedding extends Module {
  readonly weight: Parameter;
  constructor(
    readonly num: number,
    readonly dim: number,
  ) {
    super();
    this.weight = this.param('weight', new Parameter([num, dim]));
  }
  forward(ids: Tensor): Tensor {
    return embedding(this.weight, ids);
  }
}
