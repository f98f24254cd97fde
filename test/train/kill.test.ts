/**
 * Kill safety, against the real CLI in child processes: SIGKILL at random moments (checkpoints are
 * written every step, so many kills land inside a write) must always leave a checkpoint that loads and
 * resumes; SIGINT must stop cleanly after writing a checkpoint at the step reached.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveCheckpoint, readTrainerState, OPTIMIZER_FILE } from '../../src/train/checkpoint.ts';
import { readModelFolder } from '../../src/model/folder.ts';
import { readSafetensors } from '../../src/nn/index.ts';
import { readMetrics } from '../../src/train/metrics.ts';
import type { TrainerState } from '../../src/train/trainer.ts';
import { makeDataset } from './fixture.ts';

const BIN = path.resolve('bin/nanovlm.js');
const root = mkdtempSync(path.join(tmpdir(), 'kill-'));
const data = await makeDataset(path.join(root, 'data'), { count: 60 });
const COMMON = [
  '--batch-size',
  '6',
  '--warmup-steps=3',
  '--save-every=1',
  '--eval-every=4',
  '--eval-samples=6',
  '--log-every=1',
  '--samples=0',
];

function start(args: string[]): {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: string | null; out: string }>;
} {
  const child = spawn(process.execPath, [BIN, 'train', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const done = new Promise<{ code: number | null; signal: string | null; out: string }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, out })),
  );
  return { child, done };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The checkpoint a run points at loads completely: model folder, optimizer state, trainer state. */
function checkIntact(run: string): TrainerState {
  const ck = resolveCheckpoint(run);
  const state = readTrainerState<TrainerState>(ck);
  const { model } = readModelFolder(ck);
  const opt = readSafetensors(path.join(ck, OPTIMIZER_FILE));
  assert.equal(opt.tensors.size, 2 * model.parameters().size);
  assert.equal(Number(opt.metadata.step), state.step);
  return state;
}

test('SIGKILL at random moments always leaves a checkpoint that loads and resumes', async () => {
  const run = path.join(root, 'killed');
  const delays: number[] = [];
  let lastStep = 0;
  for (let round = 0; round < 5; round++) {
    const args =
      round === 0
        ? ['--model', 'tiny', '--data', data, '--out', run, '--steps', '1000', ...COMMON]
        : ['--resume', run];
    const { child, done } = start(args);
    // Let it get past start-up and write a checkpoint of its own, then kill it at a random moment.
    const before = lastStep;
    await waitFor(() => {
      try {
        return readTrainerState<TrainerState>(resolveCheckpoint(run)).step > before;
      } catch {
        return false;
      }
    }, `a checkpoint after step ${before} (round ${round})`);
    const delay = Math.floor(Math.random() * 400);
    delays.push(delay);
    await sleep(delay);
    child.kill('SIGKILL');
    const r = await done;
    assert.equal(r.signal, 'SIGKILL', `round ${round}: ${r.out}`);
    const state = checkIntact(run);
    assert.ok(
      state.step > before,
      `round ${round} (delays ${delays}): step ${state.step} not after ${before}`,
    );
    lastStep = state.step;
  }
  // No half-written step folder is ever taken for a checkpoint; leftovers are cleaned by the next writer.
  const { done } = start(['--resume', run, '--steps', String(lastStep + 3)]);
  const r = await done;
  assert.equal(r.code, 0, r.out);
  const final = checkIntact(run);
  assert.equal(final.step, lastStep + 3);
  assert.equal(final.finished, true);
  const names = readdirSync(path.join(run, 'checkpoints'));
  assert.ok(!names.some((n) => n.startsWith('.')), `leftovers: ${names}`);
  // metrics.jsonl tells one history: every step once, in order.
  const steps = readMetrics(path.join(run, 'metrics.jsonl'))
    .filter((m) => m.loss !== undefined)
    .map((m) => m.step);
  assert.deepEqual(
    steps,
    Array.from({ length: final.step }, (_, i) => i + 1),
  );
});

test('SIGINT stops after the current step with a checkpoint there, exit code 130', async () => {
  const run = path.join(root, 'interrupted');
  const { child, done } = start([
    '--model',
    'tiny',
    '--data',
    data,
    '--out',
    run,
    '--steps',
    '1000',
    ...COMMON,
  ]);
  await waitFor(() => readMetrics(path.join(run, 'metrics.jsonl')).length >= 3, 'three metrics rows');
  child.kill('SIGINT');
  const r = await done;
  assert.equal(r.code, 130, r.out);
  assert.match(r.out, /resume with: nanovlm train --resume/);
  const state = checkIntact(run);
  const logged = readMetrics(path.join(run, 'metrics.jsonl')).filter((m) => m.loss !== undefined);
  assert.equal(state.step, logged[logged.length - 1]!.step);
  assert.equal(state.finished, false);
  assert.ok(existsSync(path.join(run, 'loss.png')));
});
