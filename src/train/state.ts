/**
 * What a run carries from step to step and into `trainer_state.json`: the counters the loop updates,
 * and the snapshot a checkpoint writes (with the loader position, the dropout generator and the config).
 */
import path from 'node:path';
import type { LoaderState } from '../data/loader.ts';
import { UserError } from '../util/errors.ts';
import { TRAINER_STATE, readTrainerState } from './checkpoint.ts';
import type { ResolvedConfig } from './config.ts';

/**
 * 2: `lastImageGain` and `config.train.visionLrScale` are always there. 1 (older checkpoints) may lack
 * them: read as a run that measured no image gain and trained everything at one rate.
 */
export const STATE_VERSION = 2;

/** Running sums of the metrics window not yet logged (so logged averages match an uninterrupted run). */
export interface MetricsWindow {
  loss: number;
  gradNorm: number;
  steps: number;
  skipped: number;
}

/** What `trainer_state.json` holds besides the model folder and the optimizer file. */
export interface TrainerState {
  version: number;
  step: number;
  /** Optimizer steps of the schedule; null while a time-budget run has not fitted it yet. */
  totalSteps: number | null;
  epoch: number;
  samplesSeen: number;
  loader: LoaderState;
  dropoutRng: number[];
  bestValLoss: number | null;
  bestStep: number | null;
  lastValLoss: number | null;
  /** The last validation's image gain (val loss with mismatched pictures minus the real one). */
  lastImageGain: number | null;
  window: MetricsWindow;
  /** Seconds spent training before this checkpoint, over all sessions. */
  trainSeconds: number;
  finished: boolean;
  config: ResolvedConfig;
  backend: { name: string; threads: number };
}

/** The counters the loop updates; a checkpoint saves them, a resume starts from them. */
export interface RunCounters {
  step: number;
  samplesSeen: number;
  bestValLoss: number | null;
  bestStep: number | null;
  lastValLoss: number | null;
  lastImageGain: number | null;
  window: MetricsWindow;
  /** Training seconds of earlier sessions of this run. */
  priorSeconds: number;
}

export const emptyWindow = (): MetricsWindow => ({ loss: 0, gradNorm: 0, steps: 0, skipped: 0 });

export function freshCounters(): RunCounters {
  return {
    step: 0,
    samplesSeen: 0,
    bestValLoss: null,
    bestStep: null,
    lastValLoss: null,
    lastImageGain: null,
    window: emptyWindow(),
    priorSeconds: 0,
  };
}

export function countersOf(state: TrainerState): RunCounters {
  const { step, samplesSeen, bestValLoss, bestStep, lastValLoss, window } = state;
  return {
    step,
    samplesSeen,
    bestValLoss,
    bestStep,
    lastValLoss,
    lastImageGain: state.lastImageGain,
    window,
    priorSeconds: state.trainSeconds,
  };
}

/** The trainer state of a checkpoint folder, an older version brought up to this one. */
export function loadTrainerState(ckDir: string): TrainerState {
  const state = readTrainerState<TrainerState>(ckDir);
  const file = path.join(ckDir, TRAINER_STATE);
  if (state.version === 1) return upgradeFromV1(state);
  if (state.version !== STATE_VERSION) throw new UserError(`${file}: unsupported version ${state.version}`);
  return state;
}

function upgradeFromV1(v1: TrainerState): TrainerState {
  const train = { ...v1.config.train, visionLrScale: v1.config.train.visionLrScale ?? 1 };
  return {
    ...v1,
    version: STATE_VERSION,
    lastImageGain: v1.lastImageGain ?? null,
    config: { ...v1.config, train },
  };
}
