// `nanovlm data pack` from the command line, and training on the packed folder: the same losses as on
// the PNG folder it came from (same pictures, ids and order), and a damaged index refused in one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { train } from '../../src/train/trainer.ts';
import { resolveConfig } from '../../src/train/config.ts';
import { makeDataset } from '../train/fixture.ts';

const BIN = path.resolve('bin/nanovlm.js');
const root = mkdtempSync(path.join(tmpdir(), 'packed-train-'));
const data = await makeDataset(path.join(root, 'data'), { count: 30 });
const packed = path.join(root, 'packed');

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

async function losses(dataDir: string, name: string): Promise<number[]> {
  const config = resolveConfig({
    model: 'tiny',
    overrides: [
      ['data', dataDir],
      ['batchSize', '4'],
      ['steps', '3'],
      ['warmupSteps', '1'],
      ['evalSamples', '4'],
      ['samples', '1'],
    ],
  });
  const out: number[] = [];
  const s = await train({
    config,
    runDir: path.join(root, name),
    quiet: true,
    handleSignals: false,
    hooks: { onStep: (x) => out.push(x.loss) },
  });
  out.push(s.valLoss!);
  assert.equal(s.samples.length, 1);
  return out;
}

test('data pack, then train on the packed folder: the same losses as on the PNGs', async () => {
  const r = cli(['data', 'pack', '--in', data, '--out', packed, '--image-size', '32', '--text', 'short', '--json']);
  assert.equal(r.code, 0, r.err);
  const summary = JSON.parse(r.out.trim());
  assert.deepEqual(summary.splits.train, { records: 24, samples: 24, shards: 1 });
  assert.deepEqual(await losses(packed, 'from-packed'), await losses(data, 'from-png'));
});

test('train refuses a damaged packed index with one line naming the file', () => {
  const copy = path.join(root, 'damaged');
  cpSync(packed, copy, { recursive: true });
  const index = path.join(copy, 'index.json');
  writeFileSync(index, readFileSync(index, 'utf8').replace(/"crc32": \d+/, '"crc32": 7'));
  const r = cli(['train', '--model', 'tiny', '--data', copy, '--out', path.join(root, 'never'), '--steps', '1']);
  assert.equal(r.code, 1);
  const lines = r.err.trim().split('\n');
  assert.equal(lines.length, 1, r.err);
  assert.match(lines[0]!, /damaged.*: checksum mismatch|damaged\/.*: missing or damaged/);
  assert.ok(lines[0]!.includes(copy));
  const again = cli(['data', 'pack', '--in', data, '--out', packed, '--image-size', '32']);
  assert.equal(again.code, 2);
  assert.match(again.err, /already exists/);
});
