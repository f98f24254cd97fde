/**
 * ShortDesc and LongDesc in a young child's words. A description is a list of clauses: openers and
 * introductions that name every group with its number, then optional details, relations, imagination
 * and a closing feeling. A fitting step picks optional clauses and joins neighbours with "and" until the
 * paper's length rule holds (ShortDesc 20-25 words in 2-3 sentences, LongDesc 60-70 words in 5-6).
 */
import type { Rng } from '../../../util/rng.ts';
import { BACKGROUND_SPECS } from '../backgrounds.ts';
import type { Scene, Zone } from '../types.ts';
import { NUMBER_WORDS, agree, chooseWeighted, joinList, sentence, wordCount, type Alt } from './grammar.ts';
import { ideasFor, pairIdeas } from './ideas.ts';
import { plainWords } from './plain.ts';
import {
  countNoun,
  positionPhrase,
  refsOf,
  relationWords,
  relationsBetween,
  sizeAdjective,
  theNoun,
  thePlural,
  zonePlace,
  type Ref,
} from './refs.ts';

interface Clause {
  text: string;
  kind: string;
  /** The group the clause starts with, so a following clause about it can say "it" or "they". */
  subject?: { ref: Ref; np: string; plural: boolean };
}

interface NounPhrase {
  text: string;
  plural: boolean;
}

const FLIERS = new Set(['airplane', 'helicopter', 'rocket', 'kite', 'bird', 'owl', 'parrot', 'butterfly', 'bee', 'unicorn']);
const SWIMMERS = new Set(['fish', 'whale', 'dolphin', 'shark', 'octopus', 'turtle', 'crab', 'penguin']);
const FRUIT = new Set(['apple', 'banana', 'orange', 'grapes', 'strawberry', 'watermelon', 'cherries', 'pear', 'lemon', 'pineapple']);
const PLANTS = new Set(['flower', 'tulip', 'sunflower', 'rose', 'cactus']);

const PLACE_OF: Record<string, string[]> = {
  grass: ['in the field', 'on the green grass', 'in the big field'],
  sky: ['in the sky', 'up in the sky', 'high in the sky'],
  beach: ['at the beach', 'by the sea', 'on the beach'],
  sea: ['under the sea', 'in the deep sea', 'down in the sea'],
  snow: ['in the snow', 'out in the snow', 'on the snowy hill'],
  room: ['in the room', 'in this cozy room', 'inside our home'],
  kitchen: ['in the kitchen', 'at the kitchen table', 'on the table'],
  street: ['on the street', 'by the road', 'in the town'],
  desert: ['in the desert', 'on the desert sand', 'out in the desert'],
  space: ['in space', 'out in space', 'far out in space'],
};

/** Writes one description; keeps track of which groups were already named and what was already said. */
class Writer {
  readonly mentioned = new Set<Ref>();
  readonly said = new Set<string>();
  /** Groups whose place in the picture was already told. */
  readonly placed = new Set<Ref>();
  /** Kinds of detail already told about each group ("dog:colour"), so none is told twice. */
  readonly usedDetails = new Set<string>();
  private readonly usedIdeas = new Set<string>();
  readonly outdoor: boolean;

  constructor(
    readonly rng: Rng,
    readonly scene: Scene,
    readonly refs: Ref[],
    /** Say things in the fewest words (for crowded scenes whose ShortDesc would not fit otherwise). */
    readonly compact = false,
  ) {
    this.outdoor = BACKGROUND_SPECS[scene.background].outdoor;
  }

  pick<T>(xs: readonly T[]): T {
    return this.rng.pick(xs);
  }
  chance(p: number): boolean {
    return this.rng.next() < p;
  }

  /**
   * A noun phrase for a group. The first mention carries its number ("two brown dogs", or "the two
   * brown dogs" unless `indefinite`); later ones may not ("the dogs"), and sometimes use the kind of
   * thing when that is unambiguous ("the animals").
   */
  noun(r: Ref, opts: { definite?: boolean; indefinite?: boolean } = {}): NounPhrase {
    const rng = this.rng;
    const adj = this.compact ? { colour: this.chance(0.3), size: false } : { colour: this.chance(0.65), size: this.chance(0.35) };
    if (!this.mentioned.has(r)) {
      if (opts.indefinite || (!opts.definite && this.chance(0.75))) {
        return { text: countNoun(rng, r, adj, this.chance(0.08)), plural: r.g.count > 1 };
      }
      return { text: theNoun(rng, r, adj, true), plural: thePlural(r) };
    }
    const kindWord = this.kindWord(r);
    if (kindWord && this.chance(0.45)) return { text: `the ${kindWord}`, plural: r.g.count > 1 };
    return { text: theNoun(rng, r, { colour: this.chance(0.3) }), plural: thePlural(r) };
  }

