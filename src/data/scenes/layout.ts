/**
 * Scene composition: a pure function of (seed, index) that picks a background, time, weather and 1-4
 * kinds of things, then places their copies so the words we later use (left/right, near/far, big/small)
 * follow from the geometry rather than the other way round.
 */
import { Rng, hash32 } from '../../util/rng.ts';
import { BACKGROUND_SPECS, BEACH_SHORE, SIZE, type BackgroundSpec } from './backgrounds.ts';
import { THINGS, type Thing } from './catalog.ts';
import type { BackgroundId, Depth, Group, HPos, Item, Scene, SizeWord, TimeOfDay, VPos, Weather, Zone } from './types.ts';

const SKY_BODIES = new Set(['sun', 'moon', 'star', 'cloud', 'rainbow']);
const ZONE_PAINT_ORDER: Zone[] = ['sky', 'space', 'air', 'water', 'ground'];

export function weighted<T extends string>(rng: Rng, table: Partial<Record<T, number>>): T {
  const entries = (Object.entries(table) as [T, number][]).filter(([, w]) => w > 0);
  let total = 0;
  for (const [, w] of entries) total += w;
  let r = rng.next() * total;
  for (const [k, w] of entries) {
    r -= w;
    if (r < 0) return k;
  }
  return entries[entries.length - 1]![0];
}

export function uniform(rng: Rng, lo: number, hi: number): number {
  return lo + (hi - lo) * rng.next();
}

function chooseKinds(rng: Rng, candidates: Thing[], n: number): Thing[] {
  const pool = rng.shuffle(candidates.slice());
  const out: Thing[] = [];
  let backdrops = 0;
  let skyBodies = 0;
  for (const t of pool) {
    if (out.length === n) break;
    if (t.backdrop && backdrops >= 2) continue;
    if (SKY_BODIES.has(t.name) && skyBodies >= 2) continue;
    out.push(t);
    if (t.backdrop) backdrops++;
    if (SKY_BODIES.has(t.name)) skyBodies++;
  }
  return out;
}

/** Box of an item shrunk to the part the artwork usually covers (icons have transparent margins). */
function coverBox(it: Item): [number, number, number, number] {
  const h = it.size * 0.4;
  return [it.x - h, it.y - h, it.x + h, it.y + h];
}

/** A drawn copy with its zone, which decides paint order together with depth. */
export interface Placed {
  item: Item;
  zone: Zone;
}

/** Whether `a` is painted before (behind) `b`: sky before ground, far before near. */
export function paintedBefore(a: Placed, b: Placed): boolean {
  const za = ZONE_PAINT_ORDER.indexOf(a.zone);
  const zb = ZONE_PAINT_ORDER.indexOf(b.zone);
  if (za !== zb) return za < zb;
  if (a.item.depth !== b.item.depth) return a.item.depth > b.item.depth;
  return a.item.y < b.item.y;
}

/** Share of the back copy's artwork covered by the front one (0 = apart, 1 = hidden). */
export function hiddenShare(a: Placed, b: Placed): number {
  const [back, front] = paintedBefore(a, b) ? [a.item, b.item] : [b.item, a.item];
  const [ax0, ay0, ax1, ay1] = coverBox(back);
  const [bx0, by0, bx1, by1] = coverBox(front);
  const w = Math.min(ax1, bx1) - Math.max(ax0, bx0);
  const h = Math.min(ay1, by1) - Math.max(ay0, by0);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / ((ax1 - ax0) * (ay1 - ay0));
}

/**
 * The largest share of any copy hidden by another: the new copies (`items`, in `zone`) against those
 * already placed, and against each other when `withinGroup`.
 */
export function worstHiddenShare(items: Item[], zone: Zone, placed: Placed[], withinGroup: boolean): number {
  const mine = items.map((item) => ({ item, zone }));
  let worst = 0;
  for (const a of mine) for (const b of placed) worst = Math.max(worst, hiddenShare(a, b));
  if (withinGroup)
    for (let i = 0; i < mine.length; i++)
      for (let j = 0; j < i; j++) worst = Math.max(worst, hiddenShare(mine[i]!, mine[j]!));
  return worst;
}

