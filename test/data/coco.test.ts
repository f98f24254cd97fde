import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { importCoco, parseCocoCaptions } from '../../src/data/coco.ts';
import { openDataset } from '../../src/data/dataset.ts';
import { tempDir } from './dataset-fixtures.ts';

/** A COCO-format captions file for `n` images (ids 100, 110, ...), 5-6 captions each, shuffled annotations. */
function cocoJson(n: number) {
  const images = Array.from({ length: n }, (_, i) => ({ id: 100 + 10 * i, file_name: `0000${100 + 10 * i}.jpg`, width: 40, height: 30 }));
  const annotations: object[] = [];
  let annId = 1;
  for (const im of images) {
    const count = im.id % 20 === 0 ? 6 : 5;
    for (let k = 0; k < count; k++) annotations.push({ id: annId++, image_id: im.id, caption: `  Caption ${k} of\nimage ${im.id}. ` });
  }
  annotations.reverse(); // order in the file must not matter
  return { info: {}, licenses: [], images, annotations };
}

async function setup(n: number) {
  const t = tempDir('nanovlm-coco-');
  const imgDir = path.join(t.dir, 'train2017');
  mkdirSync(imgDir);
  for (let i = 0; i < n; i++) {
    await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: i * 20, g: 90, b: 10 } } })
      .jpeg()
      .toFile(path.join(imgDir, `0000${100 + 10 * i}.jpg`));
  }
  const captions = path.join(t.dir, 'captions.json');
  writeFileSync(captions, JSON.stringify(cocoJson(n)));
  return { ...t, imgDir, captions, out: path.join(t.dir, 'out') };
}

test('imports a COCO captions file into a dataset folder with seeded splits', async () => {
  const s = await setup(12);
  try {
    const progress: string[] = [];
    const res = await importCoco({
      captions: s.captions,
      images: s.imgDir,
      out: s.out,
      valFraction: 0.2,
      testCount: 2,
      seed: 3,
      onProgress: (phase) => progress.push(phase),
    });
    assert.deepEqual(res.splits, { train: 8, val: 2, test: 2 });
    assert.equal(res.records, 12);
    assert.ok(progress.includes('check') && progress.includes('copy'));
    const ds = openDataset(s.out);
    assert.equal(ds.records.length, 12);
    const r = ds.records.find((x) => x.id === '120')!;
    assert.equal(r.image, 'images/0000120.jpg');
    assert.deepEqual(r.captions, [0, 1, 2, 3, 4].map((k) => `Caption ${k} of image 120.`)); // 6th dropped, order by annotation id
    assert.deepEqual(r.meta, { source: 'coco', cocoId: 120, fileName: '0000120.jpg', width: 40, height: 30 });
    assert.equal(statSync(path.join(s.out, r.image)).size, statSync(path.join(s.imgDir, '0000120.jpg')).size);
    // Same seed → same splits; another seed → another assignment.
    const again = await importCoco({ captions: s.captions, images: s.imgDir, out: s.out, valFraction: 0.2, testCount: 2, seed: 3, force: true, mode: 'hardlink' });
    assert.deepEqual(again.splits, res.splits);
    const splitsOf = () => openDataset(s.out).records.map((x) => x.split).join();
    const first = splitsOf();
    await importCoco({ captions: s.captions, images: s.imgDir, out: s.out, valFraction: 0.2, testCount: 2, seed: 4, force: true });
    assert.notEqual(splitsOf(), first);
    // --limit picks a seeded subset.
    await importCoco({ captions: s.captions, images: s.imgDir, out: s.out, limit: 5, force: true });
    assert.equal(openDataset(s.out).records.length, 5);
    assert.equal(readdirSync(path.join(s.out, 'images')).length, 5);
  } finally {
    s.cleanup();
  }
});

test('refuses to overwrite a non-empty output folder without --force', async () => {
  const s = await setup(2);
  try {
    mkdirSync(s.out);
    writeFileSync(path.join(s.out, 'keep.txt'), 'mine');
    await assert.rejects(importCoco({ captions: s.captions, images: s.imgDir, out: s.out }), /folder exists and is not empty \(use --force/);
    assert.ok(existsSync(path.join(s.out, 'keep.txt')));
  } finally {
    s.cleanup();
  }
});

test('bad COCO files and missing or broken images are reported clearly', async () => {
  const s = await setup(4);
  try {
    const f = 'c.json';
    const base = cocoJson(4);
    const bad: [unknown, RegExp][] = [
      [[1, 2], /c.json: expected a JSON object/],
      [{ images: [] }, /"annotations" must be an array \(is this a COCO captions file\?\)/],
      [{ ...base, images: [{ id: 'x', file_name: 'a.jpg' }] }, /images\[0\]: "id" must be an integer, got "x"/],
      [{ ...base, images: [{ id: 1 }] }, /images\[0\]: "file_name" is missing/],
      [{ ...base, images: [{ id: 1, file_name: '../../etc/passwd' }] }, /images\[0\]: "file_name" must be a plain file name/],
      [{ ...base, images: [base.images[0], base.images[0]] }, /images\[1\]: duplicate image id 100/],
      [{ ...base, annotations: [{ id: 1, image_id: 999, caption: 'x' }] }, /annotations\[0\]: image_id 999 is not in "images"/],
      [{ ...base, annotations: [{ id: 1, image_id: 100, bbox: [1, 2, 3, 4] }] }, /annotations\[0\]: "caption" must be a string/],
    ];
    for (const [json, re] of bad) assert.throws(() => parseCocoCaptions(json, f), re);
    const noCaptions = path.join(s.dir, 'none.json');
    writeFileSync(noCaptions, JSON.stringify({ ...base, annotations: [] }));
    await assert.rejects(importCoco({ captions: noCaptions, images: s.imgDir, out: s.out }), /no image has a caption/);
    const notJson = path.join(s.dir, 'broken.json');
    writeFileSync(notJson, '{"images": [');
    await assert.rejects(importCoco({ captions: notJson, images: s.imgDir, out: s.out }), /broken.json: invalid JSON/);

    // One image missing, one not an image: an error naming the file, or skipped with skipBad.
    const { rmSync } = await import('node:fs');
    rmSync(path.join(s.imgDir, '0000110.jpg'));
    writeFileSync(path.join(s.imgDir, '0000120.jpg'), 'not a jpeg');
    await assert.rejects(
      importCoco({ captions: s.captions, images: s.imgDir, out: s.out }),
      /0000(110\.jpg: file not found|120\.jpg: not a supported image)/,
    );
    assert.ok(!existsSync(s.out), 'nothing half-written');
    const res = await importCoco({ captions: s.captions, images: s.imgDir, out: s.out, skipBad: true });
    assert.equal(res.records, 2);
    assert.equal(res.skipped, 2);
    assert.deepEqual(
      res.problems.map((p) => p.replace(s.imgDir, 'DIR')).sort(),
      ['image id 110: DIR/0000110.jpg: file not found', 'image id 120: DIR/0000120.jpg: not a supported image (PNG, JPEG or WebP)'],
    );
  } finally {
    s.cleanup();
  }
});
