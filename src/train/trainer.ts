/**
 * The training loop: cross-entropy on the description tokens, AdamW with warm-up + cosine decay,
 * gradient clipping and accumulation, validation with a best checkpoint, kill-safe checkpoints and
 * exact resume.
 *
 * Exact resume: everything that decides the next loss lives in a checkpoint: the weights, the AdamW
 * moments and step count, the data order position, the dropout generator, and the running sums of the
 * current metrics window. Validation runs without dropout and puts the dropout generator back, so it
 * consumes no randomness. With the same backend and thread count a resumed run repeats the
 * uninterrupted one bit for bit.
 */
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import {
  AdamW,
  clipGradNorm,
  getDropoutState,
  seedDropout,
  setDropoutState,
  writeSafetensors,
  readSafetensors,
} from '../nn/index.ts';
import { Linear, Conv2d, type Parameter } from '../nn/index.ts';
import { backward, noGrad, withStepScope } from '../tensor/tensor.ts';
import { backend } from '../tensor/backends/index.ts';
import { openDataset, type Dataset } from '../data/dataset.ts';
import { DataLoader, type LoaderState, type Batch } from '../data/loader.ts';
import { Tokenizer } from '../tokenizer/index.ts';
import { configFor } from '../model/config.ts';
import { Progress } from '../util/progress.ts';
import { UserError } from '../util/errors.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { learningRate } from './schedule.ts';
import { MetricsLog, type MetricsRow } from './metrics.ts';
import { writeLossCurve } from './curve.ts';
import {
  OPTIMIZER_FILE,
  TRAINER_STATE,
  bestCheckpoint,
  readTrainerState,
  resolveCheckpoint,
  runDirOf,
  writeCheckpoint,
} from './checkpoint.ts';
import { DEFAULT_EPOCHS, validateTrainConfig, type ResolvedConfig, type TrainConfig } from './config.ts';
import {
  batchLoss,
  createModel,
  describeImages,
  loadModelFolder,
  saveModelFolder,
  type VLM,
} from './model-bridge.ts';
import { StopSignal } from './signals.ts';

export const STATE_VERSION = 1;
/** The schedule length of a time-budget run before it is fitted: no end yet. */
const UNFITTED = Number.MAX_SAFE_INTEGER;

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
  /** Added after version 1 checkpoints were written: absent in older ones. */
  lastImageGain?: number | null;
  /** Running sums of the metrics window not yet logged (so logged averages match an uninterrupted run). */
  window: { loss: number; gradNorm: number; steps: number; skipped: number };
  /** Seconds spent training before this checkpoint, over all sessions. */
  trainSeconds: number;
  finished: boolean;
  config: ResolvedConfig;
  backend: { name: string; threads: number };
}

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

export const peakRssMB = (): number => process.resourceUsage().maxRSS / 1024;

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

function stepsPerEpoch(loader: DataLoader, accum: number): number {
  return Math.max(1, Math.floor(loader.batchesPerEpoch / accum));
}

