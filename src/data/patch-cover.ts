/**
 * Which thing covers each patch of a picture, from the boxes a record's meta gives its things (the
 * built-in scenes and photo scenes write them): the labels of the patch loss
 * (src/model/patch-loss.ts) and of the per-patch probe (bench/probe).
 */
import type { DatasetRecord } from './dataset.ts';

export interface BoxedThing {
  name: string;
  /** [left, top, width, height] in pixels of the picture as drawn (before resizing to the model's size). */
  boxes?: [number, number, number, number][];
}

/** Target of a patch with no label (its record has no boxes): the loss skips it. */
export const NO_PATCH_LABEL = -1;

/** Side of the square the built-in generators draw at: a record's picture size unless its meta says. */
export const BOX_PICTURE_SIZE = 224;

/** Width and height of the picture the boxes are measured in. */
export type PictureSize = readonly [number, number];

/**
 * For each patch (row-major, `side` × `side` over the picture, stretched to a square as the model sees
 * it), the name of the thing whose
 * drawing covers its centre, or null for background. A box is the icon's square; its artwork covers
 * about the middle 80% (the generator's own rule), so only that part counts. Where several cover a
 * centre, the smallest wins: small things are drawn in front of big ones far more often than not.
 */
export function patchCover(
  objects: readonly BoxedThing[],
  side: number,
  [width, height]: PictureSize = [BOX_PICTURE_SIZE, BOX_PICTURE_SIZE],
): (string | null)[] {
  const out: (string | null)[] = [];
  for (let r = 0; r < side; r++) {
    for (let c = 0; c < side; c++) {
      const x = ((c + 0.5) * width) / side;
      const y = ((r + 0.5) * height) / side;
      let best: string | null = null;
      let bestSize = Infinity;
      for (const o of objects) {
        for (const [left, top, w, h] of o.boxes ?? []) {
          const cx = left + w / 2;
          const cy = top + h / 2;
          if (Math.abs(x - cx) <= w * 0.4 && Math.abs(y - cy) <= h * 0.4 && w < bestSize) {
            best = o.name;
            bestSize = w;
          }
        }
      }
      out.push(best);
    }
  }
  return out;
}

/** The picture size a record's boxes are measured in: meta.width and meta.height, or the generators' 224. */
export function pictureSize(record: DatasetRecord): PictureSize {
  const { width, height } = (record.meta ?? {}) as { width?: unknown; height?: unknown };
  const ok = (v: unknown): v is number => typeof v === 'number' && v > 0;
  return ok(width) && ok(height) ? [width, height] : [BOX_PICTURE_SIZE, BOX_PICTURE_SIZE];
}

/** The boxed things of a record's meta, or null when it has none (a record without boxes teaches nothing here). */
export function boxedThings(record: DatasetRecord): BoxedThing[] | null {
  const objects = (record.meta as { objects?: unknown } | undefined)?.objects;
  if (!Array.isArray(objects) || objects.length === 0) return null;
  const things = objects.filter(
    (o): o is BoxedThing => typeof o?.name === 'string' && Array.isArray(o.boxes) && o.boxes.length > 0,
  );
  return things.length === objects.length ? things : null;
}

/**
 * Patch targets for a batch: per record `side`² token ids, row-major, written into one array. A patch
 * covered by a thing gets the first token of " name"; a background patch gets `nothingId`; every patch
 * of a record without boxes gets NO_PATCH_LABEL.
 */
export function patchTargets(
  records: readonly DatasetRecord[],
  side: number,
  nameToken: (name: string) => number,
  nothingId: number,
): Int32Array {
  const P = side * side;
  const out = new Int32Array(records.length * P).fill(NO_PATCH_LABEL);
  records.forEach((record, b) => {
    const things = boxedThings(record);
    if (!things) return;
    patchCover(things, side, pictureSize(record)).forEach((name, p) => {
      out[b * P + p] = name === null ? nothingId : nameToken(name);
    });
  });
  return out;
}
