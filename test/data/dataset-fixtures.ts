/** Small dataset folders for the data tests: solid-colour PNGs whose colour encodes the record number. */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { writeManifest, type DatasetRecord, type Split } from '../../src/data/dataset.ts';
import { packDataset } from '../../src/data/packed.ts';
import type { LoaderOptions } from '../../src/data/loader.ts';

/** A toy tokenizer: one id per character (4 + code % 90), specials 0-2, 100 ids in all. */
export const charTokenizer = {
  encode: (t: string) => Array.from(t, (c) => 4 + (c.charCodeAt(0) % 90)),
  vocabSize: 100,
  bosId: 1,
  eosId: 2,
  padId: 0,
};

export function tempDir(prefix = 'nanovlm-data-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Red channel of record i's picture (distinct for i < 256). */
export const colourOf = (i: number) => ({ r: i % 256, g: 200, b: 30 });

export async function solidPng(file: string, i: number, width = 32, height = 24): Promise<void> {
  await sharp({ create: { width, height, channels: 3, background: colourOf(i) } })
    .png()
    .toFile(file);
}

/** A fixture record: a dataset record whose meta holds its index. */
export type FixtureRecord = DatasetRecord & { meta: { i: number } };

/** Writes `n` records (every 5th is val) with captions, short and long texts and one PNG each. */
export async function makeDataset(dir: string, n: number, splitOf: (i: number) => Split = (i) => (i % 5 === 4 ? 'val' : 'train')) {
  mkdirSync(path.join(dir, 'images'), { recursive: true });
  const records: FixtureRecord[] = [];
  for (let i = 0; i < n; i++) {
    const image = `images/${String(i).padStart(4, '0')}.png`;
    await solidPng(path.join(dir, image), i);
    records.push({
      id: `r${i}`,
      image,
      split: splitOf(i),
      captions: [`picture number ${i}`],
      short: `short text ${i}`,
      long: `a longer text about picture ${i} with more words`,
      meta: { i },
    });
  }
  await writeManifest(dir, records);
  return records;
}

/**
 * makeDataset(dir/data, 23) (19 train, 4 val) with a stand-in tokenizer file, packed with charTokenizer at
 * size×size into dir/packed, in shards of 5 pictures so that reads cross shard boundaries.
 */
export async function makePackedFixture(dir: string, size: number): Promise<{ data: string; packed: string }> {
  const data = path.join(dir, 'data');
  await makeDataset(data, 23);
  writeFileSync(path.join(data, 'tokenizer.json'), '{"toy": true}\n');
  const packed = path.join(dir, 'packed');
  await packDataset({
    inDir: data,
    outDir: packed,
    imageSize: size,
    text: 'both',
    tokenizer: charTokenizer,
    tokenizerFile: path.join(data, 'tokenizer.json'),
    shardMB: (5 * size * size * 3) / 1048576,
  });
  return { data, packed };
}

/** Loader settings for the fixtures: training split, batches of 4, charTokenizer, seed 7, then `o`. */
export const fixtureLoaderOptions = (o: Partial<LoaderOptions> & Pick<LoaderOptions, 'text' | 'imageSize' | 'maxLen'>): LoaderOptions => ({
  split: 'train',
  batchSize: 4,
  tokenizer: charTokenizer,
  seed: 7,
  ...o,
});