export async function train(opts: TrainOptions): Promise<TrainSummary> {
  const t0 = performance.now();
  const say = (msg: string): void => {
    if (!opts.quiet) (opts.stream ?? process.stderr).write(msg + '\n');
  };

  // ---------------------------------------------------------------- model, config, state
  let resumedFrom: string | null = null;
  let state: TrainerState | null = null;
  let cfg: ResolvedConfig;
  let model: VLM;
  let tokenizer: Tokenizer;
  let runDir: string;
  if (opts.resume) {
    resumedFrom = resolveCheckpoint(opts.resume);
    state = readTrainerState<TrainerState>(resumedFrom);
    if (state.version !== STATE_VERSION) {
      throw new UserError(`${path.join(resumedFrom, TRAINER_STATE)}: unsupported version ${state.version}`);
    }
    // Checkpoints from before visionLrScale existed trained everything at one rate.
    cfg = { ...state.config, train: { ...state.config.train } };
    cfg.train.visionLrScale ??= 1;
    const changes = opts.resumeOverrides ?? {};
    for (const [k, v] of Object.entries(changes)) {
      if (v === undefined || (cfg.train as unknown as Record<string, unknown>)[k] === v) continue;
      if (!RESUMABLE_KEYS.includes(k as keyof TrainConfig)) {
        throw new UserError(
          `--${k} cannot change when resuming (it would change the run; the checkpoint has ${JSON.stringify(
            (cfg.train as unknown as Record<string, unknown>)[k],
          )}). Start a new run instead.`,
          2,
        );
      }
    }
    cfg = { model: cfg.model, train: validateTrainConfig({ ...cfg.train, ...stripUndefined(changes) }) };
    ({ model, tokenizer } = await loadModelFolder(resumedFrom));
    runDir = opts.runDir ?? runDirOf(resumedFrom) ?? path.dirname(resumedFrom);
    say(`resuming from ${resumedFrom} at step ${state.step}`);
  } else {
    if (!opts.config) throw new Error('train(): config or resume is required');
    if (!opts.runDir) throw new Error('train(): runDir is required');
    runDir = opts.runDir;
    const tc = opts.config.train;
    const tokFile = tc.tokenizer || path.join(tc.data, 'tokenizer.json');
    if (!existsSync(tokFile)) {
      throw new UserError(
        `${tokFile}: tokenizer not found (train one with "nanovlm tokenizer train --data ${tc.data}")`,
      );
    }
    tokenizer = Tokenizer.load(tokFile);
    cfg = { train: tc, model: configFor(opts.config.model, tokenizer) };
    model = createModel(cfg.model, tc.seed);
    seedDropout(tc.seed ^ 0x5eed);
  }
  const tc = cfg.train;
  mkdirSync(runDir, { recursive: true });
  if (!state) await writeJsonAtomic(path.join(runDir, 'train_config.json'), cfg);

  // ---------------------------------------------------------------- data
  const dataset: Dataset = openDataset(tc.data, { skipBad: tc.skipBad });
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
    split: 'train',
    seed: tc.seed,
    dropLast: true,
    cacheMB: tc.cacheMb,
  });
  const valLoader = hasSplit(dataset, 'val')
    ? new DataLoader(dataset, { ...common, split: 'val', shuffle: false, prefetch: 1, cacheMB: 64 })
    : null;
  if (!valLoader) say(`note: ${tc.data} has no val split; validation is skipped`);

  // ---------------------------------------------------------------- optimizer and schedule
  const params = model.parameters();
  const decayed = decayedParameterNames(model);
  const optimizer = new AdamW(params, {
    lr: tc.lr,
    beta1: tc.beta1,
    beta2: tc.beta2,
    eps: tc.eps,
    weightDecay: tc.weightDecay,
    decay: (name) => decayed.has(name),
    lrScale: (name) => (isVisionSide(name) ? tc.visionLrScale : 1),
  });
  const perEpoch = stepsPerEpoch(trainLoader, tc.gradAccum);
  let totalSteps: number;
  if (tc.steps > 0) totalSteps = tc.steps;
  else if (tc.epochs > 0) totalSteps = tc.epochs * perEpoch;
  // Fitted to the time budget once some steps have been timed (see the loop); unbounded until then.
  else if (tc.minutes > 0) totalSteps = state?.totalSteps ?? UNFITTED;
  else totalSteps = DEFAULT_EPOCHS * perEpoch;
  const timeFitted = totalSteps === UNFITTED;

  let step = 0;
  let samplesSeen = 0;
  let bestValLoss: number | null = null;
  let bestStep: number | null = null;
  let lastValLoss: number | null = null;
  let lastImageGain: number | null = null;
  let priorSeconds = 0;
  let window = { loss: 0, gradNorm: 0, steps: 0, skipped: 0 };
  if (state && resumedFrom) {
    optimizer.loadStateDict(readSafetensors(path.join(resumedFrom, OPTIMIZER_FILE)), {
      source: path.join(resumedFrom, OPTIMIZER_FILE),
    });
    trainLoader.restore(state.loader);
    setDropoutState(state.dropoutRng);
    ({ step, samplesSeen, bestValLoss, bestStep, lastValLoss, window } = state);
    lastImageGain = state.lastImageGain ?? null;
    priorSeconds = state.trainSeconds;
    if (state.backend.name !== backend().name || state.backend.threads !== backend().threads) {
      say(
        `note: the checkpoint was made with the ${state.backend.name} backend on ${state.backend.threads} thread(s); ` +
          `now ${backend().name} on ${backend().threads}: losses will match closely but not bit for bit`,
      );
    }
  }
  const schedule = () => ({ lr: tc.lr, minLr: tc.minLr, warmupSteps: tc.warmupSteps, totalSteps });

  // ---------------------------------------------------------------- outputs
  const metricsFile = path.join(runDir, 'metrics.jsonl');
  const metrics = new MetricsLog(metricsFile, state ? { keepUpToStep: step } : {});
  const curveFile = path.join(runDir, 'loss.png');
  let curveTime = performance.now();
  const refreshCurve = () => {
    curveTime = performance.now();
    return writeLossCurve(curveFile, metrics.rows, `${cfg.model.preset} · ${tc.text} descriptions`);
  };

  const saveState = (finished: boolean): TrainerState => ({
    version: STATE_VERSION,
    step,
    totalSteps: totalSteps === UNFITTED ? null : totalSteps,
    epoch: trainLoader.state().epoch,
    samplesSeen,
    loader: trainLoader.state(),
    dropoutRng: getDropoutState(),
    bestValLoss,
    bestStep,
    lastValLoss,
    lastImageGain,
    window: { ...window },
    trainSeconds: priorSeconds + (performance.now() - t0) / 1000,
    finished,
    config: cfg,
    backend: { name: backend().name, threads: backend().threads },
  });
  let lastSaved = state ? step : -1;
  const checkpoint = async (opts2: { best?: boolean; finished?: boolean } = {}): Promise<string> => {
    const st = saveState(opts2.finished ?? false);
    const dir = await writeCheckpoint(
      runDir,
      step,
      async (tmp) => {
        await saveModelFolder(model, tokenizer, tmp, step);
        const { tensors, metadata } = optimizer.stateDict();
        await writeSafetensors(path.join(tmp, OPTIMIZER_FILE), tensors, metadata);
        writeFileSync(path.join(tmp, TRAINER_STATE), JSON.stringify(st, null, 2) + '\n');
      },
      { best: opts2.best },
    );
    lastSaved = step;
    return dir;
  };

  // ---------------------------------------------------------------- validation
  const validate = async (): Promise<Validation | null> => {
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
  };

  // ---------------------------------------------------------------- the loop
  const stop = new StopSignal(opts.handleSignals ?? true, say);
  const budgetMs = tc.minutes > 0 ? tc.minutes * 60_000 : Infinity;
  const startStep = step;
  const calibrateAt = Math.max(5, Math.min(tc.warmupSteps, 30));
  const progressOpts = {
    // Until the schedule is fitted to the budget, the bar runs to the step where that happens.
    total: (timeFitted ? startStep + calibrateAt : totalSteps) - startStep,
    label: 'train',
    unit: 'step',
    stream: opts.stream,
    quiet: opts.quiet,
  };
  const progress = new Progress(progressOpts);
  let stoppedBy: TrainSummary['stoppedBy'] = 'done';
  let lastLoss: number | null = null;
  let winStart = performance.now();
  let winSamples = 0;
  let rate = 0;
  let consecutiveBad = 0;
  let loopStart = performance.now();
  let stepMsEstimate = 0;
  let fit: { step: number; time: number; check: number } | null = null;
  model.train();
  try {
    while (step < totalSteps) {
      // A turn of the event loop per step: a prefetched batch resolves as a microtask, and without this
      // the loop would starve signal handlers (Ctrl-C) and the loader's decode callbacks.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (stop.requested) {
        stoppedBy = 'signal';
        break;
      }
      const elapsed = performance.now() - t0;
      if (elapsed + stepMsEstimate > budgetMs) {
        stoppedBy = 'time';
        break;
      }
      const lr = learningRate(step, schedule());
      optimizer.zeroGrad();
      let stepLoss = 0;
      for (let micro = 0; micro < tc.gradAccum; micro++) {
        const batch = await trainLoader.next();
        const tokens = Math.max(1, targetTokens(batch));
        for (const piece of splitBatch(batch, tc.microBatch)) {
          // Each piece contributes its share of the batch's target tokens, each batch 1/accum of the step.
          const weight = targetTokens(piece) / tokens / tc.gradAccum;
          // In a step scope: activations and gradients reuse pooled buffers instead of fresh garbage.
          stepLoss += withStepScope(() => {
            const loss = batchLoss(model, piece, { wordWeight: tc.wordLossWeight });
            const value = loss.item();
            if (weight === 1) loss.backward();
            else backward(loss, new Float32Array([weight]));
            return value * weight;
          });
        }
        samplesSeen += batch.size;
        winSamples += batch.size;
      }
      const gradNorm = clipGradNorm(params, tc.gradClip > 0 ? tc.gradClip : Infinity);
      if (Number.isFinite(gradNorm) && Number.isFinite(stepLoss)) {
        optimizer.step(lr);
        consecutiveBad = 0;
      } else {
        window.skipped++;
        if (++consecutiveBad >= 10) {
          throw new UserError(
            `training diverged: loss or gradient not finite for 10 steps in a row at step ${step + 1} (try a lower --lr)`,
          );
        }
        say(`warning: step ${step + 1}: non-finite loss or gradient, update skipped`);
      }
      step++;
      lastLoss = stepLoss;
      if (Number.isFinite(stepLoss)) {
        window.loss += stepLoss;
        window.gradNorm += gradNorm;
        window.steps++;
      }
      opts.hooks?.onStep?.({ step, loss: stepLoss, lr, gradNorm });

      // Fit the schedule to the time budget once the warm-up steps have been timed (before the cosine
      // starts), and check the fit once halfway, against wall time that now includes validations.
      const sinceStart = step - startStep;
      if (sinceStart === 3) loopStart = performance.now();
      if (sinceStart > 3) stepMsEstimate = (performance.now() - loopStart) / (sinceStart - 3);
      if (timeFitted && sinceStart === calibrateAt) {
        totalSteps = fitStepsToBudget(step, stepMsEstimate, budgetMs - (performance.now() - t0), tc);
        fit = { step, time: performance.now(), check: Math.floor((step + totalSteps) / 2) };
        progressOpts.total = totalSteps - startStep; // Progress reads its options object live
        say(
          `time budget ${tc.minutes} min: ${stepMsEstimate.toFixed(0)} ms/step → schedule of ${totalSteps} steps`,
        );
      } else if (fit && step === fit.check) {
        const wallMs = (performance.now() - fit.time) / (step - fit.step);
        const remaining = budgetMs - (performance.now() - t0);
        const refit = step + Math.max(1, Math.floor((remaining * 0.98 - wallMs * 3) / wallMs));
        if (Math.abs(refit - totalSteps) > 0.03 * totalSteps) {
          say(
            `time budget: ${wallMs.toFixed(0)} ms/step so far → schedule of ${refit} steps (was ${totalSteps})`,
          );
          totalSteps = refit;
          progressOpts.total = totalSteps - startStep;
        }
        fit = null;
      }

      if (step % tc.logEvery === 0 || step === totalSteps) {
        const secs = (performance.now() - winStart) / 1000;
        rate = winSamples / Math.max(secs, 1e-9);
        if (window.steps > 0) {
          metrics.append({
            step,
            epoch: trainLoader.state().epoch,
            loss: round(window.loss / window.steps),
            lr,
            grad_norm: round(window.gradNorm / window.steps),
            samples_per_s: Number(rate.toFixed(2)),
            time: Number(((performance.now() - t0) / 1000 + priorSeconds).toFixed(1)),
          });
          // The picture follows the log at most once a minute between validations.
          if (performance.now() - curveTime > 60_000) await refreshCurve();
        }
        window = { loss: 0, gradNorm: 0, steps: 0, skipped: 0 };
        winStart = performance.now();
        winSamples = 0;
      }
      let savedBest = false;
      if (tc.evalEvery > 0 && step % tc.evalEvery === 0 && step < totalSteps) {
        const v = await validate();
        if (v) {
          lastValLoss = v.loss;
          lastImageGain = v.imageGain;
          metrics.append(validationRow(step, v));
          if (bestValLoss === null || v.loss < bestValLoss) {
            bestValLoss = v.loss;
            bestStep = step;
            await checkpoint({ best: true });
            savedBest = true;
          }
        }
        await refreshCurve();
      }
      if (!savedBest && tc.saveEvery > 0 && step % tc.saveEvery === 0 && step < totalSteps)
        await checkpoint();
      if (step % tc.logEvery !== 0) rate = winSamples / Math.max((performance.now() - winStart) / 1000, 1e-9);
      progress.update(step - startStep, {
        step: `${step}/${totalSteps === UNFITTED ? '?' : totalSteps}`,
        epoch: trainLoader.state().epoch + 1,
        loss: stepLoss.toFixed(3),
        lr: lr.toExponential(2),
        'samples/s': rate.toFixed(1),
      });
      if (opts.hooks?.shouldStop?.(step)) {
        stoppedBy = 'hook';
        break;
      }
    }
  } finally {
    stop.dispose();
    trainLoader.close();
  }
  progress.finish();

  // ---------------------------------------------------------------- the end: validate, save, describe
  const finished = step >= totalSteps;
  let finalVal: Validation | null = null;
  let isBest = false;
  if (finished || stoppedBy === 'time') {
    finalVal = await validate();
    if (finalVal) {
      lastValLoss = finalVal.loss;
      lastImageGain = finalVal.imageGain;
      metrics.append(validationRow(step, finalVal));
      if (bestValLoss === null || finalVal.loss < bestValLoss) {
        bestValLoss = finalVal.loss;
        bestStep = step;
        isBest = true;
      }
    }
  }
  const last =
    lastSaved === step && !finished && !isBest
      ? resolveCheckpoint(runDir)
      : await checkpoint({ best: isBest, finished });
  say(`checkpoint: ${last}`);
  await refreshCurve();
  const samples =
    finished || stoppedBy === 'time' ? await describeSamples(model, tokenizer, dataset, cfg, runDir) : [];
  const seconds = (performance.now() - t0) / 1000;
  const trainedSamples = samplesSeen - (state?.samplesSeen ?? 0);
  return {
    runDir,
    checkpoint: last,
    best: bestCheckpoint(runDir),
    step,
    totalSteps: totalSteps === UNFITTED ? step : totalSteps,
    epoch: trainLoader.state().epoch,
    samplesSeen,
    trainLoss: lastLoss,
    valLoss: lastValLoss,
    valPerplexity: lastValLoss === null ? null : Math.exp(lastValLoss),
    valImageGain: lastImageGain,
    bestValLoss,
    bestStep,
    samplesPerSecond: trainedSamples / Math.max(seconds, 1e-9),
    seconds,
    peakRssMB: peakRssMB(),
    stoppedBy,
    resumedFrom,
    params: model.parameterCount(),
    backend: backend().name,
    threads: backend().threads,
    samples,
  };
}

