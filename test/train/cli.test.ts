import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../src/cli/train.ts';
import { makeDataset, tinyTrainArgs } from './fixture.ts';

const BIN = path.resolve('bin/nanovlm.js');
const root = mkdtempSync(path.join(tmpdir(), 'train-cli-'));
const data = await makeDataset(path.join(root, 'data'), { count: 30 });

function cli(args: string[], cwd = root) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('train: bad settings are rejected with the key named', async () => {
  const base = ['--model', 'tiny', '--data', data, '--out', path.join(root, 'never')];
  await assert.rejects(run([...base, '--warmup-stepz=3']), /unknown setting --warmup-stepz/);
  await assert.rejects(run([...base, '--lr=fast']), /--lr: expected a number, got "fast"/);
  await assert.rejects(run([...base, '--beta1=fast']), /beta1 must be a number, got "fast"/);
  await assert.rejects(run([...base, '--skip-bad=maybe']), /--skip-bad must be true or false/);
  await assert.rejects(
    run([...base, '--batch-size', '0']),
    /--batch-size \("batchSize"\) must be at least 1/,
  );
  await assert.rejects(run([...base, '--steps=2.5']), /--steps: expected an integer/);
  await assert.rejects(
    run([...base, '--eval-every=2.5']),
    /--eval-every \("evalEvery"\) must be a non-negative integer/,
  );
  await assert.rejects(run([...base, '--model.n_head=3']), /"n_embd" 32 is not divisible by "n_head" 3/);
  await assert.rejects(run([...base, '--text', 'medium']), /--text: expected one of short, long, both/);
  await assert.rejects(
    run(['--model', 'tiny', '--data', path.join(root, 'nope'), '--out', path.join(root, 'x')]),
    /tokenizer not found/,
  );
  assert.ok(!existsSync(path.join(root, 'never', 'checkpoints')));
});

test('train --json: one JSON summary; a second start in the same folder is refused', () => {
  const out = path.join(root, 'json-run');
  const args = tinyTrainArgs(data, out, '--json');
  const r = cli(args);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trim().split('\n');
  assert.equal(lines.length, 1);
  const s = JSON.parse(lines[0]!);
  assert.equal(s.step, 4);
  assert.equal(s.stoppedBy, 'done');
  assert.ok(s.peakRssMB > 0 && s.samplesPerSecond > 0 && s.valLoss > 0);
  for (const f of [
    'metrics.jsonl',
    'loss.png',
    'samples.jsonl',
    'train_config.json',
    'checkpoints/last/model.safetensors',
  ]) {
    assert.ok(existsSync(path.join(out, f)), f);
  }
  const again = cli(args);
  assert.equal(again.code, 2);
  assert.match(again.err, /already holds a training run: continue it with --resume/);

  // Resuming the finished run trains nothing: the speed is still the run's average (was "0.0 samples/s").
  const state = JSON.parse(readFileSync(path.join(out, 'checkpoints/last/trainer_state.json'), 'utf8'));
  const resumed = cli(['train', '--resume', out]);
  assert.equal(resumed.code, 0, resumed.err);
  const speed = /^speed +([\d.]+) samples\/s over the run's (\d+:\d\d) of training/m.exec(resumed.out);
  assert.ok(speed, resumed.out);
  assert.ok(Number(speed[1]) > 0);
  assert.equal(Number(speed[1]), Number((state.samplesSeen / state.trainSeconds).toFixed(1)));
  assert.equal(state.samplesSeen, 16);
  assert.doesNotMatch(resumed.err, /0\/0|step\/s/, 'no progress line for no steps');
});

test('main job: builds scenes, tokenizer, trains, scores; a second run reuses everything', () => {
  const args = [
    'main',
    '--count',
    '60',
    '--data',
    'scenes',
    '--minutes',
    '0.05',
    '--model',
    'tiny',
    '--name',
    't',
    '--eval-count',
    '5',
    '--ood-count',
    '6',
    '--ood-data',
    'ood',
    '--json',
  ];
  const first = cli(args);
  assert.equal(first.code, 0, first.err);
  const report = JSON.parse(first.out.trim().split('\n').pop()!);
  assert.equal(report.training, 'trained from scratch');
  assert.ok(report.test.images > 0 && report.test.images <= 5);
  assert.ok(report.test.objectRecall >= 0 && report.test.objectRecall <= 1);
  // Every picture of the out-of-distribution set is scored, whatever its split.
  assert.equal(report.ood.images, 6);
  assert.equal(report.ood.layout, 'free');
  assert.ok(report.ood.objectPrecision >= 0 && report.ood.objectPrecision <= 1);
  for (const set of [report.test, report.ood]) {
    assert.ok(set.consistency >= 0 && set.consistency <= set.selfConsistency && set.selfConsistency <= 1);
    assert.deepEqual(Object.keys(set.contradictions).sort(), ['countConflict', 'selfRelation', 'wrongCount']);
  }
  for (const f of [
    'ood/manifest.jsonl',
    'runs/t/ood_predictions.jsonl',
    'scenes/manifest.jsonl',
    'scenes/tokenizer.json',
    'runs/t/report.json',
    'runs/t/test_predictions.jsonl',
    'runs/t/loss.png',
  ]) {
    assert.ok(existsSync(path.join(root, f)), f);
  }
  const manifestTime = statSync(path.join(root, 'scenes/manifest.jsonl')).mtimeMs;
  const tokTime = statSync(path.join(root, 'scenes/tokenizer.json')).mtimeMs;
  const oodTime = statSync(path.join(root, 'ood/manifest.jsonl')).mtimeMs;
  const second = cli(args);
  assert.equal(second.code, 0, second.err);
  const again = JSON.parse(second.out.trim().split('\n').pop()!);
  assert.match(again.training, /^(reused a finished run|resumed at step \d+)$/);
  assert.equal(statSync(path.join(root, 'scenes/manifest.jsonl')).mtimeMs, manifestTime);
  assert.equal(statSync(path.join(root, 'scenes/tokenizer.json')).mtimeMs, tokTime);
  assert.equal(statSync(path.join(root, 'ood/manifest.jsonl')).mtimeMs, oodTime);
  const other = cli(args.map((a) => (a === 'tiny' ? 'mini' : a)));
  assert.equal(other.code, 2);
  assert.match(other.err, /runs\/t holds a tiny run on short descriptions of scenes; use another --name/);
});
