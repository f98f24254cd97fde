import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TrainingTextIndex,
  memorization,
  COPY_THRESHOLD,
  BitParallelLcs,
} from '../../src/eval/memorization.ts';
import { rouge, rougeL, lcsLength } from '../../src/eval/rouge.ts';
import { words } from '../../src/eval/text.ts';
import { Rng } from '../../src/util/rng.ts';

const VOCAB =
  'the a dog cat ball red blue big small runs jumps sits on in near park grass sky sun tree happy and is with'.split(
    ' ',
  );
function randomText(rng: Rng, n: number): string {
  return Array.from({ length: n }, () => rng.pick(VOCAB)).join(' ') + '.';
}

test('nearest training text equals brute force, while checking few candidates', () => {
  const rng = new Rng(7);
  const train = Array.from({ length: 3000 }, () => randomText(rng, 8 + rng.int(20)));
  const index = new TrainingTextIndex(train);
  assert.equal(index.size, 3000);
  const trainWords = train.map(words);
  let checked = 0;
  for (let q = 0; q < 25; q++) {
    const text = randomText(rng, 6 + rng.int(20));
    const got = index.nearest(text);
    const qw = words(text);
    let best = 0;
    for (const t of trainWords) best = Math.max(best, rougeL(qw, t).f1);
    assert.ok(Math.abs(got.rougeL - best) < 1e-12, `query ${q}: ${got.rougeL} vs ${best}`);
    assert.ok(Math.abs(rouge(text, train[got.index]!).rougeL.f1 - best) < 1e-12);
    checked += got.checked;
  }
  // the bound prunes most of the 3000 candidates
  assert.ok(checked / 25 < 1500, `checked ${checked / 25} per query`);
});

test('bit-parallel LCS equals the dynamic programme, across 32-bit word boundaries', () => {
  const rng = new Rng(11);
  for (let trial = 0; trial < 300; trial++) {
    const alphabet = 2 + rng.int(12);
    const a = Array.from({ length: rng.int(100) }, () => rng.int(alphabet));
    const b = Array.from({ length: rng.int(100) }, () => rng.int(alphabet));
    // -1 marks a query word that no training text has: it matches nothing
    if (a.length && trial % 3 === 0) a[rng.int(a.length)] = -1;
    assert.equal(
      new BitParallelLcs(a).with(b),
      lcsLength(a, b),
      `trial ${trial}: |a| ${a.length}, |b| ${b.length}`,
    );
  }
});

test('copies are found, unknown words count in the length, and an empty index gives 0', () => {
  const train = [
    'The brown dog wants to catch the red ball.',
    'A cat sleeps under the big tree.',
    'Birds fly in the blue sky.',
  ];
  const index = new TrainingTextIndex(train);
  const copy = index.nearest('the brown dog wants to catch the red ball');
  assert.equal(copy.index, 0);
  assert.equal(copy.rougeL, 1);
  // 6 of 7 words shared, in order: LCS 6, P 6/7, R 6/7 → 0.857 (just under the copy threshold)
  const near = index.nearest('A cat sleeps under the green tree.');
  assert.equal(near.index, 1);
  assert.ok(Math.abs(near.rougeL - 6 / 7) < 1e-12);
  assert.equal(index.nearest('zebras xylophone').rougeL, 0);
  assert.equal(new TrainingTextIndex([]).nearest('a dog').index, -1);
  const s = memorization(
    ['the brown dog wants to catch the red ball', 'A cat sleeps under the green tree.', 'zebras'],
    index,
  );
  assert.equal(s.texts, 3);
  assert.equal(s.copyThreshold, COPY_THRESHOLD);
  assert.ok(Math.abs(s.copyShare - 1 / 3) < 1e-12);
  assert.equal(s.maxRougeL, 1);
  assert.ok(Math.abs(s.meanMaxRougeL - (1 + 6 / 7) / 3) < 1e-12);
});

test('memorisation check over 30K training texts stays fast', () => {
  const rng = new Rng(3);
  const train = Array.from({ length: 30000 }, () => randomText(rng, 20 + rng.int(6)));
  const queries = Array.from({ length: 50 }, () => randomText(rng, 22));
  // CPU time, not wall time: other processes may share the machine. Random texts over 24 words are the
  // hard case (every text shares most words with every query); real descriptions prune better.
  const cpu0 = process.cpuUsage();
  const index = new TrainingTextIndex(train);
  const s = memorization(queries, index);
  const cpu = process.cpuUsage(cpu0);
  const ms = (cpu.user + cpu.system) / 1000;
  assert.equal(s.texts, 50);
  assert.ok(s.meanMaxRougeL > 0.2 && s.meanMaxRougeL < 0.9);
  assert.ok(ms < 8000, `took ${ms} ms of CPU`);
});
