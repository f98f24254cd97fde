/**
 * One optimizer step: `gradAccum` batches, each cut into micro-batch pieces; every piece's loss goes
 * backward with its share of the step's weight; then the gradient is clipped and AdamW updates, unless
 * the loss or the gradient is not finite (the update is then skipped).
 */
import { clipGradNorm, type AdamW, type Parameter } from '../nn/index.ts';
import { backward, withStepScope, type Tensor } from '../tensor/tensor.ts';
import type { Batch } from '../data/loader.ts';
import type { TrainConfig } from './config.ts';
import { UserError } from '../util/errors.ts';
import { batchLoss, type VLM } from './model-bridge.ts';
import { gradNorms, snapshot, updateNorms, type PartNorms } from './part-norms.ts';

/** What a step updates: the model's parameters, through the optimizer, as the config says. */
export interface Trainee {
  model: VLM;
  params: Map<string, Parameter>;
  optimizer: AdamW;
  tc: TrainConfig;
}

export interface StepResult {
  /** The step's mean loss over its target tokens (NaN or infinite on a bad step). */
  loss: number;
  gradNorm: number;
  /** False when the loss or the gradient was not finite and the update was skipped. */
  applied: boolean;
  /** Pictures the step read. */
  samples: number;
  /** Gradient norms (before clipping) and relative update sizes per model part, when asked for. */
  parts?: { grad: PartNorms; update: PartNorms };
}

/** The loss a piece of a batch is trained on (a scalar tensor recorded for backward). */
export function trainingLoss(model: VLM, piece: Batch, tc: TrainConfig): Tensor {
  return batchLoss(model, piece, { wordWeight: tc.wordLossWeight, patchWeight: tc.patchLossWeight });
}

export async function trainStep(
  { model, params, optimizer, tc }: Trainee,
  nextBatch: () => Promise<Batch>,
  lr: number,
  { measureParts = false }: { measureParts?: boolean } = {},
): Promise<StepResult> {
  optimizer.zeroGrad();
  let loss = 0;
  let samples = 0;
  for (let micro = 0; micro < tc.gradAccum; micro++) {
    const batch = await nextBatch();
    const tokens = Math.max(1, targetTokens(batch));
    for (const piece of splitBatch(batch, tc.microBatch)) {
      // Each piece contributes its share of the batch's target tokens, each batch 1/accum of the step.
      const weight = targetTokens(piece) / tokens / tc.gradAccum;
      // In a step scope: activations and gradients reuse pooled buffers instead of fresh garbage.
      loss += withStepScope(() => {
        const pieceLoss = trainingLoss(model, piece, tc);
        const value = pieceLoss.item();
        if (weight === 1) pieceLoss.backward();
        else backward(pieceLoss, new Float32Array([weight]));
        return value * weight;
      });
    }
    samples += batch.size;
  }
  const grad = measureParts ? gradNorms(params) : null;
  const gradNorm = clipGradNorm(params, tc.gradClip > 0 ? tc.gradClip : Infinity);
  const applied = Number.isFinite(gradNorm) && Number.isFinite(loss);
  const before = grad && applied ? snapshot(params) : null;
  if (applied) optimizer.step(lr);
  const parts = grad ? { grad, update: before ? updateNorms(params, before) : {} } : undefined;
  return { loss, gradNorm, applied, samples, ...(parts ? { parts } : {}) };
}

/** Cuts a batch into pieces of at most `rows` rows (views, no copies); the whole batch when rows is 0. */
export function splitBatch(batch: Batch, rows: number): Batch[] {
  if (rows <= 0 || rows >= batch.size) return [batch];
  const plane = batch.images.length / batch.size;
  const grid = (batch.patchTargets?.length ?? 0) / batch.size;
  const pieces: Batch[] = [];
  for (let start = 0; start < batch.size; start += rows) {
    const end = Math.min(batch.size, start + rows);
    pieces.push({
      ...batch,
      images: batch.images.subarray(start * plane, end * plane),
      ids: batch.ids.subarray(start * batch.L, end * batch.L),
      lengths: batch.lengths.slice(start, end),
      size: end - start,
      records: batch.records.slice(start, end),
      fields: batch.fields.slice(start, end),
      position: batch.position + start,
      ...(batch.patchTargets ? { patchTargets: batch.patchTargets.subarray(start * grid, end * grid) } : {}),
    });
  }
  return pieces;
}

/** Tokens a batch is scored on: every text token but the first of each row. */
export function targetTokens(batch: Batch): number {
  let n = 0;
  for (const len of batch.lengths) n += Math.max(0, len - 1);
  return n;
}

/** A run stops as diverged after this many non-finite steps in a row. */
const MAX_BAD_STEPS = 10;

/** Warns on a skipped update; throws once too many come in a row. */
export class DivergenceGuard {
  private bad = 0;
  constructor(private readonly say: (msg: string) => void) {}
  check(s: StepResult, step: number): void {
    if (s.applied) {
      this.bad = 0;
      return;
    }
    if (++this.bad >= MAX_BAD_STEPS) {
      throw new UserError(
        `training diverged: loss or gradient not finite for ${MAX_BAD_STEPS} steps in a row at step ${step} (try a lower --lr)`,
      );
    }
    this.say(`warning: step ${step}: non-finite loss or gradient, update skipped`);
  }
}