/**
 * Steps that fit the remaining budget: the measured step time, plus what validations and checkpoints
 * will cost (a validation is about a third of a training step per batch: forward only).
 */
export function fitStepsToBudget(done: number, stepMs: number, remainingMs: number, tc: TrainConfig): number {
  const evalBatches = Math.ceil(tc.evalSamples / tc.batchSize);
  const evalMs = (evalBatches * stepMs) / (3 * tc.gradAccum);
  const perStep = stepMs + (tc.evalEvery > 0 ? evalMs / tc.evalEvery : 0);
  const reserve = 0.03 * remainingMs + evalMs; // checkpoints, final validation, slack
  return done + Math.max(1, Math.floor((remainingMs - reserve) / perStep));
}

/** Cuts a batch into pieces of at most `rows` rows (views, no copies); the whole batch when rows is 0. */
export function splitBatch(batch: Batch, rows: number): Batch[] {
  if (rows <= 0 || rows >= batch.size) return [batch];
  const plane = batch.images.length / batch.size;
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
    });
  }
  return pieces;
}

function targetTokens(batch: Batch): number {
  let n = 0;
  for (const len of batch.lengths) n += Math.max(0, len - 1);
  return n;
}

function hasSplit(ds: Dataset, split: string): boolean {
  return ds.records.some((r) => r.split === split);
}

