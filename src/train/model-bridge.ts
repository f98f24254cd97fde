/**
 * The few model calls the trainer makes, in one place: build, loss of a batch, save/load a model
 * folder, and greedy descriptions of some pictures.
 */
import { Tensor } from '../tensor/tensor.ts';
import { createModel as createNanoVLM, NanoVLM } from '../model/nanovlm.ts';
import type { ModelConfig } from '../model/config.ts';
import type { Batch } from '../data/loader.ts';
import { imagePath, type Dataset, type DatasetRecord } from '../data/dataset.ts';
import { loadImage } from '../data/image.ts';
import { generate } from '../model/generate.ts';
import { readModelFolder, writeModelFiles } from '../model/folder.ts';
import type { Tokenizer } from '../tokenizer/index.ts';

export type VLM = NanoVLM;

export function createModel(config: ModelConfig, seed: number): VLM {
  return createNanoVLM(config, { seed });
}

/** Mean cross-entropy over the batch's text targets (a scalar tensor, recorded for backward). */
export function batchLoss(model: VLM, batch: Batch): Tensor {
  const S = model.config.image_size;
  const images = new Tensor(batch.images, [batch.size, 3, S, S]);
  const ids = new Tensor(batch.ids, [batch.size, batch.L]);
  return model.forward(images, ids, { lengths: batch.lengths }).loss;
}

/** Writes the model files into `dir` (the checkpoint writer's temp folder: atomicity is its job). */
export async function saveModelFolder(
  model: VLM,
  tokenizer: Tokenizer,
  dir: string,
  step?: number,
): Promise<void> {
  await writeModelFiles(
    dir,
    model,
    tokenizer,
    step === undefined ? {} : { metadata: { step: String(step) } },
  );
}

export async function loadModelFolder(dir: string): Promise<{ model: VLM; tokenizer: Tokenizer }> {
  const { model, tokenizer } = readModelFolder(dir);
  return { model, tokenizer };
}

/** Greedy descriptions of dataset pictures, generated in batches. */
export async function describeImages(
  model: VLM,
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
