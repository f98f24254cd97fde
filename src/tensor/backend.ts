/**
 * The kernel interface both backends implement. Kernels work on flat row-major buffers with explicit
 * sizes; they never allocate on the hot path (callers pass every output buffer).
 *
 * Conventions:
 * - `F` is Float32Array (native) or Float32Array | Float64Array (ts reference, used in float64 for
 *   gradient checks). A kernel reads and writes buffers of one float type.
 * - Forward kernels OVERWRITE their outputs (every element is written, even where masked).
 * - Backward kernels accumulate into gradient buffers (`dx += ...`), like llm.c, so a tensor used
 *   twice just receives two contributions. The one exception is `conv2dBackward` with `accumulateDx`
 *   false, which overwrites dx. (Products that make a first gradient use `gemm` with beta = 0.)
 * - The kernels with many sizes (gemm, attention, conv2d) take them as one descriptor object, named
 *   fields instead of a dozen positional numbers.
 * - Subarrays are fine: a buffer may be a view at an offset into a larger one.
 */
export type F = Float32Array | Float64Array;

/**
 * C[i] = alpha * op(A[i]) · op(B[i]) + beta * C[i] for i < batch, row-major, contiguous.
 * op(A) is m×k (A stored k×m when transA), op(B) is k×n (B stored n×k when transB), C is m×n.
 * strideA/B/C are the element distances between batch items (0 broadcasts one matrix).
 * Defaults: no transposes, alpha 1, beta 0 (overwrites C even if it holds NaN), batch 1, strides 0.
 * `bf16`: A and B are rounded to bf16 (`roundBf16`) and the products summed in fp32, on the CPU's bf16
 * engine; the native backend computes in plain fp32 instead when it has none in use (`bf16Engine()`).
 */
export interface GemmDesc {
  m: number;
  n: number;
  k: number;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
  batch?: number;
  strideA?: number;
  strideB?: number;
  strideC?: number;
  bf16?: boolean;
}

/**
 * Where attention finds its operands. For batch b, head h, query t, key j, channel d < headDim:
 *   q[b*tq*qStride + t*qStride + h*headDim + d]
 *   k[b*kvBatchStride + j*kvStride + h*headDim + d]   (v alike)
 *   out[b*tq*outStride + t*outStride + h*headDim + d]
 *   probs[((b*heads + h)*tq + t)*tk + j]  (the softmax, kept for the backward)
 * Lets one fused qkv buffer [B, T, 3C] be passed as three views (qStride = kvStride = 3C), and a
 * KV cache [B, Tmax, C] be read with kvBatchStride = Tmax*C.
 */
export interface AttentionLayout {
  batch: number;
  heads: number;
  tq: number;
  tk: number;
  headDim: number;
  qStride: number;
  kvStride: number;
  kvBatchStride: number;
  outStride: number;
}

/** `causal`: query t sees keys j <= t + (tk - tq). `keyMask` (b*tk + j, 1 = real token) hides padding keys. */
export interface AttentionDesc extends AttentionLayout {
  causal: boolean;
  keyMask: Uint8Array | null;
}

/**
 * 2-D convolution sizes, NCHW, zero padding: x [n, c, h, w], weight [o, c, kh, kw] -> y [n, o, oh, ow],
 * oh = floor((h + 2 pad - kh) / stride) + 1, ow alike. `bf16`: the products (forward, dx, dweight) round
 * x, weight and dy to bf16 and sum in fp32, as GemmDesc.bf16; the bias and its gradient stay fp32.
 */
export interface ConvDesc {
  n: number;
  c: number;
  h: number;
  w: number;
  o: number;
  kh: number;
  kw: number;
  stride: number;
  pad: number;
  bf16?: boolean;
}

export interface Backend {
  readonly name: 'ts' | 'native';
  /** Threads the backend computes with (1 for ts). */
  readonly threads: number;

  /** See GemmDesc. */
  gemm(d: GemmDesc, a: F, b: F, c: F): void;
  /** y[i] = x[i] rounded to bf16 (nearest even; zero and subnormals to signed zero; NaN quieted). */
  roundBf16(x: F, y: F, n: number): void;

