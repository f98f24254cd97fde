/**
 * The shape ops (slice, permute, expand, concat's backward, patchify) are all row gathers: the output
 * is a list of rows of `block` contiguous elements, each copied from some row of the input. Expressed
 * that way they run on the backend's embedding kernels (gather forward, scatter-add backward), which
 * also sums the repeated rows of `expand` in its backward.
 */
import { backend } from '../backends/index.ts';
import { Tensor, gradOf, record } from '../tensor.ts';

/**
 * Row ids for output rows that enumerate `dims` in row-major order: id = offset + Σ index[i] * strides[i]
 * (strides counted in rows of the source).
 */
export function rowIds(dims: readonly number[], strides: readonly number[], offset = 0): Int32Array {
  let n = 1;
  for (const d of dims) n *= d;
  const ids = new Int32Array(n);
  const index = new Array<number>(dims.length).fill(0);
  let id = offset;
  for (let r = 0; r < n; r++) {
    ids[r] = id;
    // Odometer step: bump the last dimension, carrying into earlier ones.
    for (let i = dims.length - 1; i >= 0; i--) {
      index[i]!++;
      id += strides[i]!;
      if (index[i]! < dims[i]!) break;
      id -= index[i]! * strides[i]!;
      index[i] = 0;
    }
  }
  return ids;
}

/** out row r = x row ids[r] (rows of `block` elements), recorded with its scatter-add backward. */
export function gatherRows(
  op: string,
  x: Tensor,
  shape: readonly number[],
  ids: Int32Array,
  block: number,
): Tensor {
  const y = Tensor.empty(shape, x.dtype); // every row is copied
  const n = ids.length;
  if (x.data instanceof Int32Array) {
    // Token ids have no gradient and no kernel: a plain copy.
    const src = x.data;
    const dst = y.data;
    for (let r = 0; r < n; r++)
      for (let e = 0; e < block; e++) dst[r * block + e] = src[ids[r]! * block + e]!;
    return y;
  }
  backend().embedding(x.f, ids, y.f, n, block);
  return record(y, op, [x], (out) => {
    if (x.requiresGrad) backend().embeddingBackward(out.grad!, ids, gradOf(x), n, block);
  });
}