const round = (x: number): number => Number(x.toPrecision(6));

/**
 * Validation loss and perplexity, and the image gain: how much higher the loss is when each text is
 * paired with another picture (about 0 while the model ignores the image).
 */
interface Validation {
  loss: number;
  ppl: number;
  imageGain: number | null;
}

function validationRow(step: number, v: Validation): MetricsRow {
  const row: MetricsRow = { step, val_loss: round(v.loss), val_ppl: round(v.ppl) };
  if (v.imageGain !== null) row.val_image_gain = round(v.imageGain);
  return row;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Greedy descriptions of the first few val pictures, written to samples.jsonl in the run folder. */
async function describeSamples(
  model: VLM,
  tokenizer: Tokenizer,
  dataset: Dataset,
  cfg: ResolvedConfig,
  runDir: string,
): Promise<TrainSummary['samples']> {
  const n = cfg.train.samples;
  if (n === 0) return [];
  const records = dataset.records.filter((r) => r.split === 'val').slice(0, n);
  if (!records.length) return [];
  const field = cfg.train.text === 'long' ? 'long' : 'short';
  const texts = await describeImages(model, tokenizer, dataset, records);
  const out = records.map((r, i) => ({
    id: r.id,
    image: r.image,
    reference: String(r[field] ?? ''),
    generated: texts[i]!,
  }));
  const lines = out.map((o) => JSON.stringify(o)).join('\n') + '\n';
  await writeFileAtomic(path.join(runDir, 'samples.jsonl'), lines);
  return out.map(({ id, reference, generated }) => ({ id, reference, generated }));
}

export type { MetricsRow, Parameter };
