import type { ConvDesc } from '../backend.ts';
import { backend } from '../backends/index.ts';
import { productsInBf16 } from '../precision.ts';
import { Tensor, gradOf, gradOverwritable, record } from '../tensor.ts';
import { emptyLike, releaseScratch } from './buffers.ts';
import { expectFloat, shapeStr } from './check.ts';
import { gatherRows, rowIds } from './gather.ts';

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
}

/** The checked sizes of one convolution: x [n, c, h, wd], w [o, c, kh, kw] -> [n, o, oh, ow]. */
interface ConvGeometry {
  n: number;
  c: number;
  h: number;
  wd: number;
  o: number;
  kh: number;
  kw: number;
  stride: number;
  pad: number;
  oh: number;
  ow: number;
}

function geometry(
  op: string,
  xShape: readonly number[],
  w: Tensor,
  b: Tensor | null | undefined,
  opts: Conv2dOptions,
): ConvGeometry {
  const stride = opts.stride ?? 1;
  const pad = opts.padding ?? 0;
  if (xShape.length !== 4 || w.ndim !== 4 || w.shape[1] !== xShape[1]) {
    throw new Error(
      `${op}: input [${xShape.join(', ')}] and weight ${shapeStr(w)} should be [N, C, H, W] and [O, C, kh, kw]`,
    );
  }
  const [n, c, h, wd] = xShape as [number, number, number, number];
  const [o, , kh, kw] = w.shape as [number, number, number, number];
  if (b && (b.ndim !== 1 || b.shape[0] !== o)) throw new Error(`${op}: bias ${shapeStr(b)} should be [${o}]`);
  if (!Number.isInteger(stride) || stride < 1 || !Number.isInteger(pad) || pad < 0) {
    throw new Error(
      `${op}: stride ${stride} must be a positive integer and padding ${pad} a non-negative one`,
    );
  }
  const oh = Math.floor((h + 2 * pad - kh) / stride) + 1;
  const ow = Math.floor((wd + 2 * pad - kw) / stride) + 1;
  if (oh < 1 || ow < 1)
    throw new Error(`${op}: kernel ${kh}x${kw} does not fit input ${h}x${wd} with padding ${pad}`);
  return { n, c, h, wd, o, kh, kw, stride, pad, oh, ow };
}

/** The kernels' descriptor for `m` images (in bf16 when the products are: read at the forward). */
const dimsOf = (g: ConvGeometry, m: number, bf16 = productsInBf16()): ConvDesc => ({
  n: m,
  c: g.c,
  h: g.h,
  w: g.wd,
  o: g.o,
  kh: g.kh,
  kw: g.kw,
  stride: g.stride,
  pad: g.pad,
  bf16,
});

/**
 * 2-D convolution, NCHW like PyTorch: x [N, C, H, W], w [O, C, kh, kw], b [O] -> [N, O, OH, OW].
 * One backend kernel each way (`conv2d`, `conv2dBackward`): the native one unfolds each image into a
 * small buffer that stays in cache and multiplies it there, writing NCHW directly, so a batch of
 * thousands of small images never goes through a batch-wide column buffer or a permute.
 */
export function conv2d(x: Tensor, w: Tensor, b?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  expectFloat('conv2d', x, w, b);
  const g = geometry('conv2d', x.shape, w, b, opts);
  const y = Tensor.empty([g.n, g.o, g.oh, g.ow], x.dtype); // the kernel writes every element
  if (g.n === 0) return y;
  const dims = dimsOf(g, g.n);
  backend().conv2d(dims, x.f, w.f, b ? b.f : null, y.f);
  return record(y, 'conv2d', b ? [x, w, b] : [x, w], (out) => {
    // A first gradient for x is written, not added (no zeroing pass over a fresh buffer, no read of it).
    const [dx, dxBeta] = x.requiresGrad ? gradOverwritable(x) : [null, 0];
    backend().conv2dBackward(
      dims,
      x.f,
      w.f,
      out.grad!,
      dx,
      w.requiresGrad ? gradOf(w) : null,
      b?.requiresGrad ? gradOf(b) : null,
      dxBeta === 1,
    );
  });
}

