import type { F } from '../tensor/backend.ts';
import { backend } from '../tensor/backends/index.ts';
import { layerNorm } from '../tensor/ops/index.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { DecoderScratch } from './kv-cache.ts';
import { Module, Parameter } from './module.ts';

/** Layer normalisation over the last dimension, with gain `weight` (ones) and shift `bias` (zeros). */
export class LayerNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly eps: number;
  constructor(
    readonly dim: number,
    { eps = 1e-5 }: { eps?: number } = {},
  ) {
    super();
    this.eps = eps;
    this.weight = this.param('weight', new Parameter([dim], 1));
    this.bias = this.param('bias', new Parameter([dim], 0));
  }
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
  /** The decode path (no graph): out [rows, dim] = the normalised rows of x, straight on the kernel. */
  applyInto(x: F, out: F, rows: number, scratch: DecoderScratch): void {
    const [mean, rstd] = [scratch.get('mean', rows), scratch.get('rstd', rows)];
    backend().layerNorm(x, this.weight.f, this.bias.f, out, mean, rstd, rows, this.dim, this.eps);
  }
  override initParameters(): void {
    this.weight.data.fill(1);
    this.bias.data.fill(0);
  }
}
