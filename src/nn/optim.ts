import { backend } from '../tensor/backends/index.ts';
import { Tensor } from '../tensor/tensor.ts';
import { UserError } from '../util/errors.ts';
import type { Parameter } from './module.ts';

export interface AdamWOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay for the parameters `decay` selects. */
  weightDecay?: number;
  /**
   * Which parameters get weight decay, by name. Default: all of them (as in PyTorch). A common choice is
   * `decayMatricesOnly` (no decay on norms and biases); embeddings are the caller's call.
   */
  decay?: (name: string, p: Parameter) => boolean;
  /** A multiplier of the learning rate per parameter, by name (default 1 for all). */
  lrScale?: (name: string, p: Parameter) => number;
}

/** Decay 2-D and larger weights only: skips LayerNorm gains and every bias. */
export const decayMatricesOnly = (_name: string, p: Parameter): boolean => p.ndim >= 2;

export interface ParamGroup {
  weightDecay: number;
  /** This group's learning rate is the step's rate times lrScale. */
  lrScale: number;
  names: string[];
  params: Parameter[];
}

interface Slot {
  m: Float32Array;
  v: Float32Array;
}

/**
 * AdamW (Loshchilov & Hutter): Adam with bias correction and weight decay applied to the weights
 * directly rather than through the gradient. One fused backend kernel per parameter.
 * Parameters without a gradient at a step are left alone (their moments do not decay either).
 */
export class AdamW {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly groups: ParamGroup[];
  /** Steps taken (the bias corrections use it, counted from 1). */
  steps = 0;
  private readonly slots = new Map<string, Slot>();
  private readonly named: Map<string, Parameter>;

  constructor(params: Map<string, Parameter>, opts: AdamWOptions = {}) {
    this.lr = opts.lr ?? 1e-3;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    const wd = opts.weightDecay ?? 0.01;
    const decay = opts.decay ?? (() => true);
    const lrScale = opts.lrScale ?? (() => 1);
    const groups = new Map<string, ParamGroup>();
    for (const [name, p] of params) {
      if (p.dtype !== 'float32')
        throw new Error(`AdamW: parameter "${name}" is ${p.dtype}, expected float32`);
      const weightDecay = decay(name, p) ? wd : 0;
      const scale = lrScale(name, p);
      if (!(scale >= 0 && Number.isFinite(scale)))
        throw new Error(`AdamW: learning-rate scale of "${name}" must be ≥ 0, got ${scale}`);
      const key = `${weightDecay}/${scale}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { weightDecay, lrScale: scale, names: [], params: [] }));
      g.names.push(name);
      g.params.push(p);
      this.slots.set(name, { m: new Float32Array(p.size), v: new Float32Array(p.size) });
    }
    this.named = params;
    this.groups = [...groups.values()];
  }

  /** One update of every parameter that has a gradient. `lr` overrides the current rate (schedules). */
  step(lr = this.lr): void {
    this.lr = lr;
    this.steps++;
    const be = backend();
    for (const g of this.groups) {
      for (let i = 0; i < g.params.length; i++) {
        const p = g.params[i]!;
        if (!p.grad) continue;
        const s = this.slots.get(g.names[i]!)!;
        be.adamw(
          p.data as Float32Array,
          p.grad as Float32Array,
          s.m,
          s.v,
          p.size,
          lr * g.lrScale,
          this.beta1,
          this.beta2,
          this.eps,
          g.weightDecay,
          this.steps,
        );
      }
    }
  }

  /** Clears the gradients of every parameter (zero fill, or drop with `setToNone`). */
  zeroGrad({ setToNone = false } = {}): void {
    for (const p of this.named.values()) {
      if (setToNone) p.grad = null;
      else p.grad?.fill(0);
    }
  }

  /**
   * The optimizer state as safetensors content: `<name>.exp_avg` and `<name>.exp_avg_sq` per parameter
   * (views of the live buffers; write them before the next step), the step count and settings as metadata.
   */
  stateDict(): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
    const tensors = new Map<string, Tensor>();
    for (const [name, p] of this.named) {
      const s = this.slots.get(name)!;
      tensors.set(`${name}.exp_avg`, new Tensor(s.m, p.shape));
      tensors.set(`${name}.exp_avg_sq`, new Tensor(s.v, p.shape));
    }
    const metadata = {
      optimizer: 'AdamW',
      step: String(this.steps),
      lr: String(this.lr),
      beta1: String(this.beta1),
      beta2: String(this.beta2),
      eps: String(this.eps),
    };
    return { tensors, metadata };
  }

  /** Restores a state from `stateDict()` (e.g. read back with `readSafetensors`). `source` names the file. */
  loadStateDict(
    state: { tensors: Map<string, Tensor>; metadata: Record<string, string> },
    { source = 'optimizer state' }: { source?: string } = {},
  ): void {
    const step = Number(state.metadata.step);
    if (!Number.isSafeInteger(step) || step < 0) {
      throw new UserError(
        `${source}: metadata "step" must be a non-negative integer, got ${JSON.stringify(state.metadata.step)}`,
      );
    }
    const expected = new Set<string>();
    for (const [name, p] of this.named) {
      for (const key of [`${name}.exp_avg`, `${name}.exp_avg_sq`]) {
        expected.add(key);
        const t = state.tensors.get(key);
        if (!t)
          throw new UserError(`${source}: tensor "${key}" is missing (does the checkpoint match the model?)`);
        if (
          t.size !== p.size ||
          t.shape.length !== p.shape.length ||
          t.shape.some((d, i) => d !== p.shape[i])
        ) {
          throw new UserError(
            `${source}: tensor "${key}" has shape [${t.shape.join(', ')}], expected [${p.shape.join(', ')}]`,
          );
        }
        if (t.dtype === 'int32') throw new UserError(`${source}: tensor "${key}" is int32, expected float`);
      }
    }
    const extra = [...state.tensors.keys()].filter((k) => !expected.has(k));
    if (extra.length)
      throw new UserError(`${source}: unexpected tensor "${extra[0]}" (${extra.length} not in the model)`);
    for (const name of this.named.keys()) {
      const s = this.slots.get(name)!;
      s.m.set(state.tensors.get(`${name}.exp_avg`)!.data);
      s.v.set(state.tensors.get(`${name}.exp_avg_sq`)!.data);
    }
    this.steps = step;
    const lr = Number(state.metadata.lr);
    if (Number.isFinite(lr)) this.lr = lr;
  }
}
