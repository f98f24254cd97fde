/**
 * The reference backend: every kernel in plain TypeScript, generic over Float32Array and
 * Float64Array (float64 is what the finite-difference gradient checks run in). Sums are accumulated in
 * JavaScript numbers (double precision), so the float32 path is at least as accurate as the C kernels
 * it is compared with. Readability comes first; only GEMM is tuned (packed 4×4 tiles, ~5 GFLOP/s).
 */
import type { AttentionDesc, AttentionLayout, ConvDesc, F, GemmDesc } from '../descriptors.ts';
import { hash32 } from '../../util/rng.ts';

/**
 * GEMM, the one kernel where loop structure matters: op(A) and op(B) are first copied ("packed") into
 * panels of 4 rows / 4 columns laid out along k, which also hides the four transpose cases. Each 4×4
 * tile of C is then summed in 16 local (double precision) variables from two sequential streams and
 * written once, so beta = 0 overwrites whatever C held, NaN included.
 */
const TILE = 4;

const roundBits = new Float32Array(1);
const roundWord = new Uint32Array(roundBits.buffer);
/**
 * x rounded to bf16 (the top 16 bits of a float32) and back, as the native packing and VCVTNEPS2BF16 do:
 * to nearest even, zero and subnormals to a signed zero, NaN quieted (native/common.h nv_bf16_round).
 */
export function roundBf16(x: number): number {
  roundBits[0] = x;
  const u = roundWord[0]!;
  if ((u & 0x7fffffff) > 0x7f800000) roundWord[0] = ((u >>> 16) | 0x40) << 16;
  else if ((u & 0x7f800000) === 0) roundWord[0] = u & 0x80000000;
  else roundWord[0] = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16;
  return roundBits[0]!;
}

/**
 * Packs the rows×depth matrix M[i, p] = src[off + i*rowStride + p*colStride] into panels of TILE rows:
 * out[(panel*depth + p)*TILE + r] = M[panel*TILE + r, p], zero past the last row.
 */
function packPanels(
  src: F,
  off: number,
  rowStride: number,
  colStride: number,
  rows: number,
  depth: number,
  out: Float64Array,
  bf16: boolean,
): void {
  let o = 0;
  for (let i0 = 0; i0 < rows; i0 += TILE) {
    for (let p = 0; p < depth; p++) {
      for (let r = 0; r < TILE; r++) {
        const x = i0 + r < rows ? src[off + (i0 + r) * rowStride + p * colStride]! : 0;
        out[o++] = bf16 ? roundBf16(x) : x;
      }
    }
  }
}

/** C tile-by-tile from packed A (m×k) and packed Bᵀ (n×k): C[i, j] = alpha Σ_p A[i,p] B[p,j] + beta C[i, j]. */
function gemmPacked(
  m: number,
  n: number,
  k: number,
  alpha: number,
  pa: Float64Array,
  pb: Float64Array,
  beta: number,
  c: F,
  oc: number,
): void {
  const tile = new Float64Array(TILE * TILE);
  for (let i0 = 0; i0 < m; i0 += TILE) {
    const ap = i0 * k; // panel i0/TILE starts at (i0/TILE) * k * TILE
    for (let j0 = 0; j0 < n; j0 += TILE) {
      const bp = j0 * k;
      // prettier-ignore
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0,
          c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      // prettier-ignore
      for (let p = 0; p < k; p++) {
        const x = ap + p * TILE;
        const y = bp + p * TILE;
        const a0 = pa[x]!, a1 = pa[x + 1]!, a2 = pa[x + 2]!, a3 = pa[x + 3]!;
        const b0 = pb[y]!, b1 = pb[y + 1]!, b2 = pb[y + 2]!, b3 = pb[y + 3]!;
        c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
        c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
        c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
        c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
      }
      tile.set([c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33]);
      const rows = Math.min(TILE, m - i0);
      const cols = Math.min(TILE, n - j0);
      for (let r = 0; r < rows; r++) {
        const ci = oc + (i0 + r) * n + j0;
        for (let s = 0; s < cols; s++) {
          const v = alpha * tile[r * TILE + s]!;
          c[ci + s] = beta === 0 ? v : v + beta * c[ci + s]!;
        }
      }
    }
  }
}

