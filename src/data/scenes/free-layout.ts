/**
 * The free layout: pictures composed against the habitat layout's habits, to measure whether a model sees
 * the things or only guesses them from the background. Any thing on any background (most often a plain
 * one-colour or two-tone one), any size, anywhere, 1-3 kinds of 1-3 copies, no decor. A pure function of
 * (seed, index) like the habitat layout, from its own random stream.
 */
import { Rng, hash32 } from '../../util/rng.ts';
import { BACKGROUND_SPECS, BEACH_SHORE, SIZE } from './backgrounds.ts';
import { THINGS, type Thing } from './catalog.ts';
import { horizontalOf, worstHiddenShare, sizeOf, uniform, verticalOf, weighted, type Placed } from './layout.ts';
import type { BackgroundId, Group, Item, PlainBackground, Scene, Zone } from './types.ts';

/** Colour words a plain background can have and how they are drawn (no orange or gold: those name things). */
export const PLAIN_COLOURS: Readonly<Record<string, string>> = {
  white: '#f3f3ee',
  gray: '#9a9ea4',
  black: '#1d1d21',
  blue: '#3b78d8',
  green: '#4caf50',
  yellow: '#f1d33b',
  pink: '#f29cc2',
  purple: '#8c5bc6',
  red: '#d63c3c',
  brown: '#8a5a32',
};

const BACKGROUND_WEIGHTS: Record<BackgroundId, number> = {
  plain: 30,
  'two-tone': 30,
  grass: 4,
  sky: 4,
  beach: 4,
  sea: 4,
  snow: 4,
  room: 4,
  kitchen: 4,
  street: 4,
  desert: 4,
  space: 4,
};

/** The free layout's backgrounds without the plain and two-tone ones (the `loose` layout's training scenes). */
const PHOTO_LIKE_WEIGHTS: Partial<Record<BackgroundId, number>> = Object.fromEntries(
  Object.entries(BACKGROUND_WEIGHTS).filter(([bg]) => bg !== 'plain' && bg !== 'two-tone'),
);

const SIZE_RANGES: Record<'small' | 'medium' | 'big', [number, number]> = {
  small: [22, 42],
  medium: [46, 76],
  big: [80, 140],
};

/** Picks colours not used by any thing in the picture, so nothing melts into its background. */
function plainBackground(rng: Rng, bg: BackgroundId, kinds: Thing[]): PlainBackground {
  const used = new Set(kinds.flatMap((t) => [t.colour, ...t.tints]));
  const free = Object.keys(PLAIN_COLOURS).filter((c) => !used.has(c));
  const pool = rng.shuffle(free.length >= 2 ? free : Object.keys(PLAIN_COLOURS));
  if (bg === 'plain') return { colours: [pool[0]!], split: 'none', at: 0 };
  const split = rng.next() < 0.5 ? 'across' : 'down';
  return { colours: [pool[0]!, pool[1]!], split, at: Math.round(SIZE * uniform(rng, 0.32, 0.68)) };
}

/** The zone a thing takes on a background: one of its own when the background has it, else the floor. */
function zoneOn(rng: Rng, t: Thing, bg: BackgroundId): Zone {
  const offered = BACKGROUND_SPECS[bg].zones;
  const own = t.zones.filter((z) => offered.includes(z));
  if (own.length) return rng.pick(own);
  return offered.includes('ground') ? 'ground' : offered[0]!;
}

/** Vertical room [top, bottom] for the centre of a copy of side `size` in a zone. */
function verticalRoom(zone: Zone, bg: BackgroundId, horizon: number, shore: number, size: number): [number, number] {
  const lo = size / 2 + 2;
  const hi = SIZE - size / 2 - 2;
  if (bg === 'plain' || bg === 'two-tone') return [lo, hi];
  switch (zone) {
    case 'ground': {
      // Standing on the ground: the bottom edge is below where the ground starts.
      const groundTop = shore || horizon;
      return [Math.max(lo, groundTop + 10 - size / 2), hi];
    }
    case 'sky':
    case 'air':
      return horizon > 0 ? [lo, Math.max(lo, horizon - size / 2 - 2)] : [lo, hi];
    case 'water':
      return bg === 'beach' ? [Math.max(lo, horizon + size * 0.35), Math.max(lo, Math.min(hi, shore - size * 0.2))] : [lo, hi];
    case 'space':
      return [lo, hi];
  }
}

function largestSide(zone: Zone, bg: BackgroundId, horizon: number, shore: number): number {
  if (bg === 'plain' || bg === 'two-tone') return SIZE - 8;
  if ((zone === 'sky' || zone === 'air') && horizon > 0) return horizon - 6;
  if (zone === 'water' && bg === 'beach') return (shore - horizon) * 1.3;
  return SIZE - 8;
}

function inside(items: Item[]): boolean {
  return items.every((i) => i.x - i.size / 2 >= 0 && i.x + i.size / 2 <= SIZE && i.y - i.size / 2 >= 0 && i.y + i.size / 2 <= SIZE);
}

