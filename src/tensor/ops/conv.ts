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
 * 2-D convolution, NCHW like PyTorch: x [N, C, H, W], w [O, C, kh, kw], b [O] -> [N, O, OH, OW].
 * Each image is unfolded (im2col) into [C*kh*kw, OH*OW] columns, then one batched GEMM with w.
 * The columns are kept for the weight gradient.
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
  const be = backend();
  const cols = floatLike(x, n * ckk * pixels);
  for (let i = 0; i < n; i++) {
    be.im2col(x.f.subarray(i * c * h * wd), cols.subarray(i * ckk * pixels), c, h, wd, kh, kw, stride, pad);
  }
  const y = Tensor.zeros([n, o, oh, ow], x.dtype);
  be.gemm(false, false, o, pixels, ckk, 1, w.f, cols, 0, y.f, n, 0, ckk * pixels, o * pixels);
  // The bias as a rank-1 product b [O, 1] · ones [1, OH*OW], added to every image.
  const ones = b ? floatLike(x, pixels).fill(1) : null;
  if (b) be.gemm(false, false, o, pixels, 1, 1, b.f, ones!, 1, y.f, n, 0, 0, o * pixels);

  return record(y, 'conv2d', b ? [x, w, b] : [x, w], (out) => {
    const dy = out.grad!;
    const be = backend();
    for (let i = 0; i < n; i++) {
      const dyi = dy.subarray(i * o * pixels);
      if (w.requiresGrad)
        be.gemm(
          false,
          true,
          o,
          ckk,
          pixels,
          1,
          dyi,
          cols.subarray(i * ckk * pixels),
          1,
          gradOf(w),
          1,
          0,
          0,
          0,
        );
      if (b?.requiresGrad) be.gemm(false, false, o, 1, pixels, 1, dyi, ones!, 1, gradOf(b), 1, 0, 0, 0);
    }
    if (x.requiresGrad) {
      const dcols = floatLike(x, n * ckk * pixels);
      be.gemm(true, false, ckk, pixels, o, 1, w.f, dy, 0, dcols, n, 0, o * pixels, ckk * pixels);
      const dx = gradOf(x);
      for (let i = 0; i < n; i++) {
        be.col2im(
          dcols.subarray(i * ckk * pixels),
          dx.subarray(i * c * h * wd),
          c,
          h,
          wd,
          kh,
          kw,
          stride,
          pad,
        );
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
