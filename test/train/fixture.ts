/**
 * A small hand-made dataset for trainer tests: 32×32 pictures of coloured boxes and balls drawn with
 * plain pixel loops (sharp encodes the PNGs), texts that say what is drawn, scene meta, splits, and a
 * tokenizer trained on the texts. Fast (well under a second for 60 pictures) and fully deterministic.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../src/util/rng.ts';
import { Tokenizer, trainTokenizer } from '../../src/tokenizer/index.ts';
import { packDataset } from '../../src/data/packed.ts';
import { resolveConfig, type ResolvedConfig } from '../../src/train/config.ts';

const COLOURS: [string, [number, number, number]][] = [
  ['red', [220, 40, 40]],
  ['blue', [40, 60, 220]],
  ['green', [40, 180, 60]],
  ['yellow', [230, 210, 40]],
];
const NUMBERS = ['one', 'two', 'three'];

export async function makeDataset(dir: string, { count = 60, seed = 7, size = 32 } = {}): Promise<string> {
  mkdirSync(path.join(dir, 'images'), { recursive: true });
  const rng = new Rng(seed);
  const records: object[] = [];
  for (let i = 0; i < count; i++) {
    const px = new Uint8Array(size * size * 3).fill(235);
    const kind = rng.pick(['box', 'ball'] as const);
    const [colour, rgb] = rng.pick(COLOURS);
    const n = 1 + rng.int(3);
    const boxes: [number, number, number, number][] = [];
    for (let k = 0; k < n; k++) {
      const cx = 6 + k * 10 + rng.int(3);
      const cy = 8 + rng.int(16);
      boxes.push([cx - 4, cy - 4, 9, 9]);
      for (let y = cy - 4; y <= cy + 4; y++) {
        for (let x = cx - 4; x <= cx + 4; x++) {
          if (x < 0 || y < 0 || x >= size || y >= size) continue;
          if (kind === 'ball' && (x - cx) ** 2 + (y - cy) ** 2 > 16) continue;
          px.set(rgb, (y * size + x) * 3);
        }
      }
    }
    const file = `images/${String(i).padStart(4, '0')}.png`;
    await sharp(Buffer.from(px), { raw: { width: size, height: size, channels: 3 } })
      .png()
      .toFile(path.join(dir, file));
    const noun = n === 1 ? kind : kind === 'box' ? 'boxes' : 'balls';
    const short = `I see ${n === 1 ? 'a' : NUMBERS[n - 1]} ${colour} ${noun}. ${n === 1 ? 'It is' : 'They are'} ${colour}.`;
    const long = `${short} The ${noun} ${n === 1 ? 'sits' : 'sit'} on a white floor and ${n === 1 ? 'waits' : 'wait'} for a friend.`;
    const split = i % 10 === 8 ? 'val' : i % 10 === 9 ? 'test' : 'train';
    records.push({
      id: `s${i}`,
      image: file,
      split,
      captions: [short],
      short,
      long,
      meta: { width: size, height: size, objects: [{ name: kind, count: n, colour, boxes }] },
    });
  }
  writeFileSync(path.join(dir, 'manifest.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const texts = records.flatMap((r) => [(r as { short: string }).short, (r as { long: string }).long]);
  trainTokenizer(texts, { vocabSize: 300 }).saveSync(path.join(dir, 'tokenizer.json'));
  return dir;
}

/** The tiny preset on `data` with these settings, as `--key=value` overrides would give them. */
export function tinyRunConfig(data: string, settings: Record<string, string | number>): ResolvedConfig {
  const pairs = Object.entries(settings).map(([k, v]): [string, string] => [k, String(v)]);
  return resolveConfig({ model: 'tiny', overrides: [['data', data], ...pairs] });
}

/** `nanovlm train` arguments for a short run of the tiny preset on `data` into `out` (4 steps of batch 4). */
export function tinyTrainArgs(data: string, out: string, ...extra: string[]): string[] {
  return [
    'train',
    '--model',
    'tiny',
    '--data',
    data,
    '--out',
    out,
    '--steps',
    '4',
    '--batch-size',
    '4',
    ...extra,
  ];
}

/** makeDataset in root/data, packed (32×32 images, the dataset's tokenizer) into root/packed. */
export async function makePackedDataset(
  root: string,
  count: number,
  text: 'short' | 'long' | 'both',
): Promise<{ data: string; packed: string }> {
  const data = await makeDataset(path.join(root, 'data'), { count });
  const packed = path.join(root, 'packed');
  const tokenizerFile = path.join(data, 'tokenizer.json');
  await packDataset({
    inDir: data,
    outDir: packed,
    imageSize: 32,
    text,
    tokenizer: Tokenizer.load(tokenizerFile),
    tokenizerFile,
  });
  return { data, packed };
}
