/**
 * The training loop: cross-entropy on the description tokens, AdamW with warm-up + cosine decay,
 * gradient clipping and accumulation, validation with a best checkpoint, kill-safe checkpoints and
 * exact resume. The loop is `train()`; its pieces: setup.ts (init or resume), step.ts (one step),
 * validate.ts, budget.ts (the time budget) and record.ts (metrics, curve, progress, checkpoints).
 *
 * Exact resume: everything that decides the next loss lives in a checkpoint: the weights, the AdamW
 * moments and step count, the data order position, the dropout generator, and the running sums of the
 * current metrics window. Validation runs without dropout and puts the dropout generator back, so it
 * consumes no randomness. With the same backend and thread count a resumed run repeats the
 * uninterrupted one bit for bit.
 */
import { backend } from '../tensor/backends/index.ts';
import { learningRate } from './schedule.ts';
import { bestCheckpoint, resolveCheckpoint } from './checkpoint.ts';
import type { ResolvedConfig, TrainConfig } from './config.ts';
import { describeValSamples } from './samples.ts';
import { TimeBudget } from './budget.ts';
import { Checkpointer, Recorder } from './record.ts';
import {
  UNFITTED,
  createOptimizer,
  initOrResume,
  openLoaders,
  restoreCounters,
  scheduleLength,
  type Run,
} from './setup.ts';
import type { RunCounters } from './state.ts';
import { DivergenceGuard, trainStep, type Trainee } from './step.ts';
import { StopSignal } from './signals.ts';
import { validateInto } from './validate.ts';

export { STATE_VERSION, type TrainerState } from './state.ts';
export { decayedParameterNames, isVisionSide } from './setup.ts';
export { splitBatch } from './step.ts';
export { fitStepsToBudget } from './budget.ts';
export type { MetricsRow } from './metrics.ts';
export type { Parameter } from '../nn/index.ts';

export interface TrainHooks {
  /** Called after every optimizer step with the step number (1-based) and its mean loss. */
  onStep?: (info: { step: number; loss: number; lr: number; gradNorm: number }) => void;
  /** Return true to stop after this step (a checkpoint is written, like on Ctrl-C). */
  shouldStop?: (step: number) => boolean;
}

export interface TrainOptions {
  /** Fresh run: the resolved config. Ignored when resuming (the checkpoint's config is used). */
  config?: ResolvedConfig;
  /** Folder of this run (metrics, curve, checkpoints, samples). */
  runDir?: string;
  /** Resume from a checkpoint folder or a run folder. */
  resume?: string;
  /** Training keys that may change on resume (how long, how often to log/eval/save). */
  resumeOverrides?: Partial<TrainConfig>;
  /** No progress output (--json); the summary is still returned. */
  quiet?: boolean;
  /** Where progress lines and notes go (default stderr). */
  stream?: NodeJS.WriteStream;
  hooks?: TrainHooks;
  /** Install SIGINT/SIGTERM handlers that stop cleanly (default true). */
  handleSignals?: boolean;
}

export interface TrainSummary {
  runDir: string;
  checkpoint: string;
  best: string | null;
  step: number;
  totalSteps: number;
  epoch: number;
  samplesSeen: number;
  trainLoss: number | null;
  valLoss: number | null;
  valPerplexity: number | null;
  /** The last validation's image gain (see Validation); null when there was none. */
  valImageGain: number | null;
  bestValLoss: number | null;
  bestStep: number | null;
  samplesPerSecond: number;
  seconds: number;
  peakRssMB: number;
  stoppedBy: 'done' | 'signal' | 'time' | 'hook';
  resumedFrom: string | null;
  params: number;
  backend: string;
  threads: number;
  samples: { id: string; reference: string; generated: string }[];
}

export const peakRssMB = (): number => process.resourceUsage().maxRSS / 1024;

/** A turn of the event loop: without it a prefetched batch (a microtask) would starve signal handlers. */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** True when a thing done every `every` steps falls on `step` (never on the last one: the end does it). */
const due = (every: number, step: number, totalSteps: number): boolean =>
  every > 0 && step % every === 0 && step < totalSteps;

