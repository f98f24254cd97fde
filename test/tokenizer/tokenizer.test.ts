import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { trainTokenizer, Tokenizer, SPECIAL_TOKENS, preTokenize } from '../../src/tokenizer/index.ts';
import { UserError } from '../../src/util/errors.ts';
import { sceneTexts, variedTexts } from '../../tools/fixtures/texts.ts';

const { short, long, captions } = sceneTexts(400, 2);
const tok = trainTokenizer([...short, ...long, ...captions, ...variedTexts(200, 3)], { vocabSize: 1024 });

test('pre-tokenization splits like GPT-2 and loses nothing', () => {
  assert.deepEqual(preTokenize("I don't see 42 dogs!!  Hi\n\nyou"), [
    'I',
    ' don',
    "'t",
    ' see',
    ' 42',
    ' dogs',
    '!!',
    ' ',
    ' Hi',
    '\n',
    '\n',
    'you',
  ]);
  for (const text of variedTexts(300, 9)) assert.equal(preTokenize(text).join(''), text);
});

test('decode(encode(text)) gives the text back, for any Unicode', () => {
  for (const text of [
    ...variedTexts(500, 4),
    '',
    ' ',
    '\ufeffBOM first',
    '🐶'.repeat(100),
    'x'.repeat(5000),
  ]) {
    const ids = tok.encode(text);
    assert.ok(ids.every((id) => Number.isInteger(id) && id >= 4 && id < tok.vocabSize));
    // Lone surrogates cannot be UTF-8; like every UTF-8 tokenizer they come back as U+FFFD.
    assert.equal(tok.decode(ids), text.replace(/\p{Cs}/gu, '\ufffd'));
  }
});

test('encoding is shorter than bytes on text like the training data and stable across the cache', () => {
  const text = short[0]!;
  const ids = tok.encode(text);
  assert.ok(ids.length * 3 < Buffer.byteLength(text), `${ids.length} tokens for ${text.length} chars`);
  assert.deepEqual(tok.encode(text), ids);
  const fresh = Tokenizer.fromJSON(tok.toJSON());
  assert.deepEqual(fresh.encode(text), ids);
});

test('special tokens: never added, never parsed from text unless asked, skipped when decoding', () => {
  assert.deepEqual(
    SPECIAL_TOKENS.map((s) => tok.tokenToId(s)),
    [tok.bosId, tok.eosId, tok.padId, tok.imageId],
  );
  const text = 'a <|image|> b<|eos|>';
  const plain = tok.encode(text);
  assert.ok(!plain.some((id) => tok.isSpecial(id)));
  assert.equal(tok.decode(plain), text);
  const parsed = tok.encode(text, { allowSpecial: true });
  assert.deepEqual(
    parsed.filter((id) => tok.isSpecial(id)),
    [tok.imageId, tok.eosId],
  );
  assert.equal(tok.decode(parsed), 'a  b');
  assert.equal(tok.decode(parsed, { skipSpecial: false }), text);
  const framed = [tok.bosId, ...tok.encode('hi'), tok.eosId, tok.padId, tok.padId];
  assert.equal(tok.decode(framed), 'hi');
  assert.equal(tok.decode(framed, { skipSpecial: false }), '<|bos|>hi<|eos|><|pad|><|pad|>');
});

test('decode rejects ids outside the vocabulary', () => {
  assert.throws(() => tok.decode([tok.vocabSize]), /not in the vocabulary/);
  assert.throws(() => tok.decode([-1]), /not in the vocabulary/);
  assert.throws(() => tok.decode([1.5]), /not an integer/);
});

