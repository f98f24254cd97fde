/** One manifest record of a photo scene: the same shape as a drawn scene's, with `meta.source: "photos"`. */
import { imageName, sceneMeta, splitOf, type SceneMeta, type SceneRecord } from '../scenes/record.ts';
import { describeScene } from '../scenes/text/index.ts';
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

/** The photo scene and its record (everything but the picture's bytes). */
export function photoRecord(seed: number, index: number): { ps: PhotoScene; record: Omit<SceneRecord, 'meta'> & { meta: PhotoMeta } } {
  const ps = photoSceneAt(seed, index);
  const texts = describeScene(ps.scene);
  return {
    ps,
    record: {
      id: String(index + 1).padStart(6, '0'),
      image: imageName(index),
      split: splitOf(seed, index),
      captions: texts.captions,
      short: texts.short,
      long: texts.long,
      meta: photoMeta(ps),
    },
  };
}