export async function train(opts: TrainOptions): Promise<TrainSummary> {
  const t0 = performance.now();
  const say = (msg: string): void => {
    if (!opts.quiet) (opts.stream ?? process.stderr).write(msg + '\n');
  };
  const run = await initOrResume(opts, say);
  const { model, runDir } = run;
  const tc = run.cfg.train;
  const { dataset, trainLoader, valLoader } = openLoaders(run, say);
  const optimizer = createOptimizer(model, tc);
  const trainee: Trainee = { model, params: model.parameters(), optimizer, tc };
  let totalSteps = scheduleLength(tc, trainLoader, run.state);
  const c = restoreCounters(run, optimizer, trainLoader, say);
  const startStep = c.step;
  const budget = new TimeBudget(tc, t0, startStep, totalSteps === UNFITTED);
  const progressEnd = totalSteps === UNFITTED ? startStep + budget.calibrateAt : totalSteps;
  const rec = new Recorder(run, c, startStep, progressEnd, { stream: opts.stream, quiet: opts.quiet });
  const saver = new Checkpointer(run, optimizer, trainLoader);
  const trainSeconds = () => c.priorSeconds + (performance.now() - t0) / 1000;
  const checkpoint = (o: { best?: boolean; finished?: boolean } = {}) =>
    saver.save(c, totalSteps, trainSeconds(), o);
  const stop = new StopSignal(opts.handleSignals ?? true, say);
  const guard = new DivergenceGuard(say);
  let stoppedBy: TrainSummary['stoppedBy'] = 'done';
  let lastLoss: number | null = null;
  model.train();
  try {
    while (c.step < totalSteps) {
      await nextTurn();
      if (stop.requested || budget.wouldOverrun()) {
        stoppedBy = stop.requested ? 'signal' : 'time';
        break;
      }
      const lr = learningRate(c.step, { ...tc, totalSteps });
      const measureParts = (c.step + 1) % tc.logEvery === 0;
      const s = await trainStep(trainee, () => trainLoader.next(), lr, { measureParts });
      guard.check(s, c.step + 1);
      rec.addStep(s);
      lastLoss = s.loss;
      opts.hooks?.onStep?.({ step: c.step, loss: s.loss, lr, gradNorm: s.gradNorm });
      const fitted = budget.afterStep(c.step, totalSteps, say);
      if (fitted !== totalSteps) rec.setProgressEnd((totalSteps = fitted));
      const logged = c.step % tc.logEvery === 0 || c.step === totalSteps;
      if (logged) await rec.logWindow(trainLoader.state().epoch, lr, trainSeconds());
      let savedBest = false;
      if (due(tc.evalEvery, c.step, totalSteps)) {
        if (await validateInto(c, rec.metrics, model, valLoader, tc))
          savedBest = Boolean(await checkpoint({ best: true }));
        await rec.refreshCurve();
      }
      if (!savedBest && due(tc.saveEvery, c.step, totalSteps)) await checkpoint();
      rec.showProgress(totalSteps, trainLoader.state().epoch, s.loss, lr, logged);
      if (opts.hooks?.shouldStop?.(c.step)) {
        stoppedBy = 'hook';
        break;
      }
    }
  } finally {
    stop.dispose();
    trainLoader.close();
  }
  rec.finish();
  const finished = c.step >= totalSteps;
  const ended = finished || stoppedBy === 'time';
  const isBest = ended && (await validateInto(c, rec.metrics, model, valLoader, tc));
  const unchanged = saver.lastSaved === c.step && !finished && !isBest;
  const last = unchanged ? resolveCheckpoint(runDir) : await checkpoint({ best: isBest, finished });
  say(`checkpoint: ${last}`);
  await rec.refreshCurve();
  const samples = ended ? await describeValSamples(dataset, run.cfg.train, run.runDir, async () => run) : [];
  const summary = { checkpoint: last, totalSteps, epoch: trainLoader.state().epoch, lastLoss, stoppedBy };
  return summarize(run, c, summary, samples, (performance.now() - t0) / 1000);
}

function summarize(
  { runDir, model, resumedFrom, state }: Run,
  c: RunCounters,
  end: {
    checkpoint: string;
    totalSteps: number;
    epoch: number;
    lastLoss: number | null;
    stoppedBy: TrainSummary['stoppedBy'];
  },
  samples: TrainSummary['samples'],
  seconds: number,
): TrainSummary {
  const trainedSamples = c.samplesSeen - (state?.samplesSeen ?? 0);
  return {
    runDir,
    checkpoint: end.checkpoint,
    best: bestCheckpoint(runDir),
    step: c.step,
    totalSteps: end.totalSteps === UNFITTED ? c.step : end.totalSteps,
    epoch: end.epoch,
    samplesSeen: c.samplesSeen,
    trainLoss: end.lastLoss,
    valLoss: c.lastValLoss,
    valPerplexity: c.lastValLoss === null ? null : Math.exp(c.lastValLoss),
    valImageGain: c.lastImageGain,
    bestValLoss: c.bestValLoss,
    bestStep: c.bestStep,
    samplesPerSecond: trainedSamples / Math.max(seconds, 1e-9),
    seconds,
    peakRssMB: peakRssMB(),
    stoppedBy: end.stoppedBy,
    resumedFrom,
    params: model.parameterCount(),
    backend: backend().name,
    threads: backend().threads,
    samples,
  };
}
