/**
 * Five plain captions in the style of COCO's human annotators: one sentence, 8-20 words, every thing in
 * the picture named with its number, the setting, and sometimes time, weather or positions.
 */
import type { Rng } from '../../../util/rng.ts';
import type { Scene, Zone } from '../types.ts';
import { NUMBER_WORDS, agree, article, capitalise, chooseWeighted, joinList } from './grammar.ts';
import { PLAIN_AIR, plainWords } from './plain.ts';
import { relationsBetween, refsOf, type Ref } from './refs.ts';

const SETTING: Record<string, { np: string[]; on: string[] }> = {
  grass: {
    np: ['a grassy field', 'a green meadow', 'an open field', 'a grassy hillside'],
    on: ['on a grassy field', 'in a green meadow', 'in an open field', 'on a grassy hill'],
  },
  sky: { np: ['an open sky', 'a wide sky'], on: ['in the open sky', 'against a wide sky', 'high in the air'] },
  beach: {
    np: ['a sandy beach', 'a beach by the ocean', 'a seaside beach'],
    on: ['on a sandy beach', 'at the beach', 'along the shore', 'by the ocean'],
  },
  sea: {
    np: ['an underwater scene', 'the ocean floor', 'a deep blue ocean'],
    on: ['under the ocean', 'in deep blue water', 'in an underwater scene', 'beneath the sea'],
  },
  snow: {
    np: ['a snowy landscape', 'a snow covered field', 'a winter landscape'],
    on: ['in a snowy landscape', 'on a snow covered field', 'in the snow', 'on a snowy hill'],
  },
  room: {
    np: ['a living room', 'a room with wooden floors', 'an indoor room'],
    on: ['in a living room', 'on a wooden floor', 'inside a room', 'on the floor of a room'],
  },
  kitchen: {
    np: ['a kitchen table', 'a wooden table', 'a kitchen'],
    on: ['on a kitchen table', 'on a wooden table', 'on top of a table', 'on a table in a kitchen'],
  },
  street: {
    np: ['a city street', 'a quiet road', 'a street scene'],
    on: ['on a city street', 'along a road', 'on a quiet street', 'beside a paved road'],
  },
  desert: {
    np: ['a desert landscape', 'a sandy desert', 'a dry desert'],
    on: ['in a desert', 'on desert sand', 'in a dry sandy landscape'],
  },
  space: {
    np: ['outer space', 'a dark space scene'],
    on: ['in outer space', 'against the darkness of space', 'in space'],
  },
};

/** The adult words for the scene's setting (plain backgrounds have them from their colours, photographed ones their own). */
function settingOf(s: Scene): { np: string[]; on: string[] } {
  return plainWords(s) ?? s.words ?? SETTING[s.background]!;
}

const PREFIXES = [
  'an illustration of',
  'a cartoon drawing of',
  'a colorful picture of',
  'a simple drawing showing',
  'clip art of',
  'a digital illustration of',
  'an image showing',
];

function timeSuffix(rng: Rng, s: Scene): string | null {
  if (!['grass', 'sky', 'beach', 'snow', 'street', 'desert'].includes(s.background)) return null;
  const opts: string[] = [];
  if (s.time === 'night') opts.push('at night', 'in the dark', s.decor.dotStars ? 'under a starry sky' : 'at nighttime');
  if (s.time === 'evening') opts.push('at sunset', 'at dusk', 'in the evening');
  if (s.weather === 'rainy') opts.push('in the rain', 'on a rainy day', 'during a rain shower');
  if (s.weather === 'snowy') opts.push('while snow falls', 'during a snowfall');
  if (s.weather === 'cloudy') opts.push('under a cloudy sky', 'on an overcast day');
  if (s.time === 'day' && s.weather === 'clear') opts.push('on a sunny day', 'under a clear blue sky', 'during the day');
  return opts.length ? rng.pick(opts) : null;
}

