/** One manifest record of a photo scene: the same shape as a drawn scene's, with `meta.source: "photos"`. */
import { imageName, sceneMeta, splitOf, type SceneMeta, type SceneRecord } from '../scenes/record.ts';
import { describeScene } from '../scenes/text/index.ts';
import { BACKDROPS } from './catalog.ts';
import { photoSceneAt, type PhotoScene } from './layout.ts';

export interface PhotoMeta extends Omit<SceneMeta, 'source'> {
  source: 'photos';
  /** Which photograph, which square of it (left, top, side as fractions of its height), which stamps. */
  photo: { backdrop: string; package: string; setting: string; crop: [number, number, number]; stamps: string[][] };
}

export function photoMeta(ps: PhotoScene): PhotoMeta {
  const base = sceneMeta(ps.scene);
  return {
    ...base,
    source: 'photos',
    // Boxes are the drawn stamps' own (cut-out photographs are rarely square).
    objects: base.objects.map((o, gi) => ({ ...o, boxes: ps.drawn[gi]!.map((d) => d.box) })),
    photo: {
      backdrop: ps.backdrop.id,
      package: ps.backdrop.package,
      setting: ps.backdrop.setting,
      crop: [ps.crop.x, ps.crop.y, ps.crop.side],
      stamps: ps.drawn.map((g) => g.map((d) => d.stamp.file)),
    },
  };
}

/**
 * The photo scene and its record (everything but the picture's bytes). Backgrounds in `holdOut` are
 * shown only in the test split, and the other splits never show them.
 */
export function photoRecord(
  seed: number,
  index: number,
  holdOut: readonly string[] = [],
): { ps: PhotoScene; record: Omit<SceneRecord, 'meta'> & { meta: PhotoMeta } } {
  const split = splitOf(seed, index);
  const backdrops = holdOut.length ? BACKDROPS.filter((b) => holdOut.includes(b.id) === (split === 'test')) : BACKDROPS;
  const ps = photoSceneAt(seed, index, backdrops);
  const texts = describeScene(ps.scene);
  return {
    ps,
    record: {
      id: String(index + 1).padStart(6, '0'),
      image: imageName(index),
      split,
      captions: texts.captions,
      short: texts.short,
      long: texts.long,
      meta: photoMeta(ps),
    },
  };
}
