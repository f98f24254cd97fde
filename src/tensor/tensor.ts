import type { F } from './backend.ts';
import { Rng } from '../util/rng.ts';

export type DType = 'float32' | 'float64' | 'int32';
export type TensorData = Float32Array | Float64Array | Int32Array;

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

function allocate(dtype: DType, n: number): TensorData {
  return dtype === 'float32'
    ? new Float32Array(n)
    : dtype === 'float64'
      ? new Float64Array(n)
      : new Int32Array(n);
}

/** A shape plus a flat row-major buffer. Float tensors may carry a gradient; int32 holds token ids. */
export class Tensor {
  readonly shape: readonly number[];
  data: TensorData;
  grad: F | null = null;
  requiresGrad: boolean;
  /** Set on tensors produced by a recorded op. */
  node: GradNode | null = null;
  /** Optional name (parameters: `blocks.0.attn.qkv.weight`). */
  name?: string;

  constructor(data: TensorData, shape: readonly number[], requiresGrad = false) {
    if (sizeOf(shape) !== data.length) {
      throw new Error(
        `Tensor: shape [${shape.join(', ')}] needs ${sizeOf(shape)} elements, data has ${data.length}`,
      );
    }
    this.data = data;
    this.shape = [...shape];
    this.requiresGrad = requiresGrad;
  }

  static zeros(shape: readonly number[], dtype: DType = 'float32', requiresGrad = false): Tensor {
    return new Tensor(allocate(dtype, sizeOf(shape)), shape, requiresGrad);
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
    for (let i = 0; i < t.data.length; i++) t.data[i] = rng.normal() * std;
    return t;
  }
  /** Uniform(lo, hi) values from a seeded generator. */
  static uniform(shape: readonly number[], rng: Rng, lo = -1, hi = 1, dtype: DType = 'float32'): Tensor {
    const t = Tensor.zeros(shape, dtype);
    for (let i = 0; i < t.data.length; i++) t.data[i] = lo + (hi - lo) * rng.next();
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
    if (this.data instanceof Int32Array) throw new Error('expected a float tensor, got int32');
    return this.data;
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
    return `Tensor(${this.dtype}, [${this.shape.join(', ')}])`;
  }
}

/** The gradient buffer of `t`, allocated (zeroed) on first use. Backward functions accumulate into it. */
export function gradOf(t: Tensor): F {
  if (!t.grad) {
    if (t.data instanceof Int32Array) throw new Error('int32 tensors have no gradient');
    t.grad = t.data instanceof Float64Array ? new Float64Array(t.size) : new Float32Array(t.size);
  }
  return t.grad;
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
    if (t.node && t.grad) t.node.backward(t);
  }
  // Free the graph: intermediate tensors keep their grads for inspection but release the chain.
  for (const t of order) t.node = null;
}
