/** Makes scenes start..end-1: writes their pictures into `dir` and returns their manifest lines. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sceneRecord } from './record.ts';
import { renderScenePng } from './render.ts';
import type { LayoutId } from './types.ts';

export async function renderRange(
  seed: number,
  layout: LayoutId,
  dir: string,
  start: number,
  end: number,
): Promise<string[]> {
  const lines: string[] = [];
  for (let i = start; i < end; i++) {
    const { scene, record } = sceneRecord(seed, i, layout);
    await writeFile(path.join(dir, record.image), await renderScenePng(scene));
    lines.push(JSON.stringify(record));
  }
  return lines;
}
