import { presetConfig, type ModelConfig } from '../../src/model/config.ts';
import { createModel, type NanoVLM } from '../../src/model/nanovlm.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { Rng } from '../../src/util/rng.ts';

/** The tiny preset with a small vocabulary, so tests run in milliseconds. */
export function tinyConfig(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return { ...presetConfig('tiny'), vocab_size: 64, max_text_len: 24, dropout: 0, ...overrides };
}

export function tinyModel(overrides: Partial<ModelConfig> = {}, seed = 0): NanoVLM {
  return createModel(tinyConfig(overrides), { seed });
}

/** Random images in [-1, 1], [B, 3, S, S]. */
export function randomImages(B: number, S: number, seed = 1): Tensor {
  return Tensor.uniform([B, 3, S, S], new Rng(seed), -1, 1);
}

/** One CHW image from a batch tensor. */
export function imageAt(images: Tensor, b: number): Float32Array {
  const n = images.size / images.shape[0]!;
  return Float32Array.from(images.f.subarray(b * n, (b + 1) * n));
}

/** Rows [BOS, t1..tn, EOS, PAD...] with random ordinary tokens (ids >= 4). */
export function randomIds(cfg: ModelConfig, lengths: number[], L: number, seed = 2): Tensor {
  const rng = new Rng(seed);
  const ids = new Int32Array(lengths.length * L).fill(cfg.pad_token_id);
  lengths.forEach((n, b) => {
    ids[b * L] = cfg.bos_token_id;
    for (let j = 1; j < n - 1; j++) ids[b * L + j] = 4 + rng.int(cfg.vocab_size - 4);
    ids[b * L + n - 1] = cfg.eos_token_id;
  });
  return new Tensor(ids, [lengths.length, L]);
}