  /** "animal", "toys", "fruit", "plants": a word for the group's kind when no other group shares it. */
  kindWord(r: Ref): string | null {
    const many = r.g.count > 1;
    const classOf = (x: Ref) =>
      x.t.kind === 'animal' ? 'animal' : x.t.kind === 'toy' ? 'toy' : FRUIT.has(x.t.name) ? 'fruit' : PLANTS.has(x.t.name) ? 'plant' : null;
    const c = classOf(r);
    if (!c || this.refs.some((o) => o !== r && classOf(o) === c)) return null;
    if (c === 'fruit') return many || r.t.unit ? null : 'fruit';
    return many ? `${c}s` : c;
  }

  mark(...refs: Ref[]): void {
    for (const r of refs) this.mentioned.add(r);
  }

  /** Verbs (with agreement marks) for a group in its zone: "sit{s}", "fl{ies}", "swim{s}". */
  verbs(r: Ref): string[] {
    const n = r.g.name;
    switch (r.g.zone) {
      case 'sky':
      case 'air':
      case 'space':
        if (FLIERS.has(n)) return ['fl{ies}', '{is} flying'];
        if (n === 'balloon' || n === 'cloud') return ['float{s}', '{is} floating'];
        if (n === 'sun' || n === 'moon' || n === 'star') return ['shine{s}', '{is} shining'];
        return ['{is}'];
      case 'water':
        if (n === 'boat') return ['float{s}', 'sail{s}'];
        if (n === 'duck' || n === 'swan') return ['float{s}', 'swim{s}'];
        if (SWIMMERS.has(n)) return ['swim{s}', '{is} swimming'];
        return ['{is}'];
      case 'ground':
        // The artwork does not show whether an animal sits or stands: say neither.
        if (r.t.kind === 'animal') return ['{is}', '{is} waiting', '{is} resting', 'stay{s}'];
        if (r.t.kind === 'vehicle') return ['{is}', '{is} parked', 'wait{s}'];
        if (r.t.kind === 'place') return ['{is}', 'stand{s}'];
        if (n === 'fire') return ['{is}', 'burn{s}'];
        if (n === 'snowman') return ['{is}', 'stand{s}'];
        if (r.t.kind === 'nature') return ['{is}', 'grow{s}', 'stand{s}'];
        return ['{is}', 'sit{s}', '{is} sitting', 'lie{s}'];
    }
  }

  verb(r: Ref, plural: boolean): string {
    return agree(this.pick(this.verbs(r)), plural);
  }

  place(zone: Zone, r?: Ref): string {
    return zonePlace(this.rng, this.scene, zone, r?.g.name);
  }

  idea(r: Ref, other: Ref | null): string | null {
    const raw = other ? pairIdeas(r.t.kind, r.t.name, other.t.name, other.t.kind) : ideasFor(r.t.name, r.t.kind, this.scene);
    const fresh = raw.filter((i) => !this.usedIdeas.has(i));
    if (!fresh.length) return null;
    const idea = this.pick(fresh);
    this.usedIdeas.add(idea);
    return idea;
  }
}

// ---------------------------------------------------------------- setting, weather, closing

