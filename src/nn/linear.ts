import { linear } from '../tensor/ops/index.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { Rng } from '../util/rng.ts';
import { Module, Parameter } from './module.ts';

/** y = x · Wᵀ + b: `weight` [out, in], `bias` [out] (PyTorch's layout, so checkpoints map one to one). */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    { bias = true }: { bias?: boolean } = {},
  ) {
    super();
    this.weight = this.param('weight', new Parameter([outFeatures, inFeatures]));
    this.bias = bias ? this.param('bias', new Parameter([outFeatures])) : null;
  }
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
  override initParameters(rng: Rng, std: number): void {
    fillNormal(this.weight, rng, std);
    this.bias?.data.fill(0);
  }
}

export function fillNormal(t: Tensor, rng: Rng, std: number): void {
  for (let i = 0; i < t.size; i++) t.data[i] = rng.normal() * std;
}
