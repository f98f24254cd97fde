import type { F } from './backend.ts';
import { Rng } from '../util/rng.ts';
import type { DType, TensorData } from './dtype.ts';
import {
  closeScope,
  currentScope,
  disown,
  openScope,
  releaseNow,
  scopedArray,
  type StepScope,
} from './scope.ts';

export type { DType, TensorData } from './dtype.ts';

/** A node of the autograd graph: how to send the output's gradient back to the inputs. */
export interface GradNode {
  op: string;
  inputs: Tensor[];
  /** Reads `out.grad` and accumulates into the inputs' grads (use `gradOf(input)`). */
  backward: (out: Tensor) => void;
}

let gradEnabled = true;

/** Runs `fn` without recording the graph (inference, evaluation). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}
export function isGradEnabled(): boolean {
  return gradEnabled;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** A zeroed buffer; inside a step scope it comes from the buffer pool. */
function allocate(dtype: DType, n: number): TensorData {
  return scopedArray(dtype, n, true);
}

/** What a released tensor's data is replaced with (see `withStepScope`). */
const RELEASED = new Float32Array(0);

/** A shape plus a flat row-major buffer. Float tensors may carry a gradient; int32 holds token ids. */
export class Tensor {
  readonly shape: readonly number[];
  private _data: TensorData;
  grad: F | null = null;
  requiresGrad: boolean;
  /** Set on tensors produced by a recorded op. */
  node: GradNode | null = null;
  /** Optional name (parameters: `blocks.0.attn.qkv.weight`). */
  name?: string;
  /** @internal The open step scope this tensor was made in (its pool buffers are that scope's). */
  scope: StepScope | null = null;
  /** Keep this intermediate tensor's gradient after backward inside a step scope (see `retainGrad`). */
  retainsGrad = false;

  /**
   * Wraps `data` (not copied). A tensor made with requiresGrad = true is a leaf (a parameter, an input
   * to differentiate): its buffer is its own for good, even when made inside a step scope.
   */
  constructor(data: TensorData, shape: readonly number[], requiresGrad = false) {
    if (sizeOf(shape) !== data.length) {
      throw new Error(
        `Tensor: shape [${shape.join(', ')}] needs ${sizeOf(shape)} elements, data has ${data.length}`,
      );
    }
    this._data = data;
    this.shape = [...shape];
    this.requiresGrad = requiresGrad;
    const scope = currentScope();
    if (!scope) return;
    if (requiresGrad) disown(data);
    else {
      this.scope = scope;
      scope.tensors.push(this);
    }
  }

  /** The elements. Throws for a tensor released at the end of its step scope. */
  get data(): TensorData {
    const d = this._data;
    if (d === RELEASED) {
      throw new Error(
        `${this.toString()} was released at the end of the step scope it was made in; ` +
          'return it from the scope function or keep() it to use it after the step',
      );
    }
    return d;
  }
  set data(d: TensorData) {
    this._data = d;
  }
  /** @internal The data without the released check (scope bookkeeping). */
  get rawData(): TensorData {
    return this._data;
  }
  /** @internal Marks the tensor released: its buffer went back to the pool. */
  markReleased(): void {
    this._data = RELEASED;
    this.grad = null;
  }
  /** Whether the tensor was released at the end of its step scope. */
  get released(): boolean {
    return this._data === RELEASED;
  }

  static zeros(shape: readonly number[], dtype: DType = 'float32', requiresGrad = false): Tensor {
    return new Tensor(allocate(dtype, sizeOf(shape)), shape, requiresGrad);
  }
  /**
   * A tensor whose elements are undefined inside a step scope (a reused buffer; zeros outside one), for op
   * outputs the kernel writes completely.
   */
  static empty(shape: readonly number[], dtype: DType = 'float32'): Tensor {
    return new Tensor(scopedArray(dtype, sizeOf(shape), false), shape);
  }
  static full(shape: readonly number[], value: number, dtype: DType = 'float32'): Tensor {
    const t = Tensor.zeros(shape, dtype);
    t.data.fill(value);
    return t;
  }
  static from(
    values: ArrayLike<number>,
    shape: readonly number[] = [values.length],
    dtype: DType = 'float32',
  ): Tensor {
    const data = allocate(dtype, values.length);
    data.set(values as ArrayLike<number>);
    return new Tensor(data, shape);
  }
  static ids(values: ArrayLike<number>, shape: readonly number[] = [values.length]): Tensor {
    return Tensor.from(values, shape, 'int32');
  }
  /** Normal(0, std) values from a seeded generator. */
  static randn(shape: readonly number[], rng: Rng, std = 1, dtype: DType = 'float32'): Tensor {
    const t = Tensor.zeros(shape, dtype);
    const d = t.data;
    for (let i = 0; i < d.length; i++) d[i] = rng.normal() * std;
    return t;
  }
  /** Uniform(lo, hi) values from a seeded generator. */
  static uniform(shape: readonly number[], rng: Rng, lo = -1, hi = 1, dtype: DType = 'float32'): Tensor {
    const t = Tensor.zeros(shape, dtype);
    const d = t.data;
    for (let i = 0; i < d.length; i++) d[i] = lo + (hi - lo) * rng.next();
    return t;
  }

