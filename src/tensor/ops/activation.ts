import { backend } from '../backends/index.ts';
import { Tensor, gradOf, record } from '../tensor.ts';
import { expectFloat } from './check.ts';

/** GELU, tanh approximation (GPT-2's). */
export function gelu(x: Tensor): Tensor {
  expectFloat('gelu', x);
  const y = Tensor.empty(x.shape, x.dtype);
  backend().gelu(x.f, y.f, x.size);
  return record(y, 'gelu', [x], (out) => {
    if (x.requiresGrad) backend().geluBackward(x.f, out.grad!, gradOf(x), x.size);
  });
}

export function relu(x: Tensor): Tensor {
  expectFloat('relu', x);
  const y = Tensor.empty(x.shape, x.dtype);
  backend().relu(x.f, y.f, x.size);
  return record(y, 'relu', [x], (out) => {
    if (x.requiresGrad) backend().reluBackward(x.f, out.grad!, gradOf(x), x.size);
  });
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
