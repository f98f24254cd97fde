/**
 * The dataset folder: `manifest.jsonl` (one record per image) + `images/`. Opening it validates every
 * record and reports problems as `<dir>/manifest.jsonl line N: reason`; with `skipBad` bad records are
 * skipped and counted instead.
 */
import { existsSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.ts';
import { isUtf8 } from 'node:buffer';
import { byteLines, readRegularFile, writeFileAtomic } from '../util/fs.ts';

export const SPLITS = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLITS)[number];

export interface DatasetRecord {
  id: string;
  /** Path relative to the dataset folder, e.g. `images/000001.png`. */
  image: string;
  split: Split;
  /** Plain adult captions (COCO style); may be empty for sources without them. */
  captions: string[];
  /** ShortDesc (20-25 words) and LongDesc (60-70 words) in a young child's words, when present. */
  short?: string;
  long?: string;
  /** Ground truth where the source has it (scene graph, COCO ids, ...). */
  meta?: Record<string, unknown>;
  /** Unknown fields are kept so rewriting a manifest never drops data. */
  [extra: string]: unknown;
}

export interface Dataset {
  /** The folder as given. */
  dir: string;
  records: DatasetRecord[];
  /** How many records were skipped as bad (only with skipBad). */
  skipped: number;
  /** One message per skipped record, e.g. `data/manifest.jsonl line 12: "image" is missing`. */
  problems: string[];
}

export interface OpenOptions {
  /** Skip and count bad records instead of failing on the first. */
  skipBad?: boolean;
  /** Check that every image file exists inside the folder (default true). */
  checkImages?: boolean;
}

export const MANIFEST = 'manifest.jsonl';
/** Longest caption or description accepted (real ones are a few hundred characters). */
export const MAX_TEXT_CHARS = 10_000;

