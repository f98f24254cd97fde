/**
 * What the photo scenes are made of: cut-out photographs of things from Debian's
 * `tuxpaint-stamps-default` and landscape photographs from wallpaper packages. The pictures are not in
 * the repository; this catalog says which files are used and what the texts may say about them.
 *
 * Every thing is named with a name of the drawn scenes' objects.json, so the texts, the consistency
 * checks and `eval auto`'s object measures read photo scenes with the same vocabulary ("hen" and
 * "rooster" are both a chicken, "mug" is a cup, a dingo is a dog).
 */
import type { BackgroundId, SettingWords, TimeOfDay, Weather } from '../scenes/types.ts';

/** A photographed setting: several wallpapers may share one. */
export type PhotoSetting = 'meadow' | 'hill' | 'field' | 'hills' | 'sky' | 'road' | 'table';

export interface Stamp {
  /** Path inside /usr/share/tuxpaint/stamps (the .png; its .txt holds the package's own one-line description). */
  file: string;
  /** Name in objects.json. */
  name: string;
  /** Colour word true to this photograph, or null when it has many colours. */
  colour: string | null;
  /** Stands on the ground, or flies in the sky band of the background. */
  zone: 'ground' | 'sky';
  /** Settings where it may be. */
  places: readonly PhotoSetting[];
  /** Real-world size class: 1 = a dog or a sheep; a bus is 1.6, an apple 0.35. */
  scale: number;
  /** Big and fixed (a tree): placed towards the back. */
  backdrop?: boolean;
}

export interface Backdrop {
  id: string;
  /** Debian package and absolute path of the photograph. */
  package: string;
  file: string;
  setting: PhotoSetting;
  /** The drawn background whose rules apply (outdoor or not, which zones exist). */
  like: BackgroundId;
  time: TimeOfDay;
  weather: Weather;
  /** Where feet may stand: [far, near] as fractions of the photograph's height. */
  ground: [number, number] | null;
  /** Band where fliers may be: [top, bottom] fractions of the height; null when there is no sky. */
  sky: [number, number] | null;
  /** Horizontal part of the photograph a crop may use (fractions of the width): keeps out what is not named. */
  cropX: [number, number];
  /** How close the camera is: things are drawn this much bigger (a table top is seen from near). */
  zoom: number;
  words: SettingWords;
}

export const STAMP_ROOT = '/usr/share/tuxpaint/stamps';
export const STAMP_PACKAGE = 'tuxpaint-stamps-default';

const OUT: PhotoSetting[] = ['meadow', 'hill', 'field', 'hills'];
const GREEN: PhotoSetting[] = ['meadow', 'hills'];
const TOWN: PhotoSetting[] = [...OUT, 'road'];
const PICNIC: PhotoSetting[] = ['table', 'meadow'];
const FLY: PhotoSetting[] = [...OUT, 'road', 'sky'];

function s(file: string, name: string, colour: string | null, places: PhotoSetting[], scale: number, extra: Partial<Stamp> = {}): Stamp {
  return { file, name, colour, zone: 'ground', places, scale, ...extra };
}

