/**
 * Photo scene composition: a pure function of (seed, index) that picks a photographed background, a
 * square crop of it and 1-4 kinds of cut-out photographed things, then places them so that the words
 * the texts use (left/right, near/far, big/small) follow from the geometry. Things on the ground stand
 * with their feet in the background's ground band: further back is higher up and smaller.
 */
import { Rng, hash32 } from '../../util/rng.ts';
import { SIZE } from '../scenes/backgrounds.ts';
import { hiddenShare, horizontalOf, verticalOf, type Placed } from '../scenes/layout.ts';
import type { Depth, Group, Item, Scene, SizeWord } from '../scenes/types.ts';
import { thing } from '../scenes/catalog.ts';
import { BACKDROPS, STAMPS, type Backdrop, type Stamp } from './catalog.ts';
import { STAMP_ASPECT } from './stamp-aspects.ts';

/** Width/height of each background photograph (checked against the files by the tests). */
export const BACKDROP_ASPECT: Record<string, number> = {
  aitzgorri: 3088 / 2056,
  picosdeeuropa: 3264 / 2448,
  sunset: 4272 / 2848,
  fog: 2048 / 1536,
  hills: 2048 / 1536,
  'cloudy-sky': 2048 / 1536,
  storm: 1920 / 1280,
  wood: 2560 / 1920,
};

/** One drawn copy: the stamp it shows and its drawn box in pixels of the 224×224 picture. */
export interface Drawn {
  stamp: Stamp;
  box: [number, number, number, number];
  /** Feet line (ground things) for the shadow; null for fliers. */
  feet: number | null;
  flip: boolean;
}

export interface PhotoScene {
  scene: Scene;
  backdrop: Backdrop;
  /** Square crop of the photograph: left, top and side as fractions of its height. */
  crop: { x: number; y: number; side: number };
  /** Per group, per copy. */
  drawn: Drawn[][];
}

function uniform(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng.next();
}

function weighted(rng: Rng, weights: number[]): number {
  let r = rng.next() * weights.reduce((a, b) => a + b, 0);
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i]!;
    if (r < 0) return i;
  }
  return weights.length - 1;
}

interface Frame {
  /** Feet line of the farthest and nearest ground places, in pixels; null when there is no ground. */
  ground: [number, number] | null;
  sky: [number, number] | null;
  /** Things are drawn this much bigger than at a full-height crop (a tighter crop is a closer view). */
  zoom: number;
}

function frameOf(b: Backdrop, crop: PhotoScene['crop']): Frame {
  const toPx = (f: number) => ((f - crop.y) / crop.side) * SIZE;
  const clampPx = (v: number) => Math.max(0, Math.min(SIZE, v));
  return {
    ground: b.ground ? [clampPx(toPx(b.ground[0])), clampPx(toPx(b.ground[1]))] : null,
    sky: b.sky ? [clampPx(toPx(b.sky[0])), clampPx(toPx(b.sky[1]))] : null,
    zoom: b.zoom / crop.side,
  };
}

const MIN_SIZE = 24;
const SLOT_X = { left: [0.14, 0.28], middle: [0.42, 0.58], right: [0.72, 0.86] } as const;
type Slot = keyof typeof SLOT_X;

/** Drawn width and height of a stamp whose longest side is `size`. */
function extent(stamp: Stamp, size: number): [number, number] {
  const a = STAMP_ASPECT[stamp.file] ?? 1;
  return a >= 1 ? [size, size / a] : [size * a, size];
}

function placeCopy(rng: Rng, f: Frame, stamp: Stamp, depth: number, x: number, shrink: number): Drawn & { item: Item } {
  const flip = rng.next() < 0.5;
  if (stamp.zone === 'ground' && f.ground) {
    const [far, near] = f.ground;
    const feet = near - 2 - (near - 2 - far) * depth;
    // Small things are drawn at least MIN_SIZE pixels: a real-size apple far away would be invisible.
    let size = Math.max(MIN_SIZE, Math.min(170, 96 * stamp.scale * f.zoom * (1 - 0.62 * depth) * shrink));
    let [w, h] = extent(stamp, size);
    // Never taller than the picture above its feet.
    if (h > feet - 2) {
      size *= (feet - 2) / h;
      [w, h] = extent(stamp, size);
    }
    const box: [number, number, number, number] = [x - w / 2, feet - h, w, h];
    return { stamp, box, feet, flip, item: { x, y: feet - h / 2, size, flip, depth } };
  }
  const [top, bottom] = f.sky!;
  const size = Math.max(MIN_SIZE, Math.min(90, uniform(rng, 52, 96) * stamp.scale * shrink));
  const [w, h] = extent(stamp, size);
  const y = uniform(rng, top + h / 2, Math.max(top + h / 2, bottom - h / 2));
  return { stamp, box: [x - w / 2, y - h / 2, w, h], feet: null, flip, item: { x, y, size, flip, depth: 0.5 } };
}

