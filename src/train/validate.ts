/**
 * Validation: loss and perplexity over the first `evalSamples` val pictures, and the image gain: how
 * much higher the loss is when each text is paired with another picture (about 0 while the model
 * ignores the image). It runs without dropout and puts the dropout generator back, so it consumes no
 * randomness and a resumed run repeats an uninterrupted one.
 */
import { getDropoutState, setDropoutState } from '../nn/index.ts';
import { noGrad, withStepScope } from '../tensor/tensor.ts';
import type { DataLoader } from '../data/loader.ts';
import type { TrainConfig } from './config.ts';
import { validationRow, type MetricsLog } from './metrics.ts';
import { batchLoss, type VLM } from './model-bridge.ts';
import type { RunCounters } from './state.ts';
import { splitBatch, targetTokens } from './step.ts';

export interface Validation {
  loss: number;
  ppl: number;
  imageGain: number | null;
}

/** Null when there is nothing to validate on (no val split, or evalSamples 0). */
export async function validate(
  model: VLM,
  valLoader: DataLoader | null,
  tc: TrainConfig,
): Promise<Validation | null> {
  if (!valLoader || tc.evalSamples === 0) return null;
  const dropout = getDropoutState();
  model.eval();
  valLoader.restore({
    epoch: 0,
    position: 0,
    seed: valLoader.state().seed,
    samples: valLoader.samples.length,
  });
  let nll = 0;
  let gainNll = 0;
  let gainTokens = 0;
  let tokens = 0;
  let seen = 0;
  try {
    for await (const batch of valLoader.epochBatches()) {
      // In micro-batch pieces like training: a whole batch at once would set the memory peak.
      for (const piece of splitBatch(batch, tc.microBatch)) {
        const n = targetTokens(piece);
        // In a step scope, as training: the pieces reuse pooled buffers instead of adding a peak.
        const pieceLoss = (mismatched: boolean) =>
          withStepScope(() => noGrad(() => batchLoss(model, piece, { mismatched }).item()));
        const real = pieceLoss(false) * n;
        nll += real;
        tokens += n;
        // A one-row piece has no other picture to pair with; the gain compares the other pieces alone.
        if (piece.size > 1) {
          gainNll += pieceLoss(true) * n - real;
          gainTokens += n;
        }
      }
      seen += batch.size;
      if (seen >= tc.evalSamples) break;
    }
  } finally {
    valLoader.close();
    model.train();
    setDropoutState(dropout);
  }
  const loss = nll / Math.max(1, tokens);
  const imageGain = gainTokens ? gainNll / gainTokens : null;
  return { loss, ppl: Math.exp(loss), imageGain };
}

/**
 * Validates, logs the result and keeps the last and best losses: true when it is the best so far (the
 * caller then writes the best checkpoint).
 */
export async function validateInto(
  c: RunCounters,
  metrics: MetricsLog,
  model: VLM,
  valLoader: DataLoader | null,
  tc: TrainConfig,
): Promise<boolean> {
  const v = await validate(model, valLoader, tc);
  return v !== null && recordValidation(c, metrics, v);
}

function recordValidation(c: RunCounters, metrics: MetricsLog, v: Validation): boolean {
  c.lastValLoss = v.loss;
  c.lastImageGain = v.imageGain;
  metrics.append(validationRow(c.step, v));
  if (c.bestValLoss !== null && !(v.loss < c.bestValLoss)) return false;
  c.bestValLoss = v.loss;
  c.bestStep = c.step;
  return true;
}
