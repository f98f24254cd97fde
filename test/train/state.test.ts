import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { train } from '../../src/train/trainer.ts';
import { TRAINER_STATE, resolveCheckpoint } from '../../src/train/checkpoint.ts';
import { STATE_VERSION, loadTrainerState } from '../../src/train/state.ts';
import { makeDataset, tinyRunConfig } from './fixture.ts';

const root = mkdtempSync(path.join(tmpdir(), 'state-'));
const data = await makeDataset(path.join(root, 'data'), { count: 30 });
const config = tinyRunConfig(data, {
  batchSize: 4,
  steps: 4,
  warmupSteps: 1,
  evalEvery: 0,
  evalSamples: 4,
  samples: 0,
  visionLrScale: 0.5,
});
const quiet = { quiet: true, handleSignals: false } as const;

/** Trains two steps into `run` and returns the trainer state file of its checkpoint. */
async function twoSteps(run: string): Promise<string> {
  await train({ config, runDir: run, ...quiet, hooks: { shouldStop: (step) => step === 2 } });
  return path.join(resolveCheckpoint(run), TRAINER_STATE);
}

test('a version 1 trainer state (no lastImageGain, no visionLrScale) resumes as one learning rate', async () => {
  assert.equal(STATE_VERSION, 2);
  const file = await twoSteps(path.join(root, 'v1'));
  const v1 = JSON.parse(readFileSync(file, 'utf8'));
  v1.version = 1;
  delete v1.lastImageGain;
  delete v1.config.train.visionLrScale;
  writeFileSync(file, JSON.stringify(v1));

  const read = loadTrainerState(path.dirname(file));
  assert.equal(read.version, 2);
  assert.equal(read.lastImageGain, null);
  assert.equal(read.config.train.visionLrScale, 1);

  const s = await train({ resume: path.join(root, 'v1'), ...quiet });
  assert.equal(s.step, 4);
  const after = JSON.parse(readFileSync(path.join(s.checkpoint, TRAINER_STATE), 'utf8'));
  assert.equal(after.version, 2);
  assert.equal(after.config.train.visionLrScale, 1);
  assert.ok('lastImageGain' in after);
});

test('a trainer state of an unknown version is refused, naming the file', async () => {
  const file = await twoSteps(path.join(root, 'v9'));
  const state = JSON.parse(readFileSync(file, 'utf8'));
  writeFileSync(file, JSON.stringify({ ...state, version: 9 }));
  await assert.rejects(
    train({ resume: path.join(root, 'v9'), ...quiet }),
    (e: Error) => e.message.includes(file) && /unsupported version 9/.test(e.message),
  );
});
