// The torch engine (python/nanovlm_torch) against itself over ranks and against the TypeScript
// trainer across a kill: the same tiny run, seed and data order must give the same losses within 1e-4.
// Run by `npm run test:reference` (needs python3-torch). CPU only, one thread per rank.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveConfig } from '../../src/train/config.ts';
import { readTrainerState, resolveCheckpoint } from '../../src/train/checkpoint.ts';
import { train, type TrainerState } from '../../src/train/trainer.ts';
import { pythonWithTorch, trainWithTorch } from '../../src/train/torch-engine.ts';
import { readSafetensors } from '../../src/nn/index.ts';
import { makePackedDataset } from '../train/fixture.ts';

const TOLERANCE = 1e-4;
const root = mkdtempSync(path.join(tmpdir(), 'torch-engine-'));
after(() => rmSync(root, { recursive: true, force: true }));
const { data, packed } = await makePackedDataset(root, 60, 'both');
const config = (more: [string, string][] = []) =>
  resolveConfig({
    model: 'tiny',
    overrides: [
      ['data', packed],
      ['text', 'both'],
      ['batchSize', '8'],
      ['gradAccum', '2'],
      ['microBatch', '3'],
      ['steps', '6'],
      ['warmupSteps', '2'],
      ['evalEvery', '3'],
      ['evalSamples', '6'],
      ['saveEvery', '0'],
      ['logEvery', '2'],
      ['samples', '2'],
      ['model.dropout', '0'],
      ...more,
    ],
  });
const quiet = { quiet: true, handleSignals: false, threadsPerRank: 1 } as const;

function assertClose(a: number[], b: number[], what: string): void {
  assert.equal(a.length, b.length, `${what}: ${a.length} vs ${b.length} values`);
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]!) <= TOLERANCE, `${what}: step ${i + 1}: ${x} vs ${b[i]}`));
  console.log(
    `${what}: worst difference ${Math.max(...a.map((x, i) => Math.abs(x - b[i]!))).toExponential(2)}`,
  );
}

// The uninterrupted run, in TypeScript.
const straight: number[] = [];
const a = await train({
  config: config(),
  runDir: path.join(root, 'ts-straight'),
  ...quiet,
  hooks: { onStep: (x) => straight.push(x.loss) },
});

test('torch engine: 1 rank and 2 ranks with half the batch each end on the same losses as the TypeScript trainer', async () => {
  assert.ok(pythonWithTorch(), 'PyTorch is needed: apt-get install -y python3-torch');
  const runs: { losses: number[]; val: number }[] = [];
  for (const nproc of [1, 2]) {
    const losses: number[] = [];
    const s = await trainWithTorch({
      config: config(),
      runDir: path.join(root, `ranks-${nproc}`),
      nproc,
      ...quiet,
      onStep: (x) => losses.push(x.loss),
    });
    assert.equal(s.step, 6);
    assert.equal(s.stoppedBy, 'done');
    // described by our own model from the torch-written folder
    assert.equal(s.samples.length, 2);
    runs.push({ losses, val: s.valLoss! });
  }
  console.log(
    `1 rank ${runs[0]!.losses.map((x) => x.toFixed(6)).join(' ')}; 2 ranks ${runs[1]!.losses.map((x) => x.toFixed(6)).join(' ')}`,
  );
  assertClose(runs[1]!.losses, runs[0]!.losses, '2 ranks vs 1');
  assertClose([runs[1]!.val], [runs[0]!.val], 'val loss');
  // a fresh run starts from our initialisation of the seed: the same run as the TypeScript trainer's
  assertClose(runs[0]!.losses, straight, 'torch vs ts');
  assertClose([runs[0]!.val], [a.valLoss!], 'val loss, torch vs ts');
  const metrics = readFileSync(path.join(root, 'ranks-2', 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n');
  assert.ok(metrics.some((l) => JSON.parse(l).val_image_gain !== undefined));
  // the torch-trained folder is an ordinary model folder for `nanovlm generate`
  const r = spawnSync(
    process.execPath,
    [
      'bin/nanovlm.js',
      'generate',
      '--model',
      resolveCheckpoint(path.join(root, 'ranks-2')),
      '--image',
      path.join(data, 'images', '0000.png'),
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.trim().length > 0);
});

test('a run killed in either engine resumes in the other with the same losses, data position and optimizer state', async () => {
  const endState = readTrainerState<TrainerState>(a.checkpoint);

  // TypeScript stopped at step 3, the torch engine on 2 ranks takes over.
  const tsFirst: number[] = [];
  await train({
    config: config(),
    runDir: path.join(root, 'ts-then-torch'),
    ...quiet,
    hooks: { onStep: (x) => tsFirst.push(x.loss), shouldStop: (step) => step === 3 },
  });
  const torchRest: number[] = [];
  const b = await trainWithTorch({
    resume: path.join(root, 'ts-then-torch'),
    nproc: 2,
    ...quiet,
    onStep: (x) => torchRest.push(x.loss),
  });
  assertClose([...tsFirst, ...torchRest], straight, 'ts then torch');
  const bState = readTrainerState<TrainerState>(b.checkpoint);
  assert.deepEqual(bState.loader, endState.loader);
  assert.equal(bState.step, endState.step);
  assert.equal(bState.samplesSeen, endState.samplesSeen);
  assert.ok(Math.abs(b.valLoss! - a.valLoss!) <= TOLERANCE, `val ${b.valLoss} vs ${a.valLoss}`);
  const optA = readSafetensors(path.join(a.checkpoint, 'optimizer.safetensors'));
  const optB = readSafetensors(path.join(b.checkpoint, 'optimizer.safetensors'));
  assert.equal(optB.metadata.step, optA.metadata.step);
  let worst = 0;
  for (const [name, t] of optA.tensors) {
    const u = optB.tensors.get(name)!.f;
    let scale = 0;
    let diff = 0;
    t.f.forEach(
      (x, i) => ((scale = Math.max(scale, Math.abs(x))), (diff = Math.max(diff, Math.abs(x - u[i]!)))),
    );
    worst = Math.max(worst, scale ? diff / scale : diff);
  }
  assert.ok(worst < 1e-3, `optimizer moments differ by ${worst} (relative)`);

  // The torch engine killed (SIGKILL, every rank) after step 4 with checkpoints every 2 steps;
  // TypeScript resumes from whatever checkpoint survived.
  const killed: number[] = [];
  let stop = () => {};
  await assert.rejects(
    trainWithTorch({
      config: config([['saveEvery', '2']]),
      runDir: path.join(root, 'torch-killed'),
      nproc: 2,
      ...quiet,
      onRanks: (ranks) => (stop = () => ranks.forEach((c) => c.kill('SIGKILL'))),
      onStep: (x) => {
        killed.push(x.loss);
        if (x.step === 4) stop();
      },
    }),
    /torch engine, rank \d/,
  );
  const survived = readTrainerState<TrainerState>(resolveCheckpoint(path.join(root, 'torch-killed'))).step;
  assert.ok(survived >= 2 && survived < 6, `resuming from step ${survived}`);
  const tsRest: number[] = [];
  const c = await train({
    resume: path.join(root, 'torch-killed'),
    ...quiet,
    hooks: { onStep: (x) => tsRest.push(x.loss) },
  });
  assert.equal(c.step, 6);
  assertClose([...killed.slice(0, survived), ...tsRest], straight, 'torch killed, then ts');
  assert.ok(Math.abs(c.valLoss! - a.valLoss!) <= TOLERANCE, `val ${c.valLoss} vs ${a.valLoss}`);
});
