/**
 * The built-in scenes: the offline default data set. `generateScenes` writes a dataset folder
 * (`manifest.jsonl` + `images/000001.png` ...) of composed 224×224 pictures with five adult captions, a
 * ShortDesc and a LongDesc each, rendering on worker threads; the same seed gives the same bytes.
 */
import { closeSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { UserError } from '../../util/errors.ts';
import { tempSibling } from '../../util/fs.ts';
import { THINGS } from './catalog.ts';
import { measureTexts as measure, type TextRecord, type TextStats } from './measure.ts';
import { checkPhotoPackages } from '../photos/packages.ts';
import { BACKDROPS, PHOTO_PACKAGES } from '../photos/catalog.ts';
import { SCENE_SOURCES, renderRange, type SceneSource } from './range.ts';
import { SPLIT_BLOCK, sceneRecord } from './record.ts';
import { LAYOUTS, type LayoutId } from './types.ts';
import { SCENES_SOURCE, checkOutFolder, installScenes } from './output.ts';
import type { WorkerJob, WorkerReply } from './worker.ts';

export { SCENE_SOURCES, isPhotoIndex, type SceneSource } from './range.ts';
export { composeScene, sceneRecord, splitOf, type SceneRecord, type SceneMeta } from './record.ts';
export { sceneAt } from './layout.ts';
export { freeSceneAt } from './free-layout.ts';
export { LAYOUTS, type LayoutId } from './types.ts';
export { renderScenePng } from './render.ts';
export { describeScene } from './text/index.ts';
export { LENGTH_RULES, meetsLengthRule, isFamiliarWord, type TextStats } from './measure.ts';

export interface GenerateOptions {
  /**
   * Dataset folder to write. It must not exist or be empty, unless `overwrite` (see output.ts): the new set
   * is built aside and moved in once complete.
   */
  out: string;
  count: number;
  seed?: number;
  /** How the pictures are composed (default `habitat`; `free` is the out-of-distribution layout). */
  layout?: LayoutId;
  /** Drawn scenes (default), photo scenes (needs the Debian packages of src/data/photos), or both. */
  source?: SceneSource;
  /** Photo backgrounds (catalog ids) shown only in the test split: a test of pictures unlike training's. */
  holdOut?: string[];
  /** Worker threads (default: one per core, at most one per 200 scenes); 0 renders on this thread. */
  workers?: number;
  onProgress?: (done: number, total: number) => void;
  /** Write into a non-empty folder, replacing only the files an earlier build wrote (others are kept). */
  overwrite?: boolean;
}

export const MAX_SCENES = 999_999;

function checkOptions(o: GenerateOptions): { seed: number; workers: number; layout: LayoutId } {
  if (!Number.isInteger(o.count) || o.count < 1 || o.count > MAX_SCENES) {
    throw new UserError(`scenes: count must be a whole number from 1 to ${MAX_SCENES}, got ${o.count}`);
  }
  const seed = o.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new UserError(`scenes: seed must be a whole number from 0 to 4294967295, got ${seed}`);
  }
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const workers = o.workers ?? Math.max(1, Math.min(cores, Math.ceil(o.count / 200)));
  if (!Number.isInteger(workers) || workers < 0 || workers > 64) {
    throw new UserError(`scenes: workers must be a whole number from 0 to 64, got ${o.workers}`);
  }
  const layout = o.layout ?? 'habitat';
  if (!LAYOUTS.includes(layout)) {
    throw new UserError(`scenes: layout must be one of ${LAYOUTS.join(', ')}, got ${String(o.layout)}`);
  }
  if (!o.out) throw new UserError('scenes: an output folder is required');
  if (o.source !== undefined && !SCENE_SOURCES.includes(o.source)) {
    throw new UserError(`scenes: source must be one of ${SCENE_SOURCES.join(', ')}, got ${o.source}`);
  }
  if (o.source === 'photos' || o.source === 'mixed') checkPhotoPackages();
  if (o.source === 'photos' && layout !== 'habitat') {
    throw new UserError(`scenes: the ${layout} layout is for drawn scenes (use the clipart or mixed source)`, 2);
  }
  if ((o.holdOut ?? []).length && o.source !== 'photos' && o.source !== 'mixed') {
    throw new UserError('scenes: holding out photo backgrounds needs the photos or mixed source', 2);
  }
  for (const id of o.holdOut ?? []) {
    if (!BACKDROPS.some((b) => b.id === id)) {
      throw new UserError(`scenes: no photo background "${id}" to hold out (known: ${BACKDROPS.map((b) => b.id).join(', ')})`, 2);
    }
  }
  if ((o.holdOut ?? []).length >= BACKDROPS.length) throw new UserError('scenes: hold out some photo backgrounds, not all', 2);
  checkOutFolder(o.out, o.count, o.overwrite ?? false);
  return { seed, workers, layout };
}

