// The saved tokenizer.json is the contract: @huggingface/tokenizers (the library transformers.js uses)
// must read it and tokenize exactly as we do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { trainTokenizer, Tokenizer, preTokenize } from '../../src/tokenizer/index.ts';
import { toByteLevel } from '../../src/tokenizer/bytes.ts';
import { sceneTexts, variedTexts } from '../../tools/fixtures/texts.ts';

const { short, long, captions } = sceneTexts(500, 21);
// Training on awkward text too, so merges exist across digits, punctuation, whitespace runs and UTF-8 bytes.
const ours = trainTokenizer([...short, ...long, ...captions, ...variedTexts(400, 22)], {
  vocabSize: 2000,
  minFrequency: 1,
});
const dir = mkdtempSync(path.join(tmpdir(), 'nanovlm-hf-'));
const file = path.join(dir, 'tokenizer.json');
await ours.save(file);
const json = JSON.parse(readFileSync(file, 'utf8'));
rmSync(dir, { recursive: true, force: true });
// clean_up_tokenization_spaces would rewrite " ." as "." on decode; ours returns text exactly.
const theirs = new HfTokenizer(json, { clean_up_tokenization_spaces: false });
const loaded = Tokenizer.fromJSON(json);

const texts = [...variedTexts(700, 23), ...sceneTexts(60, 24).short, ...sceneTexts(60, 25).long];
texts.push(...sceneTexts(60, 26).captions.slice(0, 1000 - texts.length));

test('1,000 varied texts: same ids as @huggingface/tokenizers from the saved file', () => {
  assert.equal(texts.length, 1000);
  assert.equal(ours.vocabSize, 2000);
  let tokens = 0;
  for (const text of texts) {
    const expected = theirs.encode(text, { add_special_tokens: true }).ids;
    assert.deepEqual(ours.encode(text), expected, JSON.stringify(text));
    assert.deepEqual(loaded.encode(text), expected);
    tokens += expected.length;
  }
  assert.ok(tokens > 20_000, `${tokens} tokens`);
});

test('pre-tokenization splits exactly where the library does', () => {
  // Checked on its own: a different split used in both training and encoding could otherwise go unseen.
  const pre = theirs.pre_tokenizer!;
  for (const text of texts) {
    assert.deepEqual(preTokenize(text).map(toByteLevel), pre(text), JSON.stringify(text));
  }
});

test('decoding agrees with @huggingface/tokenizers', () => {
  for (const text of texts.slice(0, 300)) {
    const ids = ours.encode(text);
    if (ids.length === 0) continue;
    assert.equal(ours.decode(ids), theirs.decode(ids), JSON.stringify(text));
  }
  const framed = [ours.bosId, ...ours.encode('The cat.'), ours.eosId, ours.padId];
  assert.equal(ours.decode(framed), theirs.decode(framed, { skip_special_tokens: true }));
  assert.equal(ours.decode(framed, { skipSpecial: false }), theirs.decode(framed));
});

test('special-token strings in text: allowSpecial matches the library, which always parses them', () => {
  const samples = [
    '<|image|> A dog.',
    'x<|bos|>y<|eos|>',
    '<|pad|><|pad|> two',
    '<|imag|> not one',
    '<|eos|>',
  ];
  for (const text of samples) {
    assert.deepEqual(ours.encode(text, { allowSpecial: true }), theirs.encode(text).ids, text);
  }
  assert.deepEqual(
    ['<|bos|>', '<|eos|>', '<|pad|>', '<|image|>'].map((s) => theirs.token_to_id(s)),
    [ours.bosId, ours.eosId, ours.padId, ours.imageId],
  );
});
