import { Tensor, type DType } from '../tensor/tensor.ts';
import { UserError } from '../util/errors.ts';
import type { Rng } from '../util/rng.ts';

/** A trainable tensor: float, requires a gradient. Modules own them; optimizers update them in place. */
export class Parameter extends Tensor {
  constructor(shape: readonly number[], fill = 0, dtype: Exclude<DType, 'int32'> = 'float32') {
    const t = Tensor.full(shape, fill, dtype);
    super(t.data, shape, true);
  }
}

const shapeStr = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/**
 * Base of every layer. Children and parameters are registered explicitly (`this.param('weight', ...)`,
 * `this.child('attn', ...)`), in construction order, which gives stable dotted names such as
 * `blocks.0.attn.qkv.weight` that checkpoints and safetensors files rely on.
 */
export abstract class Module {
  /** Training mode (dropout active). Set through `train()` / `eval()`, which recurse. */
  training = true;
  private readonly ownParams = new Map<string, Parameter>();
  private readonly children = new Map<string, Module>();

  /** Registers a parameter under `name` (a plain identifier, no dots) and returns it. */
  protected param(name: string, p: Parameter): Parameter {
    this.checkName(name);
    this.ownParams.set(name, p);
    return p;
  }

  /** Registers a child module under `name` and returns it. */
  protected child<M extends Module>(name: string, m: M): M {
    this.checkName(name);
    this.children.set(name, m);
    return m;
  }

  private checkName(name: string): void {
    if (!name || name.includes('.'))
      throw new Error(`module member name "${name}" must be non-empty, without dots`);
    if (this.ownParams.has(name) || this.children.has(name))
      throw new Error(`module member "${name}" registered twice`);
  }

  /** This module's own parameters (not its children's), by local name. */
  directParameters(): ReadonlyMap<string, Parameter> {
    return this.ownParams;
  }

  /** Every module below and including this one, by dotted path ('' for this one), depth first. */
  namedModules(prefix = ''): Map<string, Module> {
    const out = new Map<string, Module>([[prefix, this]]);
    for (const [name, m] of this.children) {
      for (const [p, sub] of m.namedModules(prefix ? `${prefix}.${name}` : name)) out.set(p, sub);
    }
    return out;
  }

  /**
   * Every parameter by dotted name: a module's own parameters first, then each child's, in registration
   * order (PyTorch's order). A parameter shared by two modules (tied weights) appears once, under the
   * first name that reaches it.
   */
  parameters(): Map<string, Parameter> {
    const out = new Map<string, Parameter>();
    const seen = new Set<Parameter>();
    for (const [path, m] of this.namedModules()) {
      for (const [name, p] of m.ownParams) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.set(path ? `${path}.${name}` : name, p);
      }
    }
    return out;
  }

  /** Number of trainable scalars (shared parameters counted once). */
  parameterCount(): number {
    let n = 0;
    for (const p of this.parameters().values()) n += p.size;
    return n;
  }

  train(on = true): this {
    for (const m of this.namedModules().values()) m.training = on;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** Clears gradients: zero-filled in place (no allocation), or dropped with `setToNone`. */
  zeroGrad({ setToNone = false } = {}): void {
    for (const p of this.parameters().values()) {
      if (setToNone) p.grad = null;
      else p.grad?.fill(0);
    }
  }

  /**
   * Fills this module's own parameters with initial values (see `init.ts`). The default draws
   * normal(0, std); layers with other needs (LayerNorm, biases) override it.
   */
  initParameters(rng: Rng, std: number): void {
    for (const p of this.ownParams.values()) for (let i = 0; i < p.size; i++) p.data[i] = rng.normal() * std;
  }

  /** The tensors to save: the parameters themselves (not copies), by dotted name. */
  stateDict(): Map<string, Tensor> {
    return new Map(this.parameters());
  }

  /**
   * Copies values into the parameters (keeping their identity, so an optimizer stays attached).
   * Shape mismatches are always errors; with `strict` (default) so are missing and unexpected names.
   * `source` (a file name) prefixes the messages. Returns the names that were missing / not used.
   */
  loadStateDict(
    state: Map<string, Tensor> | Record<string, Tensor>,
    { strict = true, source = 'state dict' }: { strict?: boolean; source?: string } = {},
  ): { missing: string[]; unexpected: string[] } {
    const entries = state instanceof Map ? state : new Map(Object.entries(state));
    const params = this.parameters();
    const missing = [...params.keys()].filter((k) => !entries.has(k));
    const unexpected = [...entries.keys()].filter((k) => !params.has(k));
    const list = (names: string[]) =>
      names.slice(0, 5).join(', ') + (names.length > 5 ? ` and ${names.length - 5} more` : '');
    if (strict && missing.length) {
      throw new UserError(`${source}: missing ${missing.length} tensor(s) the model needs: ${list(missing)}`);
    }
    if (strict && unexpected.length) {
      throw new UserError(
        `${source}: ${unexpected.length} tensor(s) the model does not have: ${list(unexpected)}`,
      );
    }
    // Check everything before copying anything, so a bad file leaves the model untouched.
    for (const [name, p] of params) {
      const t = entries.get(name);
      if (!t) continue;
      if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
        throw new UserError(
          `${source}: tensor "${name}" has shape ${shapeStr(t.shape)}, the model expects ${shapeStr(p.shape)}`,
        );
      }
      if (t.dtype === 'int32')
        throw new UserError(`${source}: tensor "${name}" is int32, expected a float tensor`);
    }
    for (const [name, p] of params) {
      const t = entries.get(name);
      if (t && t !== p) p.data.set(t.data);
    }
    return { missing, unexpected };
  }
}

/** An ordered list of modules, named `0`, `1`, ... (as in `blocks.0.attn`). */
export class ModuleList<M extends Module> extends Module {
  readonly items: M[];
  constructor(items: M[]) {
    super();
    this.items = items;
    items.forEach((m, i) => this.child(String(i), m));
  }
  get length(): number {
    return this.items.length;
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}