/** Resolves a record's image path, refusing anything that could leave the dataset folder. */
export function resolveImagePath(root: string, realRoot: string, image: string): string {
  if (path.isAbsolute(image) || /^[a-zA-Z]:[\\/]/.test(image)) throw new Error(`"image" must be a relative path, got "${image}"`);
  const parts = image.split(/[\\/]+/);
  if (parts.includes('..')) throw new Error(`"image" path "${image}" leaves the dataset folder`);
  const full = path.join(root, image);
  let real: string;
  try {
    real = realpathSync(full);
  } catch {
    throw new Error(`image file not found: ${full}`);
  }
  // A symlink inside images/ pointing elsewhere is an escape too.
  if (real !== realRoot && !real.startsWith(realRoot + path.sep)) {
    throw new Error(`"image" path "${image}" leaves the dataset folder (it resolves to ${real})`);
  }
  if (!statSync(real).isFile()) throw new Error(`image path is not a file: ${full}`);
  return full;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks one parsed manifest line; throws an Error with the reason (the caller adds file and line). */
export function validateRecord(raw: unknown): DatasetRecord {
  if (!isPlainObject(raw)) throw new Error('a record must be a JSON object');
  const r = raw;
  if (r.id === undefined || r.id === null || r.id === '') throw new Error('"id" is missing');
  if (typeof r.id !== 'string' && !(typeof r.id === 'number' && Number.isInteger(r.id))) {
    throw new Error(`"id" must be a string, got ${JSON.stringify(r.id)}`);
  }
  if (r.image === undefined || r.image === '') throw new Error('"image" is missing');
  if (typeof r.image !== 'string') throw new Error(`"image" must be a string, got ${JSON.stringify(r.image)}`);
  if (r.split === undefined) throw new Error('"split" is missing');
  if (typeof r.split !== 'string' || !(SPLITS as readonly string[]).includes(r.split)) {
    throw new Error(`"split" must be one of ${SPLITS.join(', ')}, got ${JSON.stringify(r.split)}`);
  }
  const captions = r.captions ?? [];
  if (!Array.isArray(captions) || !captions.every((c) => typeof c === 'string')) {
    throw new Error('"captions" must be an array of strings');
  }
  for (const key of ['short', 'long'] as const) {
    if (r[key] !== undefined && r[key] !== null && typeof r[key] !== 'string') {
      throw new Error(`"${key}" must be a string, got ${JSON.stringify(r[key])}`);
    }
  }
  const texts: [string, unknown][] = [...captions.map((c, i) => [`"captions"[${i}]`, c] as [string, unknown]), ['"short"', r.short], ['"long"', r.long]];
  for (const [where, t] of texts) {
    if (typeof t === 'string' && t.length > MAX_TEXT_CHARS)
      throw new Error(`${where} is ${t.length} characters long; at most ${MAX_TEXT_CHARS} are accepted`);
  }
  if (r.meta !== undefined && r.meta !== null && !isPlainObject(r.meta)) throw new Error('"meta" must be an object');
  const rec: DatasetRecord = { ...r, id: String(r.id), image: r.image, split: r.split as Split, captions };
  if (rec.short === null) delete rec.short;
  if (rec.long === null) delete rec.long;
  if (rec.meta === null) delete rec.meta;
  return rec;
}

/** Opens and validates a dataset folder (synchronous: a manifest of 30K lines parses in well under a second). */
export function openDataset(dir: string, opts: OpenOptions = {}): Dataset {
  const manifest = path.join(dir, MANIFEST);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`${dir}: dataset folder not found`);
  if (!existsSync(manifest)) throw new UserError(`${dir}: not a dataset folder (${MANIFEST} not found)`);
  const realRoot = realpathSync(dir);
  const checkImages = opts.checkImages ?? true;
  const lines = byteLines(readRegularFile(manifest));
  const records: DatasetRecord[] = [];
  const problems: string[] = [];
  const seen = new Map<string, number>();
  for (let i = 0; i < lines.length; i++) {
    const bytes = lines[i]!;
    try {
      // Invalid bytes would be read as U+FFFD and written back changed: refuse them instead.
      if (!isUtf8(bytes)) throw new Error('not valid UTF-8 text');
      const line = bytes.toString('utf8').trim();
      if (!line) continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch (e) {
        throw new Error(`invalid JSON (${(e as Error).message})`);
      }
      const rec = validateRecord(parsed);
      const dup = seen.get(rec.id);
      if (dup !== undefined) throw new Error(`duplicate id "${rec.id}" (first on line ${dup})`);
      if (checkImages) resolveImagePath(dir, realRoot, rec.image);
      seen.set(rec.id, i + 1);
      records.push(rec);
    } catch (e) {
      const msg = `${manifest} line ${i + 1}: ${(e as Error).message}`;
      if (!opts.skipBad) throw new UserError(msg + ' (use --skip-bad to skip bad records)');
      problems.push(msg);
    }
  }
  if (!records.length) {
    throw new UserError(`${manifest}: no usable records${problems.length ? ` (${problems.length} bad, first: ${problems[0]})` : ''}`);
  }
  return { dir, records, skipped: problems.length, problems };
}

/** Absolute-or-relative path of a record's image (the record was validated by openDataset). */
export function imagePath(dataset: { dir: string }, record: DatasetRecord): string {
  return path.join(dataset.dir, record.image);
}

export function manifestText(records: readonly object[]): string {
  return records.map((r) => JSON.stringify(r)).join('\n') + (records.length ? '\n' : '');
}

/** Writes `<dir>/manifest.jsonl` atomically (temp file + rename), one record per line. */
export async function writeManifest(dir: string, records: readonly object[]): Promise<void> {
  await writeFileAtomic(path.join(dir, MANIFEST), manifestText(records));
}

/** Counts of records per split. */
export function splitCounts(records: readonly DatasetRecord[]): Record<Split, number> {
  const out = { train: 0, val: 0, test: 0 };
  for (const r of records) out[r.split]++;
  return out;
}
