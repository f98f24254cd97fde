/**
 * Everything a run needs before its first step: the model, config and counters (fresh, or read back from
 * a checkpoint), the data loaders, the optimizer and the length of the schedule.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { AdamW, Conv2d, Linear, readSafetensors, seedDropout, setDropoutState } from '../nn/index.ts';
import { backend } from '../tensor/backends/index.ts';
import { type Dataset } from '../data/dataset.ts';
import { openTrainingData } from '../data/packed.ts';
import { DataLoader } from '../data/loader.ts';
import { Tokenizer } from '../tokenizer/index.ts';
import { configFor, patchesPerSide } from '../model/config.ts';
import { UserError } from '../util/errors.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { OPTIMIZER_FILE, resolveCheckpoint, runDirOf } from './checkpoint.ts';
import { DEFAULT_EPOCHS, validateTrainConfig, type ResolvedConfig, type TrainConfig } from './config.ts';
import { createModel, loadModelFolder, type VLM } from './model-bridge.ts';
import { countersOf, freshCounters, loadTrainerState, type RunCounters, type TrainerState } from './state.ts';

/** The dropout generator of a fresh run is seeded from the run seed, apart from the weight init's stream. */
const DROPOUT_SEED_SALT = 0x5eed;
/** Validation reads the same few pictures every time: a small cache holds them all. */
const VAL_CACHE_MB = 64;
/** The schedule length of a time-budget run before it is fitted: no end yet. */
export const UNFITTED = Number.MAX_SAFE_INTEGER;

/** Keys that may differ on resume without breaking the run's trajectory (or that only stretch it). */
const RESUMABLE_KEYS: (keyof TrainConfig)[] = [
  'steps',
  'minutes',
  'evalEvery',
  'evalSamples',
  'saveEvery',
  'logEvery',
  'samples',
  'prefetch',
  'cacheMb',
];

export type Say = (msg: string) => void;

/** A run's model and where it stands: `state` and `resumedFrom` are set when it resumes a checkpoint. */
export interface Run {
  cfg: ResolvedConfig;
  model: VLM;
  tokenizer: Tokenizer;
  runDir: string;
  resumedFrom: string | null;
  state: TrainerState | null;
}

export interface RunRequest {
  config?: ResolvedConfig;
  runDir?: string;
  resume?: string;
  resumeOverrides?: Partial<TrainConfig>;
}

/** A fresh run from `config`, or the run of the checkpoint `resume` names (with its resumable changes). */
export async function initOrResume(req: RunRequest, say: Say): Promise<Run> {
  const run = req.resume ? await resumeRun(req.resume, req, say) : freshRun(req);
  mkdirSync(run.runDir, { recursive: true });
  if (!run.state) await writeJsonAtomic(path.join(run.runDir, 'train_config.json'), run.cfg);
  return run;
}

function freshRun(req: RunRequest): Run {
  if (!req.config) throw new Error('train(): config or resume is required');
  if (!req.runDir) throw new Error('train(): runDir is required');
  const tc = req.config.train;
  const tokFile = tc.tokenizer || path.join(tc.data, 'tokenizer.json');
  if (!existsSync(tokFile)) {
    throw new UserError(
      `${tokFile}: tokenizer not found (train one with "nanovlm tokenizer train --data ${tc.data}")`,
    );
  }
  const tokenizer = Tokenizer.load(tokFile);
  const cfg = { train: tc, model: configFor(req.config.model, tokenizer) };
  const model = createModel(cfg.model, tc.seed);
  seedDropout(tc.seed ^ DROPOUT_SEED_SALT);
  return { cfg, model, tokenizer, runDir: req.runDir, resumedFrom: null, state: null };
}

