/**
 * Example pictures for the web page (GET /examples lists them, GET /examples/N.png serves one): a few
 * built-in scenes from the default data set's test split, rendered when the server starts, so the
 * repository holds no image files and a trained model has never seen them.
 */
import { composeScene, renderScenePng, splitOf } from '../data/scenes/index.ts';

export interface Example {
  /** Shown under the picture and used as the uploaded file's name. */
  name: string;
  png: Buffer;
}

/** `nanovlm data scenes`' default seed, the one `nanovlm main` trains on. */
const DEFAULT_SCENES_SEED = 1;

export async function sceneExamples(count = 4, seed = DEFAULT_SCENES_SEED): Promise<Example[]> {
  const indices: number[] = [];
  for (let i = 0; indices.length < count; i++) if (splitOf(seed, i) === 'test') indices.push(i);
  return Promise.all(
    indices.map(async (i) => ({
      name: `scene-${i + 1}.png`,
      png: await renderScenePng(composeScene(seed, i)),
    })),
  );
}