function weatherTime(w: Writer): string | null {
  const { time, weather, background } = w.scene;
  if (!w.outdoor) return null;
  const where = w.pick(w.scene.words?.place ?? PLACE_OF[background]!);
  const alts: [number, Alt][] = [];
  if (weather === 'rainy') {
    alts.push(
      [2, `it is a rainy ${time === 'night' ? 'night' : time === 'evening' ? 'evening' : 'day'} ${where}`],
      [2, 'rain is falling from the gray sky'],
      [1, 'little drops of rain fall all around'],
      [1, 'everything is wet from the rain'],
      [1, `the rain makes everything shiny ${where}`],
    );
  } else if (weather === 'snowy') {
    alts.push(
      [2, 'snow is falling from the sky'],
      [1, 'white snow falls all around'],
      [1, `it is snowing ${where}`],
      [1, 'soft snow comes down all around'],
    );
  } else if (weather === 'cloudy') {
    const when = time === 'night' ? 'tonight' : time === 'evening' ? 'this evening' : 'today';
    alts.push([2, `the sky is gray and cloudy ${when}`], [1, `it is a cloudy ${time === 'night' ? 'night' : 'day'} ${where}`], [1, `the sky looks gray ${when}`]);
  }
  if (time === 'evening') {
    alts.push(
      [2, 'the sky is orange and pink because the day is almost over'],
      [2, `it is evening ${where}`],
      [1, 'the day is ending and the sky turns orange'],
      [1, 'it is almost time for dinner'],
    );
  } else if (time === 'night') {
    alts.push(
      [2, 'it is night and the sky is dark'],
      [1, `it is late at night ${where}`],
      [1, weather === 'clear' ? 'the night sky is dark blue' : null],
      [1, 'everything is dark and quiet tonight'],
    );
  } else if (weather === 'clear') {
    alts.push(
      [2, `it is a bright and sunny day ${where}`],
      [1, 'the sky is bright and blue today'],
      [1, 'what a sunny day it is'],
      [1, background === 'desert' ? 'the desert is hot and dry today' : null],
    );
  }
  if (!alts.length) return null;
  return chooseWeighted(w.rng, alts);
}

function placeOnly(w: Writer): string {
  const s = w.scene;
  const night = s.time === 'night';
  const byBg: Record<string, Alt[]> = {
    grass: ['the grass is green and soft', 'the field is full of green grass', 'green hills roll on and on', 'the grass is tall and green'],
    snow: ['everything is covered in white snow', 'the snow is deep and cold', 'the ground is white with snow', 'the cold snow is everywhere'],
    beach: ['the sea is blue and the sand is soft', 'little waves come up on the sand', 'we are at the beach today', night ? null : 'the sand is warm and yellow'],
    sea: ['we are deep under the sea', 'the water is blue and full of bubbles', 'everything is blue down in the sea', 'little bubbles float up in the water'],
    room: ['we are inside a cozy room', 'this room has a wood floor', 'the room is bright and cozy', 'this is a nice room in our home'],
    kitchen: ['we are in the kitchen', 'the kitchen table is made of brown wood', 'there is a big wood table in the kitchen', 'the kitchen is clean and bright'],
    street: ['a gray road goes across the town', 'the road has white lines on it', 'we are out on the street', 'the street is long and gray'],
    desert: ['the desert is dry and sandy', 'sand is everywhere in the desert', 'the sand goes on and on', 'we are out in the big desert'],
    space: ['we are far out in space', 'space is dark and very big', 'it is dark and quiet up in space', 'space is black and has no end'],
    sky: ['we are up high in the sky', 'the sky is big and wide', 'everything is up in the air here', 'the sky goes on and on'],
  };
  const alts = plainWords(s)?.setting ?? s.words?.facts ?? byBg[s.background]!;
  return chooseWeighted(w.rng, alts.map((a) => [1, a] as [number, Alt]));
}

function setting(w: Writer): Clause {
  const wt = weatherTime(w);
  if (wt && w.chance(0.6)) {
    w.said.add('weather');
    return { text: wt, kind: 'setting' };
  }
  w.said.add('place');
  return { text: placeOnly(w), kind: 'setting' };
}

function closer(w: Writer, exclude: string | null = null): Clause {
  const s = w.scene;
  const many = s.groups.reduce((a, g) => a + g.count, 0) > 1;
  const animals = s.groups.some((g) => g.kind === 'animal');
  const time = s.time === 'day' ? 'day' : s.time === 'evening' ? 'evening' : 'night';
  const alts: [number, Alt][] = [
    [1, `it feels like a happy ${time}`],
    [1, 'I wish I could be there too'],
    [1, 'this looks like a fun place to play'],
    [1, 'what a nice place to be'],
    [1, 'maybe we can come back tomorrow'],
    [1, 'I would love to visit this place'],
    [1, 'this could be the start of a big adventure'],
    [1, 'everything is still and quiet'],
    [1, 'it is a good time to have fun'],
    [1, 'I want to stay here all day'],
    [1, 'I hope this day never ends'],
    [1, 'I like this picture a lot'],
    [1, 'this is my favorite kind of place'],
    [1, many ? 'they all look happy together' : null],
    [1, many ? 'they make a very good team' : null],
    [1, animals ? 'every animal here looks happy' : null],
    [1, animals && many ? 'nobody wants to go home yet' : null],
    [1, s.time === 'night' ? 'soon it will be time to sleep' : null],
    [1, s.time === 'night' ? 'the night is quiet and peaceful' : null],
    [1, s.time === 'evening' ? 'the day is almost over' : null],
    [1, s.weather === 'rainy' ? 'nobody minds the rain today' : null],
    [1, s.weather === 'snowy' ? 'the cold air feels fresh' : null],
    [1, s.background === 'space' ? 'space is a quiet place' : null],
    [1, s.background === 'sea' ? 'the water is cool and blue' : null],
    [1, s.background === 'kitchen' ? 'it must be almost time to eat' : null],
    [1, s.background === 'room' ? 'this room is a good place to play' : null],
  ];
  let text = chooseWeighted(w.rng, alts);
  for (let k = 0; k < 5 && text === exclude; k++) text = chooseWeighted(w.rng, alts);
  return { text, kind: 'closer' };
}

