/**
 * What a run leaves behind as it goes: a metrics row per logging window, the loss-curve picture, the
 * progress bar, and checkpoints (model folder, optimizer moments, trainer state).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { getDropoutState, writeSafetensors, type AdamW } from '../nn/index.ts';
import { backend } from '../tensor/backends/index.ts';
import type { DataLoader } from '../data/loader.ts';
import { Progress } from '../util/progress.ts';
import { OPTIMIZER_FILE, TRAINER_STATE, writeCheckpoint } from './checkpoint.ts';
import { MODEL_CARD, modelCard } from './model-card.ts';
import { writeLossCurve } from './curve.ts';
import { MetricsLog, round } from './metrics.ts';
import { saveModelFolder } from './model-bridge.ts';
import type { Run } from './setup.ts';
import { UNFITTED } from './setup.ts';
import { STATE_VERSION, emptyWindow, type RunCounters, type TrainerState } from './state.ts';
import type { StepResult } from './step.ts';

const roundAll = (o: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k, round(v)]));

/** Between validations the curve picture follows the log at most this often. */
const CURVE_REFRESH_MS = 60_000;

const ratePerSecond = (samples: number, ms: number): number => samples / Math.max(ms / 1000, 1e-9);

/** Metrics rows, the loss curve and the progress bar of one session of a run. */
export class Recorder {
  readonly metrics: MetricsLog;
  private readonly curveFile: string;
  private readonly curveTitle: string;
  private curveTime = performance.now();
  private readonly progressOpts;
  private readonly progress: Progress;
  private winStart = performance.now();
  private winSamples = 0;
  private rate = 0;
  /** The last measured step's norms per part, written with the next metrics row. */
  private parts: StepResult['parts'] | null = null;

  constructor(
    { runDir, cfg, state }: Run,
    private readonly c: RunCounters,
    /** The step this session started at. */
    private readonly startStep: number,
    /** The progress bar's end step (until a time budget is fitted, the step where that happens). */
    progressEnd: number,
    out: { stream?: NodeJS.WriteStream; quiet?: boolean },
  ) {
    this.metrics = new MetricsLog(path.join(runDir, 'metrics.jsonl'), state ? { keepUpToStep: c.step } : {});
    this.curveFile = path.join(runDir, 'loss.png');
    this.curveTitle = `${cfg.model.preset} · ${cfg.train.text} descriptions`;
    this.progressOpts = { total: progressEnd - startStep, label: 'train', unit: 'step', ...out };
    this.progress = new Progress(this.progressOpts);
  }

  /** Counts a finished step: the step, the pictures it read, and its loss in the metrics window. */
  addStep(s: StepResult): void {
    this.c.step++;
    this.c.samplesSeen += s.samples;
    const w = this.c.window;
    if (!s.applied) w.skipped++;
    this.winSamples += s.samples;
    if (!Number.isFinite(s.loss)) return;
    w.loss += s.loss;
    w.gradNorm += s.gradNorm;
    w.steps++;
    if (s.parts) this.parts = s.parts;
  }

  /** Writes the window's averages as a metrics row and starts a new window. */
  async logWindow(epoch: number, lr: number, trainSeconds: number): Promise<void> {
    const w = this.c.window;
    this.rate = ratePerSecond(this.winSamples, performance.now() - this.winStart);
    if (w.steps > 0) {
      this.metrics.append({
        step: this.c.step,
        epoch,
        loss: round(w.loss / w.steps),
        lr,
        grad_norm: round(w.gradNorm / w.steps),
        samples_per_s: Number(this.rate.toFixed(2)),
        time: Number(trainSeconds.toFixed(1)),
        ...(this.parts
          ? { grad_parts: roundAll(this.parts.grad), update_parts: roundAll(this.parts.update) }
          : {}),
      });
      this.parts = null;
      if (performance.now() - this.curveTime > CURVE_REFRESH_MS) await this.refreshCurve();
    }
    this.c.window = emptyWindow();
    this.winStart = performance.now();
    this.winSamples = 0;
  }

  async refreshCurve(): Promise<void> {
    this.curveTime = performance.now();
    await writeLossCurve(this.curveFile, this.metrics.rows, this.curveTitle);
  }

  setProgressEnd(totalSteps: number): void {
    this.progressOpts.total = totalSteps - this.startStep; // Progress reads its options object live
  }

  showProgress(totalSteps: number, epoch: number, loss: number, lr: number, logged: boolean): void {
    if (!logged) this.rate = ratePerSecond(this.winSamples, performance.now() - this.winStart);
    this.progress.update(this.c.step - this.startStep, {
      step: `${this.c.step}/${totalSteps === UNFITTED ? '?' : totalSteps}`,
      epoch: epoch + 1,
      loss: loss.toFixed(3),
      lr: lr.toExponential(2),
      'samples/s': this.rate.toFixed(1),
    });
  }

  finish(): void {
    this.progress.finish();
  }
}

/** Writes checkpoints of a run and remembers the step of the last one. */
export class Checkpointer {
  lastSaved: number;
  constructor(
    private readonly run: Run,
    private readonly optimizer: AdamW,
    private readonly trainLoader: DataLoader,
  ) {
    this.lastSaved = run.state ? run.state.step : -1;
  }

  /** Writes the checkpoint of step `c.step`; `best` also points the run's best link at it. */
  async save(
    c: RunCounters,
    totalSteps: number,
    trainSeconds: number,
    opts: { best?: boolean; finished?: boolean } = {},
  ): Promise<string> {
    const state = this.snapshot(c, totalSteps, trainSeconds, opts.finished ?? false);
    const { runDir, model, tokenizer } = this.run;
    const dir = await writeCheckpoint(
      runDir,
      c.step,
      async (tmp) => {
        await saveModelFolder(model, tokenizer, tmp, c.step);
        const { tensors, metadata } = this.optimizer.stateDict();
        await writeSafetensors(path.join(tmp, OPTIMIZER_FILE), tensors, metadata);
        writeFileSync(path.join(tmp, TRAINER_STATE), JSON.stringify(state, null, 2) + '\n');
        writeFileSync(path.join(tmp, MODEL_CARD), modelCard(state));
      },
      { best: opts.best },
    );
    this.lastSaved = c.step;
    return dir;
  }

  private snapshot(
    c: RunCounters,
    totalSteps: number,
    trainSeconds: number,
    finished: boolean,
  ): TrainerState {
    return {
      version: STATE_VERSION,
      step: c.step,
      totalSteps: totalSteps === UNFITTED ? null : totalSteps,
      epoch: this.trainLoader.state().epoch,
      samplesSeen: c.samplesSeen,
      loader: this.trainLoader.state(),
      dropoutRng: getDropoutState(),
      bestValLoss: c.bestValLoss,
      bestStep: c.bestStep,
      lastValLoss: c.lastValLoss,
      lastImageGain: c.lastImageGain,
      window: { ...c.window },
      trainSeconds,
      finished,
      config: this.run.cfg,
      backend: { name: backend().name, threads: backend().threads },
    };
  }
}
