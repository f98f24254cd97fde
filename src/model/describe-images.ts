/**
 * Greedy descriptions of data set pictures, generated in batches: the samples a training run writes
 * and the descriptions object scoring reads.
 */
import { imagePath, type Dataset, type DatasetRecord } from '../data/dataset.ts';
import { loadImage } from '../data/image.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import { generate } from './generate.ts';
import type { NanoVLM } from './nanovlm.ts';

/** Greedy descriptions of dataset pictures, generated in batches. */
export async function describeImages(
  model: NanoVLM,
  tokenizer: Tokenizer,
  dataset: Dataset,
  records: readonly DatasetRecord[],
  { batchSize = 8, maxNewTokens = 64 }: { batchSize?: number; maxNewTokens?: number } = {},
): Promise<string[]> {
  const out: string[] = [];
  const S = model.config.image_size;
  for (let i = 0; i < records.length; i += batchSize) {
    const chunk = records.slice(i, i + batchSize);
    const images = await Promise.all(chunk.map((r) => loadImage(imagePath(dataset, r), S)));
    const results = await generate(
      model,
      images.map((image) => ({ image, temperature: 0, maxNewTokens })),
    );
    for (const r of results) out.push(tokenizer.decode(r.ids).trim());
  }
  return out;
}
