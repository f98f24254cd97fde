// The torch engine's packed reader (python/nanovlm_torch/packed.py, numpy only) against the
// TypeScript loader on the PNG folder: the same batches (order, ids, pixels), and damaged files
// refused naming the file. Run by `npm run test:reference`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { imagePath, openDataset } from '../../src/data/dataset.ts';
import { decodeImage } from '../../src/data/image.ts';
import { DataLoader, type Batch } from '../../src/data/loader.ts';
import { PYTHON_DIR, pythonWithTorch } from '../../src/train/torch-engine.ts';
import { fixtureLoaderOptions, makePackedFixture, tempDir } from '../data/dataset-fixtures.ts';

const S = 8;
const { dir, cleanup } = tempDir();
after(cleanup);
const { data, packed } = await makePackedFixture(dir, S);

const READ = `
import json, sys
from nanovlm_torch.packed import Packed, Loader
p = Packed(sys.argv[1])
l = Loader(p, 'train', 'both', 4, 20, 7)
out = []
while l.epoch == 0:
    picked, _, _ = l.next()
    L = max(2, max(l.lengths(picked)))
    pixels, ids, lengths = l.arrays(picked, 0, L)
    out.append({'pixels': pixels.reshape(len(picked), -1).tolist(), 'ids': ids.tolist(), 'lengths': lengths})
print(json.dumps(out))
`;
function python(args: string[]) {
  const exe = pythonWithTorch();
  assert.ok(exe, 'python3 with numpy and torch is needed: apt-get install -y python3-torch');
  return spawnSync(exe, args, {
    encoding: 'utf8',
    env: { ...process.env, PYTHONPATH: PYTHON_DIR },
    timeout: 60_000,
  });
}

test('numpy reads the packed folder into the batches the TypeScript loader makes from the PNGs', async () => {
  const r = python(['-c', READ, packed]);
  assert.equal(r.status, 0, r.stderr);
  const theirs = JSON.parse(r.stdout) as { pixels: number[][]; ids: number[][]; lengths: number[] }[];
  const ds = openDataset(data);
  const loader = new DataLoader(
    ds,
    fixtureLoaderOptions({ text: 'both', imageSize: S, maxLen: 20, dropLast: true }),
  );
  const ours: Batch[] = [];
  for await (const b of loader.epochBatches()) ours.push(b);
  assert.equal(theirs.length, ours.length);
  for (let i = 0; i < ours.length; i++) {
    const b = ours[i]!;
    assert.deepEqual(theirs[i]!.lengths, b.lengths);
    assert.deepEqual(theirs[i]!.ids.flat(), Array.from(b.ids));
    const pixels = await Promise.all(
      b.records.map(async (r) => Array.from(await decodeImage(imagePath(ds, r), S))),
    );
    assert.deepEqual(theirs[i]!.pixels, pixels);
  }
});

test('the numpy reader refuses a damaged shard or index with one line naming the file', () => {
  const cases: [string, (f: string) => void, RegExp][] = [
    [
      'train-00002.pixels',
      (f) => {
        const b = readFileSync(f);
        b[7]! ^= 1;
        writeFileSync(f, b);
      },
      /train-00002\.pixels: checksum mismatch/,
    ],
    ['index.json', (f) => writeFileSync(f, '{"format": '), /index\.json: invalid JSON/],
    [
      'val.offsets.bin',
      (f) => writeFileSync(f, Buffer.alloc(8)),
      /val\.offsets\.bin: 8 bytes, the index says/,
    ],
  ];
  for (const [name, damage, message] of cases) {
    const copy = path.join(dir, `damaged-${name}`);
    cpSync(packed, copy, { recursive: true });
    damage(path.join(copy, name));
    const r = python([
      '-c',
      'import sys\nfrom nanovlm_torch.packed import Packed, PackedError\ntry:\n    Packed(sys.argv[1])\nexcept PackedError as e:\n    print(e, file=sys.stderr); sys.exit(1)',
      copy,
    ]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.ok(r.stderr.includes(path.join(copy, name)));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