/** Per row: y = (x - mean) * rstd * gamma + beta; also writes mean[rows] and rstd[rows]. */
function layerNorm(
  x: F,
  gamma: F,
  beta: F,
  y: F,
  mean: F,
  rstd: F,
  rows: number,
  cols: number,
  eps: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let s = 0;
    for (let c = 0; c < cols; c++) s += x[o + c]!;
    const mu = s / cols;
    let v = 0;
    for (let c = 0; c < cols; c++) {
      const d = x[o + c]! - mu;
      v += d * d;
    }
    const rs = 1 / Math.sqrt(v / cols + eps);
    for (let c = 0; c < cols; c++) y[o + c] = (x[o + c]! - mu) * rs * gamma[c]! + beta[c]!;
    mean[r] = mu;
    rstd[r] = rs;
  }
}

/**
 * Accumulates dx, dgamma, dbeta. With xhat = (x - mean) rstd and g = dy * gamma:
 * dx = rstd (g - mean(g) - xhat mean(g xhat)).
 */
function layerNormBackward(
  dy: F,
  x: F,
  gamma: F,
  mean: F,
  rstd: F,
  dx: F,
  dgamma: F,
  dbeta: F,
  rows: number,
  cols: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    const mu = mean[r]!;
    const rs = rstd[r]!;
    let gMean = 0;
    let gxMean = 0;
    for (let c = 0; c < cols; c++) {
      const g = dy[o + c]! * gamma[c]!;
      gMean += g;
      gxMean += g * (x[o + c]! - mu) * rs;
    }
    gMean /= cols;
    gxMean /= cols;
    for (let c = 0; c < cols; c++) {
      const xhat = (x[o + c]! - mu) * rs;
      const g = dy[o + c]! * gamma[c]!;
      dx[o + c] += rs * (g - gMean - xhat * gxMean);
      dgamma[c] += dy[o + c]! * xhat;
      dbeta[c] += dy[o + c]!;
    }
  }
}

const GELU_K = Math.sqrt(2 / Math.PI);
const GELU_C = 0.044715;

/**
 * Multi-head scaled dot-product attention (layout: AttentionDesc), scores scaled by 1/sqrt(headDim).
 * A query that sees no key outputs zeros. Per (batch, head, query): scores over the visible keys, softmax
 * into `probs` (0 where hidden), out = P v.
 */
function attention(d: AttentionDesc, q: F, k: F, v: F, out: F, probs: F): void {
  const { batch, heads, tq, tk, headDim, qStride, kvStride, kvBatchStride, outStride, causal, keyMask } = d;
  const scale = 1 / Math.sqrt(headDim);
  const acc = new Float64Array(headDim);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let t = 0; t < tq; t++) {
        const qo = b * tq * qStride + t * qStride + h * headDim;
        const po = ((b * heads + h) * tq + t) * tk;
        // Keys visible to this query: j < last, and not masked.
        const last = causal ? Math.min(tk, t + (tk - tq) + 1) : tk;
        let max = -Infinity;
        for (let j = 0; j < tk; j++) {
          if (j >= last || (keyMask && keyMask[b * tk + j] === 0)) {
            probs[po + j] = 0;
            continue;
          }
          const ko = b * kvBatchStride + j * kvStride + h * headDim;
          let s = 0;
          for (let d = 0; d < headDim; d++) s += q[qo + d]! * k[ko + d]!;
          s *= scale;
          probs[po + j] = s;
          if (s > max) max = s;
        }
        acc.fill(0);
        if (max !== -Infinity) {
          // probs holds the scaled scores of the visible keys; turn them into exps, then probabilities.
          let sum = 0;
          for (let j = 0; j < last; j++) {
            if (keyMask && keyMask[b * tk + j] === 0) continue;
            const ex = Math.exp(probs[po + j]! - max);
            probs[po + j] = ex;
            sum += ex;
          }
          const inv = 1 / sum;
          for (let j = 0; j < last; j++) {
            if (keyMask && keyMask[b * tk + j] === 0) continue;
            const p = probs[po + j]! * inv;
            probs[po + j] = p;
            const vo = b * kvBatchStride + j * kvStride + h * headDim;
            for (let d = 0; d < headDim; d++) acc[d] += p * v[vo + d]!;
          }
        }
        const oo = b * tq * outStride + t * outStride + h * headDim;
        for (let d = 0; d < headDim; d++) out[oo + d] = acc[d]!;
      }
    }
  }
}

