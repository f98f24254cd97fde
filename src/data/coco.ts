/**
 * COCO captions import: `captions_train2017.json` + its image folder → a dataset folder (manifest.jsonl +
 * images/), one record per image with its (up to) five captions, split into train/val/test from a seed.
 * With the instances file of the same images, each record's meta also lists its things with their boxes.
 */
import { copyFile, link, mkdir, stat } from 'node:fs/promises';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { constants as bufferConstants } from 'node:buffer';
import path from 'node:path';
import sharp, { type Metadata } from 'sharp';
import { UserError } from '../util/errors.ts';
import { readJson, writeDirAtomic, writeFileAtomic } from '../util/fs.ts';
import { Rng } from '../util/rng.ts';
import { MAX_INPUT_PIXELS } from './image.ts';
import { manifestText, type DatasetRecord, type Split } from './dataset.ts';
import { parseCocoInstances, type CocoInstances } from './coco-instances.ts';

export interface CocoImage {
  id: number;
  fileName: string;
  width?: number;
  height?: number;
}

export interface CocoCaptions {
  /** Images that have at least one caption, in ascending id order. */
  images: CocoImage[];
  /** Captions per image id, in annotation-id order. */
  captions: Map<number, string[]>;
  /** Images listed without any caption (left out). */
  uncaptioned: number;
}

function fail(file: string, where: string, msg: string): never {
  throw new UserError(`${file}: ${where}${where ? ': ' : ''}${msg}`);
}

/** Validates a parsed COCO captions file and groups the captions per image. */
export function parseCocoCaptions(json: unknown, file: string): CocoCaptions {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(file, '', 'expected a JSON object');
  const root = json as Record<string, unknown>;
  if (!Array.isArray(root.images)) fail(file, '', '"images" must be an array (is this a COCO captions file?)');
  if (!Array.isArray(root.annotations)) fail(file, '', '"annotations" must be an array (is this a COCO captions file?)');
  const byId = new Map<number, CocoImage>();
  root.images.forEach((img: unknown, i: number) => {
    const where = `images[${i}]`;
    if (typeof img !== 'object' || img === null) fail(file, where, 'must be an object');
    const o = img as Record<string, unknown>;
    if (!Number.isInteger(o.id)) fail(file, where, `"id" must be an integer, got ${JSON.stringify(o.id)}`);
    if (typeof o.file_name !== 'string' || !o.file_name) fail(file, where, '"file_name" is missing');
    const name = o.file_name;
    if (name !== path.basename(name) || name === '..' || name === '.' || name.includes('\\')) {
      fail(file, where, `"file_name" must be a plain file name, got ${JSON.stringify(name)}`);
    }
    const id = o.id as number;
    if (byId.has(id)) fail(file, where, `duplicate image id ${id}`);
    byId.set(id, {
      id,
      fileName: name,
      width: Number.isInteger(o.width) ? (o.width as number) : undefined,
      height: Number.isInteger(o.height) ? (o.height as number) : undefined,
    });
  });
  const anns: { id: number; imageId: number; caption: string; order: number }[] = [];
  root.annotations.forEach((ann: unknown, i: number) => {
    const where = `annotations[${i}]`;
    if (typeof ann !== 'object' || ann === null) fail(file, where, 'must be an object');
    const a = ann as Record<string, unknown>;
    if (!Number.isInteger(a.image_id)) fail(file, where, `"image_id" must be an integer, got ${JSON.stringify(a.image_id)}`);
    if (typeof a.caption !== 'string') fail(file, where, `"caption" must be a string (instance annotations are not captions)`);
    if (!byId.has(a.image_id as number)) fail(file, where, `image_id ${a.image_id} is not in "images"`);
    const caption = a.caption.replace(/\s+/g, ' ').trim();
    if (caption) anns.push({ id: Number.isInteger(a.id) ? (a.id as number) : i, imageId: a.image_id as number, caption, order: i });
  });
  anns.sort((x, y) => x.id - y.id || x.order - y.order);
  const captions = new Map<number, string[]>();
  for (const a of anns) {
    const list = captions.get(a.imageId);
    if (list) list.push(a.caption);
    else captions.set(a.imageId, [a.caption]);
  }
  const images = [...byId.values()].filter((im) => captions.has(im.id)).sort((a, b) => a.id - b.id);
  return { images, captions, uncaptioned: byId.size - images.length };
}

