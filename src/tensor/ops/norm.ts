import { backend } from '../backends/index.ts';
import { Tensor, record } from '../tensor.ts';
import { emptyLike, gradOrScratch, releaseScratch } from './buffers.ts';
import { expectFloat, shapeStr } from './check.ts';

/** Layer normalisation over the last dimension: (x - mean) / sqrt(var + eps) * gamma + beta. */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps = 1e-5): Tensor {
  expectFloat('layerNorm', x, gamma, beta);
  const cols = x.shape[x.ndim - 1] ?? 1;
  for (const [name, t] of [
    ['gamma', gamma],
    ['beta', beta],
  ] as const) {
    if (t.ndim !== 1 || t.shape[0] !== cols) {
      throw new Error(`layerNorm: ${name} ${shapeStr(t)} should be [${cols}] for input ${shapeStr(x)}`);
    }
  }
  const rows = x.size / cols;
  const y = Tensor.empty(x.shape, x.dtype);
  const mean = emptyLike(x, rows);
  const rstd = emptyLike(x, rows);
  backend().layerNorm(x.f, gamma.f, beta.f, y.f, mean, rstd, rows, cols, eps);
  return record(y, 'layerNorm', [x, gamma, beta], (out) => {
    const dx = gradOrScratch(x);
    const dgamma = gradOrScratch(gamma);
    const dbeta = gradOrScratch(beta);
    backend().layerNormBackward(out.grad!, x.f, gamma.f, mean, rstd, dx, dgamma, dbeta, rows, cols);
    for (const [t, g] of [
      [x, dx],
      [gamma, dgamma],
      [beta, dbeta],
    ] as const)
      if (!t.requiresGrad) releaseScratch(g);
  });
}
