import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../src/cli/tokenizer.ts';
import { Tokenizer } from '../../src/tokenizer/index.ts';
import { UserError } from '../../src/util/errors.ts';
import { sceneTexts } from '../../tools/fixtures/texts.ts';

async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(' '));
  try {
    return { code: await run(argv), out: lines.join('\n') };
  } finally {
    console.log = log;
  }
}

function makeDataset(count: number): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'nanovlm-tokcli-'));
  const { short, long, captions } = sceneTexts(count, 4);
  const records = short.map((s, i) => ({
    id: String(i),
    image: `images/${i}.png`,
    split: i % 10 === 9 ? 'val' : 'train',
    captions: captions.slice(5 * i, 5 * i + 5),
    short: s,
    long: long[i],
  }));
  writeFileSync(path.join(dir, 'manifest.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return dir;
}

test('tokenizer train writes tokenizer.json and reports figures', async () => {
  const dir = makeDataset(300);
  try {
    const { code, out } = await capture(['train', '--data', dir, '--vocab', '600', '--json']);
    assert.equal(code, 0);
    const report = JSON.parse(out);
    assert.equal(report.out, path.join(dir, 'tokenizer.json'));
    assert.equal(report.vocab_size, 600);
    assert.equal(report.records, 270);
    assert.equal(report.texts, 270 * 7);
    assert.ok(report.avg_tokens_short > 5 && report.avg_tokens_short < 60, String(report.avg_tokens_short));
    assert.ok(report.avg_tokens_long > report.avg_tokens_short);
    assert.ok(report.train_seconds >= 0);
    assert.deepEqual(report.special_ids, { bos: 0, eos: 1, pad: 2, image: 3 });
    const tok = Tokenizer.load(report.out);
    assert.equal(tok.vocabSize, 600);

    const other = path.join(dir, 'short-only.json');
    const plain = await capture([
      'train',
      '--data',
      dir,
      '--vocab',
      '500',
      '--text',
      'short',
      '--out',
      other,
    ]);
    assert.equal(plain.code, 0);
    assert.match(plain.out, /vocabulary: 500 tokens/);
    assert.match(plain.out, /trained on 270 texts from 270 train records/);
    assert.ok(existsSync(other));

    const shown = await capture(['encode', '--tokenizer', dir, '--json', 'The', 'red', 'ball.']);
    const enc = JSON.parse(shown.out);
    assert.equal(enc.tokens.join(''), 'The red ball.');
    assert.equal(enc.count, enc.ids.length);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tokenizer train rejects bad input with clear messages', async () => {
  const dir = makeDataset(5);
  try {
    await assert.rejects(capture(['train']), /--data is required/);
    await assert.rejects(
      capture(['train', '--data', dir, '--vocab', '10']),
      /--vocab must be from 260 to 65536, got 10/,
    );
    await assert.rejects(capture(['train', '--data', dir, '--text', 'poems']), /expected one of/);
    await assert.rejects(capture(['train', '--data', path.join(dir, 'nope')]), /dataset folder not found/);
    await assert.rejects(capture(['frobnicate']), /unknown subcommand/);
    writeFileSync(
      path.join(dir, 'manifest.jsonl'),
      '{"id": "1", "image": "a.png", "split": "train"}\n{oops\n',
    );
    await assert.rejects(
      capture(['train', '--data', dir]),
      (e: unknown) => e instanceof UserError && /manifest\.jsonl line 2: invalid JSON/.test(e.message),
    );
    // Only records without texts: nothing to train on.
    await assert.rejects(
      capture(['train', '--data', dir, '--skip-bad']),
      /the train records have no description or caption texts \(try --split all\)/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