/**
 * Reads a COCO JSON file whole and parses it with one JSON.parse (time and memory for a file the size of
 * instances_train2017.json: docs/design.md); a file longer than the longest string Node can hold is refused by name.
 */
function readCocoJson(file: string): unknown {
  let size = 0;
  try {
    size = statSync(file).size;
  } catch {
    // readJson names a missing or unreadable file.
  }
  if (size > bufferConstants.MAX_STRING_LENGTH) {
    throw new UserError(`${file}: too large to read (${size} bytes; at most ${bufferConstants.MAX_STRING_LENGTH})`);
  }
  return readJson(file);
}

export interface CocoImportOptions {
  /** The COCO captions JSON (e.g. annotations/captions_train2017.json). */
  captions: string;
  /** The COCO instances JSON of the same images (e.g. annotations/instances_train2017.json): adds meta.objects. */
  instances?: string;
  /** Folder holding the images named by `file_name` (e.g. train2017/). */
  images: string;
  out: string;
  /** Share of the non-test images that go to val (default 0.1). */
  valFraction?: number;
  /** Images held out as the test split (default 0). */
  testCount?: number;
  /** Import only this many images (a seeded random choice). */
  limit?: number;
  seed?: number;
  /** Captions kept per image (default 5, as in the paper's prompts). */
  captionsPerImage?: number;
  /** `hardlink` saves space on the same file system (falls back to copying). Default copy. */
  mode?: 'copy' | 'hardlink';
  /** Skip (and count) missing or unreadable images instead of failing. */
  skipBad?: boolean;
  /** Replace an existing, non-empty output folder. */
  force?: boolean;
  /** Called as images are checked, then as they are copied. */
  onProgress?: (phase: 'check' | 'copy', done: number, total: number) => void;
}

export interface CocoImportResult {
  records: number;
  splits: Record<Split, number>;
  skipped: number;
  problems: string[];
  uncaptioned: number;
  /** With an instances file: records given things, and what was done to its annotations. */
  instances?: InstancesSummary;
  seconds: number;
}

export interface InstancesSummary {
  /** Imported records with at least one thing (the others have no objects, so no patch labels). */
  withObjects: number;
  withoutObjects: number;
  /** Over the whole instances file: crowd annotations left out, boxes clipped to and boxes wholly outside their picture. */
  crowd: number;
  clipped: number;
  dropped: number;
}

/** Parses the instances file and checks it describes the captions file's pictures. */
function readInstances(file: string, images: CocoImage[]): CocoInstances {
  const inst = parseCocoInstances(readCocoJson(file), file);
  let shared = 0;
  for (const im of images) {
    const size = inst.sizes.get(im.id);
    if (!size) continue;
    shared++;
    if ((im.width !== undefined && im.width !== size[0]) || (im.height !== undefined && im.height !== size[1])) {
      throw new UserError(
        `${file}: image id ${im.id} is ${size[0]}×${size[1]} here but ${im.width}×${im.height} in the captions file`,
      );
    }
  }
  if (!shared) throw new UserError(`${file}: none of the captioned images is in it (instances of another split?)`);
  return inst;
}

