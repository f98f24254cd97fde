/**
 * The buffers and descriptor objects the kernels take (src/tensor/backend.ts): the kernels with many sizes
 * (gemm, attention, conv2d) take them as one descriptor object, named fields instead of a dozen positional
 * numbers.
 */

/**
 * A float buffer: Float32Array (native) or Float32Array | Float64Array (ts reference, used in float64 for
 * gradient checks). A kernel reads and writes buffers of one float type.
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