test('streaming decode yields only complete characters', () => {
  const text = 'A dog 🐶 and ü, 中文 ok';
  // Byte tokens alone split every multi-byte character across pushes.
  const byteIds = Array.from(Buffer.from(text), (b) => 4 + b);
  const stream = tok.streamDecoder();
  const pieces = byteIds.map((id) => stream.push(id));
  assert.equal(pieces.join('') + stream.flush(), text);
  assert.ok(pieces.every((p) => !p.includes('\ufffd')));
  const dogStart = Buffer.from('A dog ').length;
  assert.deepEqual(pieces.slice(dogStart, dogStart + 4), ['', '', '', '🐶']);
  assert.deepEqual([...tok.decodeStream(tok.encode(text))].join(''), text);
  // An unfinished character is reported as U+FFFD when the stream ends, and decode() does the same.
  const cut = byteIds.slice(0, dogStart + 2);
  assert.equal(tok.decode(cut), 'A dog \ufffd');
  const s2 = tok.streamDecoder();
  assert.equal(cut.map((id) => s2.push(id)).join('') + s2.flush(), 'A dog \ufffd');
});

test('save writes a Hugging Face tokenizer.json atomically and load reads it back', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nanovlm-tok-'));
  try {
    const file = path.join(dir, 'sub', 'tokenizer.json');
    await tok.save(file);
    assert.deepEqual(readdirSync(path.dirname(file)), ['tokenizer.json']);
    const json = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(json.model.type, 'BPE');
    assert.equal(json.pre_tokenizer.type, 'ByteLevel');
    assert.equal(json.decoder.type, 'ByteLevel');
    assert.equal(Object.keys(json.model.vocab).length, tok.vocabSize);
    assert.equal(json.model.merges.length, tok.vocabSize - 260);
    assert.deepEqual(
      json.added_tokens.map((a: { id: number; content: string; special: boolean }) => [
        a.id,
        a.content,
        a.special,
      ]),
      SPECIAL_TOKENS.map((s, i) => [i, s, true]),
    );
    const loaded = Tokenizer.load(file);
    assert.deepEqual(loaded.toJSON(), tok.toJSON());
    for (const text of variedTexts(100, 8)) assert.deepEqual(loaded.encode(text), tok.encode(text));
    // Merges given as ["left", "right"] pairs (the newer format) read the same.
    json.model.merges = json.model.merges.map((m: string) => m.split(' '));
    assert.deepEqual(Tokenizer.fromJSON(json).toJSON(), tok.toJSON());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('load gives clear errors naming the file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nanovlm-tok-'));
  try {
    const file = path.join(dir, 'tokenizer.json');
    const expectError = (content: string, pattern: RegExp) => {
      writeFileSync(file, content);
      assert.throws(
        () => Tokenizer.load(file),
        (e: unknown) => e instanceof UserError && e.message.includes(file) && pattern.test(e.message),
      );
    };
    assert.throws(() => Tokenizer.load(path.join(dir, 'missing.json')), /missing\.json: file not found/);
    expectError('{"model": ', /invalid JSON/);
    expectError('[]', /not a tokenizer\.json object/);
    expectError('{}', /"model" is missing/);
    const good = tok.toJSON();
    const variant = (edit: (j: any) => void) => {
      const j = structuredClone(good) as any;
      edit(j);
      return JSON.stringify(j);
    };
    expectError(
      variant((j) => (j.model.type = 'WordPiece')),
      /model type "WordPiece" is not supported/,
    );
    expectError(
      variant((j) => delete j.model.merges),
      /model\.merges/,
    );
    expectError(
      variant((j) => (j.normalizer = { type: 'NFC' })),
      /normalizer is not supported/,
    );
    expectError(
      variant((j) => (j.pre_tokenizer = { type: 'Whitespace' })),
      /pre_tokenizer must be ByteLevel/,
    );
    expectError(
      variant((j) => (j.added_tokens = j.added_tokens.slice(1))),
      /lacks the special token "<\|bos\|>"/,
    );
    expectError(
      variant((j) => (j.model.merges[3] = 'zzz q')),
      /model\.merges\[3\]: "zzz" is not in the vocabulary/,
    );
    expectError(
      variant((j) => delete j.model.vocab['Ġ']),
      /lacks the byte-level token for byte 0x20/,
    );
    expectError(
      variant((j) => (j.model.vocab['a'] = 'x')),
      /not a valid token id/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
