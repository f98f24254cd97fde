import { Rng } from '../util/rng.ts';
import { UserError } from '../util/errors.ts';

/**
 * Where dropout layers get their seeds: one module-level generator, advanced once per dropout call.
 * Its state goes into checkpoints, so a resumed run draws exactly the masks the uninterrupted run would.
 */
let generator = new Rng(0);

/** Restarts the sequence from a seed (a training run calls this once at start). */
export function seedDropout(seed: number): void {
  generator = new Rng(seed);
}

/** The next dropout seed (a uint32 for the op's counter hash). */
export function nextDropoutSeed(): number {
  return generator.nextUint32();
}

/** The generator's state, to save in a checkpoint. */
export function getDropoutState(): number[] {
  return generator.state;
}

/** Restores a state saved by `getDropoutState`. */
export function setDropoutState(state: readonly number[]): void {
  if (state.length !== 4 || !state.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff)) {
    throw new UserError(`dropout RNG state must be four uint32 values, got ${JSON.stringify(state)}`);
  }
  generator = Rng.fromState([...state]);
}
