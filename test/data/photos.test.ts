import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { BACKDROPS, PHOTO_PACKAGES, STAMPS } from '../../src/data/photos/catalog.ts';
import { decodeStamp } from '../../src/data/photos/compose.ts';
import { BACKDROP_ASPECT, photoSceneAt } from '../../src/data/photos/layout.ts';
import { backdropPath, checkPhotoPackages, stampPath } from '../../src/data/photos/packages.ts';
import { photoRecord } from '../../src/data/photos/record.ts';
import { STAMP_ASPECT } from '../../src/data/photos/stamp-aspects.ts';
import { THING_BY_NAME } from '../../src/data/scenes/catalog.ts';
import { generateScenes, measureTexts, meetsLengthRule } from '../../src/data/scenes/index.ts';
import { UserError } from '../../src/util/errors.ts';
import { checkText } from './scenes/consistency.ts';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'nanovlm-photos-'));
const ROOT = path.resolve(import.meta.dirname, '../..');

test('catalog: every stamp and background file is in its installed package, with the aspect the layout assumes', async () => {
  for (const s of STAMPS) {
    assert.ok(existsSync(stampPath(s.file)), `${s.file} is not installed (apt-get install tuxpaint-stamps-default)`);
    const d = await decodeStamp(stampPath(s.file));
    const aspect = STAMP_ASPECT[s.file];
    assert.ok(aspect !== undefined, `${s.file} has no aspect in stamp-aspects.ts`);
    assert.ok(Math.abs(d.width / d.height - aspect) < 0.02 * aspect, `${s.file}: aspect ${d.width / d.height}, table ${aspect}`);
  }
  for (const b of BACKDROPS) {
    assert.ok(existsSync(backdropPath(b)), `${b.file} is not installed (apt-get install ${b.package})`);
    const m = await sharp(backdropPath(b)).metadata();
    assert.ok(Math.abs(m.width! / m.height! - BACKDROP_ASPECT[b.id]!) < 0.005, `${b.id} aspect`);
    assert.ok(PHOTO_PACKAGES.some((p) => p.name === b.package), `${b.package} has no licence entry`);
  }
  assert.equal(new Set(BACKDROPS.map((b) => b.id)).size, BACKDROPS.length);
});

test('catalog: names are things of objects.json (plural and kind from there), each setting has things to show', () => {
  for (const s of STAMPS) {
    const t = THING_BY_NAME.get(s.name);
    assert.ok(t, `${s.file}: "${s.name}" is not in objects.json`);
    assert.match(t.plural, /^[a-z]+( [a-z]+)*$/, `${s.name}: plural "${t.plural}"`);
    assert.ok(s.places.length > 0 && s.scale > 0);
    if (s.colour) assert.match(s.colour, /^(red|orange|yellow|green|blue|purple|pink|white|black|gray|brown|gold)( and (white|black))?$/);
  }
  for (const b of BACKDROPS) {
    const here = STAMPS.filter((s) => s.places.includes(b.setting) && (s.zone === 'ground' ? b.ground : b.sky));
    assert.ok(new Set(here.map((s) => s.name)).size >= (b.ground ? 3 : 2), `${b.id}: too few things`);
    for (const w of [...b.words.ground, ...b.words.place, ...b.words.facts, ...b.words.np, ...b.words.on]) {
      // Setting words never name a catalog thing ("the sun", "clouds"): the texts would name what is not a thing of the scene.
      for (const name of THING_BY_NAME.keys()) {
        const t = THING_BY_NAME.get(name)!;
        assert.ok(!new RegExp(`\\b(${name}|${t.plural})\\b`).test(w), `${b.id}: "${w}" names ${name}`);
      }
    }
  }
});

test('layout: things stand in the ground band, inside the picture, and shrink with depth', () => {
  for (let i = 0; i < 300; i++) {
    const ps = photoSceneAt(3, i);
    assert.ok(ps.scene.groups.length >= 1 && ps.scene.groups.length <= 4);
    assert.equal(new Set(ps.scene.groups.map((g) => g.name)).size, ps.scene.groups.length);
    ps.scene.groups.forEach((g, gi) => {
      assert.equal(g.items.length, g.count);
      for (const d of ps.drawn[gi]!) {
        const [x, y, w, h] = d.box;
        assert.ok(x >= -1 && x + w <= 225 && y >= -1 && y + h <= 225, `scene ${i} ${g.name} box ${d.box}`);
        if (d.feet !== null) assert.ok(Math.abs(y + h - d.feet) <= 1, `scene ${i} ${g.name}: feet at ${d.feet}, box bottom ${y + h}`);
      }
    });
    // Among ground copies of one stamp, the one further back is not bigger.
    const ground = ps.drawn.flat().filter((d) => d.feet !== null);
    for (const a of ground)
      for (const b of ground)
        if (a.stamp === b.stamp && a.feet! < b.feet! - 3) assert.ok(a.box[3] <= b.box[3] + 1, `scene ${i}: far copy bigger`);
  }
});

