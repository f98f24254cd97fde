/**
 * Step scopes: the bookkeeping behind `withStepScope` (tensor.ts). Inside a scope, the buffers the engine
 * allocates (op outputs, scratch, gradients of intermediate tensors) come from the buffer pool and are
 * owned by the scope; they go back to the pool as soon as they are dead: an intermediate gradient right
 * after backward has propagated it, everything else when the scope ends. What the scope function returns,
 * and what it passed to `keep()`, survives. Parameters, their gradients and optimizer state never come
 * from the pool (a tensor made with requiresGrad = true owns its buffer, see `disown`).
 */
import type { DType, TensorData } from './dtype.ts';
import { MIN_POOLED_BYTES, bufferPool } from './pool.ts';

/** What a scope needs of the tensors made in it (tensor.ts's `Tensor`). */
export interface ScopedTensor {
  readonly rawData: TensorData;
  grad: TensorData | null;
  /** The autograd node: dropped when the scope ends. */
  node: unknown;
  scope: StepScope | null;
  /** Called when the tensor's buffer went back to the pool: reading it throws from then on. */
  markReleased(): void;
}

export class StepScope {
  /** Pool buffers handed out in this scope and not given back yet. */
  readonly owned = new Set<ArrayBuffer>();
  /** Tensors made in this scope: at the end their graph is dropped and their pool buffers checked. */
  readonly tensors: ScopedTensor[] = [];
  /** Tensors passed to `keep()`. */
  readonly kept: ScopedTensor[] = [];
  constructor(readonly parent: StepScope | null) {}
}

let current: StepScope | null = null;

/** The innermost open scope, or null outside every scope. */
export function currentScope(): StepScope | null {
  return current;
}

export function openScope(): StepScope {
  current = new StepScope(current);
  return current;
}

const ARRAYS = { float32: Float32Array, float64: Float64Array, int32: Int32Array } as const;

/**
 * A typed array of `n` elements: from the pool and owned by `scope` when there is one (zeroed only when
 * `zero` is set), else a new (zeroed) array. Small arrays are never pooled.
 */
export function scopedArray(
  dtype: DType,
  n: number,
  zero: boolean,
  scope: StepScope | null = current,
): TensorData {
  const Ctor = ARRAYS[dtype];
  const bytes = n * Ctor.BYTES_PER_ELEMENT;
  if (!scope || bytes < MIN_POOLED_BYTES) return new Ctor(n);
  const buf = bufferPool.acquire(bytes, zero ? bytes : 0);
  scope.owned.add(buf);
  return new Ctor(buf, 0, n);
}

/** The pool buffer behind `a` when `scope` owns it (small arrays are never pooled: no `.buffer` lookup). */
function ownedBuffer(scope: StepScope, a: TensorData): ArrayBuffer | null {
  if (a.byteLength < MIN_POOLED_BYTES) return null;
  const buf = a.buffer as ArrayBuffer;
  return scope.owned.has(buf) ? buf : null;
}

/**
 * Gives `a`'s buffer back to the pool now if `scope` or one of its parents owns it; returns whether it did.
 * The caller promises that nothing reads `a` (or another view of its buffer) any more.
 */
export function releaseNow(a: TensorData, scope: StepScope | null = current): boolean {
  for (let s = scope; s; s = s.parent) {
    const buf = ownedBuffer(s, a);
    if (buf) {
      s.owned.delete(buf);
      bufferPool.release(buf);
      return true;
    }
  }
  return false;
}

/** Takes `a`'s buffer out of the scopes' hands for good (a parameter or other leaf made from it). */
export function disown(a: TensorData): void {
  for (let s = current; s; s = s.parent) {
    const buf = ownedBuffer(s, a);
    if (buf) s.owned.delete(buf);
  }
}

/**
 * Ends `scope`: the graph of its tensors is dropped; pool buffers not reachable from `survivors` (their
 * data and gradients) go back to the pool, and the tensors whose data was among them are marked released
 * (reading them throws). Survivors move to the parent scope, or leave the pool's hands when there is none.
 */
export function closeScope(scope: StepScope, survivors: ScopedTensor[]): void {
  if (current !== scope) throw new Error('step scopes must end in the order they began');
  current = scope.parent;
  const parent = scope.parent;
  const keepBufs = new Set<ArrayBuffer>();
  for (const t of [...survivors, ...scope.kept]) {
    for (const a of [t.rawData, t.grad]) {
      const buf = a && ownedBuffer(scope, a);
      if (buf) keepBufs.add(buf);
    }
  }
  const freed = (a: TensorData | null): boolean => {
    const buf = a && ownedBuffer(scope, a);
    return buf !== null && buf !== undefined && !keepBufs.has(buf);
  };
  for (const t of scope.tensors) {
    t.node = null;
    if (freed(t.grad)) t.grad = null;
    if (freed(t.rawData)) {
      t.markReleased();
      t.scope = null;
    } else if (parent) {
      // Still valid: the parent decides about its buffers (and those of views into them).
      t.scope = parent;
      parent.tensors.push(t);
    } else t.scope = null;
  }
  for (const buf of scope.owned) {
    if (!keepBufs.has(buf)) bufferPool.release(buf);
    else if (parent) parent.owned.add(buf);
  }
  scope.owned.clear();
  scope.tensors.length = 0;
  scope.kept.length = 0;
  if (!parent) bufferPool.endStep();
}