// ---------------------------------------------------------------- naming the groups

/** Names the given groups (all not yet mentioned) in one clause per zone. */
function introduce(w: Writer, refs: Ref[]): Clause[] {
  const byZone = new Map<Zone, Ref[]>();
  for (const r of refs) byZone.set(r.g.zone, [...(byZone.get(r.g.zone) ?? []), r]);
  if (w.compact && byZone.size > 1) {
    // Too many places to name each: name the things only.
    const list = joinList(null, refs.map((r) => w.noun(r, { indefinite: true }).text));
    w.mark(...refs);
    return [{ text: w.pick([`this picture has ${list}`, `I can see ${list} here`, `here we have ${list}`]), kind: 'intro' }];
  }
  const clauses = [...byZone.entries()].map(([zone, rs]) => introClause(w, zone, rs));
  // Two short zone clauses often read better as one sentence.
  if (clauses.length === 2 && w.chance(0.5)) {
    return [{ text: `${clauses[0]!.text}${w.pick([', and ', ' and ', ', while '])}${clauses[1]!.text}`, kind: 'intro' }];
  }
  return clauses;
}

function introClause(w: Writer, zone: Zone, refs: Ref[]): Clause {
  const nps = refs.map((r) => w.noun(r, { indefinite: true }));
  const list = joinList(w.rng, nps.map((n) => n.text));
  const plural = refs.length > 1 || nps[0]!.plural;
  const firstPlural = nps[0]!.plural;
  const single = refs.length === 1 ? refs[0]! : null;
  const place = w.place(zone, single ?? undefined);
  const verb = single ? w.verb(single, plural) : agree('{is}', plural);
  const things = refs.every((r) => r.t.kind !== 'animal' && zone === 'ground');
  const pos = single ? positionPhrase(w.rng, single) : null;
  const subject = single ? { ref: single, np: list, plural } : undefined;
  const withPos = (text: string): Clause => {
    w.placed.add(single!);
    return { text, kind: 'intro', subject: text.startsWith(list) ? subject : undefined };
  };
  if (w.compact) {
    w.mark(...refs);
    return { text: `${list} ${verb} ${place}`, kind: 'intro', subject };
  }
  const alts: [number, () => Clause | null][] = [
    [3, () => ({ text: `${list} ${verb} ${place}`, kind: 'intro', subject })],
    [1.2, () => ({ text: `there ${agree('{is}', firstPlural)} ${list} ${place}`, kind: 'intro' })],
    [0.8, () => ({ text: `${place}, there ${agree('{is}', firstPlural)} ${list}`, kind: 'intro' })],
    [0.5, () => ({ text: `I can see ${list} ${place}`, kind: 'intro' })],
    [0.4, () => ({ text: `we can see ${list} ${place}`, kind: 'intro' })],
    [0.3, () => ({ text: `you can find ${list} ${place}`, kind: 'intro' })],
    [0.4, () => ({ text: `I spot ${list} ${place}`, kind: 'intro' })],
    [0.4, () => ({ text: `here ${agree('{is}', firstPlural)} ${list} ${place}`, kind: 'intro' })],
    [0.5, () => (things ? { text: `someone left ${list} ${place}`, kind: 'intro' } : null)],
    [0.6, () => (single && !/^(is|are)\b/.test(verb) ? { text: `${place} ${verb} ${list}`, kind: 'intro' } : null)],
    [1.5, () => (pos ? withPos(`${list} ${verb} ${place} ${pos.replace(', ', ' ')}`) : null)],
    [1, () => (pos ? withPos(`${pos}, ${list} ${verb} ${place}`) : null)],
  ];
  const clause = pickClause(w, alts);
  w.mark(...refs);
  return clause;
}

