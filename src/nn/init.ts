import type { Rng } from '../util/rng.ts';
import type { Module } from './module.ts';
import { Conv2d } from './conv2d.ts';
import { Linear } from './linear.ts';

export interface InitOptions {
  /** Standard deviation of the normal draws for weights (GPT-2: 0.02). */
  std?: number;
  /**
   * Linear and convolution weights drawn with std 1/sqrt(fan-in) instead of `std` (LeCun), so that each
   * layer passes its input on at about unit scale whatever its width; other weights keep `std`.
   */
  fanIn?: boolean;
  /**
   * Number of residual layers the residual projections feed: when set, the weights whose names match
   * `residual` are scaled by 1/sqrt(2 * residualLayers) (GPT-2: each block adds two residual branches,
   * and this keeps the residual stream's variance from growing with depth).
   */
  residualLayers?: number;
  /** Which parameter names are residual projections (default: `attn.proj.weight`, `mlp.proj.weight`). */
  residual?: (name: string) => boolean;
}

export const isResidualProjection = (name: string): boolean => /(^|\.)(attn|mlp)\.proj\.weight$/.test(name);

/**
 * GPT-2 style seeded initialisation of a whole model: normal(0, std) for linear, convolution and
 * embedding weights, zeros for biases, ones/zeros for LayerNorm. Parameters are visited in their stable
 * name order, so one seed always gives the same model.
 */
export function initWeights(root: Module, rng: Rng, opts: InitOptions = {}): void {
  const std = opts.std ?? 0.02;
  for (const m of root.namedModules().values()) {
    const layer = opts.fanIn && (m instanceof Linear || m instanceof Conv2d) ? m : null;
    m.initParameters(rng, layer ? 1 / Math.sqrt(layer.weight.size / layer.weight.shape[0]!) : std);
  }
  if (opts.residualLayers) {
    const factor = 1 / Math.sqrt(2 * opts.residualLayers);
    const residual = opts.residual ?? isResidualProjection;
    for (const [name, p] of root.parameters()) {
      if (!residual(name)) continue;
      for (let i = 0; i < p.size; i++) p.data[i]! *= factor;
    }
  }
}
