// The model against its PyTorch twin (tools/reference/nanovlm.py), llm.c's way: same weights, same
// images and tokens; logits, loss and every parameter's gradient must agree. Run by `npm run test:reference`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { presetConfig, type ModelConfig } from '../../src/model/config.ts';
import { createModel } from '../../src/model/nanovlm.ts';
import { readSafetensors, writeSafetensors } from '../../src/nn/index.ts';
import { backend } from '../../src/tensor/backends/index.ts';
import type { Tensor } from '../../src/tensor/tensor.ts';
import { Rng } from '../../src/util/rng.ts';
import { pythonWithTorch, INSTALL_TORCH_HINT } from '../../tools/reference/python.ts';
import { randomIds, randomImages } from '../model/helpers.ts';

const TOLERANCE = 1e-4;

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

function check(name: string, cfg: ModelConfig, B: number, lengths: number[], L: number): void {
  test(`${name}: logits, loss and every gradient match PyTorch within ${TOLERANCE} (${backend().name} backend)`, async () => {
    const python = pythonWithTorch();
    assert.ok(python, `PyTorch is needed for the reference check: ${INSTALL_TORCH_HINT}`);
    const dir = mkdtempSync(path.join(tmpdir(), 'nanovlm-ref-'));
    try {
      const model = createModel(cfg, { seed: 7 }).eval();
      // Off the initial values (zero biases, unit norms, tiny logits), so every path carries signal.
      const rng = new Rng(17);
      for (const p of model.parameters().values())
        for (let i = 0; i < p.size; i++) p.data[i]! += 0.05 * rng.normal();
      const images = randomImages(B, cfg.image_size, 11);
      const ids = randomIds(cfg, lengths, L, 13);
      writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
      await writeSafetensors(path.join(dir, 'model.safetensors'), model.stateDict());
      await writeSafetensors(
        path.join(dir, 'inputs.safetensors'),
        new Map<string, Tensor>([
          ['images', images],
          ['ids', ids],
        ]),
      );
      const r = spawnSync(python, ['tools/reference/nanovlm.py', 'check', dir], {
        encoding: 'utf8',
        env: { ...process.env, OMP_NUM_THREADS: '2' },
      });
      assert.equal(r.status, 0, `nanovlm.py check failed:\n${r.stderr}`);
      const ref = readSafetensors(path.join(dir, 'outputs.safetensors')).tensors;

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
      const worst = errors.reduce((w, e) => (e[1] > w[1] ? e : w));
      console.log(
        `${name}: ${errors.length - 2} gradients; loss ${loss.item().toFixed(6)}; logits ${errors[0]![1].toExponential(2)}; worst ${worst[0]} ${worst[1].toExponential(2)}`,
      );
      for (const [what, err] of errors)
        assert.ok(err <= TOLERANCE, `${name}: ${what} differs from PyTorch by ${err} (relative)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

check('tiny', presetConfig('tiny'), 3, [10, 6, 3], 10);
check(
  'tiny, all image tokens, untied head, single-linear connector',
  { ...presetConfig('tiny'), image_tokens: 'all', tie_word_embeddings: false, connector_hidden: 0 },
  2,
  [8, 5],
  8,
);
check('mini', presetConfig('mini'), 2, [16, 9], 16);