interface Geometry {
  bg: BackgroundId;
  horizon: number;
  shore: number;
}

/** Size and vertical place of one copy in a zone, from a depth in [0, 1] (0 = closest). */
function placeInZone(rng: Rng, geo: Geometry, zone: Zone, t: Thing, depth: number, shrink: number) {
  const s = t.scale * shrink;
  const clampSize = (v: number) => Math.max(18, Math.min(124, v));
  switch (zone) {
    case 'ground': {
      const size = clampSize((100 - 62 * depth) * s);
      // On a beach the ground (sand) starts at the shore, below the water.
      const groundTop = geo.shore || geo.horizon;
      const bottom = SIZE - 5 - (SIZE - 5 - (groundTop + 12)) * depth;
      const y = Math.max(size / 2 + 2, bottom - size * 0.46);
      return { y, size, depth };
    }
    case 'sky':
    case 'air': {
      const top = geo.horizon > 0 ? geo.horizon : SIZE;
      const room = top - 8;
      const size = clampSize(Math.min(room, (geo.horizon > 0 ? uniform(rng, 32, 64) : uniform(rng, 38, 92)) * s));
      const y = uniform(rng, size / 2 + 3, Math.max(size / 2 + 3, top - size / 2 - 4));
      return { y, size, depth: 0.5 };
    }
    case 'water': {
      if (geo.bg === 'beach') {
        const band = geo.shore - geo.horizon;
        const size = clampSize(Math.min(band * 1.05, uniform(rng, 30, 64) * s));
        const y = uniform(rng, geo.horizon + size * 0.4, Math.max(geo.horizon + size * 0.4, geo.shore - size * 0.4));
        return { y, size, depth: 0.5 };
      }
      const size = clampSize((96 - 58 * depth) * s);
      const y = uniform(rng, size / 2 + 3, SIZE - size / 2 - 3);
      return { y, size, depth };
    }
    case 'space': {
      const size = clampSize((96 - 58 * depth) * s);
      const y = uniform(rng, size / 2 + 3, SIZE - size / 2 - 3);
      return { y, size, depth };
    }
  }
}

const SLOT_X: Record<'left' | 'middle' | 'right', [number, number]> = {
  left: [0.14, 0.26],
  middle: [0.44, 0.56],
  right: [0.74, 0.86],
};

