/**
 * The things a scene can show: the 130 entries of objects.json (name, plural, kind, icon) plus what the
 * generator needs to place and describe them truthfully: where they can appear, how big they are drawn,
 * the colour of their artwork, and how a child counts them ("a bunch of grapes").
 */
import { readFileSync } from 'node:fs';
import { UserError } from '../../util/errors.ts';
import type { BackgroundId, TimeOfDay, Zone } from './types.ts';

export interface ObjectEntry {
  name: string;
  plural: string;
  kind: string;
  icon: string;
}

export interface Thing extends ObjectEntry {
  /** Backgrounds this thing can appear in. */
  places: BackgroundId[];
  /** Zones it can sit in, in order of preference; the background decides which exist. */
  zones: Zone[];
  /** Relative drawn size (1 = an ordinary thing). */
  scale: number;
  /** Colour word of the artwork as drawn; null when it has many colours. */
  colour: string | null;
  /** Colours the artwork can be tinted to (hue shift of its main colour); empty when never tinted. */
  tints: string[];
  /** Counting word for things named by a mass or pair noun: "a bunch of grapes", "two pieces of cheese". */
  unit: { one: string; many: string } | null;
  /** Whether "the grapes" / "the glasses" takes a plural verb even for one. */
  pluralName: boolean;
  /** Most copies that make sense (one sun). */
  maxCount: number;
  /** Times of day it can be shown at (moon and stars only after dark, the sun only before night). */
  times: TimeOfDay[];
  /** It stays put and is big (house, tree): placed towards the back. */
  backdrop: boolean;
}

const FILE = new URL('./objects.json', import.meta.url);

function loadEntries(): ObjectEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(FILE, 'utf8'));
  } catch (e) {
    throw new UserError(`${FILE.pathname}: cannot read the object list (${(e as Error).message})`);
  }
  const list = (parsed as { objects?: unknown }).objects;
  if (!Array.isArray(list)) throw new UserError(`${FILE.pathname}: "objects" must be an array`);
  return list.map((o, i) => {
    for (const key of ['name', 'plural', 'kind', 'icon'] as const) {
      if (typeof o?.[key] !== 'string' || !o[key]) {
        throw new UserError(`${FILE.pathname}: objects[${i}] needs a string "${key}"`);
      }
    }
    return { name: o.name, plural: o.plural, kind: o.kind, icon: o.icon };
  });
}

const OUTDOOR: BackgroundId[] = ['grass', 'beach', 'snow', 'street', 'desert'];
const FOOD_PLACES: BackgroundId[] = ['kitchen', 'grass', 'beach'];
const TABLE_THINGS: BackgroundId[] = ['kitchen', 'room'];
const SKY_PLACES: BackgroundId[] = ['sky', 'grass', 'beach', 'snow', 'street', 'desert'];

