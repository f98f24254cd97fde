import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import {
  generateScenes,
  measureTexts,
  renderScenePng,
  sceneAt,
  sceneRecord,
  sceneTexts,
  splitOf,
} from '../../src/data/scenes/index.ts';
import { THINGS } from '../../src/data/scenes/catalog.ts';
import { iconRaster } from '../../src/data/scenes/art.ts';
import { hiddenShare } from '../../src/data/scenes/layout.ts';
import { isFamiliarWord } from '../../src/data/scenes/measure.ts';
import { UserError } from '../../src/util/errors.ts';
import { assertGroupsFit, checkRecordTexts, checkText } from './scenes/consistency.ts';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'nanovlm-scenes-'));

test('catalog: the 130 things of objects.json, each with its artwork', () => {
  assert.equal(THINGS.length, 130);
  assert.equal(new Set(THINGS.map((t) => t.name)).size, 130);
  for (const t of THINGS) {
    assert.ok(t.places.length > 0, `${t.name} has nowhere to be`);
    const r = iconRaster(t.icon, 24, null, false);
    assert.equal(r.width, 24);
    let opaque = 0;
    for (let i = 3; i < r.data.length; i += 4) if (r.data[i]! > 128) opaque++;
    assert.ok(opaque > 24 * 24 * 0.1, `${t.name} (${t.icon}) draws almost nothing`);
  }
});

test('layout: 1-4 kinds of 1-3 things, inside the picture, rarely hidden behind each other', () => {
  let pairs = 0;
  let mostlyHidden = 0;
  const backgrounds = new Set<string>();
  for (let i = 0; i < 1500; i++) {
    const s = sceneAt(3, i);
    backgrounds.add(s.background);
    assert.ok(s.groups.length >= 1 && s.groups.length <= 4);
    assert.equal(new Set(s.groups.map((g) => g.name)).size, s.groups.length);
    assertGroupsFit(i, s);
    const all = s.groups.flatMap((g, gi) => g.items.map((item) => ({ gi, p: { item, zone: g.zone } })));
    for (let a = 0; a < all.length; a++) {
      for (let b = 0; b < a; b++) {
        if (all[a]!.gi === all[b]!.gi) continue;
        pairs++;
        if (hiddenShare(all[a]!.p, all[b]!.p) > 0.5) mostlyHidden++;
      }
    }
  }
  assert.equal(backgrounds.size, 10);
  assert.ok(mostlyHidden / pairs <= 0.0005, `${mostlyHidden} of ${pairs} pairs mostly hidden`);
});

test('same seed and index give the same record and PNG bytes; another seed gives another scene', async () => {
  for (const i of [0, 7, 123]) {
    const a = sceneRecord(42, i);
    const b = sceneRecord(42, i);
    assert.deepEqual(a.record, b.record);
    assert.ok((await renderScenePng(a.scene)).equals(await renderScenePng(b.scene)));
    assert.notDeepEqual(sceneRecord(43, i).record.captions, a.record.captions);
  }
});

test('pictures are 224×224 PNGs with varied content', async () => {
  for (const i of [1, 2, 3, 4, 5]) {
    const png = await renderScenePng(sceneAt(9, i));
    const meta = await sharp(png).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, 224);
    assert.equal(meta.height, 224);
    const stats = await sharp(png).stats();
    assert.ok(stats.channels.some((c) => c.stdev > 15), 'the picture is nearly flat');
  }
});

test('texts agree with the scene graph: every thing named with its number, no absent things, true positions', () => {
  const problems: string[] = [];
  for (let i = 0; i < 600; i++) {
    const { scene, record } = sceneRecord(5, i);
    checkRecordTexts(i, scene, record, problems);
  }
  assert.deepEqual(problems.slice(0, 5), []);
});

test('the consistency checker catches wrong numbers, absent things and wrong sides', () => {
  // Find a scene with one group of two on the left, to edit its text into wrong claims.
  for (let i = 0; ; i++) {
    const s = sceneAt(5, i);
    const g = s.groups.find((x) => x.count === 2 && x.h === 'left' && !THINGS.find((t) => t.name === x.name)!.unit);
    if (!g || s.groups.length !== 1) continue;
    const plural = THINGS.find((t) => t.name === g.name)!.plural;
    assert.deepEqual(checkText(s, `There are two ${plural} on the left.`, true), []);
    assert.match(checkText(s, `There are three ${plural} on the left.`, true).join(), /says 3/);
    assert.match(checkText(s, `There are two ${plural} on the right.`, true).join(), /says right/);
    assert.match(checkText(s, `There is a ${g.name} here.`, true).join(), /singular|says 1/);
    const absent = ['snowman', 'cake', 'rocket'].find((n) => !s.groups.some((x) => x.name === n))!;
    assert.match(checkText(s, `Two ${plural} and a ${absent}.`, true).join(), /not in the picture/);
    assert.match(checkText(s, 'A nice day.', true).join(), /never names/);
    break;
  }
});