/** Writes `count` scenes into the dataset folder `out`. Prints nothing; progress goes to `onProgress`. */
export async function generateScenes(
  opts: GenerateOptions,
): Promise<{ count: number; seconds: number; workers: number }> {
  const { seed, workers, layout } = checkOptions(opts);
  const source = opts.source ?? 'clipart';
  const holdOut = opts.holdOut ?? [];
  const t0 = performance.now();
  const total = opts.count;
  const out = path.resolve(opts.out);
  const dir = tempSibling(out);
  try {
    await mkdir(path.join(dir, 'images'), { recursive: true });
    const manifest = openSync(path.join(dir, 'manifest.jsonl'), 'w');
    try {
      // Chunks arrive in any order; the manifest is written in id order.
      const pending = new Map<number, string[]>();
      let next = 0;
      const accept = (start: number, lines: string[]) => {
        pending.set(start, lines);
        while (pending.has(next)) {
          const ready = pending.get(next)!;
          pending.delete(next);
          if (ready.length) writeSync(manifest, ready.join('\n') + '\n');
          next += ready.length;
        }
        opts.onProgress?.(next, total);
      };
      const chunk = Math.max(10, Math.min(200, Math.ceil(total / Math.max(1, workers * 8))));
      const jobs: WorkerJob[] = [];
      for (let s = 0; s < total; s += chunk) jobs.push({ start: s, end: Math.min(total, s + chunk) });
      if (workers === 0) {
        for (const job of jobs) accept(job.start, await renderRange(seed, layout, dir, job.start, job.end, source, holdOut));
      } else {
        await runWorkers(Math.min(workers, jobs.length), seed, layout, dir, jobs, accept, source, holdOut);
      }
      if (next !== total) throw new Error(`scenes: internal error, wrote ${next} of ${total} records`);
      fsyncSync(manifest);
    } finally {
      closeSync(manifest);
    }
    const info = {
      source: SCENES_SOURCE,
      seed,
      ...(layout === 'habitat' ? {} : { layout }),
      count: total,
      splits: { train: 0.88, val: 0.1, test: 0.02, block: SPLIT_BLOCK },
      pictures: source,
      ...(holdOut.length ? { heldOutBackdrops: holdOut } : {}),
      artwork:
        source === 'clipart'
          ? '@iconify-json/fluent-emoji-flat (MIT)'
          : `${source === 'mixed' ? '@iconify-json/fluent-emoji-flat (MIT); ' : ''}Debian packages ${PHOTO_PACKAGES.map((p) => `${p.name} (${p.licence})`).join(', ')}`,
    };
    await writeFile(path.join(dir, 'info.json'), JSON.stringify(info, null, 2) + '\n');
    installScenes(dir, out, total, opts.overwrite ?? false);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return { count: total, seconds: (performance.now() - t0) / 1000, workers };
}

/**
 * Workers run the TypeScript sources through tsx's loader, registered inside the worker itself: this works
 * however the main thread was started (`tsx`, `node --import tsx`, or bin/nanovlm.js's register()).
 * `--import tsx` in the worker's execArgv does not: on Node 20 the worker loads its module before tsx's hooks.
 * The published package runs compiled JavaScript (dist/), whose worker needs no loader.
 */
function workerBoot(): string {
  if (!import.meta.url.endsWith('.ts')) return `import(${JSON.stringify(new URL('./worker.js', import.meta.url).href)});`;
  return `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./worker.ts', import.meta.url).href)}); })
  .catch((e) => { throw e; });`;
}

function runWorkers(
  n: number,
  seed: number,
  layout: LayoutId,
  dir: string,
  jobs: WorkerJob[],
  accept: (start: number, lines: string[]) => void,
  source: SceneSource,
  holdOut: string[],
): Promise<void> {
  return new Promise((resolve, reject) => {
    const queue = jobs.slice();
    const pool: Worker[] = [];
    let running = n;
    let failed = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      for (const w of pool) void w.terminate();
      reject(err);
    };
    for (let k = 0; k < n; k++) {
      const worker = new Worker(workerBoot(), { eval: true, workerData: { seed, layout, dir, source, holdOut } });
      pool.push(worker);
      const feed = () => worker.postMessage(queue.shift() ?? null);
      worker.on('message', (reply: WorkerReply) => {
        if ('error' in reply) return fail(new Error(`scenes worker failed: ${reply.error}`));
        accept(reply.start, reply.lines);
        feed();
      });
      worker.on('error', (e) => fail(e));
      worker.on('exit', (code) => {
        if (failed) return;
        if (code !== 0) return fail(new Error(`scenes worker exited with code ${code}`));
        if (--running === 0) resolve();
      });
      feed();
    }
  });
}

/** The texts of scenes 0..count-1 without drawing them (fast: for statistics). */
export function sceneTexts(seed: number, count: number, start = 0, layout: LayoutId = 'habitat'): TextRecord[] {
  const out: TextRecord[] = [];
  for (let i = start; i < start + count; i++) {
    const { record } = sceneRecord(seed, i, layout);
    out.push({ captions: record.captions, short: record.short, long: record.long });
  }
  return out;
}

/** Text statistics (distinct share, top opening, length-rule pass rate, simple-word share) for records. */
export function measureTexts(records: readonly TextRecord[]): TextStats {
  return measure(
    records,
    THINGS.flatMap((t) => [t.name, t.plural]),
  );
}
