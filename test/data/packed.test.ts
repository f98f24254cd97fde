import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, cpSync, truncateSync, statSync } from 'node:fs';
import path from 'node:path';
import { openDataset } from '../../src/data/dataset.ts';
import { DataLoader, type Batch, type LoaderOptions } from '../../src/data/loader.ts';
import { openPacked, openTrainingData, packDataset } from '../../src/data/packed.ts';
import { charTokenizer, fixtureLoaderOptions, makePackedFixture, tempDir } from './dataset-fixtures.ts';

const tokenizer = charTokenizer;
const S = 8;
let dir: string;
let packed: string;
let cleanup: () => void;

before(async () => {
  ({ dir, cleanup } = tempDir());
  ({ packed } = await makePackedFixture(dir, S));
});
after(() => cleanup());

const opts = (o: Partial<LoaderOptions> = {}): LoaderOptions =>
  fixtureLoaderOptions({ text: 'both', imageSize: S, maxLen: 20, ...o });

async function epoch(loader: DataLoader): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader.epochBatches()) out.push(b);
  return out;
}

test('packed shards give the same pixels, ids, lengths and order as the PNG folder', async () => {
  const index = openPacked(packed).index;
  assert.equal(index.splits.train!.shards.length, 4); // 19 pictures in shards of 5
  assert.equal(index.splits.train!.samples, 38); // short and long of each
  for (const o of [
    opts(),
    opts({ text: 'short', shuffle: false }),
    opts({ split: 'val', text: 'long', shuffle: false }),
  ]) {
    const fromPng = await epoch(new DataLoader(openDataset(path.join(dir, 'data')), o));
    const fromPacked = await epoch(new DataLoader(openTrainingData(packed), o));
    assert.equal(fromPacked.length, fromPng.length);
    fromPng.forEach((b, i) => {
      const p = fromPacked[i]!;
      assert.deepEqual(
        p.records.map((r) => r.id),
        b.records.map((r) => r.id),
      );
      assert.deepEqual(p.fields, b.fields);
      assert.deepEqual(p.lengths, b.lengths);
      assert.deepEqual(p.ids, b.ids);
      assert.deepEqual(p.images, b.images);
    });
    // Some texts are longer than maxLen: cut the same way, without EOS.
    if (o.text !== 'short') assert.ok(fromPng.some((b) => b.lengths.includes(20)));
  }
});

test('a packed folder made at another size or with another tokenizer is refused', () => {
  assert.throws(
    () => new DataLoader(openTrainingData(packed), opts({ imageSize: 16 })),
    /packed at 8 px, the model wants 16/,
  );
  const other = { ...tokenizer, encode: (t: string) => tokenizer.encode(t).map((x) => x + 1) };
  assert.throws(
    () => new DataLoader(openTrainingData(packed), opts({ tokenizer: other })),
    /packed with another tokenizer/,
  );
});

function damagedCopy(name: string, damage: (file: string) => void): string {
  const copy = path.join(dir, `damaged-${name.replace(/\W/g, '_')}`);
  cpSync(packed, copy, { recursive: true });
  damage(path.join(copy, name));
  return copy;
}
const flipByte = (at: number) => (file: string) => {
  const b = readFileSync(file);
  b[at]! ^= 0x40;
  writeFileSync(file, b);
};

test('a damaged shard is refused with its name when the loader first reads from it', async () => {
  const copy = damagedCopy('train-00002.pixels', flipByte(100));
  const loader = new DataLoader(openTrainingData(copy), opts({ shuffle: false, prefetch: 0 }));
  await loader.next(); // records 0-1: shard 0 is sound
  let error: Error | null = null;
  try {
    for (let i = 0; i < 10; i++) await loader.next();
  } catch (e) {
    error = e as Error;
  }
  assert.ok(error, 'the damaged shard was read without complaint');
  assert.equal(error.name, 'UserError');
  assert.match(error.message, /train-00002\.pixels: checksum mismatch/);
  assert.doesNotMatch(error.message, /\n/);
});

test('a damaged or truncated index file is refused on open, naming the file', () => {
  const cases: [string, (f: string) => void, RegExp][] = [
    ['index.json', (f) => writeFileSync(f, readFileSync(f, 'utf8').slice(0, 50)), /index\.json: invalid JSON/],
    ['train.offsets.bin', flipByte(9), /train\.offsets\.bin: checksum mismatch/],
    ['val.tokens.bin', (f) => truncateSync(f, statSync(f).size - 4), /val\.tokens\.bin: \d+ bytes, the index says/],
    ['train-00001.pixels', (f) => truncateSync(f, 10), /train-00001\.pixels: 10 bytes/],
    ['manifest.jsonl', flipByte(3), /manifest\.jsonl: missing or damaged/],
  ];
  for (const [name, damage, message] of cases) {
    const copy = damagedCopy(name, damage);
    assert.throws(() => openTrainingData(copy), (e: Error) => {
      assert.equal(e.name, 'UserError');
      assert.match(e.message, message);
      assert.ok(e.message.includes(path.join(copy, name)), e.message);
      return true;
    });
  }
});

test('packing refuses an existing output folder and a missing text', async () => {
  await assert.rejects(
    packDataset({
      inDir: path.join(dir, 'data'),
      outDir: packed,
      imageSize: S,
      text: 'short',
      tokenizer,
      tokenizerFile: path.join(dir, 'data', 'tokenizer.json'),
    }),
    /already exists/,
  );
});