/** Places the copies of one kind as a row around a slot; shrinks and moves until they hide little. */
function placeGroup(rng: Rng, f: Frame, stamps: Stamp[], count: number, slot: Slot, placed: Placed[], backdrop: boolean) {
  let best: (Drawn & { item: Item })[] = [];
  let bestHidden = Infinity;
  for (let attempt = 0; attempt < 40; attempt++) {
    const shrink = attempt < 8 ? 1 : Math.max(0.5, Math.pow(0.92, attempt - 7));
    const useSlot: Slot = attempt < 12 ? slot : rng.pick(['left', 'middle', 'right'] as const);
    const small = stamps[0]!.scale * f.zoom < 0.5;
    const depth0 = backdrop ? uniform(rng, 0.6, 1) : uniform(rng, 0, small ? 0.4 : 0.85);
    const anchor = uniform(rng, SLOT_X[useSlot][0], SLOT_X[useSlot][1]) * SIZE;
    const copies: (Drawn & { item: Item })[] = [];
    let x = anchor;
    for (let k = 0; k < count; k++) {
      const d = Math.min(1, Math.max(0, depth0 + uniform(rng, -0.05, 0.05)));
      const c = placeCopy(rng, f, stamps[k]!, d, 0, shrink);
      copies.push(c);
    }
    const widths = copies.map((c) => c.box[2]);
    const gap = Math.max(...widths) * uniform(rng, 0.05, 0.25);
    const total = widths.reduce((a, b) => a + b, 0) + gap * (count - 1);
    x = anchor - total / 2;
    for (const c of copies) {
      const cx = x + c.box[2] / 2;
      c.box[0] = cx - c.box[2] / 2;
      c.item.x = cx;
      x += c.box[2] + gap;
    }
    const lo = Math.min(...copies.map((c) => c.box[0]));
    const hi = Math.max(...copies.map((c) => c.box[0] + c.box[2]));
    const shift = lo < 2 ? 2 - lo : hi > SIZE - 2 ? SIZE - 2 - hi : 0;
    for (const c of copies) {
      c.box[0] += shift;
      c.item.x += shift;
    }
    let worst = lo + shift < 0 || hi + shift > SIZE ? 10 : 0;
    const zone = stamps[0]!.zone;
    for (const c of copies) for (const p of placed) worst = Math.max(worst, hiddenShare({ item: c.item, zone }, p));
    if (worst < bestHidden) {
      best = copies;
      bestHidden = worst;
    }
    if (worst <= 0.2) break;
  }
  for (const c of best) {
    c.box = c.box.map((v) => Math.round(v)) as [number, number, number, number];
    c.item.x = Math.round(c.item.x);
    c.item.y = Math.round(c.item.y);
    c.item.size = Math.round(c.item.size);
    c.item.depth = Math.round(c.item.depth * 1000) / 1000;
    if (c.feet !== null) c.feet = Math.round(c.feet);
  }
  return { copies: best, hidden: bestHidden };
}

function depthWord(items: Item[], zone: string): Depth {
  if (zone !== 'ground') return 'middle';
  const mean = items.reduce((a, i) => a + i.depth, 0) / items.length;
  return mean < 0.3 ? 'near' : mean > 0.65 ? 'far' : 'middle';
}

function sizeWord(items: Item[]): SizeWord {
  const mean = items.reduce((a, i) => a + i.size, 0) / items.length;
  return mean >= 78 ? 'big' : mean <= 42 ? 'small' : 'medium';
}

