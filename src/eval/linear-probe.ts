/**
 * Linear probes: logistic regression on frozen features, small enough to fit in a few seconds in plain
 * TypeScript. Two kinds: one sigmoid per label (several labels per example: which kinds of things a
 * picture holds) and one softmax over classes (one class per example: which thing covers a patch).
 * Features are standardised with the training set's mean and spread; Adam on mini-batches, L2 penalty;
 * the products run on the tensor backend's GEMM.
 */
import { backend } from '../tensor/backends/index.ts';
import { Rng } from '../util/rng.ts';

/** Examples as rows of a flat matrix [n, dim]. */
export interface Features {
  n: number;
  dim: number;
  data: Float32Array;
}

export interface ProbeOptions {
  epochs?: number;
  batchSize?: number;
  lr?: number;
  /** L2 penalty on the weights (not the biases). */
  l2?: number;
  seed?: number;
}

/** A fitted probe: standardisation, weights [dim, out] and biases [out]. */
export interface LinearProbe {
  dim: number;
  out: number;
  mean: Float32Array;
  invStd: Float32Array;
  w: Float32Array;
  b: Float32Array;
}

function standardiser(x: Features): { mean: Float32Array; invStd: Float32Array } {
  const { n, dim, data } = x;
  const mean = new Float32Array(dim);
  const sq = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d]! += data[i * dim + d]! / n;
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) {
      const v = data[i * dim + d]! - mean[d]!;
      sq[d]! += v * v;
    }
  }
  const invStd = new Float32Array(dim);
  for (let d = 0; d < dim; d++) invStd[d] = 1 / Math.sqrt(sq[d]! / Math.max(1, n) + 1e-6);
  return { mean, invStd };
}

/** Standardised rows `idx` of x into z ([idx.length, dim]). */
function standardRows(p: LinearProbe, x: Features, idx: ArrayLike<number>, z: Float32Array): void {
  const D = p.dim;
  for (let r = 0; r < idx.length; r++) {
    const src = idx[r]! * D;
    for (let d = 0; d < D; d++) z[r * D + d] = (x.data[src + d]! - p.mean[d]!) * p.invStd[d]!;
  }
}

/** logits [rows, out] = z · w + b, on the tensor backend's GEMM (the native kernels when built). */
function logitsOf(p: LinearProbe, z: Float32Array, rows: number, out: Float32Array): void {
  backend().gemm({ m: rows, n: p.out, k: p.dim }, z, p.w, out);
  backend().addBias(out, p.b, rows, p.out);
}

/** Logits of every example: [n, out]. */
export function predict(p: LinearProbe, x: Features): Float32Array {
  if (x.dim !== p.dim) throw new Error(`probe: features have ${x.dim} dims, the probe ${p.dim}`);
  const out = new Float32Array(x.n * p.out);
  const chunk = 256;
  const z = new Float32Array(chunk * p.dim);
  for (let s = 0; s < x.n; s += chunk) {
    const rows = Math.min(chunk, x.n - s);
    standardRows(
      p,
      x,
      Array.from({ length: rows }, (_, r) => s + r),
      z,
    );
    logitsOf(p, z, rows, out.subarray(s * p.out, (s + rows) * p.out));
  }
  return out;
}

/**
 * Fits a probe. `targetGrad(i, logits, grad)` writes d(loss)/d(logits) of example i into `grad` and
 * returns its loss: this is where sigmoid and softmax differ.
 */
