import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { openDataset, writeManifest, splitCounts } from '../../src/data/dataset.ts';
import { makeDataset, solidPng, tempDir } from './dataset-fixtures.ts';

test('opens a valid folder and keeps every field', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const written = await makeDataset(dir, 10);
    const ds = openDataset(dir);
    assert.equal(ds.records.length, 10);
    assert.equal(ds.skipped, 0);
    assert.deepEqual(ds.records[3], written[3]);
    assert.deepEqual(splitCounts(ds.records), { train: 8, val: 2, test: 0 });
    // Unknown fields survive a rewrite; numeric ids become strings.
    await writeManifest(dir, [{ ...written[0], id: 7, extra: { x: 1 } }]);
    const again = openDataset(dir);
    assert.equal(again.records[0]!.id, '7');
    assert.deepEqual(again.records[0]!.extra, { x: 1 });
    assert.equal(readFileSync(path.join(dir, 'manifest.jsonl'), 'utf8').split('\n').length, 2);
  } finally {
    cleanup();
  }
});

test('each kind of bad record is reported with the file, line and reason', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const good = (await makeDataset(dir, 2))[0]!;
    const outside = path.join(dir, '..', `outside-${path.basename(dir)}.png`);
    await solidPng(outside, 1);
    symlinkSync(outside, path.join(dir, 'images', 'link.png'));
    mkdirSync(path.join(dir, 'images', 'sub'));
    const manifest = path.join(dir, 'manifest.jsonl');
    const other = { ...good, id: 'other' };
    const cases: [string, string][] = [
      ['{"id": "a", "image": ', 'invalid JSON'],
      ['[1, 2]', 'a record must be a JSON object'],
      [JSON.stringify({ ...other, id: undefined }), '"id" is missing'],
      [JSON.stringify({ ...other, id: { x: 1 } }), '"id" must be a string, got {"x":1}'],
      [JSON.stringify({ ...other, image: undefined }), '"image" is missing'],
      [JSON.stringify({ ...other, image: 5 }), '"image" must be a string, got 5'],
      [JSON.stringify({ ...other, split: undefined }), '"split" is missing'],
      [JSON.stringify({ ...other, split: 'training' }), '"split" must be one of train, val, test, got "training"'],
      [JSON.stringify({ ...other, captions: 'a dog' }), '"captions" must be an array of strings'],
      [JSON.stringify({ ...other, captions: ['a', 3] }), '"captions" must be an array of strings'],
      [JSON.stringify({ ...other, short: 12 }), '"short" must be a string, got 12'],
      [JSON.stringify({ ...other, meta: [1] }), '"meta" must be an object'],
      [JSON.stringify({ ...other, image: '/etc/passwd' }), '"image" must be a relative path, got "/etc/passwd"'],
      [JSON.stringify({ ...other, image: 'images/../../x.png' }), '"image" path "images/../../x.png" leaves the dataset folder'],
      [JSON.stringify({ ...other, image: 'images/link.png' }), `"image" path "images/link.png" leaves the dataset folder`],
      [JSON.stringify({ ...other, image: 'images/none.png' }), `image file not found: ${path.join(dir, 'images/none.png')}`],
      [JSON.stringify({ ...other, image: 'images/sub' }), `image path is not a file`],
    ];
    for (const [line, reason] of cases) {
      writeFileSync(manifest, `${JSON.stringify(good)}\n\n${line}\n`);
      assert.throws(
        () => openDataset(dir),
        (e: Error) => {
          assert.equal(e.name, 'UserError');
          assert.ok(e.message.startsWith(`${manifest} line 3: ${reason}`), `${e.message}\n  expected: ${reason}`);
          return true;
        },
      );
    }
    writeFileSync(manifest, `${JSON.stringify(good)}\n${JSON.stringify(good)}\n`);
    assert.throws(() => openDataset(dir), /line 2: duplicate id "r0" \(first on line 1\)/);
  } finally {
    cleanup();
  }
});

test('skipBad skips and counts bad records; nothing usable is still an error', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const recs = await makeDataset(dir, 4);
    const manifest = path.join(dir, 'manifest.jsonl');
    const lines = [recs[0], { ...recs[1], split: 'x' }, 'not json', recs[2], { ...recs[3], image: '../x.png' }];
    writeFileSync(manifest, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n'));
    const ds = openDataset(dir, { skipBad: true });
    assert.deepEqual(
      ds.records.map((r) => r.id),
      ['r0', 'r2'],
    );
    assert.equal(ds.skipped, 3);
    assert.match(ds.problems[0]!, /line 2: "split" must be one of/);
    assert.match(ds.problems[1]!, /line 3: invalid JSON/);
    assert.match(ds.problems[2]!, /line 5: "image" path "..\/x.png" leaves the dataset folder/);
    assert.throws(() => openDataset(dir), /line 2: .*use --skip-bad/);
    writeFileSync(manifest, 'nope\n');
    assert.throws(() => openDataset(dir, { skipBad: true }), /no usable records \(1 bad, first: .*line 1: invalid JSON/);
    writeFileSync(manifest, '\n');
    assert.throws(() => openDataset(dir), /manifest.jsonl: no usable records$/);
  } finally {
    cleanup();
  }
});

test('a missing folder or manifest is named', () => {
  const { dir, cleanup } = tempDir();
  try {
    assert.throws(() => openDataset(path.join(dir, 'nope')), /nope: dataset folder not found/);
    assert.throws(() => openDataset(dir), /not a dataset folder \(manifest.jsonl not found\)/);
  } finally {
    cleanup();
  }
});
