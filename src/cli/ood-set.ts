/**
 * The out-of-distribution picture set of the main job and bench/learn: free-layout scenes (any thing on
 * any background, see src/data/scenes/README.md) in their own folder, built once and reused while their
 * count, seed and layout stay the same. Every record is scored, whatever its split: none is trained on.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { MANIFEST, openDataset, type Dataset } from '../data/dataset.ts';
import { generateScenes } from '../data/scenes/index.ts';
import { Progress } from '../util/progress.ts';

export const OOD_DEFAULTS = { dir: 'data/scenes-ood', count: 400, seed: 7 } as const;

function isWanted(dir: string, count: number, seed: number): boolean {
  try {
    const info = JSON.parse(readFileSync(path.join(dir, 'info.json'), 'utf8'));
    if (info.layout !== 'free' || info.seed !== seed || info.count !== count) return false;
  } catch {
    return false;
  }
  const manifest = path.join(dir, MANIFEST);
  return (
    existsSync(manifest) &&
    readFileSync(manifest, 'utf8')
      .split('\n')
      .filter((l) => l.trim()).length === count
  );
}

/** The OOD set in `dir`, generated first when missing or made with other settings. */
export async function ensureOodSet(
  dir: string,
  count: number,
  seed: number,
  { say = () => {}, quiet = false }: { say?: (msg: string) => void; quiet?: boolean } = {},
): Promise<Dataset> {
  if (isWanted(dir, count, seed)) say(`ood scenes: reusing ${dir} (${count} free-layout pictures)`);
  else {
    say(`ood scenes: building ${count} free-layout pictures in ${dir} (seed ${seed})`);
    const progress = new Progress({ total: count, label: 'ood scenes', unit: 'img', quiet });
    await generateScenes({
      out: dir,
      count,
      seed,
      layout: 'free',
      overwrite: true, // a set made with other settings: only the scenes' own files are replaced
      onProgress: (done: number) => progress.update(done),
    });
    progress.finish();
  }
  return openDataset(dir);
}