function fit(
  x: Features,
  out: number,
  targetGrad: (i: number, logits: Float32Array, grad: Float32Array) => number,
  opts: ProbeOptions,
): { probe: LinearProbe; loss: number } {
  const { epochs = 30, batchSize = 128, lr = 0.01, l2 = 1e-4, seed = 0 } = opts;
  const { mean, invStd } = standardiser(x);
  const D = x.dim;
  const p: LinearProbe = {
    dim: D,
    out,
    mean,
    invStd,
    w: new Float32Array(D * out),
    b: new Float32Array(out),
  };
  const params = [p.w, p.b];
  const m = params.map((a) => new Float32Array(a.length));
  const v = params.map((a) => new Float32Array(a.length));
  const g = params.map((a) => new Float32Array(a.length));
  const rng = new Rng(seed);
  const order = Array.from({ length: x.n }, (_, i) => i);
  const z = new Float32Array(batchSize * D);
  const lg = new Float32Array(batchSize * out);
  const dl = new Float32Array(batchSize * out);
  let t = 0;
  let lastLoss = NaN;
  const [b1, b2] = [0.9, 0.999];
  for (let e = 0; e < epochs; e++) {
    rng.shuffle(order);
    let total = 0;
    for (let s = 0; s < x.n; s += batchSize) {
      const batch = order.slice(s, s + batchSize);
      const B = batch.length;
      standardRows(p, x, batch, z);
      logitsOf(p, z, B, lg);
      for (let r = 0; r < B; r++) {
        total += targetGrad(
          batch[r]!,
          lg.subarray(r * out, (r + 1) * out),
          dl.subarray(r * out, (r + 1) * out),
        );
      }
      // Mean gradient over the batch: w gets zᵀ · dl / B, b the column means of dl.
      backend().gemm({ m: D, n: out, k: B, transA: true, alpha: 1 / B }, z, dl, g[0]!);
      g[1]!.fill(0);
      for (let r = 0; r < B; r++) for (let k = 0; k < out; k++) g[1]![k]! += dl[r * out + k]! / B;
      t++;
      const c1 = 1 - Math.pow(b1, t);
      const c2 = 1 - Math.pow(b2, t);
      for (let q = 0; q < params.length; q++) {
        const a = params[q]!;
        const gq = g[q]!;
        const mq = m[q]!;
        const vq = v[q]!;
        const decay = q === 0 ? l2 : 0;
        for (let j = 0; j < a.length; j++) {
          const grad = gq[j]! + decay * a[j]!;
          mq[j] = b1 * mq[j]! + (1 - b1) * grad;
          vq[j] = b2 * vq[j]! + (1 - b2) * grad * grad;
          a[j]! -= (lr * (mq[j]! / c1)) / (Math.sqrt(vq[j]! / c2) + 1e-8);
        }
      }
    }
    lastLoss = total / x.n;
  }
  return { probe: p, loss: lastLoss };
}

/** Binary cross-entropy of one sigmoid per logit (`have`: the labels that are 1); its gradient into `grad`. */
export function sigmoidLoss(lg: Float32Array, have: ReadonlySet<number>, grad: Float32Array): number {
  let loss = 0;
  for (let k = 0; k < lg.length; k++) {
    const l = lg[k]!;
    const y = have.has(k) ? 1 : 0;
    grad[k] = 1 / (1 + Math.exp(-l)) - y;
    // log(1 + e^-|l|) + max(l, 0) - y·l: the stable form
    loss += Math.log1p(Math.exp(-Math.abs(l))) + Math.max(l, 0) - y * l;
  }
  return loss;
}

/** Cross-entropy of a softmax over the logits for class `y`; its gradient into `grad`. */
export function softmaxLoss(lg: Float32Array, y: number, grad: Float32Array): number {
  let max = -Infinity;
  for (let k = 0; k < lg.length; k++) max = Math.max(max, lg[k]!);
  let sum = 0;
  for (let k = 0; k < lg.length; k++) sum += Math.exp(lg[k]! - max);
  for (let k = 0; k < lg.length; k++) grad[k] = Math.exp(lg[k]! - max) / sum - (k === y ? 1 : 0);
  return Math.log(sum) + max - lg[y]!;
}

/** One sigmoid per label: `labels[i]` lists the labels (0..out-1) example i has. */
export function fitMultiLabel(
  x: Features,
  labels: readonly (readonly number[])[],
  out: number,
  opts: ProbeOptions = {},
) {
  const targets = labels.map((ls) => new Set(ls));
  return fit(x, out, (i, lg, grad) => sigmoidLoss(lg, targets[i]!, grad), opts);
}

/** One softmax over `out` classes: `classes[i]` is example i's class. */
export function fitSoftmax(x: Features, classes: ArrayLike<number>, out: number, opts: ProbeOptions = {}) {
  return fit(x, out, (i, lg, grad) => softmaxLoss(lg, classes[i]!, grad), opts);
}

/**
 * Share of the labels present found among each example's k best scores, k = labels present, pooled
 * over examples (the kinds-present probe's score).
 */
export function topKFound(scores: Float32Array, out: number, labels: readonly (readonly number[])[]): number {
  let found = 0;
  let total = 0;
  for (let i = 0; i < labels.length; i++) {
    const want = labels[i]!;
    if (!want.length) continue;
    const row = scores.subarray(i * out, (i + 1) * out);
    const best = Array.from(row.keys())
      .sort((a, b) => row[b]! - row[a]!)
      .slice(0, want.length);
    for (const k of want) if (best.includes(k)) found++;
    total += want.length;
  }
  return total ? found / total : 0;
}

/** Share of examples whose best-scoring class is their class. */
export function accuracy(scores: Float32Array, out: number, classes: ArrayLike<number>): number {
  let right = 0;
  for (let i = 0; i < classes.length; i++) {
    let best = 0;
    for (let k = 1; k < out; k++) if (scores[i * out + k]! > scores[i * out + best]!) best = k;
    if (best === classes[i]) right++;
  }
  return classes.length ? right / classes.length : 0;
}
