import { backend } from '../backends/index.ts';
import { Tensor, gradOf, record } from '../tensor.ts';
import { expectFloat } from './check.ts';

/** y = f(x) elementwise, its backward the kernel's own. */
function elementwise(op: 'gelu' | 'relu', x: Tensor): Tensor {
  expectFloat(op, x);
  const y = Tensor.empty(x.shape, x.dtype);
  backend()[op](x.f, y.f, x.size);
  return record(y, op, [x], (out) => {
    if (x.requiresGrad) backend()[`${op}Backward`](x.f, out.grad!, gradOf(x), x.size);
  });
}

/** GELU, tanh approximation (GPT-2's). */
export function gelu(x: Tensor): Tensor {
  return elementwise('gelu', x);
}
export function relu(x: Tensor): Tensor {
  return elementwise('relu', x);
}

/** Softmax over the last dimension. */
export function softmax(x: Tensor): Tensor {
  expectFloat('softmax', x);
  if (x.ndim === 0) throw new Error('softmax: needs at least one dimension');
  const cols = x.shape[x.ndim - 1]!;
  const rows = x.size / cols;
  const y = Tensor.empty(x.shape, x.dtype);
  backend().softmax(x.f, y.f, rows, cols);
  return record(y, 'softmax', [x], (out) => {
    if (x.requiresGrad) backend().softmaxBackward(out.f, out.grad!, gradOf(x), rows, cols);
  });
}
