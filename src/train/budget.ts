/**
 * The time budget (`--minutes`): stop before a step would overrun it, and fit the schedule's length to
 * it once the warm-up steps have been timed (before the cosine starts), then check the fit once
 * halfway, against wall time that by then includes validations and checkpoints.
 */
import type { TrainConfig } from './config.ts';

/** The first steps are not timed: they pay for warming caches and pools. */
const UNTIMED_STEPS = 3;
/** The schedule is fitted after this many steps, or after the warm-up when that is shorter or longer. */
const CALIBRATE_MIN = 5;
const CALIBRATE_MAX = 30;
/** The halfway refit aims at this share of the budget that is left, and keeps this many steps in hand. */
const REFIT_AIM = 0.98;
const REFIT_SPARE_STEPS = 3;
/** A refit changes the schedule only when it moves the end by more than this share. */
const REFIT_TOLERANCE = 0.03;
/** Share of the remaining time kept back for checkpoints, the final validation and slack. */
const FIT_RESERVE = 0.03;
/** A training batch costs about this many validation ones (a validation is forward only). */
const TRAIN_PER_EVAL_BATCH = 3;

export class TimeBudget {
  readonly ms: number;
  /** Steps after which the schedule is fitted (a time-budget run only). */
  readonly calibrateAt: number;
  private loopStart = performance.now();
  private stepMs = 0;
  private fit: { step: number; time: number; check: number } | null = null;

  constructor(
    private readonly tc: TrainConfig,
    /** When the run started (performance.now()). */
    private readonly t0: number,
    private readonly startStep: number,
    /** True when the schedule's length waits to be fitted to the budget. */
    private readonly fitted: boolean,
  ) {
    this.ms = tc.minutes > 0 ? tc.minutes * 60_000 : Infinity;
    this.calibrateAt = Math.max(CALIBRATE_MIN, Math.min(tc.warmupSteps, CALIBRATE_MAX));
  }

  private remainingMs(): number {
    return this.ms - (performance.now() - this.t0);
  }

  /** True when one more step (at the time measured so far) would run past the budget. */
  wouldOverrun(): boolean {
    return performance.now() - this.t0 + this.stepMs > this.ms;
  }

  /** Call after each step: returns the schedule length, fitted or refitted when it is time. */
  afterStep(step: number, totalSteps: number, say: (msg: string) => void): number {
    const sinceStart = step - this.startStep;
    if (sinceStart === UNTIMED_STEPS) this.loopStart = performance.now();
    if (sinceStart > UNTIMED_STEPS)
      this.stepMs = (performance.now() - this.loopStart) / (sinceStart - UNTIMED_STEPS);
    if (this.fitted && sinceStart === this.calibrateAt) {
      const total = fitStepsToBudget(step, this.stepMs, this.remainingMs(), this.tc);
      this.fit = { step, time: performance.now(), check: Math.floor((step + total) / 2) };
      say(
        `time budget ${this.tc.minutes} min: ${this.stepMs.toFixed(0)} ms/step → schedule of ${total} steps`,
      );
      return total;
    }
    if (this.fit && step === this.fit.check) {
      const wallMs = (performance.now() - this.fit.time) / (step - this.fit.step);
      const spare = this.remainingMs() * REFIT_AIM - wallMs * REFIT_SPARE_STEPS;
      const refit = step + Math.max(1, Math.floor(spare / wallMs));
      this.fit = null;
      if (Math.abs(refit - totalSteps) > REFIT_TOLERANCE * totalSteps) {
        say(
          `time budget: ${wallMs.toFixed(0)} ms/step so far → schedule of ${refit} steps (was ${totalSteps})`,
        );
        return refit;
      }
    }
    return totalSteps;
  }
}

/**
 * Steps that fit the remaining budget: the measured step time, plus what validations and checkpoints
 * will cost.
 */
export function fitStepsToBudget(done: number, stepMs: number, remainingMs: number, tc: TrainConfig): number {
  const evalBatches = Math.ceil(tc.evalSamples / tc.batchSize);
  const evalMs = (evalBatches * stepMs) / (TRAIN_PER_EVAL_BATCH * tc.gradAccum);
  const perStep = stepMs + (tc.evalEvery > 0 ? evalMs / tc.evalEvery : 0);
  const reserve = FIT_RESERVE * remainingMs + evalMs;
  return done + Math.max(1, Math.floor((remainingMs - reserve) / perStep));
}
