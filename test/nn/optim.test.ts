import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withBackend, nativeBackend, nativeLoadError } from '../../src/tensor/backends/index.ts';
import { Rng } from '../../src/util/rng.ts';
import { UserError } from '../../src/util/errors.ts';
import {
  AdamW,
  Parameter,
  clipGradNorm,
  decayMatricesOnly,
  encodeSafetensors,
  readSafetensors,
} from '../../src/nn/index.ts';

const BACKENDS = ['ts', 'native'] as const;
/** Runs on a backend; native must exist (a missing addon fails the test rather than skipping it). */
function on<T>(name: 'ts' | 'native', fn: () => T): T {
  if (name === 'native') assert.ok(nativeBackend(), `native backend not available: ${nativeLoadError}`);
  return withBackend(name, fn);
}

function makeParams(rng: Rng): Map<string, Parameter> {
  const params = new Map<string, Parameter>();
  for (const [name, shape] of [
    ['w', [3, 5]],
    ['b', [5]],
    ['big', [7, 33]],
  ] as const) {
    const p = new Parameter(shape);
    for (let i = 0; i < p.size; i++) p.data[i] = rng.normal();
    params.set(name, p);
  }
  return params;
}

/** The AdamW update written out directly in float64. */
function referenceAdamW(
  p: number[],
  grads: number[][],
  lrs: number[],
  b1: number,
  b2: number,
  eps: number,
  wd: number,
): number[] {
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  p = [...p];
  grads.forEach((g, s) => {
    const t = s + 1;
    for (let i = 0; i < p.length; i++) {
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * g[i]! * g[i]!;
      const mHat = m[i]! / (1 - b1 ** t);
      const vHat = v[i]! / (1 - b2 ** t);
      p[i] = p[i]! - lrs[s]! * wd * p[i]! - lrs[s]! * (mHat / (Math.sqrt(vHat) + eps));
    }
  });
  return p;
}

for (const be of BACKENDS) {
  test(`AdamW matches the formula over several steps, with and without decay, with a scaled rate [${be}]`, () =>
    on(be, () => {
      const rng = new Rng(3);
      const params = makeParams(rng);
      const start = new Map([...params].map(([k, p]) => [k, p.toArray()]));
      const opt = new AdamW(params, {
        lr: 0.01,
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-8,
        weightDecay: 0.1,
        decay: decayMatricesOnly,
        lrScale: (name) => (name === 'big' ? 0.25 : 1),
      });
      assert.deepEqual(
        opt.groups.map((g) => [g.weightDecay, g.lrScale, g.names]),
        [
          [0.1, 1, ['w']],
          [0, 1, ['b']],
          [0.1, 0.25, ['big']],
        ],
      );
      const grads = new Map([...params.keys()].map((k) => [k, [] as number[][]]));
      const lrs = [0.01, 0.02, 0.005, 0.01, 0.03, 0.001];
      for (const lr of lrs) {
        for (const [name, p] of params) {
          const g = new Float32Array(p.size).map(() => rng.normal() * (name === 'b' ? 1e-3 : 1));
          p.grad = g;
          grads.get(name)!.push(Array.from(g));
        }
        opt.step(lr);
      }
      assert.equal(opt.steps, lrs.length);
      for (const [name, p] of params) {
        const wd = name === 'b' ? 0 : 0.1;
        const scaled = lrs.map((lr) => (name === 'big' ? lr * 0.25 : lr));
        const want = referenceAdamW(start.get(name)!, grads.get(name)!, scaled, 0.9, 0.95, 1e-8, wd);
        p.toArray().forEach((x, i) =>
          assert.ok(Math.abs(x - want[i]!) < 1e-5, `${name}[${i}]: ${x} vs ${want[i]}`),
        );
      }
    }));

  test(`AdamW state saved mid-run and restored continues exactly [${be}]`, () =>
    on(be, () => {
      const gradAt = (step: number, p: Parameter, name: string) => {
        const r = new Rng(step * 31 + name.length);
        return new Float32Array(p.size).map(() => r.normal());
      };
      const run = (params: Map<string, Parameter>, opt: AdamW, from: number, to: number) => {
        for (let s = from; s < to; s++) {
          for (const [name, p] of params) p.grad = gradAt(s, p, name);
          opt.step(0.01 * (1 + s));
        }
      };
      const a = makeParams(new Rng(5));
      const optA = new AdamW(a, { weightDecay: 0.05 });
      run(a, optA, 0, 6);

      const b = makeParams(new Rng(5));
      const optB = new AdamW(b, { weightDecay: 0.05 });
      run(b, optB, 0, 3);
      const saved = readSafetensors(encodeSafetensors(optB.stateDict().tensors, optB.stateDict().metadata));
      assert.ok(saved.tensors.has('big.exp_avg') && saved.tensors.has('big.exp_avg_sq'));
      const snapshot = new Map([...b].map(([k, p]) => [k, Float32Array.from(p.f)]));
      const c = new Map(
        [...snapshot].map(([k, d]) => {
          const p = new Parameter(b.get(k)!.shape);
          p.data.set(d);
          return [k, p];
        }),
      );
      const optC = new AdamW(c, { weightDecay: 0.05 });
      optC.loadStateDict(saved);
      assert.equal(optC.steps, 3);
      run(c, optC, 3, 6);
      for (const [name, p] of a) assert.deepEqual(c.get(name)!.data, p.data, name);
    }));
}

