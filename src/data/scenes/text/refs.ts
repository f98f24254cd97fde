/**
 * How the texts refer to what is in the picture: noun phrases for a group (with the right number word,
 * article, colour and size), where a zone is ("on the grass", "in the sky"), where a group is ("on the
 * left, far away"), and which spatial relations between two groups the geometry supports.
 */
import type { Rng } from '../../../util/rng.ts';
import { BACKGROUND_SPECS } from '../backgrounds.ts';
import { thing, type Thing } from '../catalog.ts';
import type { Group, Item, Scene, Zone } from '../types.ts';
import { NUMBER_WORDS, article, choose } from './grammar.ts';
import { PLAIN_AIR, plainWords } from './plain.ts';

/** A group with what the text needs about it. */
export interface Ref {
  g: Group;
  t: Thing;
  /** Takes a plural verb when named with "the" ("the dogs are", "the grapes are", "the cheese is"). */
  plural: boolean;
  /** The colour word may be used (it is not ambiguous with another thing's name in this scene). */
  colour: string | null;
}

export function refsOf(scene: Scene): Ref[] {
  const hasOrangeFruit = scene.groups.some((g) => g.name === 'orange');
  return scene.groups.map((g) => {
    const t = thing(g.name);
    const colour = g.colour && !(hasOrangeFruit && g.colour === 'orange') && !g.name.includes(g.colour) ? g.colour : null;
    return { g, t, plural: g.count > 1 || t.pluralName, colour };
  });
}

export interface NounOptions {
  colour?: boolean;
  size?: boolean;
}

/** Size adjective true to how big the group is drawn, or null for ordinary size. */
export function sizeAdjective(rng: Rng, r: Ref): string | null {
  if (r.g.size === 'big') return rng.pick(['big', 'big', 'large']);
  if (r.g.size === 'small') {
    const tiny = r.g.items.every((i) => i.size <= 34);
    return rng.pick(tiny ? ['tiny', 'little', 'small'] : ['little', 'small']);
  }
  return null;
}

function adjectives(rng: Rng, r: Ref, opts: NounOptions): string {
  const out: string[] = [];
  if (opts.size) {
    const s = sizeAdjective(rng, r);
    if (s) out.push(s);
  }
  if (opts.colour && r.colour) out.push(r.colour);
  return out.join(' ');
}

function headNoun(r: Ref, many: boolean): string {
  return many ? r.t.plural : r.t.name;
}

/**
 * First mention with its number: "a big brown dog", "two red balls", "a bunch of purple grapes",
 * "three pieces of cheese". `one` uses "one" instead of "a".
 */
export function countNoun(rng: Rng, r: Ref, opts: NounOptions = {}, one = false): string {
  const adj = adjectives(rng, r, opts);
  const n = r.g.count;
  if (r.t.unit) {
    const core = [adj, r.t.name].filter(Boolean).join(' ');
    return n === 1 ? `${one ? r.t.unit.one.replace(/^an? /, 'one ') : r.t.unit.one} ${core}` : `${NUMBER_WORDS[n]} ${r.t.unit.many} ${core}`;
  }
  const core = [adj, headNoun(r, n > 1)].filter(Boolean).join(' ');
  if (n === 1) return one ? `one ${core}` : `${article(core)} ${core}`;
  return `${NUMBER_WORDS[n]} ${core}`;
}

/**
 * A definite mention. With `withNumber` the count is said ("the two dogs", "both dogs", "all three
 * cats"), which a first mention needs; later mentions may drop it ("the dogs").
 */
export function theNoun(rng: Rng, r: Ref, opts: NounOptions = {}, withNumber = false): string {
  const adj = adjectives(rng, r, opts);
  const n = r.g.count;
  if (r.t.unit) {
    const core = [adj, r.t.name].filter(Boolean).join(' ');
    if (n === 1) return `the ${core}`;
    return withNumber ? `the ${NUMBER_WORDS[n]} ${r.t.unit.many} ${core}` : `the ${r.t.unit.many} ${core}`;
  }
  const core = [adj, headNoun(r, n > 1)].filter(Boolean).join(' ');
  if (n === 1) return `the ${core}`;
  if (!withNumber) return `the ${core}`;
  if (n === 2 && !adj && rng.next() < 0.3) return `both ${core}`;
  if (n === 3 && rng.next() < 0.25) return `all three ${core}`;
  return `the ${NUMBER_WORDS[n]} ${core}`;
}

/** Whether the definite mention takes a plural verb ("the two pieces of cheese are", "the cheese is"). */
export function thePlural(r: Ref): boolean {
  return r.g.count > 1 || r.t.pluralName;
}

const GROUND_PLACES: Record<string, string[]> = {
  grass: ['on the grass', 'in the field', 'on the green grass', 'in the grass'],
  snow: ['in the snow', 'on the snow', 'on the white snow'],
  beach: ['on the sand', 'on the beach', 'on the soft sand'],
  desert: ['on the sand', 'in the desert', 'on the dry sand'],
  street: ['on the street', 'by the road', 'on the street'],
  room: ['on the floor', 'in the room', 'on the wood floor'],
  kitchen: ['on the table', 'on the kitchen table', 'on the table'],
};

const FLOATERS = new Set(['boat', 'duck', 'swan']);

