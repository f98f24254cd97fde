import { backend } from '../backends/index.ts';
import { Tensor, gradOf, record } from '../tensor.ts';
import { copyIds } from './buffers.ts';
import { expectFloat, shapeStr } from './check.ts';

/** Rows of a table: weight [V, D], int32 ids [...] -> [..., D]. */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  expectFloat('embedding', weight);
  if (weight.ndim !== 2) throw new Error(`embedding: weight should be [V, D], got ${shapeStr(weight)}`);
  if (ids.dtype !== 'int32') throw new Error(`embedding: ids must be int32, got ${ids.dtype}`);
  const [vocab, dim] = weight.shape as [number, number];
  const idx = copyIds(ids);
  for (let i = 0; i < idx.length; i++) {
    const id = idx[i]!;
    if (id < 0 || id >= vocab)
      throw new Error(`embedding: id ${id} at position ${i} is outside [0, ${vocab})`);
  }
  const n = idx.length;
  const y = Tensor.empty([...ids.shape, dim], weight.dtype);
  backend().embedding(weight.f, idx, y.f, n, dim);
  return record(y, 'embedding', [weight], (out) => {
    if (weight.requiresGrad) backend().embeddingBackward(out.grad!, idx, gradOf(weight), n, dim);
  });
}