/**
 * Accumulates dq, dk, dv (same layouts and strides as q, k, v; dout as out).
 * With P the saved probabilities: dv += Pᵀ dout; dP = dout vᵀ; dS = P (dP - rowsum(P dP));
 * dq += scale dS k; dk += scale dSᵀ q. Hidden keys have P = 0 and so receive nothing.
 */
function attentionBackward(
  d: AttentionLayout,
  dout: F,
  q: F,
  k: F,
  v: F,
  probs: F,
  dq: F,
  dk: F,
  dv: F,
): void {
  const { batch, heads, tq, tk, headDim, qStride, kvStride, kvBatchStride, outStride } = d;
  const scale = 1 / Math.sqrt(headDim);
  const dp = new Float64Array(tk);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let t = 0; t < tq; t++) {
        const qo = b * tq * qStride + t * qStride + h * headDim;
        const oo = b * tq * outStride + t * outStride + h * headDim;
        const po = ((b * heads + h) * tq + t) * tk;
        let dot = 0;
        for (let j = 0; j < tk; j++) {
          const p = probs[po + j]!;
          if (p === 0) {
            dp[j] = 0;
            continue;
          }
          const vo = b * kvBatchStride + j * kvStride + h * headDim;
          let s = 0;
          for (let d = 0; d < headDim; d++) {
            s += dout[oo + d]! * v[vo + d]!;
            dv[vo + d] += p * dout[oo + d]!;
          }
          dp[j] = s;
          dot += p * s;
        }
        for (let j = 0; j < tk; j++) {
          const p = probs[po + j]!;
          if (p === 0) continue;
          const ds = p * (dp[j]! - dot) * scale;
          const ko = b * kvBatchStride + j * kvStride + h * headDim;
          for (let d = 0; d < headDim; d++) {
            dq[qo + d] += ds * k[ko + d]!;
            dk[ko + d] += ds * q[qo + d]!;
          }
        }
      }
    }
  }
}

/** See GemmDesc. */
function gemm(d: GemmDesc, a: F, b: F, c: F): void {
  const { m, n, k, transA = false, transB = false, alpha = 1, beta = 0, batch = 1, bf16 = false } = d;
  const { strideA = 0, strideB = 0, strideC = 0 } = d;
  const roundUp = (x: number): number => Math.ceil(x / TILE) * TILE;
  const pa = new Float64Array(roundUp(m) * k);
  const pb = new Float64Array(roundUp(n) * k);
  for (let t = 0; t < batch; t++) {
    // op(A)[i, p] and op(B)ᵀ[j, p] as (row, column) strides of the stored matrices. A matrix shared by
    // every batch item (stride 0) is packed once.
    if (t === 0 || strideA !== 0) packPanels(a, t * strideA, transA ? 1 : k, transA ? m : 1, m, k, pa, bf16);
    if (t === 0 || strideB !== 0) packPanels(b, t * strideB, transB ? k : 1, transB ? 1 : n, n, k, pb, bf16);
    gemmPacked(m, n, k, alpha, pa, pb, beta, c, t * strideC);
  }
}

/**
 * Calls fn(colIndex, xIndex) for every element of the batched cols [C*kh*kw, n*oh*ow] (column
 * img*oh*ow + pixel); xIndex is the input element of x [n, C, H, W] it copies, or -1 in the zero padding.
 */
function forEachPatchElement(d: ConvDesc, fn: (colIndex: number, xIndex: number) => void): void {
  const { n, c, h, w, kh, kw, stride, pad } = d;
  const oh = Math.floor((h + 2 * pad - kh) / stride) + 1;
  const ow = Math.floor((w + 2 * pad - kw) / stride) + 1;
  if (oh < 1 || ow < 1) return;
  const pixels = oh * ow;
  for (let img = 0; img < n; img++) {
    for (let ch = 0; ch < c; ch++) {
      const plane = (img * c + ch) * h * w;
      for (let ki = 0; ki < kh; ki++) {
        for (let kj = 0; kj < kw; kj++) {
          const colStart = ((ch * kh + ki) * kw + kj) * n * pixels + img * pixels;
          for (let oy = 0; oy < oh; oy++) {
            const y = oy * stride - pad + ki;
            for (let ox = 0; ox < ow; ox++) {
              const x = ox * stride - pad + kj;
              const inside = y >= 0 && y < h && x >= 0 && x < w;
              fn(colStart + oy * ow + ox, inside ? plane + y * w + x : -1);
            }
          }
        }
      }
    }
  }
}

