/**
 * Recipes (see `Recipe` in config.ts) of the jobs that train with other settings than the paper's: the
 * main job trains for a budget of minutes, not epochs. What each setting bought, measured, is in
 * docs/training.md.
 */
import { presetConfig, type PresetName } from '../model/config.ts';
import type { Recipe } from './config.ts';

/** The main job's (and bench/learn's) settings for a preset: made for a 15-minute budget on 2 cores. */
export function mainJobSettings(preset: PresetName): Recipe {
  return {
    name: 'main job',
    train: {
      // Small batches at a high peak rate learn much more per sample.
      batchSize: 8,
      lr: 3e-3,
      minLr: 3e-4,
      warmupSteps: 30,
      // Every patch's image token is also taught to name the thing it shows (src/model/patch-loss.ts):
      // dozens of labels per picture for the image path instead of one caption.
      patchLossWeight: 1,
      // The image path at 0.3 of the decoder's rate: with the patch loss it learns; without it, 0.01
      // was best (Adam's full-size steps on noisy gradients wore the picture's features down).
      visionLrScale: 0.3,
      // Validations and checkpoints that cost little (about every minute).
      evalEvery: 500,
      evalSamples: 160,
      saveEvery: 500,
    },
    model: {
      // 112 px pictures (tiny keeps its 32 px): 2.5x the samples per second of 224 px.
      image_size: Math.min(112, presetConfig(preset).image_size),
      // All vision tokens reach the decoder: it starts reading the picture sooner.
      image_tokens: 'all',
      // No dropout: the run sees each picture about twice, too few passes to overfit.
      dropout: 0,
    },
  };
}
