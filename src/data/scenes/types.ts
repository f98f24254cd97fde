/** The scene graph: what a built-in picture shows. Text and rendering both read only this. */

export const BACKGROUNDS = [
  'grass',
  'sky',
  'beach',
  'sea',
  'snow',
  'room',
  'kitchen',
  'street',
  'desert',
  'space',
  // Only in the free layout: a flat colour, or two colours split across or down the middle.
  'plain',
  'two-tone',
] as const;
export type BackgroundId = (typeof BACKGROUNDS)[number];

export type TimeOfDay = 'day' | 'evening' | 'night';
export type Weather = 'clear' | 'cloudy' | 'rainy' | 'snowy';
/** Where in the picture a thing sits: on the ground/floor/table, up in the sky, in the water, floating indoors, in space. */
export type Zone = 'ground' | 'sky' | 'water' | 'air' | 'space';
/** Horizontal place of a group; `across` when its members spread over more than one third. */
export type HPos = 'left' | 'middle' | 'right' | 'across';
export type VPos = 'top' | 'middle' | 'bottom';
export type Depth = 'near' | 'middle' | 'far';
export type SizeWord = 'big' | 'medium' | 'small';

/** One drawn copy of a thing: centre and side length in pixels of the 224×224 picture. */
export interface Item {
  x: number;
  y: number;
  size: number;
  flip: boolean;
  /** 0 = as close as it gets, 1 = as far as it gets (ground zones); paint order is far to near. */
  depth: number;
}

/** One kind of thing in the picture and all its copies. */
export interface Group {
  name: string;
  kind: string;
  icon: string;
  count: number;
  /** A colour word true to the artwork, or null when the thing has many colours. */
  colour: string | null;
  /** Hue the artwork was tinted to (a colour word), or null when drawn as is. */
  tint: string | null;
  zone: Zone;
  h: HPos;
  v: VPos;
  depth: Depth;
  size: SizeWord;
  items: Item[];
}

/**
 * How scenes are composed. `habitat`: things only where they belong, with perspective and decor (the
 * training data). `free`: any thing on any background (also plain and two-tone ones), any size and place,
 * 1-3 kinds, no decor: an out-of-distribution test of whether a model sees the things themselves.
 * `loose`: training data with weaker habits: a third of the train split's scenes place any thing
 * anywhere, as `free` does but on the habitat backgrounds only (plain and two-tone ones stay unseen, so
 * `free` stays a test of something new); the rest and the whole val and test splits are `habitat`,
 * picture for picture the same as a habitat build with the same seed.
 */
export const LAYOUTS = ['habitat', 'free', 'loose'] as const;
export type LayoutId = (typeof LAYOUTS)[number];

/** The colours of a plain background: one colour word, or two split `across` (top/bottom) or `down` (left/right). */
export interface PlainBackground {
  colours: [string] | [string, string];
  split: 'none' | 'across' | 'down';
  /** Where the two colours meet, in pixels from the top (across) or the left (down); 0 for one colour. */
  at: number;
}

/**
 * Words for a setting that replace the built-in background's tables in the texts: a photographed
 * background says what its own picture shows ("on the wood table", "a photo of").
 */
export interface SettingWords {
  /** Child: where things on the ground are ("on the grass"). */
  ground: string[];
  /** Child: where the scene is ("in the field"). */
  place: string[];
  /** Child: a sentence about the place ("the grass is green and soft"). */
  facts: string[];
  /** Captions: the setting as a noun phrase ("a grassy field") and as a place ("on a grassy field"). */
  np: string[];
  on: string[];
  /** Captions: how a caption may open ("a photo of"). */
  prefixes: string[];
}

export interface Scene {
  seed: number;
  index: number;
  background: BackgroundId;
  time: TimeOfDay;
  weather: Weather;
  /** y (pixels) where ground/water starts below the sky; 0 when the whole picture is one zone. */
  horizon: number;
  /** y (pixels) where a beach's water gives way to sand; 0 elsewhere. */
  shore: number;
  /** Decoration drawn but not counted as a thing: grey weather clouds, tiny dot stars. */
  decor: { clouds: number; dotStars: boolean };
  groups: Group[];
  /** Set only for the free layout (the habitat layout leaves both out, so its records are unchanged). */
  layout?: 'free';
  /** The colours of a `plain` or `two-tone` background. */
  plain?: PlainBackground;
  /** Setting words of a photographed background; absent for the drawn ones. */
  words?: SettingWords;
}
