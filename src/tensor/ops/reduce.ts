import { backend } from '../backends/index.ts';
import { Tensor, gradOf, record } from '../tensor.ts';
import { emptyLike, releaseScratch, scalarLike } from './buffers.ts';
import { expectFloat } from './check.ts';

function reduceAll(op: string, x: Tensor, factor: number): Tensor {
  expectFloat(op, x);
  const n = x.size;
  const y = scalarLike(x, backend().sum(x.f, n) * factor);
  return record(y, op, [x], (out) => {
    if (!x.requiresGrad) return;
    // Every element receives the same gradient: add factor * dy times a vector of ones.
    const ones = emptyLike(x, n).fill(1);
    backend().axpy(out.grad![0]! * factor, ones, gradOf(x), n);
    releaseScratch(ones);
  });
}

/** Sum of all elements, as a scalar. */
export function sum(x: Tensor): Tensor {
  return reduceAll('sum', x, 1);
}

/** Mean of all elements, as a scalar. */
export function mean(x: Tensor): Tensor {
  if (x.size === 0) throw new Error('mean: of an empty tensor');
  return reduceAll('mean', x, 1 / x.size);
}