const A = 'animals';
export const STAMPS: readonly Stamp[] = [
  s(`${A}/mammals/dogs/dog.png`, 'dog', null, TOWN, 0.9),
  s(`${A}/mammals/dogs/dingo.png`, 'dog', 'brown', TOWN, 0.9),
  s(`${A}/mammals/dogs/fox.png`, 'fox', 'orange', OUT, 0.8),
  s(`${A}/mammals/bovines/cow.png`, 'cow', 'brown', OUT, 1.3),
  s(`${A}/mammals/bovines/cow_white.png`, 'cow', 'white', OUT, 1.3),
  s(`${A}/mammals/bovines/bull.png`, 'cow', 'black', OUT, 1.3),
  s(`${A}/mammals/pig.png`, 'pig', 'pink', OUT, 0.9),
  s(`${A}/mammals/pig_golden.png`, 'pig', 'brown', OUT, 0.9),
  s(`${A}/mammals/equines/horse.png`, 'horse', 'brown', TOWN, 1.3),
  s(`${A}/mammals/equines/zebra.png`, 'zebra', 'black and white', OUT, 1.2),
  s(`${A}/mammals/bovines/sheep.png`, 'sheep', 'white', OUT, 0.9),
  s(`${A}/mammals/bovines/sheep_lamb.png`, 'sheep', null, OUT, 0.7),
  s(`${A}/birds/hen.png`, 'chicken', 'brown', OUT, 0.55),
  s(`${A}/birds/rooster.png`, 'chicken', null, OUT, 0.6),
  s(`${A}/birds/chicken_profile.png`, 'chicken', 'gray', OUT, 0.55),
  s(`${A}/birds/duck.png`, 'duck', null, GREEN, 0.5),
  s(`${A}/birds/drake.png`, 'duck', null, GREEN, 0.5),
  s(`${A}/birds/crow.png`, 'bird', 'black', TOWN, 0.4),
  s(`${A}/birds/blackbird.png`, 'bird', 'black', TOWN, 0.35),
  s(`${A}/birds/magpie.png`, 'bird', 'black and white', TOWN, 0.4),
  s(`${A}/birds/pigeon.png`, 'bird', 'gray', TOWN, 0.4),
  s(`${A}/birds/silver-gull.png`, 'bird', 'white', TOWN, 0.45),
  s(`${A}/birds/seagull.png`, 'bird', 'white', FLY, 0.5, { zone: 'sky' }),
  s(`${A}/birds/owl.png`, 'owl', 'white', OUT, 0.5),
  s(`${A}/birds/pink_flamingo.png`, 'flamingo', 'pink', ['field', 'hills'], 1),
  s(`${A}/birds/rainbow-lorikeet.png`, 'parrot', null, [...GREEN, 'table'], 0.4),
  s(`${A}/birds/adelaide-rosella.png`, 'parrot', null, [...GREEN, 'table'], 0.4),
  s(`${A}/amphibians/frog.png`, 'frog', 'green', GREEN, 0.35),
  s(`${A}/amphibians/frog-1.png`, 'frog', 'brown', OUT, 0.35),
  s(`${A}/mammals/rodents/rabbit.png`, 'rabbit', 'white', OUT, 0.5),
  s(`${A}/mammals/rodents/rabbit-2.png`, 'rabbit', 'white', OUT, 0.5),
  s(`${A}/mammals/rabbit_little.png`, 'rabbit', 'white', OUT, 0.45),
  s(`${A}/mammals/rodents/mouse.png`, 'mouse', 'brown', [...OUT, 'table'], 0.3),
  s(`${A}/mammals/bears/bear.png`, 'bear', 'brown', OUT, 1.3),
  s(`${A}/mammals/bears/european-bear.png`, 'bear', 'brown', OUT, 1.3),
  s(`${A}/mammals/bears/toys/edward_bear.png`, 'teddy bear', 'brown', PICNIC, 0.45),
  s(`${A}/marsupials/koala.png`, 'koala', 'gray', GREEN, 0.6),
  s(`${A}/marsupials/kangaroo.png`, 'kangaroo', 'brown', OUT, 1.1),
  s(`${A}/mammals/cats/lion.png`, 'lion', null, OUT, 1.2),
  s(`${A}/mammals/cats/lion-2.png`, 'lion', null, OUT, 1.2),
  s(`${A}/mammals/cats/tiger.png`, 'tiger', 'orange', OUT, 1.2),
  s(`${A}/mammals/cats/tiger_sumatran.png`, 'tiger', 'orange', OUT, 1.2),
  s(`${A}/mammals/apes/chimp.png`, 'monkey', 'black', OUT, 0.8),
  s(`${A}/mammals/elephant.png`, 'elephant', 'gray', OUT, 1.6),
  s(`${A}/mammals/giraffe.png`, 'giraffe', null, OUT, 1.7),
  s(`${A}/mammals/camel/camel.png`, 'camel', 'brown', OUT, 1.4),
  s(`${A}/mammals/camel/dromedary.png`, 'camel', 'brown', OUT, 1.4),
  s(`${A}/mammals/hippopotamus.png`, 'hippo', 'gray', GREEN, 1.3),
  s('food/fruit/apple_red.png', 'apple', 'red', PICNIC, 0.3),
  s('food/fruit/apple_green.png', 'apple', 'green', PICNIC, 0.3),
  s('food/fruit/apple_fuji.png', 'apple', 'red', PICNIC, 0.3),
  s('food/fruit/banana.png', 'banana', 'yellow', PICNIC, 0.35),
  s('food/fruit/orange.png', 'orange', 'orange', PICNIC, 0.3),
  s('food/fruit/grapes.png', 'grapes', 'purple', PICNIC, 0.35),
  s('food/fruit/strawberry.png', 'strawberry', 'red', PICNIC, 0.22),
  s('food/fruit/Strawberry2.png', 'strawberry', 'red', PICNIC, 0.22),
  s('food/fruit/Cherry_Stella.png', 'cherries', 'red', PICNIC, 0.25),
  s('food/fruit/pear.png', 'pear', null, PICNIC, 0.32),
  s('food/fruit/lemon.png', 'lemon', 'yellow', PICNIC, 0.28),
  s('food/fruit/pineapple.png', 'pineapple', null, PICNIC, 0.45),
  s('food/vegetables/carrot.png', 'carrot', 'orange', PICNIC, 0.35),
  s('food/vegetables/corn.png', 'corn', 'yellow', PICNIC, 0.35),
  s('food/vegetables/tomato.png', 'tomato', 'red', PICNIC, 0.3),
  s('food/vegetables/broccoli.png', 'broccoli', 'green', PICNIC, 0.35),
  s('food/vegetables/mushroom.png', 'mushroom', null, ['table'], 0.3),
  s('plants/mushrooms/cep.png', 'mushroom', 'brown', ['meadow', 'field', 'table'], 0.3),
  s('plants/mushrooms/cep-1.png', 'mushroom', 'brown', ['meadow', 'field', 'table'], 0.3),
  s('vehicles/auto/sedan.png', 'car', 'blue', ['road'], 1.5),
  s('vehicles/auto/beetle.png', 'car', 'red', ['road'], 1.4),
  s('vehicles/auto/sportscar2.png', 'car', 'red', ['road'], 1.5),
  s('vehicles/auto/truck.png', 'truck', 'blue', ['road', 'field'], 1.6),
  s('vehicles/emergency/firetruck.png', 'fire truck', 'red', ['road'], 1.8),
  s('vehicles/masstransit/green_korean_bus.png', 'bus', 'green', ['road'], 1.9),
  s('vehicles/flight/planes/747.png', 'airplane', 'white', FLY, 0.9, { zone: 'sky' }),
  s('sports/soccer.png', 'ball', 'black and white', [...TOWN], 0.3),
  s('sports/basketball.png', 'ball', 'orange', [...TOWN], 0.3),
  s('sports/tennis_ball.png', 'ball', null, [...GREEN, 'table'], 0.2),
  s('household/key.png', 'key', 'gray', ['table'], 0.25),
  s('household/arttools/scissors_small_open.png', 'scissors', 'gray', ['table'], 0.35),
  s('household/dishes/mug.png', 'cup', 'white', ['table'], 0.35),
  s('seasonal/candle.png', 'candle', null, ['table'], 0.4),
  s('plants/trees/holm_oak.png', 'tree', 'green', [...OUT, 'road'], 2.4, { backdrop: true }),
  s('plants/trees/birch.png', 'tree', null, ['field', 'hills', 'road'], 2.4, { backdrop: true }),
  s('plants/trees/liberia-palm.png', 'palm tree', 'green', ['hills', 'field'], 2.4, { backdrop: true }),
  s('plants/flowers/rose.png', 'rose', 'red', PICNIC, 0.25),
  s('plants/flowers/flower1.png', 'flower', 'purple', PICNIC, 0.25),
  s('plants/flowers/flower2.png', 'flower', 'yellow', PICNIC, 0.25),
  s('plants/flowers/flower5.png', 'flower', 'pink', PICNIC, 0.25),
  s('plants/flowers/flower6.png', 'flower', 'pink', PICNIC, 0.25),
  s('plants/flowers/marigold.png', 'flower', 'orange', PICNIC, 0.25),
  s('plants/flowers/yellow-flower.png', 'flower', 'white', PICNIC, 0.25),
];