/** A thing as an adult names it; one piece of a mass noun may be named bare ("bread", "grapes"). */
function adultNoun(rng: Rng, r: Ref, colour: boolean, bareMass = rng.next() < 0.25): { text: string; plural: boolean } {
  const adj = colour && r.colour ? `${r.colour} ` : '';
  const n = r.g.count;
  if (r.t.unit && n === 1 && bareMass) return { text: `${adj}${r.t.name}`, plural: r.t.pluralName };
  if (r.t.unit) {
    const text = n === 1 ? `${r.t.unit.one} ${adj}${r.t.name}` : `${NUMBER_WORDS[n]} ${r.t.unit.many} ${adj}${r.t.name}`;
    return { text, plural: n > 1 };
  }
  if (n === 1) {
    const core = `${adj}${r.t.name}`;
    return { text: `${article(core)} ${core}`, plural: false };
  }
  const core = `${adj}${r.t.plural}`;
  if (rng.next() < 0.2) return { text: n === 2 ? `a pair of ${core}` : `a group of three ${core}`, plural: false };
  return { text: `${NUMBER_WORDS[n]} ${core}`, plural: true };
}

function participle(r: Ref, plural: boolean): string[] {
  const n = r.g.name;
  switch (r.g.zone) {
    case 'sky':
    case 'air':
    case 'space':
      if (['sun', 'moon', 'star'].includes(n)) return ['shining'];
      if (['balloon', 'cloud'].includes(n)) return ['floating'];
      if (n === 'rainbow') return ['arching'];
      return ['flying'];
    case 'water':
      if (['boat', 'duck', 'swan'].includes(n)) return ['floating'];
      return ['swimming'];
    case 'ground':
      if (r.t.kind === 'animal') {
        const legless = ['snake', 'snail', 'fish', 'whale', 'dolphin', 'shark', 'octopus'].includes(n);
        return legless ? ['lying', 'resting'] : plural ? ['standing', 'gathered', 'resting'] : ['standing', 'resting'];
      }
      if (r.t.kind === 'place') return ['standing'];
      if (r.t.kind === 'vehicle') return ['parked', 'stopped'];
      if (r.t.kind === 'nature' && n !== 'fire' && n !== 'snowman') return ['growing'];
      if (n === 'fire') return ['burning'];
      return ['sitting', 'lying', 'placed'];
  }
}

function zoneWhere(rng: Rng, s: Scene, zone: Zone): string {
  const setting = settingOf(s);
  if (s.plain) return rng.pick(zone === 'ground' ? setting.on : PLAIN_AIR);
  switch (zone) {
    case 'ground':
      return rng.pick(setting.on);
    case 'sky':
      return s.background === 'sky' ? rng.pick(setting.on) : rng.pick(['in the sky', 'overhead', 'in the sky above']);
    case 'water':
      return s.background === 'sea' ? rng.pick(setting.on) : rng.pick(['in the water', 'in the ocean', 'near the shore']);
    case 'air':
      return rng.pick(['in the air of a room', 'floating in a room', 'near the ceiling of a room']);
    case 'space':
      return rng.pick(setting.on);
  }
}

const POSITION_ADULT: Record<string, string[]> = {
  left: ['on the left', 'on the left side'],
  right: ['on the right', 'on the right side'],
  middle: ['in the center', 'in the middle'],
  across: ['scattered around', 'spread out'],
};

/** One caption; all groups named. Returns a sentence without checking its length. */
function caption(rng: Rng, s: Scene, refs: Ref[]): string {
  const colour = rng.next() < 0.6;
  const nouns = refs.map((r) => adultNoun(rng, r, colour && rng.next() < 0.8));
  const list = joinList(null, nouns.map((n) => n.text));
  const plural = refs.length > 1 || nouns[0]!.plural;
  const zones = [...new Set(refs.map((r) => r.g.zone))];
  const setting = settingOf(s);
  const suffix = rng.next() < 0.55 ? timeSuffix(rng, s) : null;
  const tail = suffix ? ` ${suffix}` : '';
  // Where each zone's things are, e.g. "two dogs on a grassy field with a kite in the sky".
  const byZone = zones.map((z) => {
    const idx = refs.map((r, i) => (r.g.zone === z ? i : -1)).filter((i) => i >= 0);
    return { zone: z, list: joinList(null, idx.map((i) => nouns[i]!.text)), idx };
  });
  const located = byZone.map((b) => `${b.list} ${zoneWhere(rng, s, b.zone)}`);
  const locatedAll = located.length === 1 ? located[0]! : `${located[0]} with ${joinList(null, located.slice(1))}`;
  const single = refs.length === 1 ? refs[0]! : null;
  const text = chooseWeighted(rng, [
    [2, `${rng.pick(s.words?.prefixes ?? PREFIXES)} ${locatedAll}${tail}`],
    [2, single ? `${list} ${rng.pick(participle(single, plural))} ${zoneWhere(rng, s, single.g.zone)}${tail}` : `${locatedAll}${tail}`],
    [1.5, `there ${agree('{is}', nouns[0]!.plural)} ${locatedAll}${tail}`],
    [1.5, `${rng.pick(setting.np)} with ${list}${tail}`],
    [1, `${list} ${agree('{is}', plural)} ${rng.pick(['shown', 'pictured', 'seen'])} ${zones.length === 1 ? zoneWhere(rng, s, zones[0]!) : 'together'}${tail}`],
    [
      1,
      s.time !== 'day' && suffix === null && ['grass', 'beach', 'snow', 'street', 'desert', 'sky'].includes(s.background)
        ? `a ${s.time === 'night' ? 'nighttime' : 'sunset'} scene ${rng.pick(setting.on)} featuring ${list}`
        : null,
    ],
    [1.2, () => positioned(rng, s, refs, nouns.map((n) => n.text))],
    [1.2, () => related(rng, s, refs, nouns.map((n) => n.text))],
  ]);
  return capitalise(text.replace(/\s+/g, ' ').trim()) + '.';
}