/** The photo scene with the given index of the data set made from `seed`. */
export function photoSceneAt(seed: number, index: number, backdrops: readonly Backdrop[] = BACKDROPS): PhotoScene {
  const rng = new Rng(hash32((seed ^ 0x9a0705) >>> 0, index));
  const backdrop = backdrops[rng.int(backdrops.length)]!;
  const aspect = BACKDROP_ASPECT[backdrop.id] ?? 1;
  const side = Math.min(uniform(rng, 0.72, 1), (backdrop.cropX[1] - backdrop.cropX[0]) * aspect);
  const [x0, x1] = [backdrop.cropX[0] * aspect, backdrop.cropX[1] * aspect - side];
  const crop = {
    x: Math.round(uniform(rng, x0, Math.max(x0, x1)) * 1000) / 1000,
    // Crops keep the bottom of the photograph when there is ground (the nearest ground is in every picture).
    y: backdrop.ground ? Math.round((1 - side) * 1000) / 1000 : Math.round(uniform(rng, 0, 1 - side) * 1000) / 1000,
    side: Math.round(side * 1000) / 1000,
  };
  const frame = frameOf(backdrop, crop);

  const fits = STAMPS.filter((s) => s.places.includes(backdrop.setting) && (s.zone === 'ground' ? frame.ground : frame.sky));
  const names = rng.shuffle([...new Set(fits.map((s) => s.name))]);
  const wanted = 1 + weighted(rng, [20, 35, 30, 15]);
  const chosen: string[] = [];
  let backdropsUsed = 0;
  let unitNames = 0;
  for (const n of names) {
    if (chosen.length === wanted) break;
    const isBackdrop = fits.some((s) => s.name === n && s.backdrop);
    if (isBackdrop && backdropsUsed >= 1) continue;
    // "two bunches of grapes" is long: more than two such kinds make captions over 20 words.
    const hasUnit = thing(n).unit !== null;
    if (hasUnit && unitNames >= 2) continue;
    chosen.push(n);
    if (isBackdrop) backdropsUsed++;
    if (hasUnit) unitNames++;
  }
  // Big things at the back first, so the rest are placed around them.
  chosen.sort((a, b) => Number(fits.some((s) => s.name === b && s.backdrop)) - Number(fits.some((s) => s.name === a && s.backdrop)));

  const slots = rng.shuffle(['left', 'middle', 'right'] as Slot[]);
  const placed: Placed[] = [];
  const groups: Group[] = [];
  const drawn: Drawn[][] = [];
  chosen.forEach((name, gi) => {
    const options = fits.filter((s) => s.name === name);
    let count = 1 + weighted(rng, [45, 30, 25]);
    if (options[0]!.backdrop) count = Math.min(count, 2);
    const stamps = Array.from({ length: 3 }, () => rng.pick(options));
    const slot = gi < 3 ? slots[gi]! : rng.pick(slots);
    let { copies, hidden } = placeGroup(rng, frame, stamps.slice(0, count), count, slot, placed, !!options[0]!.backdrop);
    // A crowded picture gets fewer copies rather than copies hidden behind others.
    while (hidden > 0.45 && count > 1) {
      count--;
      ({ copies, hidden } = placeGroup(rng, frame, stamps.slice(0, count), count, slot, placed, !!options[0]!.backdrop));
    }
    if (hidden > 0.45) return;
    const zone = options[0]!.zone;
    placed.push(...copies.map((c) => ({ item: c.item, zone })));
    const items = copies.map((c) => c.item);
    const colours = new Set(copies.map((c) => c.stamp.colour));
    groups.push({
      name,
      kind: thing(name).kind,
      icon: copies[0]!.stamp.file,
      count,
      colour: colours.size === 1 ? copies[0]!.stamp.colour : null,
      tint: null,
      zone,
      h: horizontalOf(items),
      v: verticalOf(items),
      depth: depthWord(items, zone),
      size: sizeWord(items),
      items,
    });
    drawn.push(copies.map(({ item: _item, ...d }) => d));
  });
  const scene: Scene = {
    seed,
    index,
    background: backdrop.like,
    time: backdrop.time,
    weather: backdrop.weather,
    horizon: Math.round(frame.ground?.[0] ?? 0),
    shore: 0,
    decor: { clouds: 0, dotStars: false },
    groups,
    words: backdrop.words,
  };
  return { scene, backdrop, crop, drawn };
}
