/**
 * Worker thread for generateScenes: receives ranges of scene indices, renders them, and answers with the
 * manifest lines. Scenes are pure functions of (seed, index), so how ranges are shared out does not matter.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { renderRange, type SceneSource } from './range.ts';
import type { LayoutId } from './types.ts';

export interface WorkerJob {
  start: number;
  end: number;
}
export type WorkerReply = { start: number; lines: string[] } | { error: string };

const { seed, layout, dir, source, holdOut } = workerData as {
  seed: number;
  layout: LayoutId;
  dir: string;
  source: SceneSource;
  holdOut: string[];
};
const port = parentPort!;
port.on('message', async (job: WorkerJob | null) => {
  if (job === null) {
    port.close();
    return;
  }
  try {
    port.postMessage({ start: job.start, lines: await renderRange(seed, layout, dir, job.start, job.end, source, holdOut) } satisfies WorkerReply);
  } catch (e) {
    port.postMessage({ error: (e as Error).stack ?? String(e) } satisfies WorkerReply);
  }
});