/** Where a zone of the picture is, in a child's words. */
export function zonePlace(rng: Rng, scene: Scene, zone: Zone, name?: string): string {
  const dark = scene.time === 'night';
  const plain = plainWords(scene);
  if (plain) return rng.pick(zone === 'ground' ? plain.place : PLAIN_AIR);
  switch (zone) {
    case 'ground':
      return rng.pick(scene.words?.ground ?? GROUND_PLACES[scene.background] ?? ['on the ground']);
    case 'sky': {
      const options = ['in the sky', 'up in the sky', 'high in the sky'];
      if (scene.time === 'day' && scene.weather === 'clear') options.push('in the blue sky');
      if (dark) options.push('in the dark sky', 'in the night sky');
      return rng.pick(options);
    }
    case 'water':
      if (scene.background === 'sea') return rng.pick(['in the sea', 'under the sea', 'in the deep blue sea', 'in the water']);
      if (name && FLOATERS.has(name)) return rng.pick(['on the water', 'on the sea', 'on the blue water']);
      return rng.pick(['in the water', 'in the sea', 'in the blue water']);
    case 'air':
      return rng.pick(['up in the air', 'high up in the room', 'up near the wall']);
    case 'space':
      return rng.pick(['in space', 'out in space', 'far out in space']);
  }
}

/** A few words for where the group is in the picture, or null when nothing true and simple applies. */
export function positionPhrase(rng: Rng, r: Ref, allowDepth = true): string | null {
  const g = r.g;
  let h: string;
  switch (g.h) {
    case 'left':
      h = rng.pick(['on the left', 'on the left side', 'over on the left']);
      break;
    case 'right':
      h = rng.pick(['on the right', 'on the right side', 'over on the right']);
      break;
    case 'middle':
      h = rng.pick(['in the middle', 'right in the middle', 'in the center']);
      break;
    case 'across': {
      // Spread-out groups get no second place word: "here and there, far away" says too little.
      const third = 224 / 3;
      const xs = g.items.map((i) => i.x);
      const eachSide = g.count === 2 && xs.some((x) => x < third) && xs.some((x) => x > 2 * third);
      if (eachSide) return rng.pick(['one on each side', 'on both sides']);
      return g.count === 2 ? rng.pick(['here and there', 'a little apart']) : rng.pick(['here and there', 'spread out', 'all around']);
    }
  }
  let extra: string | null = null;
  if (allowDepth && g.depth === 'far' && rng.next() < 0.7) extra = rng.pick(['far away', 'far back', 'in the back']);
  else if (allowDepth && g.depth === 'near' && rng.next() < 0.7) extra = rng.pick(['close to us', 'up close', 'near us']);
  else if (g.v === 'top' && g.zone !== 'sky' && rng.next() < 0.5) extra = rng.pick(['at the top', 'near the top']);
  else if (g.v === 'bottom' && rng.next() < 0.4) extra = rng.pick(['at the bottom', 'near the bottom']);
  if (!extra) return h;
  return rng.next() < 0.6 ? `${h}, ${extra}` : `${extra} ${h}`;
}

export type Relation = 'left of' | 'right of' | 'above' | 'below' | 'in front of' | 'behind' | 'next to';

const half = (i: Item) => i.size * 0.4;

/** Spatial relations between two groups that the drawing clearly shows. */
export function relationsBetween(scene: Scene, a: Group, b: Group): Relation[] {
  const out: Relation[] = [];
  const ax = a.items.map((i) => i.x);
  const bx = b.items.map((i) => i.x);
  if (Math.max(...ax) + 12 < Math.min(...bx)) out.push('left of');
  if (Math.min(...ax) > Math.max(...bx) + 12) out.push('right of');
  const aBottom = Math.max(...a.items.map((i) => i.y + half(i)));
  const aTop = Math.min(...a.items.map((i) => i.y - half(i)));
  const bBottom = Math.max(...b.items.map((i) => i.y + half(i)));
  const bTop = Math.min(...b.items.map((i) => i.y - half(i)));
  // On the ground, higher up in the picture means further back, not above.
  const bothGround = a.zone === 'ground' && b.zone === 'ground';
  if (!bothGround && aBottom + 4 < bTop) out.push('above');
  if (!bothGround && bBottom + 4 < aTop) out.push('below');
  const aLo = Math.min(...a.items.map((i) => i.x - half(i)));
  const aHi = Math.max(...a.items.map((i) => i.x + half(i)));
  const bLo = Math.min(...b.items.map((i) => i.x - half(i)));
  const bHi = Math.max(...b.items.map((i) => i.x + half(i)));
  const xOverlap = Math.min(aHi, bHi) - Math.max(aLo, bLo);
  const sameFloor = a.zone === 'ground' && b.zone === 'ground' && BACKGROUND_SPECS[scene.background].zones.includes('ground');
  if (sameFloor && xOverlap > 0) {
    const da = a.items.reduce((s, i) => s + i.depth, 0) / a.items.length;
    const db = b.items.reduce((s, i) => s + i.depth, 0) / b.items.length;
    if (da + 0.2 < db) out.push('in front of');
    if (db + 0.2 < da) out.push('behind');
  }
  const gap = Math.max(aLo, bLo) - Math.min(aHi, bHi);
  const ay = a.items.reduce((s, i) => s + i.y, 0) / a.items.length;
  const by = b.items.reduce((s, i) => s + i.y, 0) / b.items.length;
  if (a.zone === b.zone && gap < 26 && Math.abs(ay - by) < 36 && !out.includes('above') && !out.includes('below')) {
    out.push('next to');
  }
  return out;
}

/** The relation in words, or null. */
export function relationWords(rng: Rng, rel: Relation): string {
  switch (rel) {
    case 'left of':
      return 'to the left of';
    case 'right of':
      return 'to the right of';
    case 'above':
      return rng.pick(['above', 'high above', 'up above']);
    case 'below':
      return rng.pick(['below', 'down below']);
    case 'in front of':
      return 'in front of';
    case 'behind':
      return rng.pick(['behind', 'just behind']);
    case 'next to':
      return rng.pick(['next to', 'right next to', 'close to', 'beside']);
  }
}

export { choose };
