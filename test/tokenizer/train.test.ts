import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trainTokenizer, countPieces, Tokenizer, BYTE_ID_OFFSET } from '../../src/tokenizer/index.ts';
import { MergeRules } from '../../src/tokenizer/bpe.ts';
import { utf8Bytes } from '../../src/tokenizer/bytes.ts';
import { UserError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import { sceneTexts, variedTexts } from '../../tools/fixtures/texts.ts';

/** Textbook BPE training: recount every pair over every piece after each merge. */
function naiveMerges(texts: string[], vocabSize: number, minFrequency: number): [number, number][] {
  const words = [...countPieces(texts)].map(([piece, f]) => ({
    ids: Array.from(utf8Bytes(piece), (b) => BYTE_ID_OFFSET + b),
    f,
  }));
  const merges: [number, number][] = [];
  for (let t = BYTE_ID_OFFSET + 256; t < vocabSize; t++) {
    const counts = new Map<string, number>();
    for (const w of words) {
      for (let i = 0; i + 1 < w.ids.length; i++) {
        const k = `${w.ids[i]},${w.ids[i + 1]}`;
        counts.set(k, (counts.get(k) ?? 0) + w.f);
      }
    }
    let best: [number, number] | null = null;
    let bestCount = 0;
    for (const [k, c] of counts) {
      const [l, r] = k.split(',').map(Number) as [number, number];
      if (c > bestCount || (c === bestCount && best && (l < best[0] || (l === best[0] && r < best[1])))) {
        best = [l, r];
        bestCount = c;
      }
    }
    if (!best || bestCount < minFrequency) break;
    merges.push(best);
    for (const w of words) {
      const out: number[] = [];
      for (let i = 0; i < w.ids.length; i++) {
        if (w.ids[i] === best[0] && w.ids[i + 1] === best[1]) {
          out.push(t);
          i++;
        } else out.push(w.ids[i]!);
      }
      w.ids = out;
    }
  }
  return merges;
}

function mergesOf(tok: Tokenizer): string[] {
  return tok.toJSON().model.merges;
}

test('incremental training learns exactly the merges of a full recount', () => {
  const { short } = sceneTexts(150, 3);
  const texts = [...short, ...variedTexts(60, 5), 'aaaaaaaaaa abababab aaa'];
  for (const minFrequency of [1, 2, 5]) {
    const fast = trainTokenizer(texts, { vocabSize: 700, minFrequency });
    const reference = Tokenizer.fromMerges(naiveMerges(texts, 700, minFrequency));
    assert.ok(fast.mergeCount > 50, `only ${fast.mergeCount} merges`);
    assert.deepEqual(mergesOf(fast), mergesOf(reference), `minFrequency ${minFrequency}`);
  }
});

test('training is deterministic and respects vocabSize and minFrequency', () => {
  const { short, long } = sceneTexts(300, 11);
  const texts = [...short, ...long];
  const a = trainTokenizer(texts, { vocabSize: 512 });
  const b = trainTokenizer(texts, { vocabSize: 512 });
  assert.equal(a.vocabSize, 512);
  assert.deepEqual(a.toJSON(), b.toJSON());
  // A tiny corpus runs out of pairs seen twice before reaching the requested size.
  const small = trainTokenizer(['hello hello world'], { vocabSize: 4096 });
  assert.ok(small.vocabSize < 300 && small.vocabSize > BYTE_ID_OFFSET + 256, String(small.vocabSize));
  // "ello" pairs occur in both "hello" and " hello"; " world" pairs only once.
  assert.deepEqual(small.encode('hello'), [small.tokenToId('hello')]);
  assert.equal(small.encode(' world').length, 6);
  // Frequent words become single tokens; the layout puts special tokens first, then bytes.
  assert.deepEqual([a.bosId, a.eosId, a.padId, a.imageId], [0, 1, 2, 3]);
  assert.equal(a.idToToken(BYTE_ID_OFFSET + 0x41), 'A');
  assert.equal(a.encode(' the').length, 1);
});

test('bad training options are user errors', () => {
  assert.throws(() => trainTokenizer(['x'], { vocabSize: 100 }), UserError);
  assert.throws(() => trainTokenizer(['x'], { vocabSize: 1000.5 }), UserError);
  assert.throws(() => trainTokenizer(['x'], { minFrequency: 0 }), UserError);
});

/** Reference encoder: merge the lowest-rank pair, leftmost first, one at a time. */
function naiveApply(syms: number[], merges: [number, number, number][]): number[] {
  const s = [...syms];
  for (;;) {
    let best = -1;
    let at = -1;
    for (let i = 0; i + 1 < s.length; i++) {
      const r = merges.findIndex(([l, rr]) => l === s[i] && rr === s[i + 1]);
      if (r >= 0 && (best < 0 || r < best)) [best, at] = [r, i];
    }
    if (best < 0) return s;
    s.splice(at, 2, merges[best]![2]);
  }
}

test('long-piece (heap) and short-piece merging agree with the reference rule', () => {
  const rng = new Rng(5);
  // Random merges over a 4-symbol alphabet: many overlapping pairs and equal-rank repeats.
  const merges: [number, number, number][] = [];
  for (let t = 4; t < 40; t++) merges.push([rng.int(t), rng.int(t), t]);
  const rules = new MergeRules(merges, 64);
  for (let trial = 0; trial < 300; trial++) {
    const n = 1 + rng.int(trial < 150 ? 40 : 200);
    const syms = Array.from({ length: n }, () => rng.int(4));
    assert.deepEqual(rules.apply([...syms]), naiveApply(syms, merges), `input ${syms.join(',')}`);
  }
});
