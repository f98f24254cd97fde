/**
 * Choosing the next token from a row of logits: repetition penalty, temperature, top-k, top-p, then a
 * seeded draw (or argmax when the temperature is 0).
 */
import { UserError } from '../util/errors.ts';
import type { Rng } from '../util/rng.ts';

/**
 * The model computed NaN or an infinity (weights so large that float32 arithmetic overflows): no token
 * can be chosen, and an argmax over NaN would silently pick token 0.
 */
export class NonFiniteLogitsError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'NonFiniteLogitsError';
  }
}

/** Throws NonFiniteLogitsError when a row of logits holds NaN or an infinity. */
export function checkFiniteLogits(logits: ArrayLike<number>): void {
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (v - v !== 0)
      throw new NonFiniteLogitsError(
        `the model computed a non-finite logit (${v} for token ${i}): its weights overflow float32 arithmetic`,
      );
  }
}

export interface SamplingOptions {
  /** 0 = greedy (argmax). */
  temperature?: number;
  /** Keep the k most likely tokens (0 = all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 = all). */
  topP?: number;
  /** CTRL's penalty on tokens already present: logit / p when positive, logit · p when negative (1 = off). */
  repetitionPenalty?: number;
}

/** Index of the largest value (the first one on ties). */
export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

/** Applies the repetition penalty in place to the ids in `seen`. */
export function applyRepetitionPenalty(
  logits: Float32Array | Float64Array,
  seen: Iterable<number>,
  penalty: number,
): void {
  if (penalty === 1) return;
  for (const id of seen) {
    const l = logits[id]!;
    logits[id] = l > 0 ? l / penalty : l * penalty;
  }
}

/** The largest value v such that at least `k` entries are >= v (the k-th largest). */
function kthLargest(values: Float64Array, k: number): number {
  const sorted = Float64Array.from(values).sort();
  return sorted[sorted.length - k]!;
}

/**
 * The sampling distribution over the vocabulary after temperature, top-k and top-p (probabilities that
 * sum to 1; zero outside the kept set). Logits of -Infinity are never kept. At a cut, tokens tied with
 * the last kept one are kept too, so the result never depends on sort order.
 */
export function samplingDistribution(logits: ArrayLike<number>, opts: SamplingOptions = {}): Float64Array {
  const temperature = opts.temperature ?? 1;
  const topK = opts.topK ?? 0;
  const topP = opts.topP ?? 1;
  if (!(temperature > 0))
    throw new Error('samplingDistribution: temperature must be > 0 (use argmax for greedy)');
  const V = logits.length;
  const probs = new Float64Array(V);
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (logits[i]! > max) max = logits[i]!;
  if (max === -Infinity) throw new Error('samplingDistribution: every logit is -Infinity');
  let total = 0;
  for (let i = 0; i < V; i++) {
    const e = Math.exp((logits[i]! - max) / temperature);
    probs[i] = e;
    total += e;
  }
  for (let i = 0; i < V; i++) probs[i]! /= total;
  if (topK > 0 && topK < V) {
    const cut = kthLargest(probs, topK);
    for (let i = 0; i < V; i++) if (probs[i]! < cut) probs[i] = 0;
  }
  if (topP < 1) {
    const sorted = Float64Array.from(probs).sort().reverse();
    let mass = 0;
    for (let i = 0; i < V; i++) mass += sorted[i]!;
    // Walk down from the most likely token until the kept mass reaches p of what is left.
    let acc = 0;
    let cut = sorted[0]!;
    for (let i = 0; i < V && sorted[i]! > 0; i++) {
      acc += sorted[i]!;
      cut = sorted[i]!;
      if (acc >= topP * mass) break;
    }
    for (let i = 0; i < V; i++) if (probs[i]! < cut) probs[i] = 0;
  }
  let kept = 0;
  for (let i = 0; i < V; i++) kept += probs[i]!;
  for (let i = 0; i < V; i++) probs[i]! /= kept;
  return probs;
}

/** Draws an index from a distribution with one uniform number from `rng`. */
export function drawFrom(probs: Float64Array, rng: Rng): number {
  const u = rng.next();
  let acc = 0;
  let last = 0;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i]! <= 0) continue;
    acc += probs[i]!;
    last = i;
    if (u < acc) return i;
  }
  return last; // u landed in the rounding gap at the top
}

/**
 * The next token for one row (non-finite logits throw NonFiniteLogitsError). `logits` is not modified. `seen` are the ids the repetition penalty
 * applies to; `suppress` ids can never be chosen (BOS, PAD: they never follow text).
 */
export function sampleToken(
  logits: Float32Array,
  opts: SamplingOptions,
  rng: Rng,
  seen: Iterable<number> = [],
  suppress: readonly number[] = [],
): number {
  checkFiniteLogits(logits);
  const temperature = opts.temperature ?? 1;
  const penalty = opts.repetitionPenalty ?? 1;
  const greedy = temperature <= 0 || opts.topK === 1;
  if (greedy && penalty === 1) return argmaxExcept(logits, suppress); // the hot path: no copy
  const l = Float32Array.from(logits);
  applyRepetitionPenalty(l, seen, penalty);
  for (const id of suppress) l[id] = -Infinity;
  if (greedy) return argmax(l);
  return drawFrom(samplingDistribution(l, opts), rng);
}

/** argmax over the ids not in `skip` (the first one on ties). */
function argmaxExcept(x: Float32Array, skip: readonly number[]): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < x.length; i++) {
    if (x[i]! > bestValue && !skip.includes(i)) {
      best = i;
      bestValue = x[i]!;
    }
  }
  return best < 0 ? argmax(x) : best;
}