function pickClause(w: Writer, alts: [number, () => Clause | null][]): Clause {
  let result: Clause | null = null;
  chooseWeighted(
    w.rng,
    alts.map(([wt, make]) => [wt, () => (result = make()) && result.text] as [number, Alt]),
  );
  return result!;
}

/** Opening with imagination: "the brown dog wants to catch the red ball". */
function imaginationOpener(w: Writer): Clause | null {
  const refs = w.rng.shuffle(w.refs.slice());
  for (const a of refs) {
    for (const b of refs) {
      if (a === b) continue;
      const idea = w.idea(a, b);
      if (!idea || !idea.includes('{X}')) continue;
      const subj = w.noun(a);
      w.mark(a);
      const obj = w.noun(b);
      w.mark(b);
      const text = agree(idea, subj.plural).replace('{X}', obj.text);
      return { text: `${subj.text} ${text}`, kind: 'imagine', subject: { ref: a, np: subj.text, plural: subj.plural } };
    }
  }
  return null;
}

/** Opening with where one group is: "far away on the left, there are three tall trees". */
function positionOpener(w: Writer): Clause | null {
  const r = w.pick(w.refs);
  const pos = positionPhrase(w.rng, r);
  if (!pos) return null;
  const np = w.noun(r, { indefinite: true });
  w.mark(r);
  w.placed.add(r);
  const text = chooseWeighted(w.rng, [
    [1, `${pos}, there ${agree('{is}', np.plural)} ${np.text}`],
    [1, `${pos}, ${np.text} ${w.verb(r, np.plural)} ${w.place(r.g.zone, r)}`],
    [1, `${pos.replace(', ', ' ')} ${w.place(r.g.zone, r)}, I see ${np.text}`],
  ]);
  return { text, kind: 'intro' };
}

function timeOpener(w: Writer): Clause | null {
  const s = w.scene;
  const lead: string[] = [];
  if (w.outdoor && s.time === 'night') lead.push('tonight', 'late at night', 'in the dark night');
  if (w.outdoor && s.time === 'evening') lead.push('this evening', 'as the day ends', 'at the end of the day');
  if (w.outdoor && s.time === 'day' && s.weather === 'clear') lead.push('on this sunny day', 'today', 'on a bright day');
  if (w.outdoor && s.weather === 'rainy') lead.push('on this rainy day', 'in the rain');
  if (w.outdoor && s.weather === 'snowy') lead.push('while the snow falls', 'on this snowy day');
  if (w.outdoor && s.weather === 'cloudy') lead.push('on this cloudy day', 'under the gray sky');
  if (!lead.length) return null;
  w.said.add('weather');
  const r = w.pick(w.refs);
  const clause = introClause(w, r.g.zone, [r]);
  return { text: `${w.pick(lead)}, ${clause.text}`, kind: 'intro' };
}

// ---------------------------------------------------------------- more about the groups

