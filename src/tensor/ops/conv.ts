import { backend } from '../backends/index.ts';
import { Tensor, gradOf, gradOverwritable, record } from '../tensor.ts';
import { expectFloat, shapeStr } from './check.ts';
import { gatherRows, rowIds } from './gather.ts';

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
}

/**
 * 2-D convolution, NCHW like PyTorch: x [N, C, H, W], w [O, C, kh, kw], b [O] -> [N, O, OH, OW].
 * One backend kernel each way (`conv2d`, `conv2dBackward`): the native one unfolds each image into a
 * small buffer that stays in cache and multiplies it there, writing NCHW directly, so the patch stem's
 * thousands of 16x16 images never go through a batch-wide column buffer or a permute.
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
  const y = Tensor.empty([n, o, oh, ow], x.dtype); // the kernel writes every element
  if (n === 0) return y;
  const dims = [n, c, h, wd, o, kh, kw, stride, pad] as const;
  backend().conv2d(x.f, w.f, b ? b.f : null, y.f, ...dims);
  return record(y, 'conv2d', b ? [x, w, b] : [x, w], (out) => {
    // A first gradient for x is written, not added (no zeroing pass over a fresh buffer, no read of it).
    const [dx, dxBeta] = x.requiresGrad ? gradOverwritable(x) : [null, 0];
    backend().conv2dBackward(
      x.f,
      w.f,
      out.grad!,
      dx,
      w.requiresGrad ? gradOf(w) : null,
      b?.requiresGrad ? gradOf(b) : null,
      ...dims,
      dxBeta === 1,
    );
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
