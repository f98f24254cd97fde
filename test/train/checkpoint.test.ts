import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  bestCheckpoint,
  listCheckpoints,
  readTrainerState,
  resolveCheckpoint,
  writeCheckpoint,
  runDirOf,
} from '../../src/train/checkpoint.ts';

const fill = (step: number) => async (dir: string) => {
  writeFileSync(path.join(dir, 'model.safetensors'), 'w'.repeat(step));
  writeFileSync(path.join(dir, 'trainer_state.json'), JSON.stringify({ step }));
};

test('checkpoints: last and best links, pruning of everything else', async () => {
  const run = mkdtempSync(path.join(tmpdir(), 'ck-'));
  await writeCheckpoint(run, 10, fill(10), { best: true });
  await writeCheckpoint(run, 20, fill(20));
  await writeCheckpoint(run, 30, fill(30), { best: true });
  await writeCheckpoint(run, 40, fill(40));
  const ck = path.join(run, 'checkpoints');
  assert.equal(readlinkSync(path.join(ck, 'last')), 'step-00000040');
  assert.equal(readlinkSync(path.join(ck, 'best')), 'step-00000030');
  assert.deepEqual(
    listCheckpoints(run).map((c) => c.step),
    [30, 40],
  );
  assert.deepEqual(readdirSync(ck).sort(), ['best', 'last', 'step-00000030', 'step-00000040']);
  assert.equal(readTrainerState<{ step: number }>(resolveCheckpoint(run)).step, 40);
  assert.equal(readTrainerState<{ step: number }>(bestCheckpoint(run)!).step, 30);
  assert.equal(runDirOf(resolveCheckpoint(path.join(ck, 'last'))), run);
});

test('checkpoints: a failed write leaves the previous checkpoint and no temp folder', async () => {
  const run = mkdtempSync(path.join(tmpdir(), 'ck-'));
  await writeCheckpoint(run, 5, fill(5));
  await assert.rejects(
    writeCheckpoint(run, 6, async (dir) => {
      writeFileSync(path.join(dir, 'model.safetensors'), 'partial');
      throw new Error('disk full');
    }),
    /disk full/,
  );
  assert.deepEqual(readdirSync(path.join(run, 'checkpoints')).sort(), ['last', 'step-00000005']);
  assert.equal(readTrainerState<{ step: number }>(resolveCheckpoint(run)).step, 5);
});

test('resolveCheckpoint: leftovers of a killed writer are ignored, highest complete folder without links', () => {
  const run = mkdtempSync(path.join(tmpdir(), 'ck-'));
  const ck = path.join(run, 'checkpoints');
  for (const name of ['step-00000007', 'step-00000009', '.tmp-step-00000011-999999']) {
    mkdirSync(path.join(ck, name), { recursive: true });
  }
  writeFileSync(path.join(ck, 'step-00000007', 'trainer_state.json'), '{"step":7}');
  writeFileSync(path.join(ck, '.tmp-step-00000011-999999', 'trainer_state.json'), '{"step":11}');
  // step-9 has no trainer_state.json: incomplete, never chosen
  assert.equal(readTrainerState<{ step: number }>(resolveCheckpoint(run)).step, 7);
  assert.throws(() => resolveCheckpoint(path.join(run, 'nope')), /no such file/);
  const empty = mkdtempSync(path.join(tmpdir(), 'ck-'));
  assert.throws(() => resolveCheckpoint(empty), /no checkpoint found/);
});

test('checkpoints: the next write cleans up leftovers of a killed writer', async () => {
  const run = mkdtempSync(path.join(tmpdir(), 'ck-'));
  const ck = path.join(run, 'checkpoints');
  mkdirSync(path.join(ck, '.tmp-step-00000003-999999'), { recursive: true });
  mkdirSync(path.join(ck, '.trash-step-00000001-999999'), { recursive: true });
  await writeCheckpoint(run, 4, fill(4));
  assert.deepEqual(readdirSync(ck).sort(), ['last', 'step-00000004']);
  assert.ok(!existsSync(path.join(ck, '.tmp-step-00000003-999999')));
});