  /** y[r, c] += bias[c] for a rows×cols y. */
  addBias(y: F, bias: F, rows: number, cols: number): void;
  /** out[c] (+)= sum_r x[r, c]; accumulates when `accumulate`, else overwrites. */
  sumRows(x: F, out: F, rows: number, cols: number, accumulate: boolean): void;

  /** out[i] = a[i] + b[i % bn] (bn divides n; bn = n for plain elementwise). */
  add(a: F, b: F, out: F, n: number, bn: number): void;
  /** out[i] = a[i] * b[i % bn]. */
  mul(a: F, b: F, out: F, n: number, bn: number): void;
  /** out[i] = a[i] * s (out may be a). */
  scale(a: F, s: number, out: F, n: number): void;
  /** y[i] += alpha * x[i]. */
  axpy(alpha: number, x: F, y: F, n: number): void;

  /** Per row: y = (x - mean) * rstd * gamma + beta; also writes mean[rows] and rstd[rows]. */
  layerNorm(x: F, gamma: F, beta: F, y: F, mean: F, rstd: F, rows: number, cols: number, eps: number): void;
  /** Accumulates dx, dgamma, dbeta. */
  layerNormBackward(
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
  ): void;

  /** GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
  gelu(x: F, y: F, n: number): void;
  geluBackward(x: F, dy: F, dx: F, n: number): void;
  relu(x: F, y: F, n: number): void;
  reluBackward(x: F, dy: F, dx: F, n: number): void;

  /** Row-wise softmax over the last dimension. */
  softmax(x: F, y: F, rows: number, cols: number): void;
  /** dx += y * (dy - sum(dy * y)) per row. */
  softmaxBackward(y: F, dy: F, dx: F, rows: number, cols: number): void;

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
  ): number;
  /** dlogits[r] += scale * (softmax(logits[r]) - onehot(targets[r])), skipping ignored rows. */
  crossEntropyBackward(
    logits: F,
    targets: Int32Array,
    dlogits: F,
    rows: number,
    vocab: number,
    ignoreIndex: number,
    scale: number,
  ): void;

  /**
   * Multi-head scaled dot-product attention (layout: AttentionDesc), scores scaled by 1/sqrt(headDim).
   * A query that sees no key outputs zeros.
   */
  attention(d: AttentionDesc, q: F, k: F, v: F, out: F, probs: F): void;
  /** Accumulates dq, dk, dv (same layouts and strides as q, k, v; dout as out). */
  attentionBackward(d: AttentionLayout, dout: F, q: F, k: F, v: F, probs: F, dq: F, dk: F, dv: F): void;

  /** out[i, :] = weight[ids[i], :] (ids are checked by the op front). */
  embedding(weight: F, ids: Int32Array, out: F, n: number, dim: number): void;
  /** dweight[ids[i], :] += dout[i, :]. */
  embeddingBackward(dout: F, ids: Int32Array, dweight: F, n: number, dim: number): void;

  /** y [n, o, oh, ow] = conv(x, weight) + bias (bias may be null); y is overwritten. */
  conv2d(d: ConvDesc, x: F, weight: F, bias: F | null, y: F): void;
  /**
   * Accumulates dx, dweight, dbias from dy [n, o, oh, ow]; a null gradient is not computed. With
   * `accumulateDx` false dx is overwritten instead (every element, for a fresh gradient buffer).
   */
  conv2dBackward(
    d: ConvDesc,
    x: F,
    weight: F,
    dy: F,
    dx: F | null,
    dweight: F | null,
    dbias: F | null,
    accumulateDx: boolean,
  ): void;

  /**
   * Dropout with a counter-based mask: element i is kept when hash32(seed, offset + i) / 2^32 >= p
   * (hash32 in src/util/rng.ts, mirrored in C). mask[i] = keep ? 1/(1-p) : 0; y[i] = x[i] * mask[i].
   */
  dropout(x: F, y: F, mask: F, n: number, p: number, seed: number, offset: number): void;

  /** Sum of elements, accumulated in double precision. */
  sum(x: F, n: number): number;
  /** Sum of squares, accumulated in double precision (gradient norms). */
  sumSquares(x: F, n: number): number;

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
  ): void;
}
