/**
 * Greedy descriptions of data set pictures, generated in batches: the samples a training run writes
 * and the descriptions object scoring reads.
 */
import { imagePath, type Dataset, type DatasetRecord } from '../data/dataset.ts';
import { loadImage, rgbToCHW } from '../data/image.ts';
import { isPackedDataset } from '../data/packed.ts';
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
    const images = await Promise.all(chunk.map((r) => pictureOf(dataset, r, S)));
    const results = await generate(
      model,
      images.map((image) => ({ image, temperature: 0, maxNewTokens })),
    );
    for (const r of results) out.push(tokenizer.decode(r.ids).trim());
  }
  return out;
}

/** A record's picture as the model takes it: from a packed shard, or decoded from its file. */
function pictureOf(dataset: Dataset, record: DatasetRecord, size: number): Promise<Float32Array> {
  if (!isPackedDataset(dataset)) return loadImage(imagePath(dataset, record), size);
  const loc = dataset.packed.locate(record);
  if (!loc || dataset.packed.index.image_size !== size)
    throw new Error(`${dataset.dir}: no packed picture of ${record.id} at ${size} px`);
  return Promise.resolve(rgbToCHW(dataset.packed.pixels(loc.split, loc.index), size));
}
