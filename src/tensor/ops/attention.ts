import type { F } from '../backend.ts';
import { backend } from '../backends/index.ts';
import { Tensor, gradOf, record } from '../tensor.ts';
import { emptyLike, gradOrScratch, releaseScratch } from './buffers.ts';
import { expectFloat, shapeStr } from './check.ts';

export interface AttentionOptions {
  heads: number;
  /** Query t sees keys j <= t + (Tk - Tq) (the last Tq positions of a Tk-long sequence). */
  causal?: boolean;
  /** One byte per key, [B * Tk], 1 = real token, 0 = padding hidden from every query. */
  keyMask?: Uint8Array | null;
}

interface Layout {
  batch: number;
  tq: number;
  tk: number;
  channels: number;
  qStride: number;
  kvStride: number;
  kvBatchStride: number;
}

function checkHeads(op: string, channels: number, opts: AttentionOptions, batch: number, tk: number): void {
  const heads = opts.heads;
  if (!Number.isInteger(heads) || heads < 1 || channels % heads !== 0) {
    throw new Error(`${op}: ${channels} channels cannot be split into ${heads} heads`);
  }
  if (opts.keyMask && opts.keyMask.length !== batch * tk) {
    throw new Error(
      `${op}: keyMask has ${opts.keyMask.length} entries, expected batch * keys = ${batch * tk}`,
    );
  }
}

/** The kernel call shared by attention and selfAttention: q, k, v are views into one or three buffers. */
function runAttention(
  op: string,
  inputs: Tensor[],
  q: F,
  k: F,
  v: F,
  grads: () => [F, F, F],
  lay: Layout,
  opts: AttentionOptions,
  like: Tensor,
): Tensor {
  const { batch, tq, tk, channels, qStride, kvStride, kvBatchStride } = lay;
  const heads = opts.heads;
  const headDim = channels / heads;
  const causal = opts.causal ?? false;
  const y = Tensor.empty([batch, tq, channels], like.dtype); // the kernel writes every element
  const probs = emptyLike(like, batch * heads * tq * tk); // written in full by the kernel
  backend().attention(
    {
      batch,
      heads,
      tq,
      tk,
      headDim,
      qStride,
      kvStride,
      kvBatchStride,
      outStride: channels,
      causal,
      keyMask: opts.keyMask ?? null,
    },
    q,
    k,
    v,
    y.f,
    probs,
  );
  return record(y, op, inputs, (out) => {
    const [dq, dk, dv] = grads();
    backend().attentionBackward(
      { batch, heads, tq, tk, headDim, qStride, kvStride, kvBatchStride, outStride: channels },
      out.grad!,
      q,
      k,
      v,
      probs,
      dq,
      dk,
      dv,
    );
    // A graph's backward runs once: the probabilities (the largest buffer of a ViT block) go back to the
    // step's pool now, for the rest of the backward to reuse.
    releaseScratch(probs);
  });
}

/** Multi-head scaled dot-product attention: q [B, Tq, C], k and v [B, Tk, C] -> [B, Tq, C]. */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): Tensor {
  expectFloat('attention', q, k, v);
  if (q.ndim !== 3 || k.ndim !== 3 || v.ndim !== 3) {
    throw new Error(
      `attention: q, k, v must be [B, T, C], got ${shapeStr(q)}, ${shapeStr(k)}, ${shapeStr(v)}`,
    );
  }
  const [batch, tq, channels] = q.shape as [number, number, number];
  const tk = k.shape[1]!;
  if (
    k.shape[0] !== batch ||
    k.shape[2] !== channels ||
    v.shape[0] !== batch ||
    v.shape[1] !== tk ||
    v.shape[2] !== channels
  ) {
    throw new Error(
      `attention: k ${shapeStr(k)} and v ${shapeStr(v)} should both be [${batch}, Tk, ${channels}]`,
    );
  }
  checkHeads('attention', channels, opts, batch, tk);
  const lay = {
    batch,
    tq,
    tk,
    channels,
    qStride: channels,
    kvStride: channels,
    kvBatchStride: tk * channels,
  };
  const grads = (): [F, F, F] => [gradOrScratch(q), gradOrScratch(k), gradOrScratch(v)];
  return runAttention('attention', [q, k, v], q.f, k.f, v.f, grads, lay, opts, q);
}

/**
 * Attention over one fused projection qkv [B, T, 3C] (each row is q | k | v) -> [B, T, C]. The kernel
 * reads the three parts in place through strides, so no split copy is made.
 */
export function selfAttention(qkv: Tensor, opts: AttentionOptions): Tensor {
  expectFloat('selfAttention', qkv);
  if (qkv.ndim !== 3 || qkv.shape[2]! % 3 !== 0) {
    throw new Error(`selfAttention: qkv should be [B, T, 3C], got ${shapeStr(qkv)}`);
  }
  const [batch, t, c3] = qkv.shape as [number, number, number];
  const channels = c3 / 3;
  checkHeads('selfAttention', channels, opts, batch, t);
  const lay = { batch, tq: t, tk: t, channels, qStride: c3, kvStride: c3, kvBatchStride: t * c3 };
  const f = qkv.f;
  const grads = (): [F, F, F] => {
    const g = gradOf(qkv);
    return [g, g.subarray(channels), g.subarray(2 * channels)];
  };
  return runAttention(
    'selfAttention',
    [qkv],
    f,
    f.subarray(channels),
    f.subarray(2 * channels),
    grads,
    lay,
    opts,
    qkv,
  );
}
