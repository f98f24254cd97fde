/**
 * Recipes (see `Recipe` in config.ts) of the jobs that train with other settings than the paper's: the
 * main job trains for a budget of minutes, not epochs. What each setting bought, measured, is in
 * docs/training.md.
 */
import { presetConfig, type PresetName } from '../model/config.ts';
import type { Recipe } from './config.ts';

export type RecipeName = 'grounded' | 'captions';
export const RECIPE_NAMES: readonly RecipeName[] = ['grounded', 'captions'];

/**
 * The main job's (and bench/learn's) settings for a preset: made for a 15-minute budget on 2 cores.
 * `grounded` (the default) adds the patch loss; `captions` learns from the descriptions alone, as the
 * paper does, with the image path at the rate that was best for that.
 */
export function mainJobSettings(preset: PresetName, recipe: RecipeName = 'grounded'): Recipe {
  return recipe === 'grounded' ? grounded(preset) : captionsOnly(preset);
}

function grounded(preset: PresetName): Recipe {
  const base = captionsOnly(preset);
  return {
    name: 'main job (grounded)',
    train: {
      ...base.train,
      // Every patch's image token is also taught to name the thing it shows (src/model/patch-loss.ts):
      // dozens of labels per picture for the image path instead of one caption.
      patchLossWeight: 1,
      // With the patch loss the image path learns at 0.3 of the decoder's rate.
      visionLrScale: 0.3,
    },
    model: base.model,
  };
}

function captionsOnly(preset: PresetName): Recipe {
  return {
    name: 'main job (captions only)',
    train: {
      // Small batches at a high peak rate learn much more per sample.
      batchSize: 8,
      lr: 3e-3,
      minLr: 3e-4,
      warmupSteps: 30,
      // The image path at 1/100 of the decoder's rate: from captions alone, with batches this small,
      // Adam turns its noisy gradients into full-size steps that wear the picture's features down.
      visionLrScale: 0.01,
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
