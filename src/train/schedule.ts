/** Learning-rate schedule: linear warm-up from 0, then cosine decay to a floor. Depends on the step only. */
export interface ScheduleConfig {
  lr: number;
  /** The floor the cosine decays to. */
  minLr: number;
  warmupSteps: number;
  totalSteps: number;
}

/** The learning rate for optimizer step `step` (0-based: the first update uses step 0). */
export function learningRate(step: number, s: ScheduleConfig): number {
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / span);
  return s.minLr + 0.5 * (1 + Math.cos(Math.PI * progress)) * (s.lr - s.minLr);
}
