// Where the gradient goes: every logged metrics row carries gradient and update norms per model part.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { train } from '../../src/train/trainer.ts';
import { readMetrics } from '../../src/train/metrics.ts';
import { partOf } from '../../src/train/part-norms.ts';
import { makeDataset, tinyRunConfig } from './fixture.ts';

test('parts are named from parameter names', () => {
  assert.equal(partOf('vision.patch.conv1.weight'), 'stem');
  assert.equal(partOf('vision.blocks.0.attn.qkv.weight'), 'vision');
  assert.equal(partOf('vision.cls'), 'vision');
  assert.equal(partOf('connector.fc.bias'), 'connector');
  assert.equal(partOf('decoder.wte.weight'), 'decoder');
  assert.equal(partOf('word_head.proj.weight'), 'word_head');
});

test('metrics rows hold gradient and update norms per part', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'parts-'));
  try {
    const data = await makeDataset(path.join(root, 'data'), { count: 40 });
    const config = tinyRunConfig(data, {
      batchSize: 4,
      steps: 20,
      logEvery: 10,
      evalEvery: 0,
      samples: 0,
      'model.word_head': 'true',
    });
    await train({ config, runDir: path.join(root, 'run'), quiet: true, handleSignals: false });
    const rows = readMetrics(path.join(root, 'run', 'metrics.jsonl')).filter((r) => r.loss !== undefined);
    assert.equal(rows.length, 2);
    for (const r of rows) {
      for (const part of ['stem', 'vision', 'connector', 'decoder', 'word_head']) {
        assert.ok(r.grad_parts![part]! > 0, `step ${r.step}: gradient norm of ${part}`);
        assert.ok(r.update_parts![part]! > 0, `step ${r.step}: update of ${part}`);
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