test('AdamW skips parameters without a gradient; zeroGrad clears', () => {
  const p = new Parameter([2], 1);
  const q = new Parameter([2], 1);
  const opt = new AdamW(
    new Map([
      ['p', p],
      ['q', q],
    ]),
    { lr: 0.1 },
  );
  p.grad = Float32Array.from([1, -1]);
  withBackend('ts', () => opt.step());
  assert.deepEqual(q.toArray(), [1, 1]);
  assert.ok(p.data[0]! < 1 && p.data[1]! > 1);
  opt.zeroGrad();
  assert.deepEqual(Array.from(p.grad!), [0, 0]);
  opt.zeroGrad({ setToNone: true });
  assert.equal(p.grad, null);
});

test('AdamW loadStateDict rejects a state that does not match the parameters', () => {
  const params = makeParams(new Rng(1));
  const { tensors, metadata } = new AdamW(params).stateDict();
  const fresh = () => new AdamW(makeParams(new Rng(1)));
  const missing = new Map(tensors);
  missing.delete('w.exp_avg_sq');
  assert.throws(
    () => fresh().loadStateDict({ tensors: missing, metadata }, { source: 'opt.st' }),
    (e: unknown) => e instanceof UserError && /opt\.st: tensor "w\.exp_avg_sq" is missing/.test(e.message),
  );
  const wrong = new Map(tensors).set('b.exp_avg', tensors.get('w.exp_avg')!);
  assert.throws(
    () => fresh().loadStateDict({ tensors: wrong, metadata }),
    /"b\.exp_avg" has shape \[3, 5\], expected \[5\]/,
  );
  assert.throws(() => fresh().loadStateDict({ tensors, metadata: { step: 'x' } }), /"step"/);
  const extra = new Map(tensors).set('zzz.exp_avg', tensors.get('b.exp_avg')!);
  assert.throws(
    () => fresh().loadStateDict({ tensors: extra, metadata }),
    /unexpected tensor "zzz\.exp_avg"/,
  );
});

for (const be of BACKENDS) {
  test(`clipGradNorm returns the global norm and scales gradients down to maxNorm [${be}]`, () =>
    on(be, () => {
      const a = new Parameter([2]);
      const b = new Parameter([3]);
      const none = new Parameter([4]);
      a.grad = Float32Array.from([3, 0]);
      b.grad = Float32Array.from([0, 4, 12]);
      assert.ok(Math.abs(clipGradNorm([a, b, none], 26) - 13) < 1e-6);
      assert.deepEqual(Array.from(a.grad), [3, 0], 'below maxNorm: untouched');
      const norm = clipGradNorm(
        new Map([
          ['a', a],
          ['b', b],
          ['none', none],
        ]),
        1.3,
      );
      assert.ok(Math.abs(norm - 13) < 1e-6);
      const after = Math.hypot(...a.grad, ...b.grad);
      assert.ok(Math.abs(after - 1.3) < 1e-5, `norm after clipping ${after}`);
      assert.ok(Math.abs(b.grad[2]! - 1.2) < 1e-5);
      b.grad[0] = NaN;
      assert.ok(Number.isNaN(clipGradNorm([a, b], 1)));
    }));
}