/** Places the copies of one kind: a row (or a little heap of three), or spread out for sky and sea things. */
function placeGroup(
  rng: Rng,
  geo: Geometry,
  t: Thing,
  zone: Zone,
  count: number,
  slot: 'left' | 'middle' | 'right',
  placed: Placed[],
): { items: Item[]; hidden: number } {
  let best: Item[] = [];
  let bestOverlap = Infinity;
  for (let attempt = 0; attempt < 48; attempt++) {
    // First try the given slot at full size, then other slots, then smaller and smaller.
    const shrink = attempt < 8 ? 1 : Math.max(0.45, Math.pow(0.9, attempt - 7));
    const useSlot = attempt < 12 ? slot : rng.pick(['left', 'middle', 'right'] as const);
    const spread = count > 1 && zone !== 'ground' && zone !== 'air' && rng.next() < 0.3;
    const depth0 = zone === 'ground' ? (t.backdrop ? uniform(rng, 0.55, 1) : uniform(rng, 0, 0.85)) : rng.next();
    const items: Item[] = [];
    if (spread) {
      for (let k = 0; k < count; k++) {
        const p = placeInZone(rng, geo, zone, t, rng.next(), shrink);
        const x = uniform(rng, p.size / 2 + 3, SIZE - p.size / 2 - 3);
        items.push({ x, y: p.y, size: p.size, depth: p.depth, flip: rng.next() < 0.5 });
      }
    } else {
      const anchor = uniform(rng, SLOT_X[useSlot][0], SLOT_X[useSlot][1]) * SIZE;
      const base = placeInZone(rng, geo, zone, t, depth0, shrink);
      const heap = count === 3 && rng.next() < 0.35;
      const spacing = base.size * uniform(rng, 0.82, 1.05);
      for (let k = 0; k < count; k++) {
        const back = heap && k === 2;
        const offset = heap ? (back ? 0 : (k - 0.5) * spacing) : (k - (count - 1) / 2) * spacing;
        let p = base;
        if (zone === 'ground') {
          const d = Math.min(1, Math.max(0, depth0 + (back ? 0.16 : uniform(rng, -0.05, 0.05))));
          p = placeInZone(rng, geo, zone, t, d, shrink);
        } else if (back) {
          p = { ...base, y: Math.max(base.size / 2 + 3, base.y - base.size * 0.75) };
        } else {
          p = { ...base, y: base.y + uniform(rng, -0.12, 0.12) * base.size };
        }
        const y = Math.min(SIZE - p.size / 2 - 2, Math.max(p.size / 2 + 2, p.y));
        items.push({ x: anchor + offset, y, size: p.size, depth: p.depth, flip: rng.next() < 0.5 });
      }
      // Keep the whole group inside the picture.
      const lo = Math.min(...items.map((i) => i.x - i.size / 2));
      const hi = Math.max(...items.map((i) => i.x + i.size / 2));
      const shift = lo < 2 ? 2 - lo : hi > SIZE - 2 ? SIZE - 2 - hi : 0;
      for (const i of items) i.x += shift;
    }
    const lo = Math.min(...items.map((i) => i.x - i.size / 2));
    const hi = Math.max(...items.map((i) => i.x + i.size / 2));
    // A group wider than the picture would be cut off: never accept it.
    let worst = lo < 0 || hi > SIZE ? 10 : 0;
    worst = Math.max(worst, worstHiddenShare(items, zone, placed, spread));
    if (worst < bestOverlap) {
      best = items;
      bestOverlap = worst;
    }
    if (worst <= 0.25) break;
  }
  for (const i of best) {
    i.x = Math.round(i.x);
    i.y = Math.round(i.y);
    i.size = Math.round(i.size);
    i.depth = Math.round(i.depth * 1000) / 1000;
  }
  return { items: best, hidden: bestOverlap };
}

/** Which third a group is in; `across` when its copies spread beyond one. */
export function horizontalOf(items: Item[]): HPos {
  const xs = items.map((i) => i.x);
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const third = SIZE / 3;
  if (mean < third && xs.every((x) => x < SIZE * 0.5)) return 'left';
  if (mean > 2 * third && xs.every((x) => x > SIZE * 0.5)) return 'right';
  if (mean >= third && mean <= 2 * third && xs.every((x) => x >= SIZE * 0.22 && x <= SIZE * 0.78)) return 'middle';
  return 'across';
}

export function verticalOf(items: Item[]): VPos {
  const mean = items.reduce((a, i) => a + i.y, 0) / items.length;
  return mean < SIZE * 0.36 ? 'top' : mean > SIZE * 0.64 ? 'bottom' : 'middle';
}

function depthOf(items: Item[], zone: Zone, bg: BackgroundId): Depth {
  if (zone !== 'ground' && !(zone === 'water' && bg === 'sea') && zone !== 'space') return 'middle';
  const mean = items.reduce((a, i) => a + i.depth, 0) / items.length;
  return mean < 0.3 ? 'near' : mean > 0.65 ? 'far' : 'middle';
}

export function sizeOf(items: Item[]): SizeWord {
  const mean = items.reduce((a, i) => a + i.size, 0) / items.length;
  return mean >= 78 ? 'big' : mean <= 42 ? 'small' : 'medium';
}

