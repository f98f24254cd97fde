/**
 * The training configuration: one typed object with the paper's defaults, built from a preset or a
 * config file plus `--key=value` overrides. Keys of the model config (src/model/config.ts) can be
 * overridden too, either dotted (`--model.dropout=0`) or bare when the name is not a training key
 * (`--n_layer=2`). Every value is checked after the overrides; unknown keys are rejected.
 */
import { existsSync } from 'node:fs';
import { applyOverrides, flagName } from '../util/overrides.ts';
import { UserError } from '../util/errors.ts';
import { readJson } from '../util/fs.ts';
import {
  isPresetName,
  presetConfig,
  validateConfig,
  PRESET_NAMES,
  type ModelConfig,
} from '../model/config.ts';

export type TextChoice = 'short' | 'long' | 'both';

export interface TrainConfig {
  /** Dataset folder (manifest.jsonl + images/). */
  data: string;
  /** tokenizer.json; empty = `<data>/tokenizer.json`. */
  tokenizer: string;
  text: TextChoice;
  /** Optimizer steps; 0 = from `epochs` or the time budget. */
  steps: number;
  /** Passes over the train split; 0 = from `steps` or the time budget. */
  epochs: number;
  /** Wall-clock budget in minutes; 0 = none. With no steps/epochs the schedule is fitted to it. */
  minutes: number;
  /** Samples per micro-batch. */
  batchSize: number;
  /** Batches per optimizer step (gradient accumulation). */
  gradAccum: number;
  /**
   * Rows per forward/backward pass when smaller than the batch (0 = the whole batch): the batch is cut
   * into pieces whose gradients add up to the whole batch's, so the effective batch and data order stay
   * the same while activation memory shrinks (measured: docs/training.md).
   */
  microBatch: number;
  lr: number;
  /**
   * Learning-rate multiplier of the vision encoder and the connector. At the decoder's rate they learn
   * to hide the picture (a large constant swamps the image token) before the decoder learns to read it
   * (measured: docs/training.md). The main job's recipes use 0.3 and 0.01 (src/train/recipe.ts).
   */
  visionLrScale: number;
  /** Weight of the word head's loss beside the language-model loss (models with `word_head` only). */
  wordLossWeight: number;
  /**
   * Weight of the patch loss (src/model/patch-loss.ts) beside the language-model loss; it needs records
   * with boxes and `image_tokens: all`. 0 = off, the paper's plain objective.
   */
  patchLossWeight: number;
  /** Floor of the cosine decay. */
  minLr: number;
  warmupSteps: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Global gradient-norm clip; 0 = off. */
  gradClip: number;
  /** Steps between validations (and best-checkpoint checks); 0 = only at the end. */
  evalEvery: number;
  /** Validation samples per evaluation (the first ones of the val split, always the same). */
  evalSamples: number;
  /** Steps between checkpoints; 0 = only at the end (and at each new best). */
  saveEvery: number;
  /** Steps between metrics lines. */
  logEvery: number;
  seed: number;
  /** Val pictures described at the end (written to samples.jsonl). */
  samples: number;
  /** Batches decoded ahead. */
  prefetch: number;
  /** Decoded-image cache of the loader, MB. */
  cacheMb: number;
  /** Skip unreadable images and records without the text instead of failing. */
  skipBad: boolean;
}

export interface ResolvedConfig {
  train: TrainConfig;
  model: ModelConfig;
}

/**
 * A named, typed set of training and model settings laid over a preset's (before any `--key=value`
 * overrides): how a job says it trains differently from the defaults (src/train/recipe.ts).
 */
export interface Recipe {
  name: string;
  train: Partial<TrainConfig>;
  model: Partial<ModelConfig>;
}