/** A buffer of `like`'s float type. */
const floatsLike = (like: F, n: number): F =>
  like instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);

/** Output size of a convolution along one axis (0 when the kernel does not fit). */
const convOut = (size: number, k: number, stride: number, pad: number): number =>
  size + 2 * pad < k ? 0 : Math.floor((size + 2 * pad - k) / stride) + 1;

/** One image (d.n = 1) x [C, H, W] -> cols [C*kh*kw, oh*ow], rows ordered (c, ki, kj), zero padding. */
function im2col(x: F, cols: F, d: ConvDesc): void {
  forEachPatchElement(d, (ci, xi) => {
    cols[ci] = xi < 0 ? 0 : x[xi]!;
  });
}

/** The adjoint of im2col: dx [C, H, W] += scatter(dcols [C*kh*kw, oh*ow]). */
function col2im(dcols: F, dx: F, d: ConvDesc): void {
  forEachPatchElement(d, (ci, xi) => {
    if (xi >= 0) dx[xi] += dcols[ci]!;
  });
}

/**
 * y [n, o, oh, ow] = conv(x, weight) + bias (bias may be null); y is overwritten.
 * Image by image: im2col into cols [C*kh*kw, oh*ow], then y_img [O, oh*ow] = W · cols + b.
 */
function conv2d(d: ConvDesc, x: F, weight: F, bias: F | null, y: F): void {
  const { n, c, h, w: width, o, kh, kw, stride, pad, bf16 = false } = d;
  const pixels = convOut(h, kh, stride, pad) * convOut(width, kw, stride, pad);
  const ckk = c * kh * kw;
  const cols = floatsLike(x, ckk * pixels);
  const one = { ...d, n: 1 };
  for (let img = 0; img < n; img++) {
    const out = y.subarray(img * o * pixels, (img + 1) * o * pixels);
    im2col(x.subarray(img * c * h * width), cols, one);
    gemm({ m: o, n: pixels, k: ckk, bf16 }, weight, cols, out);
    if (bias)
      for (let oc = 0; oc < o; oc++) for (let p = 0; p < pixels; p++) out[oc * pixels + p] += bias[oc]!;
  }
}

/**
 * Accumulates dx, dweight, dbias from dy [n, o, oh, ow]; a null gradient is not computed. With
 * `accumulateDx` false dx is overwritten instead (every element, for a fresh gradient buffer).
 * Image by image: dW += dY · colsᵀ, db += row sums of dY, dx (+)= col2im(Wᵀ · dY).
 */
function conv2dBackward(
  d: ConvDesc,
  x: F,
  weight: F,
  dy: F,
  dx: F | null,
  dweight: F | null,
  dbias: F | null,
  accumulateDx: boolean,
): void {
  const { n, c, h, w: width, o, kh, kw, stride, pad, bf16 = false } = d;
  const pixels = convOut(h, kh, stride, pad) * convOut(width, kw, stride, pad);
  const ckk = c * kh * kw;
  const cols = floatsLike(x, ckk * pixels);
  const one = { ...d, n: 1 };
  if (dx && !accumulateDx) dx.fill(0, 0, n * c * h * width);
  for (let img = 0; img < n; img++) {
    const g = dy.subarray(img * o * pixels, (img + 1) * o * pixels);
    if (dweight) {
      im2col(x.subarray(img * c * h * width), cols, one);
      gemm({ m: o, n: ckk, k: pixels, transB: true, beta: 1, bf16 }, g, cols, dweight);
    }
    if (dbias)
      for (let oc = 0; oc < o; oc++) {
        let s = 0;
        for (let p = 0; p < pixels; p++) s += g[oc * pixels + p]!;
        dbias[oc] += s;
      }
    if (dx) {
      gemm({ m: ckk, n: pixels, k: o, transA: true, bf16 }, weight, g, cols);
      col2im(cols, dx.subarray(img * c * h * width), one);
    }
  }
}

/**
 * Every kernel, in plain TypeScript: the reference the native kernels are tested against, and the one list
 * of kernels (`Backend` in src/tensor/backend.ts is this object's type; the native backend must export
 * each name).
 */