  get dtype(): DType {
    return this.data instanceof Float32Array
      ? 'float32'
      : this.data instanceof Float64Array
        ? 'float64'
        : 'int32';
  }
  get size(): number {
    return this.data.length;
  }
  get ndim(): number {
    return this.shape.length;
  }
  /** The float buffer (throws for int32 tensors). */
  get f(): F {
    const d = this.data;
    if (d instanceof Int32Array) throw new Error('expected a float tensor, got int32');
    return d;
  }
  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`item(): tensor has ${this.size} elements`);
    return this.data[0]!;
  }
  toArray(): number[] {
    return Array.from(this.data);
  }
  /** Computes gradients of this scalar with respect to every tensor that requires them. */
  backward(): void {
    backward(this);
  }
  toString(): string {
    return `Tensor(${this.released ? 'released' : this.dtype}, [${this.shape.join(', ')}])`;
  }
}

/**
 * The gradient buffer of `t`, allocated (zeroed) on first use. Backward functions accumulate into it.
 * A tensor made in an open step scope gets its gradient from the pool.
 */
export function gradOf(t: Tensor): F {
  if (!t.grad) {
    const d = t.data;
    if (d instanceof Int32Array) throw new Error('int32 tensors have no gradient');
    t.grad = scopedArray(d instanceof Float64Array ? 'float64' : 'float32', d.length, true, t.scope) as F;
  }
  return t.grad;
}

/**
 * `t`'s gradient for a kernel that can overwrite or accumulate (a GEMM's beta): [buffer, 1] when it holds
 * earlier contributions, [new buffer, 0] on first use, which inside a step scope is not zeroed (the
 * kernel writes it all at beta 0, saving a pass over it).
 */
export function gradOverwritable(t: Tensor): [F, 0 | 1] {
  if (t.grad) return [t.grad, 1];
  const d = t.data;
  if (d instanceof Int32Array) throw new Error('int32 tensors have no gradient');
  t.grad = scopedArray(d instanceof Float64Array ? 'float64' : 'float32', d.length, false, t.scope) as F;
  return [t.grad, 0];
}

/**
 * Records `node` as the creator of `out` when grad mode is on and an input needs a gradient.
 * Op fronts call this after computing the forward result.
 */
export function record(out: Tensor, op: string, inputs: Tensor[], backwardFn: (out: Tensor) => void): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward: backwardFn };
  }
  return out;
}

/** Reverse-mode pass from a scalar: topological order by depth-first search, then backward in reverse. */
export function backward(loss: Tensor, seed?: F): void {
  if (!loss.requiresGrad) throw new Error('backward(): the tensor does not require a gradient');
  if (!seed && loss.size !== 1) throw new Error('backward(): call on a scalar, or pass a seed gradient');
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[loss, 0]];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    if (i === 0) {
      if (seen.has(t)) {
        stack.pop();
        continue;
      }
      seen.add(t);
    }
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const child = inputs[i]!;
      if (child.node && !seen.has(child)) stack.push([child, 0]);
    } else {
      stack.pop();
      order.push(t);
    }
  }
  const g = gradOf(loss);
  if (seed) for (let i = 0; i < g.length; i++) g[i]! += seed[i]!;
  else g[0]! += 1;
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i]!;
    if (!t.node || !t.grad) continue;
    t.node.backward(t);
    // Every consumer of t has already sent its gradient (reverse topological order), so inside a step
    // scope an intermediate gradient is dead now: back to the pool (PyTorch keeps no non-leaf grads either).
    if (t.scope && !t.retainsGrad && releaseNow(t.grad, t.scope)) t.grad = null;
  }
  // Free the graph: intermediate tensors keep their grads for inspection but release the chain.
  for (const t of order) t.node = null;
}

/**
 * Runs one training step (forward, backward, update: synchronous) with its tensors' buffers drawn from a
 * pool and given back afterwards, so steady-state steps allocate nothing and leave no garbage:
 * - inside, an intermediate tensor's gradient is freed as soon as backward has propagated it (`t.grad`
 *   becomes null) unless `retainGrad(t)` was called; leaves (parameters, tensors made with
 *   requiresGrad = true) keep theirs;
 * - at the end, every tensor made inside is released (its graph dropped; reading its data throws) except
 *   those reachable from the return value (a tensor, or arrays / plain objects / Maps of them) and those
 *   passed to `keep()`, which stay valid with their values and gradients for as long as they are held;
 * - parameters, their gradients, optimizer state and tensors made outside the scope are never touched.
 * Return plain numbers (`loss.item()`) rather than tensors when that is all the caller needs. Scopes nest:
 * what an inner scope returns belongs to the outer one.
 */
export function withStepScope<T>(fn: () => T): T {
  const scope = openScope();
  let result: T | undefined;
  try {
    result = fn();
    if (result instanceof Promise) throw new Error('withStepScope: the step function must be synchronous');
    return result;
  } finally {
    closeScope(scope, tensorsIn(result));
  }
}

/** Keeps `t` (its data and gradient) valid after the current step scope ends. Returns `t`. */
export function keep<T extends Tensor>(t: T): T {
  currentScope()?.kept.push(t);
  return t;
}

/** Keeps the gradient of an intermediate tensor through backward inside a step scope. Returns `t`. */
export function retainGrad<T extends Tensor>(t: T): T {
  t.retainsGrad = true;
  return t;
}

/** The tensors in a step function's return value. */
function tensorsIn(value: unknown, out: Tensor[] = [], seen = new Set<unknown>()): Tensor[] {
  if (value === null || typeof value !== 'object' || seen.has(value)) return out;
  seen.add(value);
  if (value instanceof Tensor) out.push(value);
  else if (Array.isArray(value)) for (const v of value) tensorsIn(v, out, seen);
  else if (value instanceof Map) for (const v of value.values()) tensorsIn(v, out, seen);
  else if (Object.getPrototypeOf(value) === Object.prototype)
    for (const v of Object.values(value)) tensorsIn(v, out, seen);
  return out;
}