function detail(w: Writer, r: Ref): Clause | null {
  const np = w.noun(r);
  // Colour sentences name the thing without its colour: not "the white snowman is white".
  const plain = w.mentioned.has(r) ? theNoun(w.rng, r) : np.text;
  const pos = w.placed.has(r) ? null : positionPhrase(w.rng, r);
  const size = sizeAdjective(w.rng, r);
  const farSmall = r.g.depth === 'far' && r.g.size === 'small';
  const n = r.g.count;
  const be = agree('{is}', np.plural);
  const subject = { ref: r, np: np.text, plural: np.plural };
  const plainSubject = { ref: r, np: plain, plural: np.plural };
  const once = (key: string, make: () => Clause | null) => () => {
    if (w.usedDetails.has(`${r.g.name}:${key}`)) return null;
    const c = make();
    if (c) w.usedDetails.add(`${r.g.name}:${key}`);
    return c;
  };
  const alts: [number, () => Clause | null][] = [
    [2, once('pos', () => (pos ? { text: `${np.text} ${be} ${pos}`, kind: 'detail', subject } : null))],
    [2, once('pos', () => (pos ? { text: `${np.text} ${w.verb(r, np.plural)} ${pos}`, kind: 'detail', subject } : null))],
    [1, once('pos', () => (pos ? { text: `${pos}, you can see ${np.text}`, kind: 'detail' } : null))],
    [1.5, once('size', () => (size && r.colour ? { text: `${plain} ${be} ${size} and ${r.colour}`, kind: 'detail', subject: plainSubject } : null))],
    [
      1,
      once('size', () =>
        size
          ? { text: `${np.text} ${agree('look{s}', np.plural)} ${size === 'big' || size === 'large' ? 'so big' : 'so small'} from here`, kind: 'detail', subject }
          : null,
      ),
    ],
    [1, once('size', () => (farSmall ? { text: `${np.text} ${be} far away, so ${agree('{it}', np.plural)} ${agree('look{s}', np.plural)} small`, kind: 'detail', subject } : null))],
    [1.2, once('count', () => (n > 1 && !r.t.unit ? { text: `I can count ${NUMBER_WORDS[n]} ${r.t.plural} in all`, kind: 'detail' } : null))],
    [0.8, once('count', () => (n > 1 && !r.t.unit ? { text: `there are ${NUMBER_WORDS[n]} ${r.t.plural}, not just one`, kind: 'detail' } : null))],
    [1, once('colour', () => (r.colour && r.colour !== 'black and white' ? { text: `${plain} ${be} as ${r.colour} as can be`, kind: 'detail', subject: plainSubject } : null))],
    [0.8, once('colour', () => (r.colour ? { text: `${plain} ${be} ${r.colour}, and ${agree('{it}', np.plural)} ${agree('look{s}', np.plural)} nice`, kind: 'detail', subject: plainSubject } : null))],
    [0.3, once('zone', () => ({ text: `${np.text} ${be} ${w.place(r.g.zone, r)}`, kind: 'detail', subject }))],
  ];
  let c: Clause | null = null;
  try {
    c = pickClause(w, alts);
  } catch {
    return null;
  }
  if (pos && c.text.includes(pos)) w.placed.add(r);
  return c;
}

function relation(w: Writer, a: Ref, b: Ref): Clause | null {
  const rels = relationsBetween(w.scene, a.g, b.g);
  if (!rels.length) return null;
  const rel = w.pick(rels);
  const words = relationWords(w.rng, rel);
  const na = w.noun(a);
  const nb = w.noun(b, { definite: true });
  const verb = w.verb(a, na.plural);
  const subject = { ref: a, np: na.text, plural: na.plural };
  return pickClause(w, [
    [2, () => ({ text: `${na.text} ${agree('{is}', na.plural)} ${words} ${nb.text}`, kind: 'relation', subject })],
    [2, () => ({ text: `${na.text} ${verb} ${words} ${nb.text}`, kind: 'relation', subject })],
    [1, () => (rel === 'next to' ? { text: `${na.text} and ${nb.text} are close together`, kind: 'relation' } : null)],
    [1, () => (/^(is|are)\b/.test(verb) ? null : { text: `${words} ${nb.text}, ${na.text} ${verb}`, kind: 'relation' })],
  ]);
}

const IMAGINE_LEADS: [number, Alt][] = [
  [8, ''],
  [1, 'I think '],
  [1, 'maybe '],
  [0.8, 'it looks like '],
  [0.6, 'I bet '],
  [0.6, 'I guess '],
  [0.5, 'perhaps '],
  [0.5, 'I am sure '],
];

function imagine(w: Writer, a: Ref, b: Ref | null): Clause | null {
  const idea = w.idea(a, b);
  if (!idea) return null;
  const na = w.noun(a);
  let text = agree(idea, na.plural);
  if (b) text = text.replace('{X}', w.noun(b, { definite: true }).text);
  if (b && a.t.kind === 'animal' && b.t.kind === 'animal' && w.chance(0.3)) {
    const friends = w.pick(['are best friends', 'like to play together', 'are good friends']);
    return { text: `${na.text} and ${w.noun(b, { definite: true }).text} ${friends}`, kind: 'imagine' };
  }
  const lead = chooseWeighted(w.rng, IMAGINE_LEADS);
  return { text: `${lead}${na.text} ${text}`, kind: 'imagine', subject: lead ? undefined : { ref: a, np: na.text, plural: na.plural } };
}

