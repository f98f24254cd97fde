/**
 * Perplexity of a model on a dataset split: exp of the mean cross-entropy per predicted text token
 * (text and EOS, as in training), pooled over all samples, so long texts weigh by their length.
 */
import type { Dataset, Split } from '../data/dataset.ts';
import { DataLoader, type TextField } from '../data/loader.ts';
import type { VisionLanguageModel } from '../model/pipeline.ts';
import { Tensor, noGrad } from '../tensor/tensor.ts';
import { UserError } from '../util/errors.ts';

export interface PerplexityResult {
  split: Split;
  text: TextField;
  samples: number;
  tokens: number;
  /** Mean cross-entropy per token, nats. */
  loss: number;
  perplexity: number;
}

export interface PerplexityOptions {
  split?: Split;
  text?: TextField;
  batchSize?: number;
  /** At most this many samples (0 = all). */
  maxSamples?: number;
  onBatch?: (samples: number, total: number) => void;
}

export async function perplexity(
  vlm: VisionLanguageModel,
  dataset: Dataset,
  opts: PerplexityOptions = {},
): Promise<PerplexityResult> {
  const split = opts.split ?? 'val';
  const text = opts.text ?? 'short';
  const cfg = vlm.config;
  if (!dataset.records.some((r) => r.split === split))
    throw new UserError(`${dataset.dir}: no "${split}" records for perplexity`);
  const loader = new DataLoader(dataset, {
    split,
    text,
    imageSize: cfg.image_size,
    batchSize: opts.batchSize ?? 16,
    maxLen: cfg.max_text_len,
    tokenizer: vlm.tokenizer,
    shuffle: false,
    prefetch: 1,
    cacheMB: 0,
    skipBad: true,
  });
  const total = opts.maxSamples ? Math.min(opts.maxSamples, loader.samples.length) : loader.samples.length;
  if (!total) throw new UserError(`${dataset.dir}: no "${split}" record has a "${text}" text`);
  const model = vlm.model;
  const wasTraining = model.training;
  model.eval();
  let nll = 0;
  let tokens = 0;
  let samples = 0;
  try {
    for await (const batch of loader.epochBatches()) {
      let size = batch.size;
      if (samples + size > total) size = total - samples;
      const S = cfg.image_size;
      const images = new Tensor(batch.images.subarray(0, size * 3 * S * S), [size, 3, S, S]);
      const ids = new Tensor(batch.ids.subarray(0, size * batch.L), [size, batch.L]);
      const lengths = batch.lengths.slice(0, size);
      const n = lengths.reduce((a, l) => a + Math.max(0, Math.min(l, batch.L) - 1), 0);
      const loss = noGrad(() => model.forward(images, ids, { lengths }).loss).item();
      nll += loss * n;
      tokens += n;
      samples += size;
      opts.onBatch?.(samples, total);
      if (samples >= total) break;
    }
  } finally {
    loader.close();
    model.train(wasTraining);
  }
  const loss = tokens ? nll / tokens : NaN;
  return { split, text, samples, tokens, loss, perplexity: Math.exp(loss) };
}
