/** Makes scenes start..end-1: writes their pictures into `dir` and returns their manifest lines. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderPhotoPng } from '../photos/compose.ts';
import { photoRecord } from '../photos/record.ts';
import { sceneRecord } from './record.ts';
import { renderScenePng } from './render.ts';
import type { LayoutId } from './types.ts';

/** Which pictures a data set holds: drawn scenes, photo scenes, or both (every other index a photo). */
export type SceneSource = 'clipart' | 'photos' | 'mixed';
export const SCENE_SOURCES: readonly SceneSource[] = ['clipart', 'photos', 'mixed'];

export function isPhotoIndex(source: SceneSource, index: number): boolean {
  return source === 'photos' || (source === 'mixed' && index % 2 === 1);
}

export async function renderRange(
  seed: number,
  layout: LayoutId,
  dir: string,
  start: number,
  end: number,
  source: SceneSource = 'clipart',
  holdOut: readonly string[] = [],
): Promise<string[]> {
  const lines: string[] = [];
  for (let i = start; i < end; i++) {
    if (isPhotoIndex(source, i)) {
      const { ps, record } = photoRecord(seed, i, holdOut);
      await writeFile(path.join(dir, record.image), await renderPhotoPng(ps));
      lines.push(JSON.stringify(record));
    } else {
      const { scene, record } = sceneRecord(seed, i, layout);
      await writeFile(path.join(dir, record.image), await renderScenePng(scene));
      lines.push(JSON.stringify(record));
    }
  }
  return lines;
}
