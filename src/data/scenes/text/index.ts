/** All text for one scene: five adult captions, a ShortDesc and a LongDesc, each from its own random stream. */
import { Rng, hash32 } from '../../../util/rng.ts';
import type { Scene } from '../types.ts';
import { captions } from './captions.ts';
import { longDescription, shortDescription } from './child.ts';

export interface SceneTexts {
  captions: string[];
  short: string;
  long: string;
}

export function describeScene(scene: Scene): SceneTexts {
  const stream = (salt: number) => new Rng(hash32((scene.seed ^ salt) >>> 0, scene.index));
  return {
    captions: captions(stream(0xca9710), scene),
    short: shortDescription(stream(0x5407), scene),
    long: longDescription(stream(0x1096), scene),
  };
}
