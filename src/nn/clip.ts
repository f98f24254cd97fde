import { backend } from '../tensor/backends/index.ts';
import type { Parameter } from './module.ts';

/**
 * Scales all gradients together so their global L2 norm is at most `maxNorm` (as PyTorch's
 * clip_grad_norm_). Returns the norm before clipping; a non-finite norm is returned as is and nothing is
 * scaled, so the caller can skip the step.
 */
export function clipGradNorm(params: Iterable<Parameter> | Map<string, Parameter>, maxNorm: number): number {
  const list = params instanceof Map ? [...params.values()] : [...params];
  const be = backend();
  let sq = 0;
  for (const p of list) if (p.grad) sq += be.sumSquares(p.grad, p.size);
  const norm = Math.sqrt(sq);
  if (Number.isFinite(norm) && norm > maxNorm) {
    const s = maxNorm / (norm + 1e-6);
    for (const p of list) if (p.grad) be.scale(p.grad, s, p.grad, p.size);
  }
  return norm;
}
