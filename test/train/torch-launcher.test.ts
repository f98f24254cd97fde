// `nanovlm train --engine torch` before any rank starts (no PyTorch needed): what it refuses, and
// --print-command, which prepares the run folder for torchrun on several machines.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../src/cli/train.ts';
import { readSafetensors } from '../../src/nn/index.ts';
import { Tokenizer } from '../../src/tokenizer/index.ts';
import { createModel } from '../../src/train/model-bridge.ts';
import { makePackedDataset } from './fixture.ts';

const root = mkdtempSync(path.join(tmpdir(), 'torch-launcher-'));
after(() => rmSync(root, { recursive: true, force: true }));
const { data, packed } = await makePackedDataset(root, 20, 'short');
const usage = (re: RegExp) => (e: Error & { exitCode?: number }) => re.test(e.message) && e.exitCode === 2;

test('train --engine torch refuses a PNG folder, an unsplittable batch and engine flags without the engine', async () => {
  const base = ['--model', 'tiny', '--steps', '1', '--batch-size', '8'];
  await assert.rejects(
    run([...base, '--engine', 'torch', '--data', data, '--out', path.join(root, 'a')]),
    usage(/reads packed folders; make one with "nanovlm data pack --in .* --image-size 32"/),
  );
  await assert.rejects(
    run([...base, '--engine', 'torch', '--nproc', '3', '--data', packed, '--out', path.join(root, 'b')]),
    usage(/--batch-size 8 does not split over 3 ranks/),
  );
  await assert.rejects(run([...base, '--nproc', '2', '--data', packed]), usage(/go with --engine torch/));
  await assert.rejects(
    run([...base, '--engine', 'torch', '--nproc', '0', '--data', packed, '--out', path.join(root, 'c')]),
    usage(/--nproc must be ≥ 1/),
  );
  for (const refused of ['a', 'b', 'c'])
    assert.ok(!existsSync(path.join(root, refused)), `${refused} was created`);
});

test('--print-command writes the run folder (config, our initial weights) and prints the torchrun line', async () => {
  const out = path.join(root, 'cluster');
  const lines: string[] = [];
  const log = console.log;
  console.log = (s: string) => lines.push(s);
  try {
    const code = await run([
      '--model',
      'tiny',
      '--engine',
      'torch',
      '--device',
      'cuda',
      '--data',
      packed,
      '--out',
      out,
      '--print-command',
    ]);
    assert.equal(code, 0);
  } finally {
    console.log = log;
  }
  assert.match(
    lines.join('\n'),
    /torchrun --nnodes=N .*-m nanovlm_torch --run .*cluster --device cuda --init .*init\.safetensors/,
  );
  const cfg = JSON.parse(readFileSync(path.join(out, 'train_config.json'), 'utf8'));
  assert.equal(cfg.train.data, packed);
  assert.equal(cfg.model.vocab_size, Tokenizer.load(path.join(data, 'tokenizer.json')).vocabSize);
  const init = readSafetensors(path.join(out, 'init.safetensors')).tensors;
  const ours = createModel(cfg.model, cfg.train.seed).stateDict();
  assert.deepEqual([...init.keys()].sort(), [...ours.keys()].sort());
  assert.deepEqual(init.get('decoder.wte.weight')!.f, ours.get('decoder.wte.weight')!.f);
  assert.ok(!existsSync(path.join(out, 'checkpoints')));
});