test('texts agree with the picture: length rules, every thing named with its number, no absent things, true positions', () => {
  const problems: string[] = [];
  const records = [];
  for (let i = 0; i < 250; i++) {
    const { ps, record } = photoRecord(7, i);
    records.push(record);
    assert.equal(record.meta.source, 'photos');
    assert.equal(new Set(record.captions).size, 5);
    const texts: [string, string, 'short' | 'long' | 'caption'][] = [
      ['short', record.short, 'short'],
      ['long', record.long, 'long'],
      ...record.captions.map((c, k) => [`caption ${k}`, c, 'caption'] as [string, string, 'caption']),
    ];
    for (const [label, text, kind] of texts) {
      assert.ok(meetsLengthRule(text, kind), `scene ${i} ${label} breaks the length rule: ${text}`);
      for (const p of checkText(ps.scene, text, true)) problems.push(`scene ${i} ${label}: ${p}\n  ${text}`);
      assert.doesNotMatch(text, /clip art|illustration|cartoon|drawing/i, `scene ${i} ${label} calls a photo a drawing`);
    }
  }
  assert.deepEqual(problems.slice(0, 5), []);
  const stats = measureTexts(records);
  assert.ok(stats.short.distinctShare >= 0.95, `distinct ShortDesc ${stats.short.distinctShare}`);
  assert.ok(stats.simpleWordShare >= 0.97, `simple-word share ${stats.simpleWordShare}`);
});

test('text statistics over 3,000 photo scenes: distinct, fresh openings, length rules, simple words', () => {
  const records = Array.from({ length: 3000 }, (_, i) => photoRecord(11, i).record);
  const stats = measureTexts(records);
  assert.ok(stats.short.distinctShare >= 0.99, `distinct ShortDesc ${stats.short.distinctShare}`);
  assert.ok(stats.short.topOpening.share <= 0.055, `opening "${stats.short.topOpening.words}" ${stats.short.topOpening.share}`);
  assert.ok(stats.long.topOpening.share <= 0.055, `opening "${stats.long.topOpening.words}" ${stats.long.topOpening.share}`);
  assert.equal(stats.short.lengthPass, 1);
  assert.equal(stats.long.lengthPass, 1);
  assert.equal(stats.captions.lengthPass, 1);
  assert.ok(stats.simpleWordShare >= 0.97, `simple-word share ${stats.simpleWordShare}`);
  // Every picture names at least one thing that is a thing of objects.json, in its ShortDesc.
  assert.ok(records.every((r) => r.meta.objects.length >= 1));
});

test('generateScenes --source photos and mixed: records of the scenes shape, 224 px photographs', async () => {
  const dir = path.join(tmp(), 'photos');
  try {
    await generateScenes({ out: dir, count: 6, seed: 2, workers: 0, source: 'mixed' });
    const lines = readFileSync(path.join(dir, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(
      lines.map((r) => r.meta.source),
      ['scenes', 'photos', 'scenes', 'photos', 'scenes', 'photos'],
    );
    for (const r of lines) {
      assert.deepEqual(Object.keys(r).sort(), ['captions', 'id', 'image', 'long', 'meta', 'short', 'split']);
      const m = await sharp(path.join(dir, r.image)).metadata();
      assert.deepEqual([m.width, m.height, m.format], [224, 224, 'png']);
    }
    const photo = lines[1];
    assert.ok(photo.meta.photo.backdrop && photo.meta.objects.length >= 1);
    assert.equal(JSON.parse(readFileSync(path.join(dir, 'info.json'), 'utf8')).pictures, 'mixed');
    // Same seed and index: the same bytes as drawing it again.
    const again = path.join(tmp(), 'again');
    await generateScenes({ out: again, count: 2, seed: 2, workers: 0, source: 'photos' });
    assert.deepEqual(readFileSync(path.join(again, 'images/000002.png')), readFileSync(path.join(dir, 'images/000002.png')));
    rmSync(again, { recursive: true, force: true });
  } finally {
    rmSync(path.dirname(dir), { recursive: true, force: true });
  }
});

test('held-out backgrounds appear in the test split only', async () => {
  const held = ['picosdeeuropa', 'hills'];
  for (let i = 0; i < 400; i++) {
    const { record } = photoRecord(4, i, held);
    assert.equal(held.includes(record.meta.photo.backdrop), record.split === 'test', `scene ${i} (${record.split}) on ${record.meta.photo.backdrop}`);
  }
  const out = path.join(os.tmpdir(), `nanovlm-photos-never-${process.pid}`);
  await assert.rejects(generateScenes({ out, count: 2, source: 'photos', holdOut: ['nowhere'] }), /no photo background "nowhere"/);
  await assert.rejects(generateScenes({ out, count: 2, holdOut: ['hills'] }), /needs the photos or mixed source/);
  await assert.rejects(generateScenes({ out, count: 2, source: 'photos', layout: 'free' }), /free layout is for drawn scenes/);
  assert.equal(existsSync(out), false);
});

test('a missing package is a clear error naming what to install', () => {
  const root = tmp();
  const was = process.env.NANOVLM_DEBIAN_ROOT;
  process.env.NANOVLM_DEBIAN_ROOT = root;
  try {
    assert.throws(
      () => checkPhotoPackages(),
      (e: unknown) =>
        e instanceof UserError &&
        /apt-get install -y --no-install-recommends tuxpaint-stamps-default lomiri-wallpapers-16.04 lxqt-themes mate-backgrounds$/.test(e.message),
    );
  } finally {
    if (was === undefined) delete process.env.NANOVLM_DEBIAN_ROOT;
    else process.env.NANOVLM_DEBIAN_ROOT = was;
  }
  const out = path.join(root, 'out');
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/nanovlm.js'), 'data', 'scenes', '--source', 'photos', '--out', out, '--count', '3'], {
    env: { ...process.env, NANOVLM_DEBIAN_ROOT: root },
    encoding: 'utf8',
  });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /tuxpaint-stamps-default/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(existsSync(out), false);
  rmSync(root, { recursive: true, force: true });
});
