import type { F } from '../backend.ts';
import { releaseNow, scopedArray } from '../scope.ts';
import { Tensor, gradOf } from '../tensor.ts';

/**
 * A zeroed float buffer of `t`'s float type (float32 unless t is float64). Inside a step scope it comes
 * from the buffer pool and lives until the scope ends (or `releaseScratch`).
 */
export function floatLike(t: Tensor, n: number): F {
  return scopedArray(t.dtype === 'float64' ? 'float64' : 'float32', n, true) as F;
}

/** Like `floatLike` but not zeroed inside a step scope: for buffers a kernel writes completely. */
export function emptyLike(t: Tensor, n: number): F {
  return scopedArray(t.dtype === 'float64' ? 'float64' : 'float32', n, false) as F;
}

/**
 * A copy of an int32 tensor's ids, for a backward to read later (the caller may reuse its buffer before
 * then). Inside a step scope it comes from the pool.
 */
export function copyIds(t: Tensor): Int32Array {
  const ids = scopedArray('int32', t.size, false) as Int32Array;
  ids.set(t.data);
  return ids;
}

/** Gives a scratch buffer from `floatLike`/`emptyLike` back to the step's pool now (no-op outside a scope). */
export function releaseScratch(buf: F): void {
  releaseNow(buf);
}

/**
 * Where a backward kernel that fills several gradients at once should put `t`'s: its real gradient when
 * it needs one, else a throwaway buffer (the kernel writes every output it has).
 */
export function gradOrScratch(t: Tensor): F {
  return t.requiresGrad ? gradOf(t) : floatLike(t, t.size);
}

/** A one-element tensor of `like`'s float type holding `value` (shape []). */
export function scalarLike(like: Tensor, value: number): Tensor {
  const t = Tensor.zeros([], like.dtype === 'float64' ? 'float64' : 'float32');
  t.data[0] = value;
  return t;
}

/** `axis` counted from the end when negative, checked against `ndim`. */
export function normAxis(op: string, axis: number, ndim: number): number {
  const a = axis < 0 ? axis + ndim : axis;
  if (!Number.isInteger(a) || a < 0 || a >= ndim)
    throw new Error(`${op}: axis ${axis} is out of range for ${ndim} dimensions`);
  return a;
}