export const tsKernels = {
  gemm,

  /** y[i] = x[i] rounded to bf16 (nearest even; zero and subnormals to signed zero; NaN quieted). */
  roundBf16(x: F, y: F, n: number): void {
    for (let i = 0; i < n; i++) y[i] = roundBf16(x[i]!);
  },

  /** y[r, c] += bias[c] for a rows×cols y. */
  addBias(y: F, bias: F, rows: number, cols: number): void {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      for (let c = 0; c < cols; c++) y[o + c] += bias[c]!;
    }
  },
  /** out[c] (+)= sum_r x[r, c]; accumulates when `accumulate`, else overwrites. */
  sumRows(x: F, out: F, rows: number, cols: number, accumulate: boolean): void {
    const s = new Float64Array(cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      for (let c = 0; c < cols; c++) s[c] += x[o + c]!;
    }
    for (let c = 0; c < cols; c++) out[c] = accumulate ? out[c]! + s[c]! : s[c]!;
  },

  /** out[i] = a[i] + b[i % bn] (bn divides n; bn = n for plain elementwise). */
  add(a: F, b: F, out: F, n: number, bn: number): void {
    for (let i = 0; i < n; i++) out[i] = a[i]! + b[i % bn]!;
  },
  /** out[i] = a[i] * b[i % bn]. */
  mul(a: F, b: F, out: F, n: number, bn: number): void {
    for (let i = 0; i < n; i++) out[i] = a[i]! * b[i % bn]!;
  },
  /** out[i] = a[i] * s (out may be a). */
  scale(a: F, s: number, out: F, n: number): void {
    for (let i = 0; i < n; i++) out[i] = a[i]! * s;
  },
  /** y[i] += alpha * x[i]. */
  axpy(alpha: number, x: F, y: F, n: number): void {
    for (let i = 0; i < n; i++) y[i] += alpha * x[i]!;
  },

  layerNorm,
  layerNormBackward,

  /** GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
  gelu(x: F, y: F, n: number): void {
    for (let i = 0; i < n; i++) {
      const xi = x[i]!;
      y[i] = 0.5 * xi * (1 + Math.tanh(GELU_K * (xi + GELU_C * xi * xi * xi)));
    }
  },
  geluBackward(x: F, dy: F, dx: F, n: number): void {
    for (let i = 0; i < n; i++) {
      const xi = x[i]!;
      const th = Math.tanh(GELU_K * (xi + GELU_C * xi * xi * xi));
      const du = GELU_K * (1 + 3 * GELU_C * xi * xi);
      dx[i] += dy[i]! * (0.5 * (1 + th) + 0.5 * xi * (1 - th * th) * du);
    }
  },
  relu(x: F, y: F, n: number): void {
    for (let i = 0; i < n; i++) y[i] = x[i]! > 0 ? x[i]! : 0;
  },
  reluBackward(x: F, dy: F, dx: F, n: number): void {
    for (let i = 0; i < n; i++) if (x[i]! > 0) dx[i] += dy[i]!;
  },

  /** Row-wise softmax over the last dimension. */
  softmax(x: F, y: F, rows: number, cols: number): void {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let max = -Infinity;
      for (let c = 0; c < cols; c++) if (x[o + c]! > max) max = x[o + c]!;
      let sum = 0;
      for (let c = 0; c < cols; c++) sum += Math.exp(x[o + c]! - max);
      const inv = 1 / sum;
      for (let c = 0; c < cols; c++) y[o + c] = Math.exp(x[o + c]! - max) * inv;
    }
  },
  /** dx += y * (dy - sum(dy * y)) per row. */
  softmaxBackward(y: F, dy: F, dx: F, rows: number, cols: number): void {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let dot = 0;
      for (let c = 0; c < cols; c++) dot += dy[o + c]! * y[o + c]!;
      for (let c = 0; c < cols; c++) dx[o + c] += y[o + c]! * (dy[o + c]! - dot);
    }
  },

  /**
   * losses[r] = logsumexp(logits[r]) - logits[r, targets[r]], or 0 where targets[r] === ignoreIndex.
   * Returns the number of rows that were not ignored. Targets outside [0, vocab) (other than the
   * ignore index) are a caller error checked by the op front.
   */
  crossEntropy(
    logits: F,
    targets: Int32Array,
    losses: F,
    rows: number,
    vocab: number,
    ignoreIndex: number,
  ): number {
    let count = 0;
    for (let r = 0; r < rows; r++) {
      const t = targets[r]!;
      if (t === ignoreIndex) {
        losses[r] = 0;
        continue;
      }
      const o = r * vocab;
      let max = -Infinity;
      for (let c = 0; c < vocab; c++) if (logits[o + c]! > max) max = logits[o + c]!;
      let sum = 0;
      for (let c = 0; c < vocab; c++) sum += Math.exp(logits[o + c]! - max);
      losses[r] = max + Math.log(sum) - logits[o + t]!;
      count++;
    }
    return count;
  },
  /** dlogits[r] += scale * (softmax(logits[r]) - onehot(targets[r])), skipping ignored rows. */
  crossEntropyBackward(
    logits: F,
    targets: Int32Array,
    dlogits: F,
    rows: number,
    vocab: number,
    ignoreIndex: number,
    scale: number,
  ): void {
    for (let r = 0; r < rows; r++) {
      const t = targets[r]!;
      if (t === ignoreIndex) continue;
      const o = r * vocab;
      let max = -Infinity;
      for (let c = 0; c < vocab; c++) if (logits[o + c]! > max) max = logits[o + c]!;
      let sum = 0;
      for (let c = 0; c < vocab; c++) sum += Math.exp(logits[o + c]! - max);
      const inv = 1 / sum;
      for (let c = 0; c < vocab; c++) {
        const p = Math.exp(logits[o + c]! - max) * inv;
        dlogits[o + c] += scale * (p - (c === t ? 1 : 0));
      }
    }
  },

  attention,
  attentionBackward,

  /** out[i, :] = weight[ids[i], :] (ids are checked by the op front). */
  embedding(weight: F, ids: Int32Array, out: F, n: number, dim: number): void {
    for (let i = 0; i < n; i++) {
      const src = ids[i]! * dim;
      const dst = i * dim;
      for (let d = 0; d < dim; d++) out[dst + d] = weight[src + d]!;
    }
  },
  /** dweight[ids[i], :] += dout[i, :]. */
  embeddingBackward(dout: F, ids: Int32Array, dweight: F, n: number, dim: number): void {
    for (let i = 0; i < n; i++) {
      const dst = ids[i]! * dim;
      const src = i * dim;
      for (let d = 0; d < dim; d++) dweight[dst + d] += dout[src + d]!;
    }
  },

  conv2d,
  conv2dBackward,

  /**
   * Dropout with a counter-based mask: element i is kept when hash32(seed, offset + i) / 2^32 >= p
   * (hash32 in src/util/rng.ts, mirrored in C). mask[i] = keep ? 1/(1-p) : 0; y[i] = x[i] * mask[i].
   */
  dropout(x: F, y: F, mask: F, n: number, p: number, seed: number, offset: number): void {
    const keepScale = 1 / (1 - p);
    for (let i = 0; i < n; i++) {
      const keep = hash32(seed, offset + i) / 4294967296 >= p;
      mask[i] = keep ? keepScale : 0;
      y[i] = x[i]! * mask[i]!;
    }
  },

  /** Sum of elements, accumulated in double precision. */
  sum(x: F, n: number): number {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i]!;
    return s;
  },
  /** Sum of squares, accumulated in double precision (gradient norms). */
  sumSquares(x: F, n: number): number {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i]! * x[i]!;
    return s;
  },

  /**
   * Fused AdamW step (decoupled weight decay, bias correction), `step` counted from 1:
   *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
   *   p -= lr * ( (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps) + weightDecay * p )
   */
  adamw(
    param: Float32Array,
    grad: Float32Array,
    m: Float32Array,
    v: Float32Array,
    n: number,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    step: number,
  ): void {
    const c1 = 1 - Math.pow(beta1, step);
    const c2 = 1 - Math.pow(beta2, step);
    for (let i = 0; i < n; i++) {
      const g = grad[i]!;
      const mi = beta1 * m[i]! + (1 - beta1) * g;
      const vi = beta2 * v[i]! + (1 - beta2) * g * g;
      m[i] = mi;
      v[i] = vi;
      const p = param[i]!;
      param[i] = p - lr * (mi / c1 / (Math.sqrt(vi / c2) + eps) + weightDecay * p);
    }
  },
};

/** The reference backend: the kernels above, on one thread. */
export const tsBackend = { name: 'ts' as const, threads: 1, ...tsKernels };