function wonder(w: Writer, a: Ref): Clause {
  const na = w.noun(a);
  const text = chooseWeighted(w.rng, [
    [1, ['animal', 'toy'].includes(a.t.kind) ? `I wonder what ${na.text} ${agree('{is}', na.plural)} thinking about` : null],
    [1, ['animal', 'vehicle'].includes(a.t.kind) ? `I wonder where ${na.text} ${agree('{is}', na.plural)} going next` : null],
    [1, a.t.kind === 'animal' ? `I wonder if ${na.text} ${agree('{is}', na.plural)} hungry` : null],
    [1, `I wonder how ${na.text} got here`],
  ]);
  return { text, kind: 'imagine' };
}

/** What the child would like to do with a thing in the picture. */
function wish(w: Writer, r: Ref): Clause {
  const np = w.noun(r, { definite: true }).text;
  const k = r.t.kind;
  const verbs =
    k === 'animal'
      ? ['pet', 'play with', 'say hello to', 'give a hug to']
      : k === 'food'
        ? ['taste', 'have a bite of', 'share']
        : k === 'vehicle'
          ? ['ride in', 'go for a ride in']
          : k === 'toy'
            ? ['play with', 'hold']
            : k === 'place'
              ? ['go inside', 'visit']
              : k === 'sky'
                ? ['look at', 'draw a picture of']
                : ['look at', 'hold', 'draw'];
  const v = w.pick(verbs);
  const text = chooseWeighted(w.rng, [
    [1, `I wish I could ${v} ${np}`],
    [1, `I would like to ${v} ${np}`],
    [1, `if I were there, I would ${v} ${np}`],
    [0.7, `one day I want to ${v} ${np}`],
  ]);
  return { text, kind: 'wish' };
}

// ---------------------------------------------------------------- putting clauses together

interface Rule {
  words: readonly [number, number];
  sentences: readonly [number, number];
}

/** Opening clause(s) plus introductions, so that every group has been named with its number. */
function required(w: Writer): Clause[] {
  const out: Clause[] = [];
  const kind = chooseWeighted(w.rng, [
    [w.compact ? 0 : 2.5, 'setting'],
    [4, 'intro'],
    [1.5, w.refs.length > 1 ? 'imagine' : null],
    [w.compact ? 0 : 1.5, 'position'],
    [w.compact ? 0 : 1, 'time'],
  ]);
  if (kind === 'setting') out.push(setting(w));
  else if (kind === 'imagine') out.push(imaginationOpener(w) ?? setting(w));
  else if (kind === 'position') {
    const c = positionOpener(w);
    if (c) out.push(c);
  } else if (kind === 'time') {
    const c = timeOpener(w);
    if (c) out.push(c);
  }
  const rest = w.refs.filter((r) => !w.mentioned.has(r));
  if (rest.length) {
    // Sometimes two introductions instead of one long list.
    if (rest.length >= 3 && w.chance(0.4)) {
      const cut = 1 + w.rng.int(rest.length - 1);
      out.push(...introduce(w, rest.slice(0, cut)), ...introduce(w, rest.slice(cut)));
    } else out.push(...introduce(w, rest));
  }
  return out;
}

/** Clauses that may follow the introductions, in reading order; the fitting step picks among them. */
function optional(w: Writer, long: boolean): Clause[] {
  const refs = w.rng.shuffle(w.refs.slice());
  const out: Clause[] = [];
  const push = (c: Clause | null) => {
    if (c) out.push(c);
  };
  if (long && !w.said.has('weather') && w.chance(0.7)) {
    const wt = weatherTime(w);
    if (wt) {
      out.push({ text: wt, kind: 'setting' });
      w.said.add('weather');
    }
  }
  if (long && !w.said.has('place') && w.chance(0.5)) push({ text: placeOnly(w), kind: 'setting' });
  // With few groups there is less to say about each, so say more kinds of things about them.
  const detailCount = long ? Math.max(3, 4 - refs.length) : 1;
  for (let k = 0; k < detailCount; k++) push(detail(w, refs[k % refs.length]!));
  if (refs.length > 1) {
    for (let k = 0; k < (long ? 2 : 1); k++) push(relation(w, refs[k % refs.length]!, refs[(k + 1) % refs.length]!));
  }
  const subjects = refs.filter((r) => r.t.kind === 'animal').concat(refs.filter((r) => r.t.kind !== 'animal'));
  for (let k = 0; k < (long ? 3 : 1); k++) {
    const a = subjects[k % subjects.length]!;
    const others = refs.filter((r) => r !== a);
    const b = others.length && w.chance(0.6) ? w.pick(others) : null;
    push(imagine(w, a, b) ?? imagine(w, a, null));
  }
  if (long && w.chance(0.5)) push(wonder(w, w.pick(refs)));
  if (w.chance(long ? 0.7 : 0.3)) push(wish(w, w.pick(refs)));
  const last = closer(w);
  if (long && w.chance(0.5)) push(closer(w, last.text));
  push(last);
  return out;
}

