// The model against its PyTorch twin (python/nanovlm_torch/model.py, driven by tools/reference/nanovlm.py), llm.c's way: same weights, same
// images and tokens; logits, loss and every parameter's gradient must agree. Run by `npm run test:reference`.
//
// float32 on the default backend (native when built) is the real check. float64 on the ts backend checks
// the architecture itself to rounding level. In float32 the two sides may round a ReLU input lying
// within ~1e-7 of 0 to opposite signs; one such element among the patch embedding's 1.6M moves a bias
// gradient by ~1e-3, so the twin is told our ReLU on/off pattern (same branch of the kink, same
// function) and the test reports how many elements were affected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { presetConfig, type ModelConfig } from '../../src/model/config.ts';
import { createModel, type NanoVLM } from '../../src/model/nanovlm.ts';
import { readSafetensors, writeSafetensors } from '../../src/nn/index.ts';
import { backend, setBackend } from '../../src/tensor/backends/index.ts';
import { Tensor, noGrad } from '../../src/tensor/tensor.ts';
import { Rng } from '../../src/util/rng.ts';
import { pythonWithTorch, INSTALL_TORCH_HINT } from '../../tools/reference/python.ts';
import { randomIds, randomImages } from '../model/helpers.ts';

const TOLERANCE = { float32: 1e-4, float64: 1e-10 };

/** max |a - b| relative to the largest |b| of the tensor (the error at the tensor's own scale). */
function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return scale === 0 ? diff : diff / scale;
}

/** Our pre-ReLU values in the patch embedding (its LayerNorm's output), [B*P, features]. */
function patchPreActivation(model: NanoVLM, images: Tensor): Tensor {
  return noGrad(() => model.vision.patch.preActivation(images));
}

function check(
  name: string,
  cfg: ModelConfig,
  lengths: number[],
  L: number,
  dtype: 'float32' | 'float64',
): void {
  const be = dtype === 'float64' ? 'ts' : backend().name;
  const tolerance = TOLERANCE[dtype];
  test(`${name}, ${dtype}: logits, loss and every gradient match PyTorch within ${tolerance} (${be} backend)`, async () => {
    const previous = backend();
    setBackend(be); // for the whole async test (withBackend would restore at the first await)
    const python = pythonWithTorch();
    assert.ok(python, `PyTorch is needed for the reference check: ${INSTALL_TORCH_HINT}`);
    const dir = mkdtempSync(path.join(tmpdir(), 'nanovlm-ref-'));
    try {
      const model = createModel(cfg, { seed: 7 }).eval();
      // Off the initial values (zero biases, unit norms, tiny logits), so every path carries signal.
      const rng = new Rng(17);
      for (const p of model.parameters().values())
        for (let i = 0; i < p.size; i++) p.data[i]! += 0.05 * rng.normal();
      let images = randomImages(lengths.length, cfg.image_size, 11);
      const ids = randomIds(cfg, lengths, L, 13);
      writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
      await writeSafetensors(path.join(dir, 'model.safetensors'), model.stateDict());
      const inputs = new Map<string, Tensor>([['ids', ids]]);
      let ours: Tensor | null = null;
      if (dtype === 'float64') {
        for (const p of model.parameters().values()) p.data = Float64Array.from(p.data);
        images = Tensor.from(images.data, images.shape, 'float64');
      } else {
        ours = patchPreActivation(model, images);
        inputs.set(
          'patch_relu_mask',
          Tensor.from(
            ours.f.map((v) => (v > 0 ? 1 : 0)),
            ours.shape,
          ),
        );
      }
      inputs.set('images', images);
      await writeSafetensors(path.join(dir, 'inputs.safetensors'), inputs);
      const r = spawnSync(python, ['tools/reference/nanovlm.py', 'check', dir], {
        encoding: 'utf8',
        env: { ...process.env, OMP_NUM_THREADS: '2' },
      });
      assert.equal(r.status, 0, `nanovlm.py check failed:\n${r.stderr}`);
      const ref = readSafetensors(path.join(dir, 'outputs.safetensors')).tensors;
      let flips = 0;
      if (ours) {
        const theirs = ref.get('patch_preact')!.f;
        ours.f.forEach((v, i) => (flips += v > 0 !== theirs[i]! > 0 ? 1 : 0));
      }

      const { logits, loss } = model.forward(images, ids);
      loss.backward();
      const errors: [string, number][] = [
        ['logits', relError(logits.f, ref.get('logits')!.f)],
        ['loss', relError(loss.f, ref.get('loss')!.f)],
      ];
      for (const [pname, p] of model.parameters()) {
        const g = ref.get(`grad.${pname}`);
        assert.ok(g, `PyTorch has no gradient for ${pname}`);
        assert.ok(p.grad, `no gradient reached ${pname}`);
        errors.push([`grad ${pname}`, relError(p.grad, g.f)]);
      }
      const worst = errors.slice(2).reduce((w, e) => (e[1] > w[1] ? e : w));
      console.log(
        `${name}, ${dtype}: loss ${loss.item().toFixed(6)}; logits ${errors[0]![1].toExponential(2)}, ` +
          `loss ${errors[1]![1].toExponential(2)}; ${errors.length - 2} gradients, worst ${worst[0]} ` +
          `${worst[1].toExponential(2)}` +
          (ours ? `; ReLU inputs on opposite sides of 0: ${flips} of ${ours.size}` : ''),
      );
      for (const [what, err] of errors) {
        assert.ok(err <= tolerance, `${name}: ${what} differs from PyTorch by ${err} (relative)`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      setBackend(previous);
    }
  });
}

const variant = {
  ...presetConfig('tiny'),
  image_tokens: 'all' as const,
  tie_word_embeddings: false,
  connector_hidden: 0,
  patch_stem: 'cnn' as const,
};
for (const dtype of ['float32', 'float64'] as const) {
  check('tiny', presetConfig('tiny'), [10, 6, 3], 10, dtype);
  check('tiny, all image tokens, untied head, single-linear connector, cnn stem', variant, [8, 5], 8, dtype);
}
check('mini', presetConfig('mini'), [16, 9], 16, 'float32');