export const DEFAULT_TRAIN: TrainConfig = {
  data: 'data/scenes',
  tokenizer: '',
  text: 'short',
  steps: 0,
  epochs: 0,
  minutes: 0,
  batchSize: 32,
  gradAccum: 1,
  microBatch: 8,
  lr: 1e-3,
  visionLrScale: 0.1,
  wordLossWeight: 1,
  patchLossWeight: 0,
  minLr: 1e-4,
  warmupSteps: 100,
  weightDecay: 0.1,
  beta1: 0.9,
  beta2: 0.99,
  eps: 1e-8,
  gradClip: 1,
  evalEvery: 250,
  evalSamples: 512,
  saveEvery: 500,
  logEvery: 10,
  seed: 1337,
  samples: 6,
  prefetch: 3,
  cacheMb: 128,
  skipBad: false,
};

/** Epochs used when none of steps, epochs and minutes is given. */
export const DEFAULT_EPOCHS = 5;

const INT_KEYS = [
  'steps',
  'epochs',
  'batchSize',
  'gradAccum',
  'warmupSteps',
  'evalEvery',
  'evalSamples',
  'saveEvery',
  'logEvery',
  'seed',
  'samples',
  'prefetch',
  'cacheMb',
] as const;

/** Checks every field's type and range; errors name `where` and the key. */
export function validateTrainConfig(obj: unknown, where = 'training config'): TrainConfig {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj))
    throw new UserError(`${where}: must be a JSON object`);
  const o = obj as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!(k in DEFAULT_TRAIN))
      throw new UserError(`${where}: unknown key "${k}" (known: ${Object.keys(DEFAULT_TRAIN).join(', ')})`);
  }
  const c = { ...DEFAULT_TRAIN, ...o } as TrainConfig;
  const bad = (k: string, what: string) =>
    new UserError(
      `${where}: ${flagName(k)} ("${k}") must be ${what}, got ${JSON.stringify((c as unknown as Record<string, unknown>)[k])}`,
      2,
    );
  for (const [k, def] of Object.entries(DEFAULT_TRAIN)) {
    const v = (c as unknown as Record<string, unknown>)[k];
    if (typeof v !== typeof def) throw bad(k, `a ${typeof def}`);
    if (typeof v === 'number' && !Number.isFinite(v)) throw bad(k, 'a finite number');
  }
  for (const k of INT_KEYS)
    if (!Number.isSafeInteger(c[k]) || c[k] < 0) throw bad(k, 'a non-negative integer');
  if (!['short', 'long', 'both'].includes(c.text)) throw bad('text', 'short, long or both');
  if (c.batchSize < 1) throw bad('batchSize', 'at least 1');
  if (c.gradAccum < 1) throw bad('gradAccum', 'at least 1');
  if (c.logEvery < 1) throw bad('logEvery', 'at least 1');
  if (!(c.lr > 0)) throw bad('lr', 'positive');
  if (!(c.visionLrScale >= 0)) throw bad('visionLrScale', 'zero or more');
  if (!(c.wordLossWeight >= 0)) throw bad('wordLossWeight', 'zero or more');
  if (!(c.patchLossWeight >= 0)) throw bad('patchLossWeight', 'zero or more');
  if (!(c.minLr >= 0 && c.minLr <= c.lr)) throw bad('minLr', `between 0 and lr (${c.lr})`);
  if (!(c.minutes >= 0)) throw bad('minutes', 'zero or more');
  if (!(c.weightDecay >= 0)) throw bad('weightDecay', 'zero or more');
  if (!(c.beta1 >= 0 && c.beta1 < 1)) throw bad('beta1', 'in [0, 1)');
  if (!(c.beta2 >= 0 && c.beta2 < 1)) throw bad('beta2', 'in [0, 1)');
  if (!(c.eps > 0)) throw bad('eps', 'positive');
  if (!(c.gradClip >= 0)) throw bad('gradClip', 'zero or more');
  if (!c.data) throw bad('data', 'a dataset folder');
  return c;
}

/**
 * Splits `--key=value` overrides between the training and the model config and applies them. A bare
 * key goes to the training config when it is one of its keys, else to the model config.
 */