test('text statistics over 30,000 scenes: distinct, fresh openings, length rules, simple words', () => {
  const stats = measureTexts(sceneTexts(2025, 30_000));
  assert.ok(stats.short.distinctShare >= 0.95, `distinct ShortDesc ${stats.short.distinctShare}`);
  assert.ok(stats.short.topOpening.share <= 0.05, `opening "${stats.short.topOpening.words}" ${stats.short.topOpening.share}`);
  assert.ok(stats.long.topOpening.share <= 0.05, `opening "${stats.long.topOpening.words}" ${stats.long.topOpening.share}`);
  assert.equal(stats.short.lengthPass, 1);
  assert.equal(stats.long.lengthPass, 1);
  assert.equal(stats.captions.lengthPass, 1);
  assert.ok(stats.simpleWordShare >= 0.97, `simple-word share ${stats.simpleWordShare}`);
});

test('measureTexts counts what it reports', () => {
  const short = 'The dog is here and it is happy. It wants to run and play with a ball on the green grass today.'; // 21 words, 2 sentences
  const long = 'Word '.repeat(59).trim() + ' end.';
  const stats = measureTexts([
    { captions: ['A dog on a grassy field in the sun.'], short, long },
    { captions: ['A dog on a grassy field in the sun.'], short, long: long + ' Two.' },
    { captions: ['Too short.'], short: 'The dog is here. Penguins zoom.', long },
  ]);
  assert.equal(stats.short.distinctShare, 2 / 3);
  assert.equal(stats.short.topOpening.words, 'the dog is');
  assert.equal(stats.short.topOpening.share, 1);
  assert.equal(stats.short.lengthPass, 2 / 3);
  assert.equal(stats.long.lengthPass, 0); // one sentence, then 61 words in two
  assert.equal(stats.captions.lengthPass, 2 / 3);
  assert.ok(isFamiliarWord('dogs') && isFamiliarWord('bigger') && isFamiliarWord('mice') && isFamiliarWord('played'));
  assert.ok(!isFamiliarWord('penguins') && !isFamiliarWord('zoom'));
  assert.ok(stats.unfamiliarWords.some(([w]) => w === 'penguins'));
});

test('splits: 44 train, 5 val and 1 test in every block of 50', () => {
  for (const block of [0, 1, 17]) {
    const counts = { train: 0, val: 0, test: 0 };
    for (let i = block * 50; i < block * 50 + 50; i++) counts[splitOf(11, i)]++;
    assert.deepEqual(counts, { train: 44, val: 5, test: 1 });
  }
});

