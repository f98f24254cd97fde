import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { openDataset, writeManifest } from '../../src/data/dataset.ts';
import { DataLoader, type Batch, type LoaderOptions } from '../../src/data/loader.ts';
import { charTokenizer, fixtureLoaderOptions, makeDataset, tempDir, type FixtureRecord } from './dataset-fixtures.ts';

const tokenizer = charTokenizer;
const S = 8;
let dir: string;
let cleanup: () => void;
let written: FixtureRecord[];

before(async () => {
  ({ dir, cleanup } = tempDir());
  written = await makeDataset(dir, 23); // 19 train (i % 5 != 4), 4 val
});
after(() => cleanup());

const opts = (o: Partial<LoaderOptions> = {}): LoaderOptions =>
  fixtureLoaderOptions({ text: 'short', imageSize: S, maxLen: 64, ...o });
const ids = (b: Batch) => b.records.map((r) => r.id);
async function take(loader: DataLoader, n: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for (let i = 0; i < n; i++) out.push(await loader.next());
  return out;
}

test('batches carry the right pictures and BOS text EOS PAD ids', async () => {
  const loader = new DataLoader(openDataset(dir), opts({ shuffle: false }));
  assert.equal(loader.batchesPerEpoch, 5); // 19 samples, last batch of 3
  const [b] = await take(loader, 1);
  assert.deepEqual(ids(b!), ['r0', 'r1', 'r2', 'r3']);
  assert.equal(b!.images.length, 4 * 3 * S * S);
  b!.records.forEach((r, k) => {
    const i = (r.meta as { i: number }).i;
    const red = b!.images[k * 3 * S * S]!;
    const green = b!.images[k * 3 * S * S + S * S]!;
    assert.ok(Math.abs(red - (i / 127.5 - 1)) < 1e-6, `row ${k} red`);
    assert.ok(Math.abs(green - (200 / 127.5 - 1)) < 1e-6, `row ${k} green`);
    const expected = [1, ...tokenizer.encode(`short text ${i}`), 2];
    assert.equal(b!.lengths[k], expected.length);
    const row = Array.from(b!.ids.subarray(k * b!.L, (k + 1) * b!.L));
    assert.deepEqual(row, [...expected, ...new Array(b!.L - expected.length).fill(0)]);
  });
  assert.equal(b!.L, Math.max(...b!.lengths));
  const rest = await take(loader, 4);
  assert.deepEqual(
    rest.map((x) => x.size),
    [4, 4, 4, 3],
  );
  assert.equal(rest[3]!.epoch, 0);
  assert.equal((await loader.next()).epoch, 1);
});

test('maxLen cuts long texts; padToMax pads to maxLen; dropLast drops the partial batch', async () => {
  const loader = new DataLoader(openDataset(dir), opts({ text: 'long', maxLen: 10, padToMax: true, dropLast: true, prefetch: 0 }));
  assert.equal(loader.batchesPerEpoch, 4);
  const batches = await take(loader, 5);
  assert.ok(batches.every((b) => b.size === 4 && b.L === 10 && b.lengths.every((n) => n === 10)));
  assert.equal(batches[0]!.ids[0], 1);
  assert.notEqual(batches[0]!.ids[9], 2); // cut texts have no EOS
  assert.equal(batches[4]!.epoch, 1);
  assert.equal(loader.stats().truncatedTexts, new Set(batches.flatMap(ids)).size); // each text counted once
});

test('each epoch is a seeded permutation; same seed → same order, other seed or epoch → another', async () => {
  const run = async (seed: number) => (await take(new DataLoader(openDataset(dir), opts({ seed })), 10)).map(ids);
  const a = await run(7);
  const b = await run(7);
  const c = await run(8);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  const epoch0 = a.slice(0, 5).flat();
  const epoch1 = a.slice(5, 10).flat();
  const trainIds = written.filter((r) => r.split === 'train').map((r) => r.id);
  assert.deepEqual([...epoch0].sort(), [...trainIds].sort());
  assert.deepEqual([...epoch1].sort(), [...trainIds].sort());
  assert.notDeepEqual(epoch0, epoch1);
});