const PHOTO_PREFIXES = ['a photo of', 'a photograph of', 'a picture of', 'an image showing', 'a snapshot of'];

const MEADOW: SettingWords = {
  ground: ['on the grass', 'in the field', 'on the green grass', 'in the grass'],
  place: ['in the field', 'on the green grass', 'in the big field'],
  facts: ['the grass is green and soft', 'the field is full of green grass', 'big mountains stand far away', 'the grass is short and green'],
  np: ['a grassy field', 'a green meadow', 'a mountain meadow', 'a grassy hillside'],
  on: ['on a grassy field', 'in a green meadow', 'in a mountain meadow', 'on a grassy hill'],
  prefixes: PHOTO_PREFIXES,
};

const LOMIRI = 'lomiri-wallpapers-16.04';
const LXQT = 'lxqt-themes';
const MATE = 'mate-backgrounds';

/** The photographed backgrounds. No thing the texts could name is in a crop (cropX keeps them out). */
export const BACKDROPS: readonly Backdrop[] = [
  {
    id: 'aitzgorri',
    package: LOMIRI,
    file: '/usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg',
    setting: 'meadow',
    like: 'grass',
    time: 'day',
    weather: 'clear',
    ground: [0.64, 1],
    sky: [0.01, 0.2],
    cropX: [0, 1],
    zoom: 1,
    words: MEADOW,
  },
  {
    id: 'picosdeeuropa',
    package: LOMIRI,
    file: '/usr/share/backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg',
    setting: 'meadow',
    like: 'grass',
    time: 'day',
    weather: 'clear',
    ground: [0.62, 1],
    sky: [0.01, 0.3],
    cropX: [0, 0.75],
    zoom: 1,
    words: MEADOW,
  },
  {
    id: 'sunset',
    package: LOMIRI,
    file: '/usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg',
    setting: 'hill',
    like: 'grass',
    // The sun is setting behind the hills (the file's name says so too).
    time: 'evening',
    weather: 'clear',
    ground: [0.64, 1],
    sky: [0.04, 0.36],
    // Right of 0.62 stands a stone table that no text names.
    cropX: [0.04, 0.62],
    zoom: 1,
    words: {
      ground: ['on the hill', 'on the rocks', 'on top of the hill'],
      place: ['on the hill', 'on top of the hill', 'up on the hill'],
      facts: ['the hill is covered in rocks and grass', 'the light is warm and gold', 'the hills go far away'],
      np: ['a rocky hilltop', 'a hill in warm light', 'a hilltop'],
      on: ['on a rocky hilltop', 'on top of a hill', 'on a rocky hill'],
      prefixes: PHOTO_PREFIXES,
    },
  },
  {
    id: 'fog',
    package: LXQT,
    file: '/usr/share/lxqt/wallpapers/fog.jpg',
    setting: 'field',
    like: 'grass',
    time: 'day',
    weather: 'clear',
    ground: [0.76, 1],
    sky: [0.02, 0.4],
    cropX: [0, 1],
    zoom: 1,
    words: {
      ground: ['in the field', 'on the brown field', 'on the dry grass'],
      place: ['in the field', 'out in the field', 'in the big field'],
      facts: ['a soft fog lies over the hills', 'the field is brown and dry', 'the fog makes the hills look soft'],
      np: ['a misty field', 'a field with fog', 'an open field'],
      on: ['in a misty field', 'in an open field', 'on a dry field'],
      prefixes: PHOTO_PREFIXES,
    },
  },
  {
    id: 'hills',
    package: LXQT,
    file: '/usr/share/lxqt/wallpapers/this-is-not-windows.jpg',
    setting: 'hills',
    like: 'grass',
    time: 'day',
    weather: 'clear',
    ground: [0.74, 1],
    sky: [0.02, 0.5],
    cropX: [0, 1],
    zoom: 1,
    words: {
      ground: ['on the hill', 'in the field', 'on the green hill'],
      place: ['on the green hills', 'in the field', 'out in the hills'],
      facts: ['green hills roll on and on', 'the sky is big and blue', 'the hills are round and green'],
      np: ['green rolling hills', 'a grassy hillside', 'a hilly field'],
      on: ['on a grassy hillside', 'in front of green hills', 'on rolling hills'],
      prefixes: PHOTO_PREFIXES,
    },
  },
  {
    id: 'cloudy-sky',
    package: LXQT,
    file: '/usr/share/lxqt/wallpapers/cloud.png',
    setting: 'sky',
    like: 'sky',
    time: 'day',
    weather: 'clear',
    ground: null,
    sky: [0.05, 0.95],
    cropX: [0, 1],
    zoom: 1,
    words: {
      ground: ['in the sky'],
      place: ['in the sky', 'up in the sky', 'high in the sky'],
      facts: ['the sky is blue and white', 'we are up high in the sky', 'little white puffs fill the blue sky'],
      np: ['an open sky', 'a wide blue sky'],
      on: ['in the open sky', 'against a wide sky', 'high in the air'],
      prefixes: PHOTO_PREFIXES,
    },
  },
  {
    id: 'storm',
    package: MATE,
    file: '/usr/share/backgrounds/mate/nature/Storm.jpg',
    setting: 'road',
    like: 'street',
    time: 'day',
    weather: 'cloudy',
    ground: [0.84, 1],
    sky: [0.02, 0.5],
    cropX: [0, 1],
    zoom: 1,
    words: {
      ground: ['on the road', 'by the road', 'on the side of the road'],
      place: ['by the road', 'on the road', 'out on the road'],
      facts: ['the road has white lines on it', 'a storm is coming over the field', 'the road is long and gray'],
      np: ['a country road', 'a road under a stormy sky'],
      on: ['on a country road', 'beside a road', 'along a road', 'on a road under a stormy sky'],
      prefixes: PHOTO_PREFIXES,
    },
  },
  {
    id: 'wood',
    package: MATE,
    file: '/usr/share/backgrounds/mate/nature/Wood.jpg',
    setting: 'table',
    like: 'kitchen',
    time: 'day',
    weather: 'clear',
    ground: [0.12, 1],
    sky: null,
    cropX: [0, 1],
    zoom: 2.2,
    words: {
      ground: ['on the table', 'on the wood table', 'on top of the table'],
      place: ['on the table', 'on the wood table', 'at the table'],
      facts: ['the table is made of wood', 'the wood table is clean and bright', 'the table is long and smooth'],
      np: ['a wooden table', 'a light wooden table', 'a table top'],
      on: ['on a wooden table', 'on top of a table', 'on a light wooden surface'],
      prefixes: PHOTO_PREFIXES,
    },
  },
];

/** Debian packages the photo scenes read, each with its licence (copyright files of the packages). */
export const PHOTO_PACKAGES: readonly { name: string; licence: string }[] = [
  { name: STAMP_PACKAGE, licence: 'GPL-2' },
  { name: LOMIRI, licence: 'CC-BY-4.0, photographs by Aitzol Berasategi' },
  { name: LXQT, licence: 'LGPL-2.1+' },
  { name: MATE, licence: 'GPL-2+' },
];
