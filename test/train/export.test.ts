// A training run's checkpoints carry a model card (README.md); `nanovlm export` makes an inference folder
// of one without the optimizer and trainer state, that loads and describes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadModel } from '../../src/model/index.ts';
import { makeDataset, tinyTrainArgs } from './fixture.ts';

const BIN = path.resolve('bin/nanovlm.js');
const cli = (args: string[]) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });

test('checkpoints carry a model card; export writes the inference files only, and refuses a busy folder', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'nanovlm-export-'));
  try {
    const data = await makeDataset(path.join(root, 'data'), { count: 30 });
    const run = path.join(root, 'runs', 'pets');
    const t = cli(tinyTrainArgs(data, run, '--eval-every=2', '--json'));
    assert.equal(t.status, 0, t.stderr);
    const best = path.join(run, 'checkpoints', 'best');
    const card = readFileSync(path.join(best, 'README.md'), 'utf8');
    const state = JSON.parse(readFileSync(path.join(best, 'trainer_state.json'), 'utf8'));
    assert.match(card, /^# nanovlm-tiny\n/);
    assert.match(card, /\| tiny \| 0\.\d\dM \|/);
    assert.ok(card.includes(`step ${state.step}`), card);
    assert.ok(card.includes(state.bestValLoss.toFixed(3)), 'the measured validation loss');
    assert.ok(card.includes(`\`${data}\``), 'the data');
    assert.match(card, /## Intended use and limits/);

    const out = path.join(root, 'models', 'pets');
    const e = cli(['export', '--model', run, '--out', out, '--json']);
    assert.equal(e.status, 0, e.stderr);
    const files = readdirSync(out).sort();
    assert.deepEqual(files, [
      'README.md',
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'tokenizer.json',
    ]);
    assert.ok(JSON.parse(e.stdout).bytes < statSync(path.join(best, 'optimizer.safetensors')).size * 0.7);
    assert.equal(readFileSync(path.join(out, 'README.md'), 'utf8'), card);
    const vlm = await loadModel(out);
    const { text } = await vlm.describe(
      path.join(data, 'images', readdirSync(path.join(data, 'images'))[0]!),
      {
        maxNewTokens: 4,
        temperature: 0,
      },
    );
    assert.equal(typeof text, 'string');

    const busy = path.join(root, 'busy');
    mkdirSync(busy);
    writeFileSync(path.join(busy, 'mine.txt'), 'keep');
    const refused = cli(['export', '--model', best, '--out', busy]);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /busy: exists and is not an empty folder; choose a new --out/);
    assert.deepEqual(readdirSync(busy), ['mine.txt']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
