/**
 * The few model calls the trainer makes, in one place: build, loss of a batch, save/load a model
 * folder, and greedy descriptions of some pictures.
 */
import { Tensor } from '../tensor/tensor.ts';
import { add, scale } from '../tensor/ops/index.ts';
import { createModel as createNanoVLM, NanoVLM } from '../model/nanovlm.ts';
import type { ModelConfig } from '../model/config.ts';
import type { Batch } from '../data/loader.ts';
import { readModelFolder, writeModelFiles } from '../model/folder.ts';
import type { Tokenizer } from '../tokenizer/index.ts';

export { describeImages } from '../model/describe-images.ts';

export type VLM = NanoVLM;

export function createModel(config: ModelConfig, seed: number): VLM {
  return createNanoVLM(config, { seed });
}

/**
 * Mean cross-entropy over the batch's text targets (a scalar tensor, recorded for backward), plus
 * `wordWeight` times the word head's loss (when the model has one) and `patchWeight` times the patch
 * loss (when the batch carries patch targets); training only, validation leaves both 0.
 * With `mismatched`, each text is paired with the next row's picture instead of its own: the loss the
 * model gets when the image tells it nothing true, so the gap to the real loss measures how much it
 * uses the image.
 */
export function batchLoss(
  model: VLM,
  batch: Batch,
  {
    mismatched = false,
    wordWeight = 0,
    patchWeight = 0,
  }: { mismatched?: boolean; wordWeight?: number; patchWeight?: number } = {},
): Tensor {
  const S = model.config.image_size;
  const pixels = mismatched ? rollRows(batch.images, batch.size) : batch.images;
  const images = new Tensor(pixels, [batch.size, 3, S, S]);
  const ids = new Tensor(batch.ids, [batch.size, batch.L]);
  const patchTargets = patchWeight > 0 && !mismatched ? batch.patchTargets : undefined;
  const { loss, wordLoss, patchLoss } = model.forward(images, ids, { lengths: batch.lengths, patchTargets });
  let total = loss;
  if (wordLoss && wordWeight > 0) total = add(total, scale(wordLoss, wordWeight));
  if (patchLoss) total = add(total, scale(patchLoss, patchWeight));
  return total;
}

/** A copy of `data` ([rows, ...]) with row k holding row k + 1 (the last holding the first). */
function rollRows(data: Float32Array, rows: number): Float32Array {
  const plane = data.length / rows;
  const out = new Float32Array(data.length);
  out.set(data.subarray(plane), 0);
  out.set(data.subarray(0, plane), data.length - plane);
  return out;
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
