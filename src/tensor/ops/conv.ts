import { backend } from '../backends/index.ts';
import { Tensor, gradOf, record } from '../tensor.ts';
import { floatLike } from './buffers.ts';
import { expectFloat, shapeStr } from './check.ts';
import { gatherRows, rowIds } from './gather.ts';

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
}

/**
 * The most floats one conv2d works on at once in its column buffer (C*kh*kw or O rows, whichever is
 * larger, times the chunk's columns); a bigger batch goes in image chunks. Tests lower it to exercise
 * the chunked path.
 */
export const conv2dLimits = { chunkFloats: 1 << 26 };

/**
 * 2-D convolution, NCHW like PyTorch: x [N, C, H, W], w [O, C, kh, kw], b [O] -> [N, O, OH, OW].
 * The images are unfolded (im2col) side by side into cols [C*kh*kw, N*OH*OW], so the whole batch is ONE
 * GEMM W [O, C*kh*kw] · cols -> [O, N*OH*OW], permuted to [N, O, OH*OW] (a row gather). Many small
 * images (the patch stem's thousands of 16x16 patches) thus cost a few large kernel calls, not
 * thousands of tiny ones. Batches whose cols would exceed conv2dLimits.chunkFloats go in image chunks;
 * then the backward recomputes each chunk's cols instead of keeping them all.
 */
export function conv2d(x: Tensor, w: Tensor, b?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  const stride = opts.stride ?? 1;
  const pad = opts.padding ?? 0;
  expectFloat('conv2d', x, w, b);
  if (x.ndim !== 4 || w.ndim !== 4 || w.shape[1] !== x.shape[1]) {
    throw new Error(
      `conv2d: input ${shapeStr(x)} and weight ${shapeStr(w)} should be [N, C, H, W] and [O, C, kh, kw]`,
    );
  }
  const [n, c, h, wd] = x.shape as [number, number, number, number];
  const [o, , kh, kw] = w.shape as [number, number, number, number];
  if (b && (b.ndim !== 1 || b.shape[0] !== o))
    throw new Error(`conv2d: bias ${shapeStr(b)} should be [${o}]`);
  if (!Number.isInteger(stride) || stride < 1 || !Number.isInteger(pad) || pad < 0) {
    throw new Error(
      `conv2d: stride ${stride} must be a positive integer and padding ${pad} a non-negative one`,
    );
  }
  const oh = Math.floor((h + 2 * pad - kh) / stride) + 1;
  const ow = Math.floor((wd + 2 * pad - kw) / stride) + 1;
  if (oh < 1 || ow < 1)
    throw new Error(`conv2d: kernel ${kh}x${kw} does not fit input ${h}x${wd} with padding ${pad}`);
  const ckk = c * kh * kw;
  const pixels = oh * ow;
  const imageSize = c * h * wd;
  const y = Tensor.zeros([n, o, oh, ow], x.dtype);
  if (n === 0) return y;
  // Equal image chunks, each within the float budget (at least one image per chunk).
  const perImage = pixels * Math.max(ckk, o);
  const chunkCount = Math.ceil(n / Math.max(1, Math.floor(conv2dLimits.chunkFloats / perImage)));
  const chunk = Math.ceil(n / chunkCount);
  const chunkStarts = Array.from({ length: chunkCount }, (_, i) => i * chunk);

  const be = backend();
  const cols = floatLike(x, ckk * chunk * pixels);
  const yt = floatLike(x, o * chunk * pixels); // [O, images*OH*OW]
  const ones = b ? floatLike(x, chunk * pixels).fill(1) : null;
  for (const i0 of chunkStarts) {
    const m = Math.min(chunk, n - i0);
    const width = m * pixels;
    be.im2col(x.f.subarray(i0 * imageSize), cols, m, c, h, wd, kh, kw, stride, pad);
    be.gemm(false, false, o, width, ckk, 1, w.f, cols, 0, yt, 1, 0, 0, 0);
    // The bias as a rank-1 product b [O, 1] · ones [1, width].
    if (b) be.gemm(false, false, o, width, 1, 1, b.f, ones!, 1, yt, 1, 0, 0, 0);
    // [O, m, P] -> [m, O, P]: output row img*O + oc is yt row oc*m + img.
    be.embedding(yt, rowIds([m, o], [1, m]), y.f.subarray(i0 * o * pixels), m * o, pixels);
  }

  return record(y, 'conv2d', b ? [x, w, b] : [x, w], (out) => {
    const dy = out.grad!;
    const be = backend();
    // The forward's buffers are reused (a graph's backward runs once): dyt in yt, dcols in cols once
    // a chunk's weight gradient has read its columns. Fresh buffers of this size cost page faults.
    const dyt = yt;
    const dcols = x.requiresGrad ? cols : null;
    for (const i0 of chunkStarts) {
      const m = Math.min(chunk, n - i0);
      const width = m * pixels;
      // [m, O, P] -> [O, m, P]: dyt row oc*m + img is dy row img*O + oc.
      be.embedding(dy.subarray(i0 * o * pixels), rowIds([o, m], [1, o]), dyt, o * m, pixels);
      if (w.requiresGrad) {
        if (chunkCount > 1) be.im2col(x.f.subarray(i0 * imageSize), cols, m, c, h, wd, kh, kw, stride, pad);
        be.gemm(false, true, o, ckk, width, 1, dyt, cols, 1, gradOf(w), 1, 0, 0, 0);
      }
      if (b?.requiresGrad) be.gemm(false, false, o, 1, width, 1, dyt, ones!, 1, gradOf(b), 1, 0, 0, 0);
      if (dcols) {
        be.gemm(true, false, ckk, width, o, 1, w.f, dyt, 0, dcols, 1, 0, 0, 0);
        be.col2im(dcols, gradOf(x).subarray(i0 * imageSize), m, c, h, wd, kh, kw, stride, pad);
      }
    }
  });
}

/**
 * Cuts images into non-overlapping p×p patches: x [N, C, H, W] -> [N * (H/p) * (W/p), C, p, p], patches
 * of one image in row-major order. (A ViT stem can then use a linear layer on the flattened patches.)
 */
export function patchify(x: Tensor, p: number): Tensor {
  if (x.ndim !== 4) throw new Error(`patchify: input should be [N, C, H, W], got ${shapeStr(x)}`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  if (!Number.isInteger(p) || p < 1 || h % p !== 0 || w % p !== 0) {
    throw new Error(`patchify: patch size ${p} does not divide the ${h}x${w} image`);
  }
  const gh = h / p;
  const gw = w / p;
  // x viewed as rows of p pixels: row ((n*C + c)*H + y)*gw + gx. Output rows run over (n, py, px, c, i).
  const ids = rowIds([n, gh, gw, c, p], [c * h * gw, p * gw, 1, h * gw, gw]);
  return gatherRows('patchify', x, [n * gh * gw, c, p, p], ids, p);
}