/** Places one kind's copies: in a row, or each anywhere; smaller and smaller until they fit among the others. */
function placeFree(rng: Rng, scene: Scene, zone: Zone, count: number, target: number, placed: Placed[]): Item[] {
  const cap = largestSide(zone, scene.background, scene.horizon, scene.shore);
  let best: Item[] = [];
  let bestOverlap = Infinity;
  for (let attempt = 0; attempt < 60; attempt++) {
    const shrink = attempt < 16 ? 1 : Math.max(0.4, Math.pow(0.92, attempt - 15));
    const rowFits = count * target * 1.02 <= SIZE - 4;
    const row = count > 1 && rowFits && rng.next() < 0.5;
    const base = Math.max(18, Math.min(cap, row ? (SIZE - 6) / count : cap, target * shrink));
    const items: Item[] = [];
    if (row) {
      const spacing = base * uniform(rng, 1.0, 1.15);
      const width = spacing * (count - 1) + base;
      const x0 = uniform(rng, base / 2 + 2, Math.max(base / 2 + 2, SIZE - width + base / 2 - 2));
      const [ylo, yhi] = verticalRoom(zone, scene.background, scene.horizon, scene.shore, base);
      const y = uniform(rng, ylo, yhi);
      for (let k = 0; k < count; k++) items.push({ x: x0 + k * spacing, y, size: base, flip: rng.next() < 0.5, depth: 0.5 });
    } else {
      for (let k = 0; k < count; k++) {
        const size = Math.max(18, Math.min(cap, base * uniform(rng, 0.92, 1.08)));
        const [ylo, yhi] = verticalRoom(zone, scene.background, scene.horizon, scene.shore, size);
        const x = uniform(rng, size / 2 + 2, SIZE - size / 2 - 2);
        items.push({ x, y: uniform(rng, ylo, yhi), size, flip: rng.next() < 0.5, depth: 0.5 });
      }
    }
    const worst = Math.max(inside(items) ? 0 : 10, worstHiddenShare(items, zone, placed, true));
    if (worst < bestOverlap) {
      best = items;
      bestOverlap = worst;
    }
    if (worst <= 0.15) break;
  }
  for (const i of best) {
    i.x = Math.round(i.x);
    i.y = Math.round(i.y);
    i.size = Math.round(i.size);
  }
  return best;
}

/** The free-layout scene with the given index of the data set made from `seed`. */
export function freeSceneAt(
  seed: number,
  index: number,
  { plainBackgrounds = true }: { plainBackgrounds?: boolean } = {},
): Scene {
  const rng = new Rng(hash32((seed ^ 0xf7ee1a) >>> 0, index));
  const background = weighted(rng, plainBackgrounds ? BACKGROUND_WEIGHTS : PHOTO_LIKE_WEIGHTS);
  const spec = BACKGROUND_SPECS[background];
  const time = weighted(rng, spec.times);
  const horizon = spec.horizon[1] > 0 ? Math.round(SIZE * uniform(rng, spec.horizon[0], spec.horizon[1])) : 0;
  const shore = background === 'beach' ? Math.round(SIZE * uniform(rng, BEACH_SHORE[0], BEACH_SHORE[1])) : 0;
  const nKinds = 1 + ['1', '2', '3'].indexOf(weighted(rng, { '1': 35, '2': 35, '3': 30 }));
  const kinds = rng.shuffle(THINGS.slice()).slice(0, nKinds);
  const scene: Scene = {
    seed,
    index,
    background,
    time,
    weather: 'clear',
    horizon,
    shore,
    decor: { clouds: 0, dotStars: false },
    groups: [],
    layout: 'free',
  };
  if (background === 'plain' || background === 'two-tone') scene.plain = plainBackground(rng, background, kinds);
  const placed: Placed[] = [];
  for (const t of kinds) {
    const zone = zoneOn(rng, t, background);
    const count = Math.min(t.maxCount, 1 + ['1', '2', '3'].indexOf(weighted(rng, { '1': 45, '2': 30, '3': 25 })));
    const sizeWord = weighted(rng, { small: 35, medium: 35, big: 30 });
    const [lo, hi] = SIZE_RANGES[sizeWord];
    const items = placeFree(rng, scene, zone, count, uniform(rng, lo, hi), placed);
    placed.push(...items.map((item) => ({ item, zone })));
    const tint = t.tints.length ? rng.pick(t.tints) : null;
    const group: Group = {
      name: t.name,
      kind: t.kind,
      icon: t.icon,
      count,
      colour: tint ?? t.colour,
      tint: tint && tint !== t.colour ? tint : null,
      zone,
      h: horizontalOf(items),
      v: verticalOf(items),
      // No perspective here: nothing is near or far.
      depth: 'middle',
      size: sizeOf(items),
      items,
    };
    scene.groups.push(group);
  }
  return scene;
}
