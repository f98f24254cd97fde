import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { importCoco } from '../../src/data/coco.ts';
import { parseCocoInstances } from '../../src/data/coco-instances.ts';
import { openDataset } from '../../src/data/dataset.ts';
import { patchTargets } from '../../src/data/patch-cover.ts';
import { main } from '../../src/cli/main.ts';
import { tempDir } from './dataset-fixtures.ts';

// Three 40×30 pictures: 100 with things, 110 with only a crowd, 120 not in the instances file.
const IDS = [100, 110, 120];
const captionsJson = () => ({
  images: IDS.map((id) => ({ id, file_name: `${id}.jpg`, ...(id === 110 ? {} : { width: 40, height: 30 }) })),
  annotations: IDS.map((id, i) => ({ id: i + 1, image_id: id, caption: `Picture ${id}.` })),
});
const instancesJson = () => ({
  info: {},
  images: [
    { id: 100, file_name: '100.jpg', width: 40, height: 30 },
    { id: 110, file_name: '110.jpg', width: 40, height: 30 },
    { id: 999, file_name: '999.jpg', width: 64, height: 64 }, // not captioned: ignored
  ],
  annotations: [
    { id: 9, image_id: 100, category_id: 88, bbox: [0, 0, 20, 15], area: 300, iscrowd: 0, segmentation: [[0, 0, 20, 0, 20, 15]] },
    { id: 5, image_id: 100, category_id: 88, bbox: [30.5, 22.25, 9.5, 7.75], area: 73.6, iscrowd: 0 },
    { id: 3, image_id: 100, category_id: 18, bbox: [25, -5, 20, 20], area: 400, iscrowd: 0 }, // clipped
    { id: 4, image_id: 100, category_id: 17, bbox: [50, 10, 5, 5], area: 25, iscrowd: 0 }, // wholly outside
    { id: 6, image_id: 100, category_id: 1, bbox: [0, 0, 40, 30], area: 1200, iscrowd: 1, segmentation: { counts: [0, 1200], size: [30, 40] } },
    { id: 7, image_id: 110, category_id: 1, bbox: [0, 0, 10, 10], area: 100, iscrowd: 1 },
    { id: 8, image_id: 999, category_id: 18, bbox: [1, 1, 10, 10], area: 100, iscrowd: 0 },
  ],
  categories: [
    { supercategory: 'person', id: 1, name: 'person' },
    { supercategory: 'animal', id: 17, name: 'cat' },
    { supercategory: 'animal', id: 18, name: 'dog' },
    { supercategory: 'indoor', id: 88, name: 'teddy bear' },
  ],
});

async function setup() {
  const t = tempDir('nanovlm-coco-inst-');
  const images = path.join(t.dir, 'train2017');
  mkdirSync(images);
  for (const id of IDS) {
    await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: id, g: 90, b: 10 } } })
      .jpeg()
      .toFile(path.join(images, `${id}.jpg`));
  }
  const captions = path.join(t.dir, 'captions.json');
  const instances = path.join(t.dir, 'instances.json');
  writeFileSync(captions, JSON.stringify(captionsJson()));
  writeFileSync(instances, JSON.stringify(instancesJson()));
  return { ...t, images, captions, instances, out: path.join(t.dir, 'out') };
}

test('COCO instances: things per category in meta.objects, crowds left out, boxes clipped, patch labels from them', async () => {
  const s = await setup();
  try {
    const res = await importCoco({ captions: s.captions, instances: s.instances, images: s.images, out: s.out });
    assert.deepEqual(res.instances, { withObjects: 1, withoutObjects: 2, crowd: 2, clipped: 1, dropped: 1 });
    const byId = new Map(openDataset(s.out).records.map((r) => [r.id, r]));
    const boxed = byId.get('100')!;
    assert.deepEqual(boxed.meta, {
      source: 'coco',
      cocoId: 100,
      fileName: '100.jpg',
      width: 40,
      height: 30,
      objects: [
        { name: 'dog', count: 1, boxes: [[25, 0, 15, 15]] },
        // Annotation-id order: 5 before 9.
        { name: 'teddy bear', count: 2, boxes: [[30.5, 22.25, 9.5, 7.75], [0, 0, 20, 15]] },
      ],
    });
    // Only a crowd: no objects, and its size comes from the instances file where the captions lack it.
    assert.deepEqual(byId.get('110')!.meta, { source: 'coco', cocoId: 110, fileName: '110.jpg', width: 40, height: 30 });
    assert.deepEqual(byId.get('120')!.meta, { source: 'coco', cocoId: 120, fileName: '120.jpg', width: 40, height: 30 });

    // A 4×4 grid over 40×30: patch centres at x 5, 15, 25, 35 and y 3.75, 11.25, 18.75, 26.25.
    const tokens: Record<string, number> = { dog: 7, 'teddy bear': 9 };
    const labels = patchTargets([boxed, byId.get('110')!, byId.get('120')!], 4, (n) => tokens[n]!, 2);
    assert.deepEqual([...labels.subarray(0, 16)], [9, 9, 2, 7, 9, 9, 2, 7, 2, 2, 2, 2, 2, 2, 2, 9]);
    assert.ok(labels.subarray(16).every((v) => v === -1), 'no boxes, no patch labels');

    // The CLI gives the option and says what it did.
    const out: string[] = [];
    const log = console.log;
    console.log = (...a: unknown[]) => out.push(a.join(' '));
    try {
      const argv = ['data', 'coco', '--captions', s.captions, '--instances', s.instances, '--images', s.images];
      assert.equal(await main([...argv, '--out', path.join(s.dir, 'cli-out')]), 0);
    } finally {
      console.log = log;
    }
    assert.match(out.join('\n'), /1 records have boxed things, 2 none; 2 crowd annotations left out, 1 boxes clipped/);
  } finally {
    s.cleanup();
  }
});

