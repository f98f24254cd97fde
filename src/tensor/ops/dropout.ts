import { backend } from '../backends/index.ts';
import { Tensor, gradOf, record } from '../tensor.ts';
import { emptyLike, releaseScratch } from './buffers.ts';
import { expectFloat } from './check.ts';

/**
 * Zeroes each element with probability p and scales the rest by 1/(1-p). The mask comes from a counter
 * hash of (seed, element index), so it is reproducible and independent of threads. p = 0 returns x.
 */
export function dropout(x: Tensor, p: number, seed: number): Tensor {
  expectFloat('dropout', x);
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: probability ${p} should be in [0, 1)`);
  if (p === 0) return x;
  const n = x.size;
  const y = Tensor.empty(x.shape, x.dtype);
  const mask = emptyLike(x, n);
  backend().dropout(x.f, y.f, mask, n, p, seed >>> 0, 0);
  return record(y, 'dropout', [x], (out) => {
    if (!x.requiresGrad) return;
    const be = backend();
    const tmp = emptyLike(x, n);
    be.mul(out.grad!, mask, tmp, n, n);
    be.axpy(1, tmp, gradOf(x), n);
    releaseScratch(tmp);
  });
}
