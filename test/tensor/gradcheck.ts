/**
 * Finite-difference gradient checking, reusable by any test. Inputs are float64 tensors; the function is
 * run on the `ts` backend (the only one with float64). The scalar checked is Σ out ⊙ R for a fixed random
 * R, so every output element's gradient path matters, not just their sum.
 */
import assert from 'node:assert/strict';
import { Tensor, backward, noGrad } from '../../src/tensor/tensor.ts';
import { withBackend } from '../../src/tensor/backends/index.ts';
import type { Backend } from '../../src/tensor/backend.ts';
import { Rng } from '../../src/util/rng.ts';

export interface GradcheckOptions {
  /** Central-difference step (default 1e-5). */
  eps?: number;
  /** Largest accepted max|analytic - numeric| / max|numeric| per input (default 1e-6). */
  tol?: number;
  /** Seed for the random projection R. */
  seed?: number;
  backend?: Backend | 'ts' | 'native';
  /** Accept inputs whose gradient is exactly zero everywhere. */
  allowZero?: boolean;
}

export interface GradcheckResult {
  /** Relative error per input, in input order. */
  errors: number[];
}

/** Random float64 tensor that requires a gradient. */
export function param(shape: number[], rng: Rng, std = 1): Tensor {
  const t = Tensor.randn(shape, rng, std, 'float64');
  t.requiresGrad = true;
  return t;
}

function projection(out: Tensor, r: Float64Array): number {
  let s = 0;
  for (let i = 0; i < r.length; i++) s += out.data[i]! * r[i]!;
  return s;
}

/**
 * Compares the gradients backward() accumulates into `inputs` with central differences of `fn`,
 * asserting each input's relative error is at most `tol`. Returns the errors.
 */
export function gradcheck(
  label: string,
  inputs: Tensor[],
  fn: (...xs: Tensor[]) => Tensor,
  opts: GradcheckOptions = {},
): GradcheckResult {
  const eps = opts.eps ?? 1e-5;
  const tol = opts.tol ?? 1e-6;
  return withBackend(opts.backend ?? 'ts', () => {
    for (const x of inputs) {
      assert.equal(x.dtype, 'float64', `${label}: gradcheck needs float64 inputs`);
      x.requiresGrad = true;
      x.grad = null;
    }
    const out = fn(...inputs);
    assert.ok(out.requiresGrad, `${label}: output does not require a gradient (nothing was recorded)`);
    const rng = new Rng(opts.seed ?? 12345);
    const r = new Float64Array(out.size);
    for (let i = 0; i < r.length; i++) r[i] = rng.normal();
    backward(out, r);

    const errors = inputs.map((x, xi) => {
      const analytic = x.grad ?? new Float64Array(x.size);
      let maxDiff = 0;
      let maxNum = 0;
      let worst = -1;
      noGrad(() => {
        for (let i = 0; i < x.size; i++) {
          const keep = x.data[i]!;
          x.data[i] = keep + eps;
          const up = projection(fn(...inputs), r);
          x.data[i] = keep - eps;
          const down = projection(fn(...inputs), r);
          x.data[i] = keep;
          const numeric = (up - down) / (2 * eps);
          const diff = Math.abs(numeric - analytic[i]!);
          if (diff > maxDiff) [maxDiff, worst] = [diff, i];
          maxNum = Math.max(maxNum, Math.abs(numeric));
        }
      });
      const err = maxDiff / Math.max(maxNum, 1e-12);
      assert.ok(
        err <= tol,
        `${label}: input ${xi} gradient differs from finite differences: relative error ${err.toExponential(2)} ` +
          `(worst element ${worst}: analytic ${analytic[worst]}, max |numeric| ${maxNum})`,
      );
      // An input with no influence at all usually means the test is not testing what it says.
      assert.ok(maxNum > 0 || opts.allowZero, `${label}: input ${xi} has no effect on the output`);
      return err;
    });
    return { errors };
  });
}