/** Where each thing can be: a small table instead of a rule per kind, because the kinds are too coarse. */
const PLACES: Record<string, BackgroundId[]> = {
  dog: ['grass', 'beach', 'snow', 'room', 'street'],
  cat: ['grass', 'room', 'street'],
  cow: ['grass'],
  pig: ['grass'],
  horse: ['grass', 'beach', 'snow'],
  sheep: ['grass'],
  chicken: ['grass'],
  chick: ['grass', 'room'],
  duck: ['grass', 'beach'],
  bird: ['grass', 'sky', 'beach', 'snow', 'street'],
  owl: ['grass', 'sky', 'snow'],
  penguin: ['snow', 'beach'],
  parrot: ['grass', 'sky', 'room', 'beach'],
  swan: ['beach', 'grass'],
  flamingo: ['beach', 'grass'],
  fish: ['sea', 'beach'],
  whale: ['sea', 'beach'],
  dolphin: ['sea', 'beach'],
  shark: ['sea', 'beach'],
  octopus: ['sea', 'beach'],
  crab: ['sea', 'beach'],
  turtle: ['sea', 'beach', 'grass'],
  frog: ['grass'],
  snake: ['grass', 'desert'],
  rabbit: ['grass', 'snow', 'room'],
  mouse: ['grass', 'room', 'kitchen'],
  bear: ['grass', 'snow'],
  panda: ['grass'],
  koala: ['grass'],
  lion: ['grass', 'desert'],
  tiger: ['grass'],
  fox: ['grass', 'snow'],
  monkey: ['grass', 'beach'],
  elephant: ['grass', 'desert'],
  giraffe: ['grass', 'desert'],
  zebra: ['grass', 'desert'],
  camel: ['desert'],
  kangaroo: ['grass', 'desert'],
  hippo: ['grass'],
  hedgehog: ['grass'],
  butterfly: ['grass', 'sky'],
  bee: ['grass', 'sky'],
  ladybug: ['grass'],
  snail: ['grass'],
  dinosaur: ['grass', 'desert'],
  unicorn: ['grass', 'sky', 'snow'],
  'ice cream': ['kitchen', 'beach', 'grass', 'street'],
  cake: ['kitchen', 'grass'],
  cupcake: ['kitchen'],
  broccoli: ['kitchen'],
  car: ['street'],
  bus: ['street'],
  truck: ['street', 'desert'],
  'fire truck': ['street'],
  'police car': ['street'],
  tractor: ['grass'],
  bike: ['street', 'grass', 'beach'],
  train: ['grass', 'snow', 'desert'],
  airplane: SKY_PLACES,
  helicopter: SKY_PLACES,
  rocket: ['space', 'sky'],
  boat: ['beach'],
  ball: ['grass', 'beach', 'room', 'snow'],
  kite: ['sky', 'grass', 'beach'],
  'teddy bear': ['room', 'grass'],
  balloon: ['sky', 'grass', 'room', 'beach', 'street'],
  drum: ['room'],
  guitar: ['room', 'beach'],
  skateboard: ['street', 'room'],
  gift: ['room', 'kitchen', 'snow'],
  book: ['room', 'kitchen', 'grass'],
  hat: ['room', 'beach'],
  shoe: ['room'],
  sock: ['room'],
  dress: ['room'],
  crown: ['room', 'kitchen'],
  glasses: TABLE_THINGS,
  backpack: ['room', 'grass', 'street'],
  umbrella: ['beach', 'street', 'room', 'grass'],
  cup: TABLE_THINGS,
  spoon: ['kitchen'],
  chair: ['room', 'beach', 'grass'],
  bed: ['room'],
  clock: TABLE_THINGS,
  key: TABLE_THINGS,
  candle: TABLE_THINGS,
  crayon: TABLE_THINGS,
  pencil: TABLE_THINGS,
  scissors: TABLE_THINGS,
  bell: ['room', 'kitchen', 'snow'],
  house: ['grass', 'snow', 'street'],
  castle: ['grass', 'snow', 'beach'],
  tent: ['grass', 'snow', 'desert', 'beach'],
  tree: ['grass', 'street'],
  'pine tree': ['snow', 'grass'],
  'palm tree': ['beach', 'desert'],
  flower: ['grass'],
  tulip: ['grass'],
  sunflower: ['grass'],
  rose: ['grass'],
  cactus: ['desert'],
  mushroom: ['grass'],
  leaf: ['grass', 'street'],
  sun: ['sky', 'grass', 'beach', 'snow', 'street', 'desert', 'space'],
  moon: ['sky', 'grass', 'beach', 'snow', 'street', 'desert', 'space'],
  star: ['sky', 'grass', 'beach', 'snow', 'street', 'desert', 'space'],
  cloud: ['sky', 'grass', 'beach', 'snow', 'street'],
  rainbow: ['sky', 'grass', 'beach'],
  snowman: ['snow'],
  fire: ['grass', 'snow', 'desert', 'beach'],
};

const FLIERS = new Set(['airplane', 'helicopter', 'rocket', 'kite', 'balloon', 'cloud', 'sun', 'moon', 'star', 'rainbow']);
const SOMETIMES_FLYING = new Set(['bird', 'owl', 'parrot', 'butterfly', 'bee', 'unicorn']);
const SWIMMERS = new Set(['fish', 'whale', 'dolphin', 'shark', 'octopus', 'boat']);
const SOMETIMES_SWIMMING = new Set(['duck', 'swan', 'turtle', 'crab', 'penguin']);

/** Colour words true to the fluent-emoji artwork (checked by eye); null where the thing has many colours. */
const COLOURS: Record<string, string> = {
  dog: 'brown', cat: 'orange', cow: 'black and white', pig: 'pink', horse: 'brown', sheep: 'white',
  chicken: 'white', chick: 'yellow', bird: 'red', owl: 'brown', penguin: 'black and white', swan: 'white',
  flamingo: 'pink', fish: 'blue', whale: 'blue', dolphin: 'blue', shark: 'gray', octopus: 'orange',
  crab: 'red', turtle: 'green', frog: 'green', snake: 'green', rabbit: 'white', mouse: 'gray', bear: 'brown',
  panda: 'black and white', koala: 'gray', tiger: 'orange', fox: 'orange', monkey: 'brown', elephant: 'gray',
  zebra: 'black and white', kangaroo: 'brown', hippo: 'gray', hedgehog: 'brown', ladybug: 'red',
  dinosaur: 'green', unicorn: 'white', apple: 'red', banana: 'yellow', grapes: 'purple', strawberry: 'red',
  cherries: 'red', pear: 'green', lemon: 'yellow', carrot: 'orange', corn: 'yellow', tomato: 'red',
  broccoli: 'green', bread: 'brown', cheese: 'yellow', cupcake: 'pink', cookie: 'brown', car: 'red',
  'fire truck': 'red', tractor: 'green', 'teddy bear': 'brown', balloon: 'red', book: 'green', shoe: 'gray',
  dress: 'blue', crown: 'gold', backpack: 'red', umbrella: 'purple', spoon: 'gray', chair: 'brown',
  clock: 'red', key: 'gold', crayon: 'green', scissors: 'red', bell: 'gold', tent: 'green', tree: 'green',
  'pine tree': 'green', flower: 'white', tulip: 'pink', sunflower: 'yellow', rose: 'red', cactus: 'green',
  mushroom: 'red', leaf: 'red', sun: 'yellow', moon: 'yellow', star: 'yellow', cloud: 'white',
  snowman: 'white', fire: 'orange',
};