/** The scene with the given index of the data set made from `seed`. */
export function sceneAt(seed: number, index: number): Scene {
  const rng = new Rng(hash32((seed ^ 0x5ce7e5) >>> 0, index));
  const bg = weighted(
    rng,
    Object.fromEntries(Object.values(BACKGROUND_SPECS).map((s) => [s.id, s.weight])) as Record<BackgroundId, number>,
  );
  const spec: BackgroundSpec = BACKGROUND_SPECS[bg];
  const time: TimeOfDay = weighted(rng, spec.times);
  let weather: Weather = weighted(rng, spec.weather);
  const horizon = spec.horizon[1] > 0 ? Math.round(SIZE * uniform(rng, spec.horizon[0], spec.horizon[1])) : 0;
  const shore = bg === 'beach' ? Math.round(SIZE * uniform(rng, BEACH_SHORE[0], BEACH_SHORE[1])) : 0;
  const geo: Geometry = { bg, horizon, shore };

  const candidates = THINGS.filter(
    (t) =>
      t.places.includes(bg) && (bg === 'space' || t.times.includes(time)) && t.zones.some((z) => spec.zones.includes(z)),
  );
  const wanted = 1 + ['1', '2', '3', '4'].indexOf(weighted(rng, { '1': 20, '2': 35, '3': 30, '4': 15 }));
  const kinds = chooseKinds(rng, candidates, Math.min(wanted, candidates.length));
  // Big things at the back go first so the rest are placed around them.
  kinds.sort((a, b) => Number(b.backdrop) - Number(a.backdrop));

  const names = new Set(kinds.map((k) => k.name));
  if (names.has('sun') || names.has('rainbow')) weather = 'clear';
  if (names.has('cloud') && weather === 'cloudy') weather = 'clear';

  const slots = rng.shuffle(['left', 'middle', 'right'] as ('left' | 'middle' | 'right')[]);
  const placed: Placed[] = [];
  const groups: Group[] = kinds.map((t, gi) => {
    const zones = t.zones.filter((z) => spec.zones.includes(z));
    const zone = zones.length > 1 && rng.next() < 0.4 ? zones[1 + rng.int(zones.length - 1)]! : zones[0]!;
    let count = Math.min(t.maxCount, 1 + ['1', '2', '3'].indexOf(weighted(rng, { '1': 45, '2': 30, '3': 25 })));
    const tint = t.tints.length ? rng.pick(t.tints) : null;
    const slot = gi < 3 ? slots[gi]! : rng.pick(slots);
    let { items, hidden } = placeGroup(rng, geo, t, zone, count, slot, placed);
    // A crowded picture gets fewer copies rather than copies hidden behind others (the count is what we draw).
    while (hidden > 0.5 && count > 1) {
      count--;
      ({ items, hidden } = placeGroup(rng, geo, t, zone, count, slot, placed));
    }
    placed.push(...items.map((item) => ({ item, zone })));
    return {
      name: t.name,
      kind: t.kind,
      icon: t.icon,
      count,
      colour: tint ?? t.colour,
      tint: tint && tint !== t.colour ? tint : null,
      zone,
      h: horizontalOf(items),
      v: verticalOf(items),
      depth: depthOf(items, zone, bg),
      size: sizeOf(items),
      items,
    };
  });
  const hasSky = spec.zones.includes('sky');
  const clouds = hasSky && !names.has('cloud') && (weather === 'cloudy' || weather === 'rainy') ? 2 + rng.int(3) : 0;
  const dotStars = (bg === 'space' || (spec.outdoor && time === 'night')) && !names.has('star') && rng.next() < 0.7;
  return { seed, index, background: bg, time, weather, horizon, shore, decor: { clouds, dotStars }, groups };
}

/** Every drawn copy in paint order (sky first, then far to near), with its group. */
export function paintOrder(scene: Scene): { group: Group; item: Item }[] {
  const all = scene.groups.flatMap((group) => group.items.map((item) => ({ group, item })));
  return all.sort(
    (a, b) =>
      ZONE_PAINT_ORDER.indexOf(a.group.zone) - ZONE_PAINT_ORDER.indexOf(b.group.zone) ||
      b.item.depth - a.item.depth ||
      a.item.y - b.item.y,
  );
}
