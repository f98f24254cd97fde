import { backend } from '../backends/index.ts';
import { Tensor, gradOf, gradOverwritable, record, sizeOf } from '../tensor.ts';
import { emptyLike, normAxis, releaseScratch } from './buffers.ts';
import { sameShape, shapeStr } from './check.ts';
import { gatherRows, rowIds } from './gather.ts';

/** Element strides of a row-major shape. */
function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** x [R, ...rest] -> [ids.length, ...rest]: row r of the output is row ids[r] of x (ids may repeat). */
export function takeRows(x: Tensor, ids: Int32Array): Tensor {
  const R = x.shape[0] ?? 0;
  for (const id of ids)
    if (!(id >= 0 && id < R)) throw new Error(`takeRows: row ${id} is outside [0, ${R}) of ${shapeStr(x)}`);
  const block = sizeOf(x.shape.slice(1));
  return gatherRows('takeRows', x, [ids.length, ...x.shape.slice(1)], ids, block);
}

/** The same data under a new shape (one dimension may be -1: inferred). Shares x's buffer. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const inferred = shape.filter((d) => d === -1).length;
  const known = sizeOf(shape.filter((d) => d !== -1));
  if (inferred > 1 || shape.some((d) => !Number.isInteger(d) || d < -1)) {
    throw new Error(`reshape: invalid shape [${shape.join(', ')}]`);
  }
  const full = shape.map((d) => (d === -1 ? (known === 0 ? 0 : x.size / known) : d));
  if (sizeOf(full) !== x.size || full.some((d) => !Number.isInteger(d))) {
    throw new Error(`reshape: cannot view ${shapeStr(x)} (${x.size} elements) as [${shape.join(', ')}]`);
  }
  const y = new Tensor(x.data, full);
  return record(y, 'reshape', [x], (out) => {
    if (!x.requiresGrad) return;
    // A first gradient is a copy (no zeroing pass over a fresh buffer, no read of it).
    const [dx, beta] = gradOverwritable(x);
    if (beta === 0) dx.set(out.grad!);
    else backend().axpy(1, out.grad!, dx, x.size);
  });
}

/** Elements start <= i < end along `axis` (negative axis counts from the end). */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const a = normAxis('slice', axis, x.ndim);
  const len = x.shape[a]!;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > len || start > end) {
    throw new Error(`slice: range [${start}, ${end}) is not within 0..${len} of axis ${a} of ${shapeStr(x)}`);
  }
  const outer = sizeOf(x.shape.slice(0, a));
  const block = sizeOf(x.shape.slice(a + 1));
  const shape = x.shape.map((d, i) => (i === a ? end - start : d));
  return gatherRows('slice', x, shape, rowIds([outer, end - start], [len, 1], start), block);
}

/** Reorders dimensions: output dimension i is input dimension dims[i]. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  const n = x.ndim;
  const valid = dims.length === n && [...dims].sort((p, q) => p - q).every((d, i) => d === i);
  if (!valid)
    throw new Error(
      `permute: [${dims.join(', ')}] is not a permutation of the ${n} dimensions of ${shapeStr(x)}`,
    );
  // Trailing dimensions that stay in place move as contiguous blocks.
  let kept = 0;
  while (kept < n && dims[n - 1 - kept] === n - 1 - kept) kept++;
  const block = sizeOf(x.shape.slice(n - kept));
  const strides = stridesOf(x.shape);
  const moved = dims.slice(0, n - kept);
  const ids = rowIds(
    moved.map((d) => x.shape[d]!),
    moved.map((d) => strides[d]! / block),
  );
  return gatherRows(
    'permute',
    x,
    dims.map((d) => x.shape[d]!),
    ids,
    block,
  );
}

/** Repeats size-1 dimensions (and adds leading ones) to reach `shape`; the backward sums the copies. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const extra = shape.length - x.ndim;
  const src = [...new Array<number>(Math.max(0, extra)).fill(1), ...x.shape];
  if (extra < 0 || src.some((d, i) => d !== 1 && d !== shape[i])) {
    throw new Error(
      `expand: cannot expand ${shapeStr(x)} to [${shape.join(', ')}] (only size-1 dimensions repeat)`,
    );
  }
  let kept = 0;
  const n = shape.length;
  while (kept < n && src[n - 1 - kept] === shape[n - 1 - kept]) kept++;
  const block = sizeOf(shape.slice(n - kept));
  const strides = stridesOf(src);
  const outer = shape.slice(0, n - kept);
  const ids = rowIds(
    outer,
    outer.map((_, i) => (src[i] === 1 ? 0 : strides[i]! / block)),
  );
  return gatherRows('expand', x, shape, ids, block);
}

/** Joins tensors along `axis`; every other dimension must agree. */
export function concat(tensors: readonly Tensor[], axis: number): Tensor {
  if (tensors.length === 0) throw new Error('concat: needs at least one tensor');
  const first = tensors[0]!;
  const a = normAxis('concat', axis, first.ndim);
  for (const t of tensors) {
    const others = (s: readonly number[]) => s.filter((_, i) => i !== a);
    if (
      t.ndim !== first.ndim ||
      !sameShape(others(t.shape), others(first.shape)) ||
      t.dtype !== first.dtype
    ) {
      throw new Error(
        `concat: ${t.dtype} ${shapeStr(t)} does not match ${first.dtype} ${shapeStr(first)} outside axis ${a}`,
      );
    }
  }
  const outer = sizeOf(first.shape.slice(0, a));
  const block = sizeOf(first.shape.slice(a + 1));
  const total = tensors.reduce((s, t) => s + t.shape[a]!, 0);
  // Every element is copied below.
  const y = Tensor.empty(
    first.shape.map((d, i) => (i === a ? total : d)),
    first.dtype,
  );
  const dst = y.data;
  // Plain copies, one run of (length along axis) * block elements per input and outer index.
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    offsets.push(offset);
    const run = t.shape[a]! * block;
    const src = t.data;
    for (let o = 0; o < outer; o++) {
      const d = (o * total + offset) * block;
      for (let e = 0; e < run; e++) dst[d + e] = src[o * run + e]!;
    }
    offset += t.shape[a]!;
  }
  if (first.dtype === 'int32') return y;
  return record(y, 'concat', [...tensors], (out) => {
    const be = backend();
    tensors.forEach((t, i) => {
      if (!t.requiresGrad) return;
      // Gather this input's rows out of the output gradient, then add them in.
      const ids = rowIds([outer, t.shape[a]!], [total, 1], offsets[i]);
      const part = emptyLike(t, t.size);
      be.embedding(out.grad!, ids, part, ids.length, block);
      be.axpy(1, part, gradOf(t), t.size);
      releaseScratch(part);
    });
  });
}