async function resumeRun(resume: string, req: RunRequest, say: Say): Promise<Run> {
  const resumedFrom = resolveCheckpoint(resume);
  const state = loadTrainerState(resumedFrom);
  const saved = state.config.train;
  const changes = req.resumeOverrides ?? {};
  for (const [k, v] of Object.entries(changes)) {
    const had = (saved as unknown as Record<string, unknown>)[k];
    if (v === undefined || had === v) continue;
    if (!RESUMABLE_KEYS.includes(k as keyof TrainConfig)) {
      throw new UserError(
        `--${k} cannot change when resuming (it would change the run; the checkpoint has ${JSON.stringify(had)}). Start a new run instead.`,
        2,
      );
    }
  }
  const cfg = {
    model: state.config.model,
    train: validateTrainConfig({ ...saved, ...stripUndefined(changes) }),
  };
  const { model, tokenizer } = await loadModelFolder(resumedFrom);
  const runDir = req.runDir ?? runDirOf(resumedFrom) ?? path.dirname(resumedFrom);
  say(`resuming from ${resumedFrom} at step ${state.step}`);
  return { cfg, model, tokenizer, runDir, resumedFrom, state };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export interface Loaders {
  dataset: Dataset;
  trainLoader: DataLoader;
  /** Null when the data set has no val split. */
  valLoader: DataLoader | null;
}

export function openLoaders({ cfg, tokenizer }: Run, say: Say): Loaders {
  const tc = cfg.train;
  const dataset = openTrainingData(tc.data, { skipBad: tc.skipBad });
  const common = {
    text: tc.text,
    imageSize: cfg.model.image_size,
    batchSize: tc.batchSize,
    maxLen: cfg.model.max_text_len,
    tokenizer,
    prefetch: tc.prefetch,
    skipBad: tc.skipBad,
  };
  const trainLoader = new DataLoader(dataset, {
    ...common,
    ...(tc.patchLossWeight > 0 ? { patchGrid: patchesPerSide(cfg.model) } : {}),
    split: 'train',
    seed: tc.seed,
    dropLast: true,
    cacheMB: tc.cacheMb,
  });
  const hasVal = dataset.records.some((r) => r.split === 'val');
  const valLoader = hasVal
    ? new DataLoader(dataset, { ...common, split: 'val', shuffle: false, prefetch: 1, cacheMB: VAL_CACHE_MB })
    : null;
  if (!valLoader) say(`note: ${tc.data} has no val split; validation is skipped`);
  return { dataset, trainLoader, valLoader };
}

/** Parameters of the vision encoder and the connector (they learn at lr · visionLrScale). */
export const isVisionSide = (name: string): boolean => /^(vision|connector)\./.test(name);

/** Weight decay on the weight matrices of linear and convolution layers only: not on norms, biases, embeddings. */
export function decayedParameterNames(model: VLM): Set<string> {
  const out = new Set<string>();
  for (const [prefix, m] of model.namedModules()) {
    if (m instanceof Linear || m instanceof Conv2d) {
      for (const [name, p] of m.directParameters())
        if (p.ndim >= 2) out.add(prefix ? `${prefix}.${name}` : name);
    }
  }
  // A tied head shares the embedding matrix: it keeps the embedding's (no-decay) treatment.
  const params = model.parameters();
  for (const n of [...out]) if (!params.has(n)) out.delete(n);
  return out;
}

export function createOptimizer(model: VLM, tc: TrainConfig): AdamW {
  const decayed = decayedParameterNames(model);
  return new AdamW(model.parameters(), {
    lr: tc.lr,
    beta1: tc.beta1,
    beta2: tc.beta2,
    eps: tc.eps,
    weightDecay: tc.weightDecay,
    decay: (name) => decayed.has(name),
    lrScale: (name) => (isVisionSide(name) ? tc.visionLrScale : 1),
  });
}

/**
 * Optimizer steps of the schedule: --steps, else --epochs, else UNFITTED for a time budget (fitted once
 * some steps are timed, or as saved when resuming), else the default number of epochs.
 */
export function scheduleLength(tc: TrainConfig, loader: DataLoader, state: TrainerState | null): number {
  const perEpoch = Math.max(1, Math.floor(loader.batchesPerEpoch / tc.gradAccum));
  if (tc.steps > 0) return tc.steps;
  if (tc.epochs > 0) return tc.epochs * perEpoch;
  if (tc.minutes > 0) return state?.totalSteps ?? UNFITTED;
  return DEFAULT_EPOCHS * perEpoch;
}

/** Fresh counters, or a checkpoint's: then the optimizer, data order and dropout generator are put back too. */
export function restoreCounters(
  { state, resumedFrom }: Run,
  optimizer: AdamW,
  trainLoader: DataLoader,
  say: Say,
): RunCounters {
  if (!state || !resumedFrom) return freshCounters();
  const optimizerFile = path.join(resumedFrom, OPTIMIZER_FILE);
  optimizer.loadStateDict(readSafetensors(optimizerFile), { source: optimizerFile });
  trainLoader.restore(state.loader);
  setDropoutState(state.dropoutRng);
  const now = backend();
  if (state.backend.name !== now.name || state.backend.threads !== now.threads) {
    say(
      `note: the checkpoint was made with the ${state.backend.name} backend on ${state.backend.threads} thread(s); ` +
        `now ${now.name} on ${now.threads}: losses will match closely but not bit for bit`,
    );
  }
  return countersOf(state);
}
