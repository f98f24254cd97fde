import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import {
  freeSceneAt,
  generateScenes,
  measureTexts,
  renderScenePng,
  sceneRecord,
  sceneTexts,
} from '../../src/data/scenes/index.ts';
import { thing } from '../../src/data/scenes/catalog.ts';
import { PLAIN_COLOURS } from '../../src/data/scenes/free-layout.ts';
import { hiddenShare } from '../../src/data/scenes/layout.ts';
import { UserError } from '../../src/util/errors.ts';
import { assertGroupsFit, checkRecordTexts, checkText } from './scenes/consistency.ts';

test('free layout: 1-3 kinds anywhere, any thing on any background, plain and two-tone ones most often', () => {
  const backgrounds = new Map<string, number>();
  const things = new Set<string>();
  const sizes = new Set<string>();
  let outOfPlace = 0;
  let pairs = 0;
  let mostlyHidden = 0;
  const n = 1500;
  for (let i = 0; i < n; i++) {
    const s = freeSceneAt(3, i);
    backgrounds.set(s.background, (backgrounds.get(s.background) ?? 0) + 1);
    assert.ok(s.groups.length >= 1 && s.groups.length <= 3, `scene ${i}: ${s.groups.length} kinds`);
    assert.equal(new Set(s.groups.map((g) => g.name)).size, s.groups.length);
    assert.deepEqual(s.decor, { clouds: 0, dotStars: false });
    assert.equal(s.plain !== undefined, s.background === 'plain' || s.background === 'two-tone');
    for (const g of s.groups) {
      things.add(g.name);
      sizes.add(g.size);
      if (!thing(g.name).places.includes(s.background)) outOfPlace++;
    }
    assertGroupsFit(i, s);
    const all = s.groups.flatMap((g, gi) => g.items.map((item) => ({ gi, p: { item, zone: g.zone } })));
    for (let a = 0; a < all.length; a++) {
      for (let b = 0; b < a; b++) {
        pairs++;
        if (hiddenShare(all[a]!.p, all[b]!.p) > 0.5) mostlyHidden++;
      }
    }
  }
  assert.equal(backgrounds.size, 12, [...backgrounds.keys()].join());
  const plainShare = ((backgrounds.get('plain') ?? 0) + (backgrounds.get('two-tone') ?? 0)) / n;
  assert.ok(plainShare > 0.5 && plainShare < 0.7, `plain or two-tone share ${plainShare}`);
  assert.ok(things.size >= 125, `only ${things.size} of 130 things appear`);
  assert.deepEqual([...sizes].sort(), ['big', 'medium', 'small']);
  assert.ok(outOfPlace > 1000, `only ${outOfPlace} things outside their usual places`);
  assert.ok(mostlyHidden / pairs <= 0.002, `${mostlyHidden} of ${pairs} pairs mostly hidden`);
});

test('free layout texts: length rules, every thing named with its number, no absent things, true positions', () => {
  const problems: string[] = [];
  let namedBackground = 0;
  for (let i = 0; i < 500; i++) {
    const { scene, record } = sceneRecord(5, i, 'free');
    checkRecordTexts(i, scene, record, problems);
    // A plain background is told by its own colour words, never as grass, sky or a room.
    if (scene.plain) {
      const all = [record.short, record.long, ...record.captions].join(' ').toLowerCase();
      const place = /\b(on|in|at|under|by|along) (the|a|an) (\w+ )?(grass|field|meadow|sky|beach|sand|kitchen|table|room|floor|street|road|desert|space|snow)\b/;
      // Wishes may name places ("the crab wants to dig in the sand"); claims about the picture may not.
      const claims = all.replace(/\b(wants?|wish|would like|likes?|loves?|hopes?|dreams?) [^.,!]*/g, '');
      assert.doesNotMatch(claims, place, `scene ${i}: ${all}`);
      if (scene.plain.colours.every((c) => new RegExp(`\\b${c}\\b`).test(all))) namedBackground++;
    }
    assert.equal(record.meta.layout, 'free');
    assert.deepEqual(record.meta.plain, scene.plain);
  }
  assert.deepEqual(problems.slice(0, 5), []);
  assert.ok(namedBackground > 200, `background colours named in only ${namedBackground} scenes`);
});

