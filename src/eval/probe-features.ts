/**
 * What the linear probes read: frozen features of a vision encoder at three depths (after the patch
 * stem alone, and the encoder's output: [CLS] and the patch tokens), and what they should find there
 * (the kinds of things a picture holds; the thing covering each patch comes from src/data/patch-cover.ts).
 */
import type { VisionEncoder } from '../model/vision.ts';
import { numPatches, patchesPerSide } from '../model/config.ts';
import { Tensor, noGrad } from '../tensor/tensor.ts';
import type { Features } from './linear-probe.ts';

/** Features of n pictures: pooled ones [n, V] and per-patch ones [n · patches, V] (row-major patches). */
export interface EncoderFeatures {
  cls: Features;
  /** [CLS] followed by the mean of the output patch tokens: [n, 2V]. */
  clsMean: Features;
  /** Mean of the stem's patch vectors: [n, V]. */
  stemMean: Features;
  patches: Features;
  stemPatches: Features;
}

const rows = (n: number, dim: number): Features => ({ n, dim, data: new Float32Array(n * dim) });

/** Runs the encoder (no gradient, no dropout) over CHW pictures at its image size, `batch` at a time. */
export function encoderFeatures(
  vision: VisionEncoder,
  images: readonly Float32Array[],
  batch = 16,
): EncoderFeatures {
  const wasTraining = vision.training;
  vision.eval();
  try {
    return features(vision, images, batch);
  } finally {
    vision.train(wasTraining);
  }
}

function features(vision: VisionEncoder, images: readonly Float32Array[], batch: number): EncoderFeatures {
  const c = vision.config;
  const V = c.img_embd_dim;
  const P = numPatches(c);
  const S = c.image_size;
  const n = images.length;
  const out: EncoderFeatures = {
    cls: rows(n, V),
    clsMean: rows(n, 2 * V),
    stemMean: rows(n, V),
    patches: rows(n * P, V),
    stemPatches: rows(n * P, V),
  };
  for (let s = 0; s < n; s += batch) {
    const part = images.slice(s, s + batch);
    const B = part.length;
    const pixels = new Float32Array(B * 3 * S * S);
    part.forEach((im, i) => pixels.set(im, i * 3 * S * S));
    const x = new Tensor(pixels, [B, 3, S, S]);
    const stem = noGrad(() => vision.patch.forward(x)).f; // [B, P, V]
    const enc = noGrad(() => vision.forward(x)).f; // [B, P + 1, V]
    for (let b = 0; b < B; b++) {
      const i = s + b;
      const e = enc.subarray(b * (P + 1) * V, (b + 1) * (P + 1) * V);
      const st = stem.subarray(b * P * V, (b + 1) * P * V);
      out.cls.data.set(e.subarray(0, V), i * V);
      out.clsMean.data.set(e.subarray(0, V), i * 2 * V);
      out.patches.data.set(e.subarray(V), i * P * V);
      out.stemPatches.data.set(st, i * P * V);
      for (let p = 0; p < P; p++) {
        for (let d = 0; d < V; d++) {
          out.clsMean.data[i * 2 * V + V + d]! += e[(p + 1) * V + d]! / P;
          out.stemMean.data[i * V + d]! += st[p * V + d]! / P;
        }
      }
    }
  }
  return out;
}

/** Patches per side of the encoder's grid. */
export const gridSide = (vision: VisionEncoder): number => patchesPerSide(vision.config);
