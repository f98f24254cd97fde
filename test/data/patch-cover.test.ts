import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boxedThings, NO_PATCH_LABEL, patchCover, patchTargets } from '../../src/data/patch-cover.ts';
import { openDataset, type DatasetRecord } from '../../src/data/dataset.ts';
import { DataLoader } from '../../src/data/loader.ts';
import { generateScenes } from '../../src/data/scenes/index.ts';
import { splitBatch } from '../../src/train/step.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

test('patchCover: the thing whose drawing covers a patch centre, the smallest where several do', () => {
  // A 4×4 grid over 224 px: patch centres at 28, 84, 140, 196.
  const side = 4;
  const cover = patchCover(
    [
      { name: 'tree', boxes: [[0, 0, 112, 112]] }, // artwork middle 80%: 11..101, covers the centres 28 and 84
      { name: 'dog', boxes: [[60, 60, 50, 50]] }, // 65..105: covers the centre (84, 84) only
      { name: 'ball', boxes: [[150, 150, 100, 100]] }, // icon partly outside the picture
    ],
    side,
  );
  assert.deepEqual(cover, [
    'tree',
    'tree',
    null,
    null,
    'tree',
    'dog',
    null,
    null,
    null,
    null,
    null,
    null,
    null,
    null,
    null,
    'ball',
  ]);
  assert.deepEqual(patchCover([], 2), [null, null, null, null]);
  // Boxes measured in a 64×32 picture (stretched to a square by the model): centres at x 16, 48 and y 8, 24.
  assert.deepEqual(patchCover([{ name: 'car', boxes: [[40, 0, 24, 20]] }], 2, [64, 32]), [null, 'car', null, null]);
});

test('patchTargets: the name token over each patch, the nothing token elsewhere, no label without boxes', () => {
  const record = (objects: unknown): DatasetRecord => ({ id: 'x', image: 'x.png', split: 'train', captions: [], meta: { objects } });
  const boxed = record([
    { name: 'dog', boxes: [[0, 0, 112, 112]] },
    { name: 'ball', boxes: [[112, 112, 112, 112]] },
  ]);
  const tokens: Record<string, number> = { dog: 7, ball: 9 };
  const out = patchTargets([boxed, record([{ name: 'cat' }]), { id: 'y', image: 'y.png', split: 'train', captions: [] }], 2, (n) => tokens[n]!, 2);
  assert.deepEqual([...out.subarray(0, 4)], [7, 2, 2, 9]);
  assert.deepEqual([...out.subarray(4)], new Array(8).fill(NO_PATCH_LABEL));
  assert.equal(boxedThings(record([{ name: 'cat', boxes: [] }])), null, 'a thing without a box: no labels at all');
});

test('the loader: with patchGrid, each batch carries patch targets that follow its rows, also in pieces', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nanovlm-patch-'));
  try {
    await generateScenes({ out: dir, count: 12, seed: 4, workers: 0 });
    const ds = openDataset(dir);
    const encode = (t: string) => [...t].map((c) => c.charCodeAt(0) % 50);
    const opts = { split: 'train', text: 'short', imageSize: 32, batchSize: 4, maxLen: 64, encode } as const;
    const loader = new DataLoader(ds, { ...opts, bosId: 50, eosId: 51, padId: 52, patchGrid: 4, shuffle: false });
    const batch = await loader.next();
    const expected = patchTargets(batch.records, 4, (n) => encode(' ' + n)[0]!, 52);
    assert.deepEqual([...batch.patchTargets!], [...expected]);
    assert.ok(expected.some((t) => t !== 52) && expected.includes(52), 'things and background');
    const [first, second] = splitBatch(batch, 2);
    assert.deepEqual([...first!.patchTargets!, ...second!.patchTargets!], [...expected]);
    const plain = new DataLoader(ds, { ...opts, bosId: 50, eosId: 51, padId: 52 });
    assert.equal((await plain.next()).patchTargets, undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