/** One convolution of a `chainedConv2d`: its weight, optional bias and options. */
export interface ConvLayer {
  weight: Tensor;
  bias?: Tensor | null;
  stride?: number;
  padding?: number;
}

/**
 * The floats of intermediate maps one chunk of a `chainedConv2d` works on: about 6 MB, so a chunk's maps
 * and their gradient stay in the last-level cache. Tests lower it to exercise several chunks.
 */
export const chainedConvLimits = { chunkFloats: 3e6 };

/**
 * Two convolutions in a row, conv(conv(x, first), second), a chunk of images at a time: the
 * intermediate maps of a chunk are made, used and dropped while they are in cache, and the backward
 * recomputes them instead of keeping them (for thousands of small images the maps would be hundreds of
 * MB that go to memory and back three times). Same numbers as the two conv2d calls.
 */
export function chainedConv2d(x: Tensor, first: ConvLayer, second: ConvLayer): Tensor {
  const { weight: w1, bias: b1 } = first;
  const { weight: w2, bias: b2 } = second;
  expectFloat('chainedConv2d', x, w1, b1, w2, b2);
  const g1 = geometry('chainedConv2d (first)', x.shape, w1, b1, first);
  const g2 = geometry('chainedConv2d (second)', [g1.n, g1.o, g1.oh, g1.ow], w2, b2, second);
  const n = g1.n;
  const bf16 = productsInBf16(); // the backward uses the forward's precision
  const y = Tensor.empty([n, g2.o, g2.oh, g2.ow], x.dtype); // every element is written
  if (n === 0) return y;
  const inSize = g1.c * g1.h * g1.wd;
  const midSize = g1.o * g1.oh * g1.ow;
  const outSize = g2.o * g2.oh * g2.ow;
  const chunk = Math.max(1, Math.min(n, Math.floor(chainedConvLimits.chunkFloats / midSize)));
  const starts = Array.from({ length: Math.ceil(n / chunk) }, (_, i) => i * chunk);
  const be = backend();
  const mid = emptyLike(x, chunk * midSize);
  for (const i0 of starts) {
    const m = Math.min(chunk, n - i0);
    be.conv2d(dimsOf(g1, m, bf16), x.f.subarray(i0 * inSize), w1.f, b1 ? b1.f : null, mid);
    be.conv2d(dimsOf(g2, m, bf16), mid, w2.f, b2 ? b2.f : null, y.f.subarray(i0 * outSize));
  }
  releaseScratch(mid);
  const inputs = [x, w1, ...(b1 ? [b1] : []), w2, ...(b2 ? [b2] : [])];
  return record(y, 'chainedConv2d', inputs, (out) => {
    const be = backend();
    const firstNeedsGrad = x.requiresGrad || w1.requiresGrad || !!b1?.requiresGrad;
    const mid = emptyLike(x, chunk * midSize);
    const dmid = firstNeedsGrad ? emptyLike(x, chunk * midSize) : null;
    const [dx, dxBeta] = x.requiresGrad ? gradOverwritable(x) : [null, 0];
    const dw1 = w1.requiresGrad ? gradOf(w1) : null;
    const db1 = b1?.requiresGrad ? gradOf(b1) : null;
    const dw2 = w2.requiresGrad ? gradOf(w2) : null;
    const db2 = b2?.requiresGrad ? gradOf(b2) : null;
    for (const i0 of starts) {
      const m = Math.min(chunk, n - i0);
      const xs = x.f.subarray(i0 * inSize);
      be.conv2d(dimsOf(g1, m, bf16), xs, w1.f, b1 ? b1.f : null, mid); // recomputed
      be.conv2dBackward(
        dimsOf(g2, m, bf16),
        mid,
        w2.f,
        out.grad!.subarray(i0 * outSize),
        dmid,
        dw2,
        db2,
        false,
      );
      if (dmid) {
        const dxs = dx ? dx.subarray(i0 * inSize) : null;
        be.conv2dBackward(dimsOf(g1, m, bf16), xs, w1.f, dmid, dxs, dw1, db1, dxBeta === 1);
      }
    }
    releaseScratch(mid);
    if (dmid) releaseScratch(dmid);
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