test('free layout statistics: distinct texts, every text within its length rule', () => {
  const stats = measureTexts(sceneTexts(77, 1000, 0, 'free'));
  assert.ok(stats.short.distinctShare >= 0.98, `distinct ShortDesc ${stats.short.distinctShare}`);
  assert.equal(stats.short.lengthPass, 1);
  assert.equal(stats.long.lengthPass, 1);
  assert.equal(stats.captions.lengthPass, 1);
});

test('free layout is deterministic from the seed, differs from the habitat layout, and leaves habitat records as they were', async () => {
  for (const i of [0, 9, 321]) {
    const a = sceneRecord(42, i, 'free');
    const b = sceneRecord(42, i, 'free');
    assert.deepEqual(a.record, b.record);
    assert.ok((await renderScenePng(a.scene)).equals(await renderScenePng(b.scene)));
    assert.notDeepEqual(sceneRecord(43, i, 'free').record.meta.objects, a.record.meta.objects);
    assert.notDeepEqual(sceneRecord(42, i).record.meta.objects, a.record.meta.objects);
    const habitat = sceneRecord(42, i).record.meta;
    assert.ok(!('layout' in habitat) && !('plain' in habitat));
  }
});

test('a plain background is drawn in its colour, a two-tone one in its two halves', async () => {
  const near = (px: number[], hex: string) => {
    const n = parseInt(hex.slice(1), 16);
    const want = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
    return px.every((v, k) => Math.abs(v - want[k]!) <= 12);
  };
  let checked = 0;
  for (let i = 0; checked < 6 && i < 200; i++) {
    const s = freeSceneAt(11, i);
    if (!s.plain) continue;
    const { data } = await sharp(await renderScenePng(s)).raw().toBuffer({ resolveWithObject: true });
    const covered = (x: number, y: number) =>
      s.groups.some((g) => g.items.some((it) => Math.abs(it.x - x) <= it.size / 2 && Math.abs(it.y - y) <= it.size / 2));
    const [a, b] = s.plain.colours;
    for (const [x, y] of [[1, 1], [222, 1], [1, 222], [222, 222]] as const) {
      if (covered(x, y)) continue;
      const o = (y * 224 + x) * 3;
      const px = [data[o]!, data[o + 1]!, data[o + 2]!];
      const second = b && (s.plain.split === 'across' ? y >= s.plain.at : x >= s.plain.at);
      assert.ok(near(px, PLAIN_COLOURS[second ? b : a]!), `scene ${i} (${s.plain.colours}) at ${x},${y}: ${px}`);
    }
    checked++;
  }
  assert.equal(checked, 6);
});

test('generateScenes writes a free-layout folder and says so in info.json; a bad layout is a clear error', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'nanovlm-free-'));
  try {
    const out = path.join(dir, 'ood');
    await generateScenes({ out, count: 12, seed: 4, layout: 'free', workers: 0 });
    assert.equal(JSON.parse(readFileSync(path.join(out, 'info.json'), 'utf8')).layout, 'free');
    const records = readFileSync(path.join(out, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(records[3], sceneRecord(4, 3, 'free').record);
    await assert.rejects(
      generateScenes({ out: path.join(dir, 'x'), count: 2, layout: 'odd' as never }),
      (e) => e instanceof UserError && /layout/.test(e.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loose layout: a third of the train split placed freely on habitat backgrounds; val and test as habitat', () => {
  let train = 0;
  let free = 0;
  for (let i = 0; i < 600; i++) {
    const loose = sceneRecord(3, i, 'loose');
    const habitat = sceneRecord(3, i, 'habitat');
    if (loose.record.split !== 'train') {
      assert.deepEqual(loose.record, habitat.record, `scene ${i} (${loose.record.split})`);
      continue;
    }
    train++;
    if (loose.record.meta.layout !== 'free') {
      assert.deepEqual(loose.record, habitat.record);
      continue;
    }
    free++;
    assert.equal(loose.scene.plain, undefined, `scene ${i} has a plain background`);
    assert.ok(!['plain', 'two-tone'].includes(loose.scene.background));
    for (const text of [loose.record.short, ...loose.record.captions])
      assert.deepEqual(checkText(loose.scene, text, true), [], `scene ${i}: ${text}`);
  }
  assert.ok(Math.abs(free / train - 1 / 3) < 0.06, `${free} of ${train} train scenes placed freely`);
});
