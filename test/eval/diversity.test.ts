import { test } from 'node:test';
import assert from 'node:assert/strict';
import { distinctN, isSimpleWord, simpleWordShare } from '../../src/eval/diversity.ts';

test('distinct-n pools n-grams over texts without crossing between them', () => {
  assert.deepEqual(distinctN(['a b a b', 'a b'], 1), { ngrams: 6, distinct: 2, ratio: 1 / 3 });
  assert.deepEqual(distinctN(['a b a b', 'a b'], 2), { ngrams: 4, distinct: 2, ratio: 0.5 });
  // "b c" would only exist across the text boundary
  assert.equal(distinctN(['a b', 'c d'], 2).distinct, 2);
  assert.deepEqual(distinctN(['one'], 2), { ngrams: 0, distinct: 0, ratio: 0 });
  assert.equal(distinctN(['The dog, the DOG.'], 1).ratio, 0.5);
});

test('simple words: Dale-Chall list with regular inflections', () => {
  for (const w of [
    'the',
    'dog',
    'dogs',
    'played',
    'playing',
    'running',
    'happily',
    'bigger',
    'biggest',
    "dog's",
    'babies',
    'smiled',
    '3',
  ])
    assert.ok(isSimpleWord(w), w);
  for (const w of ['xylophone', 'quantum', 'photosynthesis', 'ubiquitous']) assert.ok(!isSimpleWord(w), w);
  const s = simpleWordShare(['The dogs played.', 'A ubiquitous xylophone!']);
  assert.equal(s.words, 6);
  assert.equal(s.simple, 4);
  assert.ok(Math.abs(s.share - 4 / 6) < 1e-12);
  assert.equal(simpleWordShare([]).share, 0);
});