test('COCO instances: bad files are one-line errors naming the file and the place', async () => {
  const f = 'inst.json';
  const base = instancesJson();
  const ann = (o: object) => ({ ...base, annotations: [{ id: 1, image_id: 100, category_id: 18, bbox: [1, 1, 5, 5], iscrowd: 0, ...o }] });
  const bad: [unknown, RegExp][] = [
    [[], /^inst.json: expected a JSON object$/],
    [{ images: [], annotations: [] }, /^inst.json: "categories" must be an array \(is this a COCO instances file\?\)$/],
    [captionsJson(), /"categories" must be an array \(is this a COCO instances file\?\)/],
    [{ ...base, categories: [{ id: 1 }] }, /^inst.json: categories\[0\]: "name" is missing$/],
    [{ ...base, categories: [base.categories[0], base.categories[0]] }, /categories\[1\]: duplicate category id 1/],
    [{ ...base, images: [{ id: 100, file_name: 'a.jpg' }] }, /^inst.json: images\[0\]: "width" and "height" must be positive integers/],
    [{ ...base, images: [base.images[0], base.images[0]] }, /images\[1\]: duplicate image id 100/],
    [ann({ image_id: 5 }), /^inst.json: annotations\[0\]: image_id 5 is not in "images"$/],
    [ann({ category_id: undefined, caption: 'A dog.' }), /annotations\[0\]: "category_id" must be an integer, got undefined \(captions are not instances\)/],
    [ann({ category_id: 2 }), /annotations\[0\]: category_id 2 is not in "categories"/],
    [ann({ bbox: [1, 2, 3] }), /annotations\[0\]: "bbox" must be 4 numbers \[x, y, width, height\], got \[1,2,3\]/],
    [ann({ bbox: [1, 2, '3', 4] }), /annotations\[0\]: "bbox" must be 4 numbers/],
    [ann({ bbox: [1, 2, -3, 4] }), /annotations\[0\]: "bbox" has a negative width or height/],
    [ann({ iscrowd: 2 }), /annotations\[0\]: "iscrowd" must be 0 or 1, got 2/],
  ];
  for (const [json, re] of bad) {
    assert.throws(
      () => parseCocoInstances(json, f),
      (e: Error) => (assert.match(e.message, re), true),
    );
  }
  // A zero-width box has nothing inside its picture: dropped, not an error.
  assert.deepEqual(parseCocoInstances(ann({ bbox: [3, 3, 0, 4] }), f).dropped, 1);

  const s = await setup();
  try {
    const run = (instances: string) => importCoco({ captions: s.captions, instances, images: s.images, out: s.out });
    const write = (name: string, text: string) => {
      const file = path.join(s.dir, name);
      writeFileSync(file, text);
      return file;
    };
    await assert.rejects(run(write('broken.json', '{"images": [')), /broken.json: invalid JSON/);
    await assert.rejects(run(path.join(s.dir, 'missing.json')), /missing.json: .*(not found|no such)/i);
    const val = { ...instancesJson(), images: [{ id: 5, file_name: '5.jpg', width: 40, height: 30 }], annotations: [] };
    await assert.rejects(run(write('val.json', JSON.stringify(val))), /val.json: none of the captioned images is in it/);
    const resized = instancesJson();
    resized.images[0] = { id: 100, file_name: '100.jpg', width: 80, height: 60 };
    await assert.rejects(
      run(write('resized.json', JSON.stringify(resized))),
      /resized.json: image id 100 is 80×60 here but 40×30 in the captions file/,
    );
    assert.ok(!existsSync(s.out), 'nothing written');

    const err: string[] = [];
    const error = console.error;
    console.error = (...a: unknown[]) => err.push(a.join(' '));
    try {
      const argv = ['data', 'coco', '--captions', s.captions, '--instances', s.captions, '--images', s.images, '--out', s.out];
      assert.equal(await main(argv), 1);
    } finally {
      console.error = error;
    }
    assert.equal(err.length, 1);
    assert.match(err[0]!, /^nanovlm data coco: .*captions.json: "categories" must be an array/);
  } finally {
    s.cleanup();
  }
});
