/**
 * Where the gradient goes: L2 norms of the gradient and of the optimizer's update per part of the model
 * (the patch stem, the vision blocks, the connector, the decoder, the word head), logged beside the loss
 * so a run shows whether the image path learns at all (docs/grounding.md reads them).
 */
import type { Parameter } from '../nn/module.ts';

export const PARTS = ['stem', 'vision', 'connector', 'decoder', 'word_head'] as const;
export type Part = (typeof PARTS)[number];

export function partOf(name: string): Part {
  if (name.startsWith('vision.patch.')) return 'stem';
  if (name.startsWith('vision.')) return 'vision';
  if (name.startsWith('connector.')) return 'connector';
  if (name.startsWith('word_head.')) return 'word_head';
  return 'decoder';
}

export type PartNorms = Partial<Record<Part, number>>;

/** Gradient norms per part (before clipping), over the parameters that have a gradient. */
export function gradNorms(params: ReadonlyMap<string, Parameter>): PartNorms {
  const sq: PartNorms = {};
  for (const [name, p] of params) {
    if (!p.grad) continue;
    const part = partOf(name);
    let s = 0;
    for (let i = 0; i < p.grad.length; i++) s += p.grad[i]! * p.grad[i]!;
    sq[part] = (sq[part] ?? 0) + s;
  }
  return sqrtAll(sq);
}

/** A copy of the weights, to measure the next update against (`updateNorms`). */
export function snapshot(params: ReadonlyMap<string, Parameter>): Map<string, Float32Array> {
  return new Map([...params].map(([name, p]) => [name, Float32Array.from(p.data)]));
}

/** Norms per part of the change since `before`, each relative to the part's weight norm. */
export function updateNorms(
  params: ReadonlyMap<string, Parameter>,
  before: ReadonlyMap<string, Float32Array>,
): PartNorms {
  const delta: PartNorms = {};
  const weight: PartNorms = {};
  for (const [name, p] of params) {
    const old = before.get(name);
    if (!old) continue;
    const part = partOf(name);
    let d = 0;
    let w = 0;
    for (let i = 0; i < old.length; i++) {
      const x = p.data[i]!;
      d += (x - old[i]!) ** 2;
      w += x * x;
    }
    delta[part] = (delta[part] ?? 0) + d;
    weight[part] = (weight[part] ?? 0) + w;
  }
  const out: PartNorms = {};
  for (const part of PARTS) {
    if (delta[part] === undefined) continue;
    out[part] = Math.sqrt(delta[part]!) / Math.max(1e-12, Math.sqrt(weight[part]!));
  }
  return out;
}

function sqrtAll(sq: PartNorms): PartNorms {
  const out: PartNorms = {};
  for (const part of PARTS) if (sq[part] !== undefined) out[part] = Math.sqrt(sq[part]!);
  return out;
}
