import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { train, type TrainerState } from '../../src/train/trainer.ts';
import { readTrainerState, resolveCheckpoint } from '../../src/train/checkpoint.ts';
import { readMetrics } from '../../src/train/metrics.ts';
import { makeDataset, tinyRunConfig } from './fixture.ts';

const root = mkdtempSync(path.join(tmpdir(), 'resume-'));
const data = await makeDataset(path.join(root, 'data'), { count: 60 });
const config = tinyRunConfig(data, {
  batchSize: 6,
  gradAccum: 2,
  steps: 12,
  warmupSteps: 3,
  evalEvery: 4,
  evalSamples: 6,
  saveEvery: 0,
  logEvery: 3,
  samples: 2,
});
const withoutTimes = (file: string) =>
  readMetrics(file).map(({ samples_per_s: _s, time: _t, ...rest }) => rest);

test('a run stopped after k steps and resumed repeats the uninterrupted run exactly', async () => {
  const straight: number[] = [];
  const a = await train({
    config,
    runDir: path.join(root, 'a'),
    quiet: true,
    handleSignals: false,
    hooks: { onStep: (s) => straight.push(s.loss) },
  });
  assert.equal(a.step, 12);
  assert.equal(a.stoppedBy, 'done');

  const resumed: number[] = [];
  const b1 = await train({
    config,
    runDir: path.join(root, 'b'),
    quiet: true,
    handleSignals: false,
    hooks: { onStep: (s) => resumed.push(s.loss), shouldStop: (step) => step === 5 },
  });
  assert.equal(b1.stoppedBy, 'hook');
  assert.equal(b1.step, 5);
  const b2 = await train({
    resume: path.join(root, 'b'),
    quiet: true,
    handleSignals: false,
    hooks: { onStep: (s) => resumed.push(s.loss) },
  });
  assert.equal(b2.step, 12);
  assert.equal(path.basename(b2.resumedFrom!), 'step-00000005');

  assert.equal(resumed.length, 12);
  for (let i = 0; i < 12; i++) {
    assert.ok(Math.abs(resumed[i]! - straight[i]!) <= 1e-6, `step ${i + 1}: ${resumed[i]} vs ${straight[i]}`);
  }
  // Same backend and threads: bit for bit, down to the final weights and the logged metrics.
  assert.deepEqual(resumed, straight);
  const weights = (run: string) =>
    readFileSync(path.join(root, run, 'checkpoints', 'last', 'model.safetensors'));
  assert.ok(weights('a').equals(weights('b')), 'final weights differ');
  assert.deepEqual(
    withoutTimes(path.join(root, 'b', 'metrics.jsonl')),
    withoutTimes(path.join(root, 'a', 'metrics.jsonl')),
  );
  assert.equal(b2.bestValLoss, a.bestValLoss);
  // The training did something: the loss went down.
  assert.ok(straight[11]! < straight[0]! - 0.3, `loss ${straight[0]} -> ${straight[11]}`);
});

test('resume refuses settings that would change the run', async () => {
  await assert.rejects(
    train({ resume: path.join(root, 'a'), resumeOverrides: { lr: 0.5 }, quiet: true, handleSignals: false }),
    /--lr cannot change when resuming/,
  );
});

test('a time-budget run stopped before its schedule was fitted fits it after resuming', async () => {
  const timed = tinyRunConfig(data, { batchSize: 6, minutes: 30, warmupSteps: 5, evalEvery: 0, samples: 0 });
  const run = path.join(root, 'timed');
  const first = await train({
    config: timed,
    runDir: run,
    quiet: true,
    handleSignals: false,
    hooks: { shouldStop: (s) => s === 2 },
  });
  assert.equal(first.step, 2);
  assert.equal(readTrainerState<TrainerState>(resolveCheckpoint(run)).totalSteps, null);
  const second = await train({
    resume: run,
    quiet: true,
    handleSignals: false,
    hooks: { shouldStop: (s) => s === 8 },
  });
  assert.equal(second.step, 8);
  const fitted = readTrainerState<TrainerState>(resolveCheckpoint(run)).totalSteps;
  assert.ok(fitted !== null && fitted > 8, `fitted ${fitted}`);
});

test('Ctrl-C is noticed at the next step even when every batch is already prefetched', async () => {
  const run = path.join(root, 'sigint');
  const config2 = tinyRunConfig(data, { batchSize: 2, steps: 400, evalEvery: 0, samples: 0, prefetch: 8 });
  const s = await train({
    config: config2,
    runDir: run,
    quiet: true,
    hooks: { onStep: ({ step }) => step === 20 && process.kill(process.pid, 'SIGINT') },
  });
  assert.equal(s.stoppedBy, 'signal');
  assert.ok(s.step >= 20 && s.step <= 21, `stopped at ${s.step}`);
  assert.equal(readTrainerState<TrainerState>(resolveCheckpoint(run)).step, s.step);
});
