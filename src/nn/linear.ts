import type { F } from '../tensor/backend.ts';
import { backend } from '../tensor/backends/index.ts';
import { productsInBf16 } from '../tensor/precision.ts';
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
  /** The decode path (no graph): out [rows, out] = x [rows, in] · Wᵀ + b; with `accumulate`, out += that. */
  applyInto(x: F, out: F, rows: number, accumulate = false): void {
    linearInto(x, out, rows, this.weight, this.bias, accumulate);
  }
  override initParameters(rng: Rng, std: number): void {
    fillNormal(this.weight, rng, std);
    this.bias?.data.fill(0);
  }
}

export function fillNormal(t: Tensor, rng: Rng, std: number): void {
  for (let i = 0; i < t.size; i++) t.data[i] = rng.normal() * std;
}

/**
 * out [rows, out] = x [rows, in] · Wᵀ + b (or += with `accumulate`) straight on the kernels, for
 * `weight` [out, in]. The bias goes in first and the GEMM accumulates on top of it (beta = 1): one
 * kernel call fewer.
 */
export function linearInto(
  x: F,
  out: F,
  rows: number,
  weight: Tensor,
  bias: Tensor | null,
  accumulate = false,
): void {
  const [outF, inF] = weight.shape as [number, number];
  const b = bias?.f;
  if (b && accumulate) addRows(out, b, rows);
  else if (b) for (let r = 0; r < rows; r++) out.set(b, r * outF);
  const beta = b || accumulate ? 1 : 0;
  // --precision: the same products as the linear op (a decode step's few rows: bf16 dot products)
  backend().gemm({ m: rows, n: outF, k: inF, transB: true, beta, bf16: productsInBf16() }, x, weight.f, out);
}

/** Every row of x += bias (plain loops for the few rows of a decode step; the kernel for a prefill). */
function addRows(x: F, bias: F, rows: number): void {
  const n = bias.length;
  if (rows * n > 8192) return backend().addBias(x, bias, rows, n);
  for (let r = 0, o = 0; r < rows; r++) for (let c = 0; c < n; c++, o++) x[o]! += bias[c]!;
}
