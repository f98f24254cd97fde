import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lcsLength, rouge, rougeL, rougeN } from '../../src/eval/rouge.ts';
import { words, joinPrefix, sentences, firstWords } from '../../src/eval/text.ts';

const close = (a: number, b: number, eps = 1e-12) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

test('ROUGE-1/2/L on texts computed by hand', () => {
  // the cat sat on the mat / the cat is on the mat: unigram overlap 5 of 6, bigram 3 of 5, LCS 5
  const a = rouge('The cat sat on the mat.', 'the cat is on the mat');
  close(a.rouge1.f1, 5 / 6);
  close(a.rouge2.precision, 3 / 5);
  close(a.rouge2.f1, 0.6);
  close(a.rougeL.f1, 5 / 6);
  // a dog runs fast / the dog runs in the park: overlap 2 (P 1/2, R 1/3), one bigram (P 1/3, R 1/5)
  const b = rouge('a dog runs fast', 'the dog runs in the park');
  close(b.rouge1.precision, 0.5);
  close(b.rouge1.recall, 1 / 3);
  close(b.rouge1.f1, 0.4);
  close(b.rouge2.f1, 0.25);
  close(b.rougeL.f1, 0.4);
  // clipped counts: "the" four times against one
  const c = rougeN(words('the the the the'), words('the cat'), 1);
  close(c.precision, 0.25);
  close(c.recall, 0.5);
  close(c.f1, 1 / 3);
  // LCS is a subsequence, not a substring
  assert.equal(lcsLength(words('a b c d e'), words('a x c y e')), 3);
  close(rougeL(words('a b c d e'), words('a x c y e')).f1, 0.6);
  // nothing in common, empty texts
  assert.equal(rouge('red', 'blue').rougeL.f1, 0);
  assert.equal(rouge('', 'blue').rouge1.f1, 0);
  assert.equal(rouge('one', 'one').rouge2.f1, 0);
  close(rouge('The Cat!', 'the cat').rougeL.f1, 1);
});

test('word tokens, sentences and joining a prefix with its completion', () => {
  assert.deepEqual(words("The dog's ball, isn't it? 2 cats."), [
    'the',
    "dog's",
    'ball',
    "isn't",
    'it',
    '2',
    'cats',
  ]);
  assert.deepEqual(sentences('The dog runs.  It is happy! Is it?\nYes "sure."'), [
    'The dog runs.',
    'It is happy!',
    'Is it?',
    'Yes "sure."',
  ]);
  assert.deepEqual(sentences('No end mark'), ['No end mark']);
  assert.deepEqual(sentences('...'), []);
  assert.equal(joinPrefix('A big dog', ' runs.'), 'A big dog runs.');
  assert.equal(joinPrefix('A big dog', 'runs.'), 'A big dog runs.');
  assert.equal(joinPrefix('A big dog', ', and runs.'), 'A big dog, and runs.');
  assert.equal(joinPrefix('', 'A dog.'), 'A dog.');
  assert.equal(firstWords('  one two,  three four ', 3), 'one two, three');
});