test('generateScenes writes the dataset folder; worker threads give the same bytes as one thread', async () => {
  const dir = tmp();
  try {
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    const seen: number[] = [];
    const ra = await generateScenes({ out: a, count: 60, seed: 8, workers: 0, onProgress: (d) => seen.push(d) });
    assert.equal(ra.count, 60);
    assert.equal(seen[seen.length - 1], 60);
    await generateScenes({ out: b, count: 60, seed: 8, workers: 2 });
    const manifest = readFileSync(path.join(a, 'manifest.jsonl'), 'utf8');
    assert.equal(manifest, readFileSync(path.join(b, 'manifest.jsonl'), 'utf8'));
    const records = manifest.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(
      records.map((r) => r.id),
      Array.from({ length: 60 }, (_, i) => String(i + 1).padStart(6, '0')),
    );
    for (const r of records) {
      assert.ok(readFileSync(path.join(a, r.image)).equals(readFileSync(path.join(b, r.image))), `${r.image} differs`);
      assert.ok(['train', 'val', 'test'].includes(r.split));
      assert.ok(r.meta.objects.length >= 1 && typeof r.short === 'string' && typeof r.long === 'string');
    }
    assert.equal(readdirSync(path.join(a, 'images')).length, 60);
    assert.equal(JSON.parse(readFileSync(path.join(a, 'info.json'), 'utf8')).seed, 8);
    assert.deepEqual(readdirSync(dir).sort(), ['a', 'b'], 'temporary folders were left behind');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('generateScenes refuses bad options and a non-empty folder unless told', async () => {
  const dir = tmp();
  try {
    const busy = path.join(dir, 'busy');
    mkdirSync(busy);
    writeFileSync(path.join(busy, 'notes.txt'), 'mine');
    await assert.rejects(
      generateScenes({ out: busy, count: 5, workers: 0 }),
      (e) => e instanceof UserError && /not empty; choose a new folder, or pass --overwrite/.test(e.message),
    );
    assert.deepEqual(readdirSync(busy), ['notes.txt']);
    await assert.rejects(generateScenes({ out: path.join(dir, 'x'), count: 0 }), UserError);
    await assert.rejects(generateScenes({ out: path.join(dir, 'x'), count: 2.5 }), UserError);
    await assert.rejects(generateScenes({ out: path.join(dir, 'x'), count: 5, seed: -1 }), UserError);
    await assert.rejects(generateScenes({ out: path.join(dir, 'x'), count: 5, workers: -2 }), UserError);
    const file = path.join(dir, 'file');
    writeFileSync(file, '');
    await assert.rejects(generateScenes({ out: file, count: 5 }), /not a folder/);
    const empty = path.join(dir, 'empty');
    mkdirSync(empty);
    await generateScenes({ out: empty, count: 2, workers: 0 });
    assert.deepEqual(readdirSync(empty).sort(), ['images', 'info.json', 'manifest.jsonl']);
    assert.deepEqual(readdirSync(dir).sort(), ['busy', 'empty', 'file'], 'temporary folders were left behind');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('overwriting replaces only the scenes\' own files: a tokenizer.json and a user\'s files stay', async () => {
  const dir = tmp();
  try {
    const ds = path.join(dir, 'ds');
    await generateScenes({ out: ds, count: 12, seed: 1, workers: 0 });
    const mine = {
      'tokenizer.json': '{"model":{}}',
      'notes.txt': 'my notes',
      'images/cover.png': 'my picture',
    };
    for (const [f, text] of Object.entries(mine)) writeFileSync(path.join(ds, f), text);
    // A rerun without the flag is refused, even over its own earlier build.
    await assert.rejects(
      generateScenes({ out: ds, count: 3, seed: 2, workers: 0 }),
      /holds scenes from an earlier build; choose a new folder, or pass --overwrite/,
    );
    assert.equal(readdirSync(path.join(ds, 'images')).length, 13);
    await generateScenes({ out: ds, count: 3, seed: 2, workers: 0, overwrite: true });
    for (const [f, text] of Object.entries(mine)) assert.equal(readFileSync(path.join(ds, f), 'utf8'), text, f);
    assert.deepEqual(readdirSync(path.join(ds, 'images')).sort(), ['000001.png', '000002.png', '000003.png', 'cover.png']);
    const info = JSON.parse(readFileSync(path.join(ds, 'info.json'), 'utf8'));
    assert.equal(info.count, 3);
    assert.equal(info.seed, 2);
    const fresh = path.join(dir, 'fresh');
    await generateScenes({ out: fresh, count: 3, seed: 2, workers: 0 });
    for (const f of ['manifest.jsonl', 'images/000001.png', 'images/000003.png']) {
      assert.ok(readFileSync(path.join(ds, f)).equals(readFileSync(path.join(fresh, f))), `${f} is the new build's`);
    }
    assert.deepEqual(readdirSync(dir).sort(), ['ds', 'fresh'], 'temporary folders were left behind');

    // A folder that never held scenes: written into beside the user's files, none removed.
    const busy = path.join(dir, 'busy');
    mkdirSync(busy);
    writeFileSync(path.join(busy, 'notes.txt'), 'mine');
    await generateScenes({ out: busy, count: 2, seed: 2, workers: 0, overwrite: true });
    assert.deepEqual(readdirSync(busy).sort(), ['images', 'info.json', 'manifest.jsonl', 'notes.txt']);

    // Someone else's file where a new scene file goes: refused before anything is written or removed.
    const other = path.join(dir, 'other');
    mkdirSync(path.join(other, 'images'), { recursive: true });
    writeFileSync(path.join(other, 'manifest.jsonl'), '{"id":"mine"}\n');
    writeFileSync(path.join(other, 'images', '000002.png'), 'mine');
    await assert.rejects(
      generateScenes({ out: other, count: 2, workers: 0, overwrite: true }),
      /other\/manifest\.jsonl: not written by nanovlm data scenes/,
    );
    assert.equal(readFileSync(path.join(other, 'manifest.jsonl'), 'utf8'), '{"id":"mine"}\n');
    assert.deepEqual(readdirSync(path.join(other, 'images')), ['000002.png']);
    rmSync(path.join(other, 'manifest.jsonl'));
    await assert.rejects(
      generateScenes({ out: other, count: 2, workers: 0, overwrite: true }),
      /000002\.png: not written by nanovlm data scenes/,
    );
    assert.equal(readFileSync(path.join(other, 'images', '000002.png'), 'utf8'), 'mine');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