/** "a dog on the left and two balls on the right of a grassy field". */
function positioned(rng: Rng, s: Scene, refs: Ref[], nouns: string[]): string | null {
  if (refs.length > 3) return null;
  const parts = refs.map((r, i) => {
    const pos = rng.pick(POSITION_ADULT[r.g.h]!);
    const depth = r.g.depth === 'far' ? ' in the background' : r.g.depth === 'near' ? ' in the foreground' : '';
    return `${nouns[i]} ${pos}${rng.next() < 0.5 ? depth : ''}`;
  });
  return `${joinList(null, parts)} ${rng.pick(settingOf(s).on)}`;
}

/** "a dog next to two balls on a grassy field, with a tree". */
function related(rng: Rng, s: Scene, refs: Ref[], nouns: string[]): string | null {
  if (refs.length < 2) return null;
  for (let i = 0; i < refs.length; i++) {
    for (let j = 0; j < refs.length; j++) {
      if (i === j) continue;
      const rels = relationsBetween(s, refs[i]!.g, refs[j]!.g);
      if (!rels.length) continue;
      const rel = rng.pick(rels);
      const words = { 'left of': 'to the left of', 'right of': 'to the right of', above: 'above', below: 'below', 'in front of': 'in front of', behind: 'behind', 'next to': rng.pick(['next to', 'beside', 'near']) }[rel];
      const rest = nouns.filter((_, k) => k !== i && k !== j);
      const main = `${nouns[i]} ${words} ${nouns[j]}`;
      const where = refs[i]!.g.zone === 'ground' ? ` ${rng.pick(settingOf(s).on)}` : '';
      return rest.length ? `${main}${where}, with ${joinList(null, rest)}` : `${main}${where}`;
    }
  }
  return null;
}

export function captions(rng: Rng, scene: Scene): string[] {
  const refs = refsOf(scene);
  const out: string[] = [];
  for (let attempt = 0; attempt < 80 && out.length < 5; attempt++) {
    const c = caption(rng, scene, rng.shuffle(refs.slice()));
    const n = c.split(/\s+/).length;
    if (n < 8 || n > 20 || out.includes(c)) continue;
    out.push(c);
  }
  // Rarely the draws above give fewer than five (crowded scenes make long captions): add plain ones,
  // shortest form first, with a prefix when they would be too short.
  for (let k = 0; out.length < 5; k++) {
    const list = joinList(null, rng.shuffle(refs.slice()).map((r) => adultNoun(rng, r, false, k > 20).text));
    const where = settingOf(scene).on;
    const prefixes = scene.words?.prefixes ?? PREFIXES;
    let c = `${list} ${where[k % where.length]}`;
    if (c.split(' ').length < 8) c = `${prefixes[k % prefixes.length]} ${c}`;
    c = capitalise(c) + '.';
    const n = c.split(' ').length;
    if (k > 200 || (n >= 8 && n <= 20 && !out.includes(c))) out.push(c);
  }
  return out;
}