/** Checks an image's header (format, pixel count) without decoding it. */
async function checkImage(file: string): Promise<void> {
  try {
    const s = await stat(file);
    if (!s.isFile()) throw new UserError(`${file}: not a file`);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${file}: file not found`);
  }
  let meta: Metadata;
  try {
    meta = await sharp(file, { limitInputPixels: false }).metadata();
  } catch {
    throw new UserError(`${file}: not a supported image (PNG, JPEG or WebP)`);
  }
  if (!['jpeg', 'png', 'webp'].includes(meta.format ?? '')) {
    throw new UserError(`${file}: not a supported image (PNG, JPEG or WebP), found ${meta.format}`);
  }
  if ((meta.width ?? 0) * (meta.height ?? 0) > MAX_INPUT_PIXELS) {
    throw new UserError(
      `${file}: image too large to decode safely (${meta.width}×${meta.height}); the limit is ${MAX_INPUT_PIXELS} pixels`,
    );
  }
}

async function place(src: string, dst: string, mode: 'copy' | 'hardlink'): Promise<void> {
  if (mode === 'hardlink') {
    try {
      await link(src, dst);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP') throw e;
    }
  }
  await copyFile(src, dst);
}

/** Runs `fn` over items with at most `limit` at once, in order of start. */
async function forEachLimited<T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export function assignSplits(count: number, valFraction: number, testCount: number): Split[] {
  const test = Math.min(testCount, count);
  const val = Math.round((count - test) * valFraction);
  return Array.from({ length: count }, (_, i) => (i < test ? 'test' : i < test + val ? 'val' : 'train'));
}

export async function importCoco(opts: CocoImportOptions): Promise<CocoImportResult> {
  const t0 = performance.now();
  const valFraction = opts.valFraction ?? 0.1;
  const testCount = opts.testCount ?? 0;
  const perImage = opts.captionsPerImage ?? 5;
  const mode = opts.mode ?? 'copy';
  if (!(valFraction >= 0 && valFraction < 1)) throw new UserError(`--val-fraction must be in [0, 1), got ${valFraction}`, 2);
  if (!Number.isInteger(testCount) || testCount < 0) throw new UserError(`--test-count must be ≥ 0, got ${testCount}`, 2);
  if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 1)) {
    throw new UserError(`--limit must be ≥ 1, got ${opts.limit}`, 2);
  }
  if (!existsSync(opts.images)) throw new UserError(`${opts.images}: image folder not found`);
  if (existsSync(opts.out) && readdirSync(opts.out).length && !opts.force) {
    throw new UserError(`${opts.out}: folder exists and is not empty (use --force to replace it)`);
  }

  const coco = parseCocoCaptions(readCocoJson(opts.captions), opts.captions);
  if (!coco.images.length) throw new UserError(`${opts.captions}: no image has a caption`);
  const inst = opts.instances === undefined ? undefined : readInstances(opts.instances, coco.images);
  // A seeded order decides both the --limit sample and the splits.
  const rng = new Rng(opts.seed ?? 1);
  let chosen = rng.shuffle([...coco.images]);
  if (opts.limit !== undefined) chosen = chosen.slice(0, opts.limit);

  const problems: string[] = [];
  const usable: CocoImage[] = [];
  let checked = 0;
  const ok = new Array<boolean>(chosen.length).fill(false);
  await forEachLimited(chosen, 8, async (im, i) => {
    try {
      await checkImage(path.join(opts.images, im.fileName));
      ok[i] = true;
    } catch (e) {
      if (!opts.skipBad || !(e instanceof UserError)) throw e;
      problems.push(`image id ${im.id}: ${e.message}`);
    }
    opts.onProgress?.('check', ++checked, chosen.length);
  });
  chosen.forEach((im, i) => ok[i] && usable.push(im));
  if (!usable.length) throw new UserError(`${opts.images}: none of the images could be used (first: ${problems[0]})`);

  const splits = assignSplits(usable.length, valFraction, testCount);
  const records: DatasetRecord[] = usable.map((im, i) => {
    const size = inst?.sizes.get(im.id);
    const objects = inst?.objects.get(im.id);
    return {
      id: String(im.id),
      image: `images/${im.fileName}`,
      split: splits[i]!,
      captions: coco.captions.get(im.id)!.slice(0, perImage),
      meta: {
        source: 'coco',
        cocoId: im.id,
        fileName: im.fileName,
        width: size?.[0] ?? im.width,
        height: size?.[1] ?? im.height,
        ...(objects ? { objects } : {}),
      },
    };
  });
  records.sort((a, b) => (a.meta!.cocoId as number) - (b.meta!.cocoId as number));

  await writeDirAtomic(opts.out, async (tmp) => {
    await mkdir(path.join(tmp, 'images'));
    let copied = 0;
    await forEachLimited(records, 8, async (r) => {
      await place(path.join(opts.images, r.meta!.fileName as string), path.join(tmp, r.image), mode);
      opts.onProgress?.('copy', ++copied, records.length);
    });
    await writeFileAtomic(path.join(tmp, 'manifest.jsonl'), manifestText(records));
  });
  const counts = { train: 0, val: 0, test: 0 };
  for (const r of records) counts[r.split]++;
  const withObjects = records.filter((r) => r.meta!.objects).length;
  return {
    records: records.length,
    splits: counts,
    skipped: problems.length,
    problems,
    uncaptioned: coco.uncaptioned,
    ...(inst
      ? {
          instances: {
            withObjects,
            withoutObjects: records.length - withObjects,
            crowd: inst.crowd,
            clipped: inst.clipped,
            dropped: inst.dropped,
          },
        }
      : {}),
    seconds: (performance.now() - t0) / 1000,
  };
}
