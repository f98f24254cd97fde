import { backend } from '../backends/index.ts';
import { Tensor, gradOf, record } from '../tensor.ts';
import { emptyLike, releaseScratch } from './buffers.ts';
import { expectFloat, sameShape, shapeStr } from './check.ts';

/** b must have a's shape or a suffix of it (then it repeats over a's leading dimensions). */
function broadcastSize(op: string, a: Tensor, b: Tensor): number {
  expectFloat(op, a, b);
  if (b.ndim > a.ndim || !sameShape(b.shape, a.shape.slice(a.ndim - b.ndim))) {
    throw new Error(`${op}: shape ${shapeStr(b)} is not ${shapeStr(a)} or a suffix of it`);
  }
  return b.size;
}

/** The forward of add or mul: y = a op b, with b broadcast; n = a's size, bn = b's. */
function broadcastForward(op: 'add' | 'mul', a: Tensor, b: Tensor): { y: Tensor; n: number; bn: number } {
  const bn = broadcastSize(op, a, b);
  const n = a.size;
  const y = Tensor.empty(a.shape, a.dtype);
  backend()[op](a.f, b.f, y.f, n, bn);
  return { y, n, bn };
}

/** a + b, b broadcast over a's leading dimensions (a bias, a position table). */
export function add(a: Tensor, b: Tensor): Tensor {
  const { y, n, bn } = broadcastForward('add', a, b);
  return record(y, 'add', [a, b], (out) => {
    const dy = out.grad!;
    const be = backend();
    if (a.requiresGrad) be.axpy(1, dy, gradOf(a), n);
    if (b.requiresGrad) be.sumRows(dy, gradOf(b), n / bn, bn, true);
  });
}

/** a * b elementwise, b broadcast over a's leading dimensions. */
export function mul(a: Tensor, b: Tensor): Tensor {
  const { y, n, bn } = broadcastForward('mul', a, b);
  return record(y, 'mul', [a, b], (out) => {
    const dy = out.grad!;
    const be = backend();
    const tmp = emptyLike(a, n); // written by be.mul before each use
    if (a.requiresGrad) {
      be.mul(dy, b.f, tmp, n, bn);
      be.axpy(1, tmp, gradOf(a), n);
    }
    if (b.requiresGrad) {
      be.mul(dy, a.f, tmp, n, n);
      be.sumRows(tmp, gradOf(b), n / bn, bn, true);
    }
    releaseScratch(tmp);
  });
}

/** x * s for a constant s. */
export function scale(x: Tensor, s: number): Tensor {
  expectFloat('scale', x);
  const n = x.size;
  const y = Tensor.empty(x.shape, x.dtype);
  backend().scale(x.f, s, y.f, n);
  return record(y, 'scale', [x], (out) => {
    if (x.requiresGrad) backend().axpy(s, out.grad!, gradOf(x), n);
  });
}
