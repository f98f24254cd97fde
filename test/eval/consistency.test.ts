import { test } from 'node:test';
import assert from 'node:assert/strict';
import { consistencyOf, contradictions } from '../../src/eval/consistency.ts';
import { measureTexts } from '../../src/eval/measures.ts';
import { ObjectMatcher, loadKnownObjects, presentFromMeta } from '../../src/eval/objects.ts';
import { sceneRecord } from '../../src/data/scenes/index.ts';

const matcher = new ObjectMatcher(loadKnownObjects());
const kinds = (text: string, present?: Map<string, number>) =>
  contradictions(text, matcher, present).map((c) => `${c.kind}:${c.name}`);

test('a thing named with two numbers is a count conflict', () => {
  assert.deepEqual(kinds('There are two dogs on the grass. A dog is happy.'), ['countConflict:dog']);
  assert.deepEqual(kinds('I see three red balls. The two balls are round.'), ['countConflict:ball']);
  assert.deepEqual(kinds('A bunch of grapes sits here. Two bunches of grapes are purple.'), [
    'countConflict:grapes',
  ]);
  // Other things, or one number said twice, are no conflict.
  assert.deepEqual(kinds('Two dogs and a cat play. The two dogs are brown, and the cat is orange.'), []);
  assert.deepEqual(kinds('There are two dogs. The dogs want to play.'), []);
  // "the other dog", "each dog": members of the group, not a new number.
  assert.deepEqual(kinds('There are two dogs. One dog is brown and the other dog is white.'), []);
  assert.deepEqual(kinds('Three cats sit here, and each cat has a hat.'), []);
});

test('a thing related to itself is a self relation; two clauses about it are not', () => {
  assert.deepEqual(kinds('A yellow moon watches over a yellow moon.'), ['selfRelation:moon']);
  assert.deepEqual(kinds('The big dog is next to the dog.'), ['selfRelation:dog']);
  assert.deepEqual(kinds('A teddy bear is sitting on the teddy bear.'), ['selfRelation:teddy bear']);
  assert.deepEqual(kinds('The dog wants to play, and the dog is happy.'), []);
  assert.deepEqual(kinds('The dog is brown. The dog is happy.'), []);
  assert.deepEqual(kinds('A dog is next to another dog.'), []);
  assert.deepEqual(kinds('The dog is next to the ball near the dog.'), []);
  // A teddy bear next to a bear is two things, not one related to itself.
  assert.deepEqual(kinds('A teddy bear sits next to a bear.'), []);
});

test('with the picture known, a number it does not have is a wrong count; absent things are not judged here', () => {
  const present = new Map([
    ['cat', 2],
    ['ball', 1],
  ]);
  assert.deepEqual(kinds('Three cats play with a ball.', present), ['wrongCount:cat']);
  assert.deepEqual(kinds('Two cats play with a ball.', present), []);
  assert.deepEqual(kinds('Two cats play with a ball and a kite.', present), []);
  // Without the picture the same text is consistent.
  assert.deepEqual(kinds('Three cats play with a ball.'), []);
  const c = contradictions('A cat and two cats play with three balls.', matcher, present);
  assert.deepEqual(c.map((x) => x.kind).sort(), ['countConflict', 'wrongCount', 'wrongCount']);
  assert.match(c.find((x) => x.name === 'ball')!.detail, /says 3, the picture has 1/);
});

test('consistencyOf pools texts: share, share without the picture check, texts per kind', () => {
  const present = new Map([['moon', 1]]);
  const t = consistencyOf(
    [
      { text: 'A yellow moon watches over a yellow moon.', present },
      { text: 'Two moons shine in the sky.', present },
      { text: 'A moon shines in the dark sky.', present },
      { text: 'A moon and two moons shine. A moon shines on a moon.' },
    ],
    matcher,
  );
  assert.equal(t.texts, 4);
  assert.equal(t.consistent, 1);
  assert.equal(t.share, 0.25);
  assert.equal(t.selfShare, 0.5);
  assert.deepEqual(t.byKind, { countConflict: 1, selfRelation: 2, wrongCount: 1 });
  assert.deepEqual(consistencyOf([], matcher), {
    texts: 0,
    consistent: 0,
    share: 0,
    selfShare: 0,
    byKind: { countConflict: 0, selfRelation: 0, wrongCount: 0 },
  });
});

test("the generator's own texts are consistent with themselves and their pictures, in both layouts", () => {
  const bad: string[] = [];
  for (const layout of ['habitat', 'free'] as const) {
    for (let i = 0; i < 300; i++) {
      const { record } = sceneRecord(21, i, layout);
      const present = presentFromMeta(record.meta);
      for (const text of [record.short, record.long, ...record.captions]) {
        const c = contradictions(text, matcher, present);
        if (c.length) bad.push(`${layout} ${i}: ${JSON.stringify(c)} ${text}`);
      }
    }
  }
  assert.deepEqual(bad.slice(0, 3), []);
});

test('measureTexts reports consistency beside the object scores', async () => {
  const m = await measureTexts(
    [
      { generated: 'A moon watches over a moon.', full: 'A moon watches over a moon.', objects: { moon: 1 } },
      { generated: 'A moon shines.', full: 'A moon shines.', objects: { moon: 1 } },
    ],
    { grammar: false },
  );
  assert.equal(m.consistency!.share, 0.5);
  assert.equal(m.consistency!.byKind.selfRelation, 1);
});