test('state() and restore() resume on exactly the same batches (with prefetch in flight)', async () => {
  const ds = openDataset(dir);
  const first = new DataLoader(ds, opts({ prefetch: 3 }));
  await take(first, 7); // into epoch 1
  const saved = JSON.parse(JSON.stringify(first.state()));
  assert.deepEqual(saved, { epoch: 1, position: 8, seed: 7, samples: 19 });
  const expected = await take(first, 9);
  // A fresh loader (even one built with another seed: the state carries it) continues identically.
  const resumed = new DataLoader(openDataset(dir), opts({ seed: 999, prefetch: 1 }));
  await take(resumed, 2);
  resumed.restore(saved);
  const got = await take(resumed, 9);
  assert.deepEqual(got.map(ids), expected.map(ids));
  got.forEach((b, k) => {
    assert.deepEqual(b.images, expected[k]!.images);
    assert.deepEqual(b.ids, expected[k]!.ids);
    assert.equal(b.epoch, expected[k]!.epoch);
  });
  // A changed dataset is refused.
  const val = new DataLoader(ds, opts({ split: 'val', batchSize: 2 }));
  assert.throws(() => val.restore(saved), /the val split now has 4 samples, the checkpoint was made with 19/);
});

test('split and text: val only; "both" yields the short and the long text of each picture', async () => {
  const loader = new DataLoader(openDataset(dir), opts({ split: 'val', text: 'both', batchSize: 3 }));
  const batches: Batch[] = [];
  for await (const b of loader.epochBatches()) batches.push(b);
  assert.equal(batches.length, 3); // 4 records × 2 texts = 8 samples
  assert.equal(loader.epoch, 1);
  const pairs = batches.flatMap((b) => b.records.map((r, k) => `${r.id}:${b.fields[k]}`)).sort();
  assert.deepEqual(pairs, ['r14', 'r19', 'r4', 'r9'].flatMap((id) => [`${id}:long`, `${id}:short`]).sort());
  assert.ok(batches.every((b) => b.records.every((r) => r.split === 'val')));
});

test('missing texts are an error, or skipped and counted with skipBad', async () => {
  const { dir: d, cleanup: c } = tempDir();
  try {
    const recs = await makeDataset(d, 6);
    delete recs[2]!.long;
    await writeManifest(d, recs);
    assert.throws(() => new DataLoader(openDataset(d), opts({ text: 'long' })), /1 train texts are missing \(id "r2" has no "long"\)/);
    const loader = new DataLoader(openDataset(d), opts({ text: 'both', skipBad: true, batchSize: 2 }));
    assert.equal(loader.missingText, 1);
    assert.equal(loader.samples.length, 9);
    assert.throws(() => new DataLoader(openDataset(d), opts({ split: 'test' })), /no records in the "test" split/);
    assert.throws(() => new DataLoader(openDataset(d), opts({ batchSize: 9, dropLast: true })), /fewer than one batch of 9/);
  } finally {
    c();
  }
});

test('a corrupt image fails the batch naming the file, or is skipped and counted', async () => {
  const { dir: d, cleanup: c } = tempDir();
  try {
    await makeDataset(d, 8, () => 'train');
    const broken = path.join(d, 'images', '0003.png');
    writeFileSync(broken, 'not a png');
    const strict = new DataLoader(openDataset(d), opts({ shuffle: false, batchSize: 4 }));
    await assert.rejects(strict.next(), { name: 'UserError', message: `${broken}: not a supported image (PNG, JPEG or WebP)` });
    strict.close();
    const lenient = new DataLoader(openDataset(d), opts({ shuffle: false, batchSize: 4, skipBad: true }));
    const [b1, b2, b3] = await take(lenient, 3);
    assert.deepEqual(ids(b1!), ['r0', 'r1', 'r2']);
    assert.equal(b1!.images.length, 3 * 3 * S * S);
    assert.equal(b2!.size, 4);
    assert.deepEqual(ids(b3!), ['r0', 'r1', 'r2']);
    assert.equal(lenient.stats().badImages, 1);
    lenient.close();
  } finally {
    c();
  }
});

test('decoded pictures are cached within the memory bound', async () => {
  const cached = new DataLoader(openDataset(dir), opts({ prefetch: 0 }));
  await take(cached, 10);
  assert.equal(cached.stats().imagesDecoded, 19);
  assert.equal(cached.stats().cacheHits, 19);
  const uncached = new DataLoader(openDataset(dir), opts({ prefetch: 0, cacheMB: 0 }));
  await take(uncached, 10);
  assert.equal(uncached.stats().imagesDecoded, 38);
  const tiny = new DataLoader(openDataset(dir), opts({ prefetch: 0, cacheMB: (5 * S * S * 3) / 1048576 }));
  await take(tiny, 10);
  assert.ok(tiny.stats().cachedImages <= 5);
});
