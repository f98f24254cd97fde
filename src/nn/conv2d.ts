import { conv2d } from '../tensor/ops/index.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { Rng } from '../util/rng.ts';
import { fillNormal } from './linear.ts';
import { Module, Parameter } from './module.ts';

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  bias?: boolean;
}

/** 2-D convolution, x [N, Cin, H, W] -> [N, Cout, OH, OW]; `weight` [Cout, Cin, kh, kw], `bias` [Cout]. */
export class Conv2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly stride: number;
  readonly padding: number;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernel: number | [number, number],
    { stride = 1, padding = 0, bias = true }: Conv2dOptions = {},
  ) {
    super();
    const [kh, kw] = typeof kernel === 'number' ? [kernel, kernel] : kernel;
    this.stride = stride;
    this.padding = padding;
    this.weight = this.param('weight', new Parameter([outChannels, inChannels, kh, kw]));
    this.bias = bias ? this.param('bias', new Parameter([outChannels])) : null;
  }
  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding });
  }
  override initParameters(rng: Rng, std: number): void {
    fillNormal(this.weight, rng, std);
    this.bias?.data.fill(0);
  }
}