export function applyConfigOverrides(cfg: ResolvedConfig, overrides: [string, string][]): ResolvedConfig {
  const trainOv: [string, string][] = [];
  const modelOv: [string, string][] = [];
  const trainKeys = new Set(Object.keys(DEFAULT_TRAIN));
  const camel = (s: string) => s.replace(/[-_]([a-z0-9])/g, (_, ch: string) => ch.toUpperCase());
  for (const [key, value] of overrides) {
    if (key.startsWith('model.')) modelOv.push([key.slice(6), value]);
    else if (key.startsWith('train.')) trainOv.push([camel(key.slice(6)), value]);
    else if (trainKeys.has(camel(key))) trainOv.push([camel(key), value]);
    else if (key in cfg.model) modelOv.push([key, value]);
    else {
      throw new UserError(
        `unknown setting --${key}=… (training keys: ${[...trainKeys].join(', ')}; model keys: ${Object.keys(cfg.model).join(', ')})`,
        2,
      );
    }
  }
  const train = validateTrainConfig(applyOverrides(cfg.train, trainOv, 'training config'));
  const model = validateConfig(applyOverrides(cfg.model, modelOv, 'model config'), 'model config');
  if (train.patchLossWeight > 0 && model.image_tokens !== 'all') {
    throw new UserError(
      '--patch-loss-weight needs every patch to reach the decoder: add --model.image_tokens=all',
      2,
    );
  }
  return { train, model };
}

/**
 * A config file is JSON: either a model config (a model folder's config.json), or a training config
 * `{"model": "mini" | {…model config…}, …training keys}`.
 */
export function loadConfigFile(file: string): ResolvedConfig {
  if (!existsSync(file)) throw new UserError(`${file}: config file not found`);
  const raw = readJson<Record<string, unknown>>(file);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new UserError(`${file}: must be a JSON object`);
  if (raw.model_type !== undefined) return { train: { ...DEFAULT_TRAIN }, model: validateConfig(raw, file) };
  const { model, ...train } = raw;
  let modelCfg: ModelConfig;
  if (model === undefined) modelCfg = presetConfig('mini');
  else if (typeof model === 'string') {
    if (!isPresetName(model))
      throw new UserError(`${file}: "model" must be one of ${PRESET_NAMES.join(', ')} or an object`);
    modelCfg = presetConfig(model);
  } else if (typeof model === 'object' && model !== null && !Array.isArray(model)) {
    const m = model as Record<string, unknown>;
    const base =
      typeof m.preset === 'string' && isPresetName(m.preset) ? presetConfig(m.preset) : presetConfig('mini');
    modelCfg = validateConfig({ ...base, ...m }, `${file} "model"`);
  } else throw new UserError(`${file}: "model" must be a preset name or an object`);
  return { train: validateTrainConfig(train, file), model: modelCfg };
}

/** `cfg` with the recipe's settings laid over it, every value checked as a config file's would be. */
export function applyRecipe(cfg: ResolvedConfig, recipe: Recipe): ResolvedConfig {
  const where = `recipe "${recipe.name}"`;
  return {
    train: validateTrainConfig({ ...cfg.train, ...recipe.train }, where),
    model: validateConfig({ ...cfg.model, ...recipe.model }, where),
  };
}

/** The config from `--model` or `--config`, then the recipe, then the overrides. */
export function resolveConfig(opts: {
  model?: string;
  config?: string;
  recipe?: Recipe;
  overrides?: [string, string][];
}): ResolvedConfig {
  if (opts.model && opts.config) throw new UserError('give --model or --config, not both', 2);
  const base: ResolvedConfig = opts.config
    ? loadConfigFile(opts.config)
    : { train: { ...DEFAULT_TRAIN }, model: presetConfig(opts.model ?? 'mini') };
  return applyConfigOverrides(opts.recipe ? applyRecipe(base, opts.recipe) : base, opts.overrides ?? []);
}