/**
 * Chooses optional clauses (keeping their order) and joins neighbours so the text meets the rule.
 * Returns null when this draw cannot meet it.
 */
function fit(w: Writer, req: Clause[], opt: Clause[], rule: Rule): string | null {
  const reqWords = req.reduce((a, c) => a + wordCount(c.text), 0);
  const optWords = opt.map((c) => wordCount(c.text));
  const full = (1 << opt.length) - 1;
  const lastBit = 1 << (opt.length - 1);
  // Subsets in random order, those keeping the last clause (the closing feeling) first; few clauses
  // are tried exhaustively, many by sampling.
  let masks: number[];
  if (opt.length <= 8) {
    const all = w.rng.shuffle(Array.from({ length: full + 1 }, (_, i) => i));
    masks = all.filter((m) => m & lastBit).concat(all.filter((m) => !(m & lastBit)));
  } else {
    masks = Array.from({ length: 400 }, (_, k) => w.rng.int(full + 1) | (k < 300 ? lastBit : 0));
  }
  for (const mask of masks) {
    let n = req.length;
    let total = reqWords;
    for (let i = 0; i < opt.length; i++) {
      if (mask & (1 << i)) {
        n++;
        total += optWords[i]!;
      }
    }
    const merges = Math.max(0, n - rule.sentences[1]);
    if (n - merges < rule.sentences[0] || merges > Math.floor(n / 2)) continue;
    total += merges;
    if (total < rule.words[0] || total > rule.words[1]) continue;
    return join(w, [...req, ...opt.filter((_, i) => mask & (1 << i))], merges, total - rule.words[0]);
  }
  return null;
}

/** Joins `merges` pairs of neighbouring clauses with "and", uses "it"/"they" for a repeated subject, and makes sentences. */
function join(w: Writer, clauses: Clause[], merges: number, spareWords = 0): string {
  let spare = spareWords;
  const parts = clauses.map((c, i) => {
    const prev = clauses[i - 1]?.subject;
    const cur = c.subject;
    const saves = cur ? wordCount(cur.np) - 1 : 0;
    if (prev && cur && prev.ref === cur.ref && c.text.startsWith(cur.np) && saves <= spare && w.chance(0.85)) {
      spare -= saves;
      return (cur.plural ? 'they' : 'it') + c.text.slice(cur.np.length);
    }
    return c.text;
  });
  for (let m = 0; m < merges; m++) {
    // Join the shortest neighbouring pair: long run-on sentences read badly.
    let best = 0;
    for (let i = 1; i < parts.length - 1; i++) {
      if (wordCount(parts[i]!) + wordCount(parts[i + 1]!) < wordCount(parts[best]!) + wordCount(parts[best + 1]!)) best = i;
    }
    const glue = parts[best]!.includes(',') || parts[best + 1]!.includes(',') ? ', and ' : w.pick([', and ', ' and ']);
    parts.splice(best, 2, `${parts[best]}${glue}${parts[best + 1]}`);
  }
  const lastIsCloser = clauses[clauses.length - 1]!.kind === 'closer';
  return parts.map((p, i) => sentence(p, i === parts.length - 1 && lastIsCloser && w.chance(0.25) ? '!' : '.')).join(' ');
}

function describe(rng: Rng, scene: Scene, rule: Rule, long: boolean): string {
  let fallback = '';
  for (let attempt = 0; attempt < 60; attempt++) {
    const w = new Writer(rng, scene, refsOf(scene), attempt >= 20);
    const req = required(w);
    const opt = optional(w, long);
    const text = fit(w, req, opt, rule);
    if (text) return text;
    if (!fallback) fallback = join(w, [...req, ...opt.slice(0, long ? 4 : 1)], 0);
  }
  return fallback;
}

export function shortDescription(rng: Rng, scene: Scene): string {
  return describe(rng, scene, { words: [20, 25], sentences: [2, 3] }, false);
}

export function longDescription(rng: Rng, scene: Scene): string {
  return describe(rng, scene, { words: [60, 70], sentences: [5, 6] }, true);
}