/** Things whose main colour can be shifted to another hue and still look right. */
const TINTABLE: Record<string, string[]> = {
  car: ['red', 'blue', 'green', 'yellow', 'purple', 'orange'],
  balloon: ['red', 'blue', 'green', 'yellow', 'purple', 'pink', 'orange'],
  backpack: ['red', 'blue', 'green', 'purple', 'orange'],
  book: ['green', 'red', 'blue', 'purple', 'orange'],
  crayon: ['green', 'red', 'blue', 'purple', 'orange'],
  dress: ['blue', 'red', 'green', 'purple', 'pink', 'yellow'],
  umbrella: ['purple', 'red', 'blue', 'green', 'orange', 'pink'],
  tent: ['green', 'red', 'blue', 'orange', 'purple'],
  tulip: ['pink', 'red', 'yellow', 'purple', 'orange'],
  fish: ['blue', 'orange', 'yellow', 'green', 'red', 'purple'],
  bird: ['red', 'blue', 'yellow', 'green', 'orange'],
};

const UNITS: Record<string, { one: string; many: string }> = {
  grapes: { one: 'a bunch of', many: 'bunches of' },
  cherries: { one: 'a bunch of', many: 'bunches of' },
  glasses: { one: 'a pair of', many: 'pairs of' },
  scissors: { one: 'a pair of', many: 'pairs of' },
  cheese: { one: 'a piece of', many: 'pieces of' },
  broccoli: { one: 'a piece of', many: 'pieces of' },
  bread: { one: 'a loaf of', many: 'loaves of' },
  corn: { one: 'a cob of', many: 'cobs of' },
};
const PLURAL_NAMES = new Set(['grapes', 'cherries', 'glasses', 'scissors']);

const BIG = new Set([
  'elephant', 'giraffe', 'horse', 'cow', 'house', 'castle', 'tree', 'pine tree', 'palm tree', 'bus', 'truck',
  'fire truck', 'train', 'whale', 'tent', 'bed', 'dinosaur', 'camel', 'hippo', 'bear', 'rainbow', 'tractor',
]);
const SMALL = new Set([
  'bee', 'ladybug', 'snail', 'mouse', 'butterfly', 'chick', 'key', 'spoon', 'crayon', 'pencil', 'cookie', 'egg',
  'strawberry', 'cherries', 'sock', 'bell', 'candle', 'leaf', 'mushroom', 'flower', 'tulip', 'rose', 'lemon',
  'frog', 'hedgehog', 'star', 'cupcake', 'lollipop',
]);
const BACKDROP = new Set(['house', 'castle', 'tree', 'pine tree', 'palm tree', 'tent']);
const ONLY_ONE = new Set(['sun', 'moon', 'rainbow']);

function timesFor(name: string): TimeOfDay[] {
  if (name === 'sun') return ['day', 'evening'];
  if (name === 'moon' || name === 'star') return ['evening', 'night'];
  if (name === 'rainbow') return ['day'];
  return ['day', 'evening', 'night'];
}

function zonesFor(name: string): Zone[] {
  if (FLIERS.has(name)) return ['sky', 'space', 'air'];
  if (SWIMMERS.has(name)) return ['water'];
  if (SOMETIMES_FLYING.has(name)) return ['ground', 'sky', 'air'];
  if (SOMETIMES_SWIMMING.has(name)) return ['water', 'ground'];
  return ['ground'];
}

function build(entry: ObjectEntry): Thing {
  const places = PLACES[entry.name] ?? (entry.kind === 'food' ? FOOD_PLACES : OUTDOOR);
  const tints = TINTABLE[entry.name] ?? [];
  return {
    ...entry,
    places,
    zones: zonesFor(entry.name),
    scale: BIG.has(entry.name) ? 1.3 : SMALL.has(entry.name) ? 0.72 : 1,
    colour: COLOURS[entry.name] ?? null,
    tints,
    unit: UNITS[entry.name] ?? null,
    pluralName: PLURAL_NAMES.has(entry.name),
    maxCount: ONLY_ONE.has(entry.name) ? 1 : 3,
    times: timesFor(entry.name),
    backdrop: BACKDROP.has(entry.name),
  };
}

/** All things, in objects.json order. */
export const THINGS: readonly Thing[] = loadEntries().map(build);
export const THING_BY_NAME: ReadonlyMap<string, Thing> = new Map(THINGS.map((t) => [t.name, t]));

export function thing(name: string): Thing {
  const t = THING_BY_NAME.get(name);
  if (!t) throw new Error(`unknown scene object "${name}"`);
  return t;
}
