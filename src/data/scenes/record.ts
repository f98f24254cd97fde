/**
 * One manifest record of the built-in scenes: a pure function of (seed, index), so workers can split the
 * work any way and still produce the same data set.
 */
import { Rng, hash32 } from '../../util/rng.ts';
import { freeSceneAt } from './free-layout.ts';
import { sceneAt } from './layout.ts';
import { describeScene } from './text/index.ts';
import type { LayoutId, PlainBackground, Scene } from './types.ts';

/** The scene with the given index, composed by the given layout. */
export function composeScene(seed: number, index: number, layout: LayoutId = 'habitat'): Scene {
  if (layout === 'free') return freeSceneAt(seed, index);
  if (layout === 'loose' && isPlacedLoosely(seed, index)) return freeSceneAt(seed, index, { plainBackgrounds: false });
  return sceneAt(seed, index);
}

/** Whether the `loose` layout composes scene `index` freely: a third of the train split, nothing else. */
export function isPlacedLoosely(seed: number, index: number): boolean {
  return splitOf(seed, index) === 'train' && hash32((seed ^ 0x3171ed) >>> 0, index) % 3 === 0;
}

export type Split = 'train' | 'val' | 'test';

/**
 * Splits: in every block of 50 consecutive scenes, 44 go to train, 5 to val and 1 to test (88/10/2),
 * shuffled within the block from the seed. This follows the paper's 90/10 train/val with a small held-out
 * test set, and keeps the shares exact for any count that is a multiple of 50.
 */
export const SPLIT_BLOCK = 50;
const BLOCK_SPLITS: Split[] = [...Array<Split>(44).fill('train'), ...Array<Split>(5).fill('val'), 'test'];

export function splitOf(seed: number, index: number): Split {
  const block = Math.floor(index / SPLIT_BLOCK);
  const order = new Rng(hash32((seed ^ 0x5b1d) >>> 0, block)).shuffle(BLOCK_SPLITS.slice());
  return order[index % SPLIT_BLOCK]!;
}

export function imageName(index: number): string {
  return `images/${String(index + 1).padStart(6, '0')}.png`;
}

export interface SceneRecord {
  id: string;
  image: string;
  split: Split;
  captions: string[];
  short: string;
  long: string;
  meta: SceneMeta;
}

export interface SceneMeta {
  source: 'scenes';
  seed: number;
  index: number;
  background: string;
  time: string;
  weather: string;
  objects: {
    name: string;
    kind: string;
    count: number;
    colour: string | null;
    zone: string;
    position: { h: string; v: string; depth: string };
    size: string;
    /** One box per copy: [left, top, width, height] in pixels of the 224×224 picture. */
    boxes: [number, number, number, number][];
  }[];
  decor: { clouds: number; dotStars: boolean };
  /** Only in free-layout records. */
  layout?: 'free';
  /** Only for plain and two-tone backgrounds: the colour words and how they are split. */
  plain?: PlainBackground;
}

export function sceneMeta(scene: Scene): SceneMeta {
  return {
    source: 'scenes',
    seed: scene.seed,
    index: scene.index,
    background: scene.background,
    time: scene.time,
    weather: scene.weather,
    objects: scene.groups.map((g) => ({
      name: g.name,
      kind: g.kind,
      count: g.count,
      colour: g.colour,
      zone: g.zone,
      position: { h: g.h, v: g.v, depth: g.depth },
      size: g.size,
      boxes: g.items.map((i) => [Math.round(i.x - i.size / 2), Math.round(i.y - i.size / 2), i.size, i.size]),
    })),
    decor: scene.decor,
    ...(scene.layout ? { layout: scene.layout } : {}),
    ...(scene.plain ? { plain: scene.plain } : {}),
  };
}

/** The scene and its record (everything but the picture's bytes). */
export function sceneRecord(
  seed: number,
  index: number,
  layout: LayoutId = 'habitat',
): { scene: Scene; record: SceneRecord } {
  const scene = composeScene(seed, index, layout);
  const texts = describeScene(scene);
  const record: SceneRecord = {
    id: String(index + 1).padStart(6, '0'),
    image: imageName(index),
    split: splitOf(seed, index),
    captions: texts.captions,
    short: texts.short,
    long: texts.long,
    meta: sceneMeta(scene),
  };
  return { scene, record };
}
