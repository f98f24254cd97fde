import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  ObjectMatcher,
  loadKnownObjects,
  presentFromMeta,
  scoreDescription,
  totalScores,
  type KnownObject,
} from '../../src/eval/objects.ts';

const OBJECTS: KnownObject[] = [
  { name: 'dog', plural: 'dogs' },
  { name: 'cat', plural: 'cats' },
  { name: 'ball', plural: 'balls' },
  { name: 'bear', plural: 'bears' },
  { name: 'teddy bear', plural: 'teddy bears' },
  { name: 'sheep', plural: 'sheep' },
  { name: 'mouse', plural: 'mice' },
  { name: 'orange', plural: 'oranges' },
  { name: 'tree', plural: 'trees' },
  { name: 'pine tree', plural: 'pine trees' },
  { name: 'sun', plural: 'suns' },
  { name: 'scissors', plural: 'scissors' },
  { name: 'bed', plural: 'beds' },
];
const matcher = new ObjectMatcher(OBJECTS);
const names = (text: string) => matcher.mentions(text).map((m) => `${m.name}:${m.count}`);

test('mentions: names, plurals, longest multi-word names, stated counts', () => {
  assert.deepEqual(names('Two dogs chase a ball.'), ['dog:2', 'ball:1']);
  assert.deepEqual(names('The teddy bear sits by three tall pine trees.'), ['teddy bear:1', 'pine tree:3']);
  assert.deepEqual(names('A brown bear and four little mice!'), ['bear:1', 'mouse:4']);
  // "sheep" has one form for both numbers: no count unless stated
  assert.deepEqual(names('Sheep eat grass. Two sheep sleep.'), ['sheep:null', 'sheep:2']);
  // the count look-back stops at punctuation and at other things
  assert.deepEqual(names('There are two. Dogs run.'), ['dog:null']);
  assert.deepEqual(names('Two cats, dogs too'), ['cat:2', 'dog:null']);
  // "a" before a plural is not a count ("a few dogs")
  assert.deepEqual(names('a few dogs'), ['dog:null']);
  // "a pair of scissors" is one thing; "two pairs of scissors" two; "a pair of dogs" two dogs
  assert.deepEqual(names('A pair of scissors. Two pairs of scissors. A pair of dogs.'), [
    'scissors:1',
    'scissors:2',
    'dog:2',
  ]);
  // idioms that are not things in the picture
  assert.deepEqual(names('Soon it is time for bed. Two beds and a bed.'), ['bed:2', 'bed:1']);
  // words inside other words are not matches
  assert.deepEqual(names('The sunny day has a catapult.'), []);
});

test('mentions: "orange" as a colour is not the fruit', () => {
  assert.deepEqual(names('An orange cat naps.'), ['cat:1']);
  assert.deepEqual(names('An orange rolls away. Two oranges.'), ['orange:1', 'orange:2']);
  assert.deepEqual(names('I see an orange.'), ['orange:1']);
  assert.deepEqual(names('The sky turns orange. It is red and orange, with an orange, a ball.'), [
    'orange:1',
    'ball:1',
  ]);
});

test('scoreDescription: recall, precision and counts against the picture', () => {
  const present = new Map([
    ['dog', 2],
    ['ball', 1],
    ['tree', 3],
  ]);
  const s = scoreDescription('Two dogs play with a ball near a cat. The dogs are happy.', present, matcher);
  assert.deepEqual(
    s.named.map((m) => m.name),
    ['dog', 'ball', 'cat'],
  );
  assert.equal(s.truePositives, 2);
  assert.equal(s.countJudged, 2);
  assert.equal(s.countCorrect, 2);
  const wrongCount = scoreDescription('A dog sleeps.', present, matcher);
  assert.equal(wrongCount.countCorrect, 0);
  assert.equal(wrongCount.countJudged, 1);
  const totals = totalScores([s, wrongCount]);
  assert.equal(totals.present, 6);
  assert.equal(totals.named, 4);
  assert.equal(totals.truePositives, 3);
  assert.equal(totals.recall, 3 / 6);
  assert.equal(totals.precision, 3 / 4);
  assert.equal(totals.countAccuracy, 2 / 3);
});

test('presentFromMeta: per-kind counts or one entry per thing', () => {
  assert.deepEqual(
    [...presentFromMeta({ objects: [{ name: 'dog', count: 2 }, { name: 'cat' }] })],
    [
      ['dog', 2],
      ['cat', 1],
    ],
  );
  assert.deepEqual([...presentFromMeta({ objects: [{ name: 'dog' }, { name: 'dog' }] })], [['dog', 2]]);
  assert.deepEqual([...presentFromMeta({ groups: [{ name: 'cat', count: 3, items: [] }] })], [['cat', 3]]);
  assert.throws(() => presentFromMeta({}), /no "groups" or "objects"/);
});

test('loadKnownObjects: reads the list and names the file on errors', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'objects-'));
  const good = path.join(dir, 'objects.json');
  writeFileSync(
    good,
    JSON.stringify({ objects: [{ name: 'dog', plural: 'dogs', kind: 'animal' }, { name: 'fish' }] }),
  );
  assert.deepEqual(loadKnownObjects(good), [
    { name: 'dog', plural: 'dogs', kind: 'animal' },
    { name: 'fish', plural: 'fish', kind: undefined },
  ]);
  const bad = path.join(dir, 'bad.json');
  writeFileSync(bad, '{"objects": [{"plural": "x"}]}');
  assert.throws(() => loadKnownObjects(bad), /bad\.json: objects\[0\] has no "name"/);
  assert.throws(() => loadKnownObjects(path.join(dir, 'missing.json')), /missing\.json: cannot read/);
});

test('the built-in scenes: their own descriptions name every thing, and almost nothing else', async () => {
  const { sceneRecord } = await import('../../src/data/scenes/index.ts');
  const m = new ObjectMatcher(loadKnownObjects());
  assert.ok(m.objects.length >= 100);
  for (const field of ['short', 'long'] as const) {
    const scores = Array.from({ length: 1500 }, (_, i) => {
      const { record } = sceneRecord(1, i);
      return scoreDescription(record[field], presentFromMeta(record.meta), m);
    });
    const t = totalScores(scores);
    assert.equal(t.recall, 1, `${field}: recall ${t.recall}`);
    assert.ok(t.precision >= 0.98, `${field}: precision ${t.precision}`);
    assert.ok(
      t.countAccuracy >= 0.98 && t.countJudged > 0.9 * t.present,
      `${field}: counts ${JSON.stringify(t)}`,
    );
  }
});
