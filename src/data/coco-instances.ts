/**
 * COCO instances annotations (`instances_train2017.json`): the things in each picture, grouped per
 * category with one box per (non-crowd) annotation, as the `meta.objects` the patch loss learns from
 * (src/data/patch-cover.ts).
 */
import { UserError } from '../util/errors.ts';

export type Box = [number, number, number, number];

/** One kind of thing in a picture: COCO's category name, how many, one box each ([left, top, width, height] px). */
export interface CocoObject {
  name: string;
  count: number;
  boxes: Box[];
}

export interface CocoInstances {
  /** Things per image id, in category-id order; boxes in annotation-id order. Images without things are absent. */
  objects: Map<number, CocoObject[]>;
  /** Width and height per image id of the file's "images" (the size its boxes are measured in). */
  sizes: Map<number, [number, number]>;
  /** Crowd annotations (iscrowd 1: one box round many things), left out. */
  crowd: number;
  /** Boxes reaching outside their picture, clipped to it. */
  clipped: number;
  /** Boxes with nothing left inside their picture (or of zero width or height), left out. */
  dropped: number;
}

function fail(file: string, where: string, msg: string): never {
  throw new UserError(`${file}: ${where}${where ? ': ' : ''}${msg}`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const positiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;
/** COCO gives boxes to 2 decimals; clipping must not add float noise to them. */
const round2 = (v: number) => Math.round(v * 100) / 100;

/** Validates a parsed COCO instances file and groups its boxes per image and category. */
export function parseCocoInstances(json: unknown, file: string): CocoInstances {
  if (!isObject(json)) fail(file, '', 'expected a JSON object');
  for (const key of ['images', 'annotations', 'categories']) {
    if (!Array.isArray(json[key])) fail(file, '', `"${key}" must be an array (is this a COCO instances file?)`);
  }
  const names = new Map<number, string>();
  (json.categories as unknown[]).forEach((c, i) => {
    const where = `categories[${i}]`;
    if (!isObject(c)) fail(file, where, 'must be an object');
    if (!Number.isInteger(c.id)) fail(file, where, `"id" must be an integer, got ${JSON.stringify(c.id)}`);
    if (typeof c.name !== 'string' || !c.name.trim()) fail(file, where, '"name" is missing');
    if (names.has(c.id as number)) fail(file, where, `duplicate category id ${c.id}`);
    names.set(c.id as number, c.name.trim());
  });
  const sizes = new Map<number, [number, number]>();
  (json.images as unknown[]).forEach((img, i) => {
    const where = `images[${i}]`;
    if (!isObject(img)) fail(file, where, 'must be an object');
    if (!Number.isInteger(img.id)) fail(file, where, `"id" must be an integer, got ${JSON.stringify(img.id)}`);
    if (!positiveInt(img.width) || !positiveInt(img.height)) {
      fail(file, where, `"width" and "height" must be positive integers (the boxes are measured in them)`);
    }
    if (sizes.has(img.id as number)) fail(file, where, `duplicate image id ${img.id}`);
    sizes.set(img.id as number, [img.width, img.height]);
  });

  const kept: { id: number; order: number; imageId: number; categoryId: number; box: Box }[] = [];
  let crowd = 0;
  let clipped = 0;
  let dropped = 0;
  (json.annotations as unknown[]).forEach((ann, i) => {
    const where = `annotations[${i}]`;
    if (!isObject(ann)) fail(file, where, 'must be an object');
    const imageId = ann.image_id as number;
    if (!Number.isInteger(imageId)) fail(file, where, `"image_id" must be an integer, got ${JSON.stringify(imageId)}`);
    const size = sizes.get(imageId);
    if (!size) fail(file, where, `image_id ${imageId} is not in "images"`);
    if (!Number.isInteger(ann.category_id)) {
      fail(file, where, `"category_id" must be an integer, got ${JSON.stringify(ann.category_id)} (captions are not instances)`);
    }
    if (!names.has(ann.category_id as number)) fail(file, where, `category_id ${ann.category_id} is not in "categories"`);
    const bbox = ann.bbox;
    if (!Array.isArray(bbox) || bbox.length !== 4 || !bbox.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      fail(file, where, `"bbox" must be 4 numbers [x, y, width, height], got ${JSON.stringify(bbox)}`);
    }
    const [x, y, w, h] = bbox as Box;
    if (w < 0 || h < 0) fail(file, where, `"bbox" has a negative width or height: ${JSON.stringify(bbox)}`);
    if (ann.iscrowd !== undefined && ![0, 1, false, true].includes(ann.iscrowd as number | boolean)) {
      fail(file, where, `"iscrowd" must be 0 or 1, got ${JSON.stringify(ann.iscrowd)}`);
    }
    if (ann.iscrowd === 1 || ann.iscrowd === true) {
      crowd++;
      return;
    }
    const [W, H] = size;
    const left = Math.max(0, x);
    const top = Math.max(0, y);
    const right = Math.min(W, x + w);
    const bottom = Math.min(H, y + h);
    if (right <= left || bottom <= top) {
      dropped++;
      return;
    }
    const box: Box = [round2(left), round2(top), round2(right - left), round2(bottom - top)];
    if (left !== x || top !== y || right !== x + w || bottom !== y + h) clipped++;
    kept.push({ id: Number.isInteger(ann.id) ? (ann.id as number) : i, order: i, imageId, categoryId: ann.category_id as number, box });
  });

  kept.sort((a, b) => a.imageId - b.imageId || a.categoryId - b.categoryId || a.id - b.id || a.order - b.order);
  const objects = new Map<number, CocoObject[]>();
  let lastCategory = NaN;
  for (const k of kept) {
    let list = objects.get(k.imageId);
    if (!list) objects.set(k.imageId, (list = []));
    const last = list[list.length - 1];
    if (last && lastCategory === k.categoryId) {
      last.boxes.push(k.box);
      last.count++;
    } else {
      list.push({ name: names.get(k.categoryId)!, count: 1, boxes: [k.box] });
    }
    lastCategory = k.categoryId;
  }
  return { objects, sizes, crowd, clipped, dropped };
}
