// `npm run bench -- probe [--model DIR] [--preset mini] [--data data/scenes] [--ood-data data/scenes-ood]
//   [--train-count 1500] [--eval-count 500] [--ood-count 400] [--epochs 30] [--patch-epochs 8]
//   [--max-patches 20000] [--ood-fit 0] [--seed 1]`
//
// Where is object identity lost? Linear probes (logistic regression, src/eval/linear-probe.ts) on the
// frozen features of a vision encoder, fitted on train pictures of --data and scored on its test split
// and on the out-of-distribution set (free layout; built in --ood-data when missing):
// - pooled features ([CLS]; [CLS] + mean patch token; mean of the stem's patch vectors) -> which kinds
//   of things the picture holds; score = share of the kinds present found among the probe's top k,
//   k = kinds present;
// - each patch token (encoder output; stem alone) -> which thing covers this patch (scene boxes), or
//   background; score = accuracy on the patches a thing covers, and on background patches.
// With --ood-fit N the probes are also fitted on N other free-layout pictures (built in <ood-data>-fit,
// seed + 1) and scored on the OOD set: do the features carry the things once the background tells nothing?
// For a random-init encoder (the trained model's config, or --preset with the main job's 112 px) and,
// with --model DIR, the trained one. Baselines: the train split's commonest kinds without any picture,
// and the commonest thing for every thing patch. No peer to time against: the last line has no speedup.
import path from 'node:path';
import { existsSync } from 'node:fs';
import { imagePath, openDataset, type Dataset, type DatasetRecord } from '../src/data/dataset.ts';
import { loadImage } from '../src/data/image.ts';
import { isPresetName, presetConfig, type ModelConfig } from '../src/model/config.ts';
import { readModelFolder } from '../src/model/folder.ts';
import { createModel } from '../src/model/nanovlm.ts';
import type { VisionEncoder } from '../src/model/vision.ts';
import { loadKnownObjects } from '../src/eval/objects.ts';
import {
  accuracy,
  fitMultiLabel,
  fitSoftmax,
  predict,
  topKFound,
  type Features,
} from '../src/eval/linear-probe.ts';
import { encoderFeatures, gridSide, type EncoderFeatures } from '../src/eval/probe-features.ts';
import { patchCover } from '../src/data/patch-cover.ts';
import { OOD_DEFAULTS, ensureOodSet } from '../src/cli/ood-set.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : undefined;
}
function fail(msg: string): never {
  console.error(msg);
  process.exit(2);
}
function intArg(name: string, fallback: number): number {
  const v = Number(arg(name) ?? fallback);
  if (!Number.isInteger(v) || v < 0) fail(`--${name}: expected a whole number, got ${arg(name)}`);
  return v;
}
const modelDir = arg('model');
const data = arg('data') ?? 'data/scenes';
const oodData = arg('ood-data') ?? OOD_DEFAULTS.dir;
const trainCount = intArg('train-count', 1500);
const evalCount = intArg('eval-count', 500);
const oodCount = intArg('ood-count', OOD_DEFAULTS.count);
const epochs = intArg('epochs', 30);
const patchEpochs = intArg('patch-epochs', 8);
const maxPatches = intArg('max-patches', 20000);
const oodFitCount = intArg('ood-fit', 0);
const seed = intArg('seed', 1);
const presetName = arg('preset') ?? 'mini';
if (!isPresetName(presetName)) fail(`--preset: unknown preset ${presetName}`);
if (!existsSync(path.join(data, 'manifest.jsonl'))) {
  fail(`${data}: no dataset (build it with "npm run main" or "nanovlm data scenes --out ${data}")`);
}

const trained = modelDir ? readModelFolder(modelDir) : null;
const config: ModelConfig = trained?.config ?? {
  ...presetConfig(presetName),
  image_size: Math.min(112, presetConfig(presetName).image_size),
};
const encoders: [string, VisionEncoder][] = [['random', createModel(config, { seed }).vision]];
if (trained) encoders.push(['trained', trained.model.vision]);

const names = loadKnownObjects().map((o) => o.name);
const kindIndex = new Map(names.map((n, i) => [n, i]));
const K = names.length;

interface PictureSet {
  label: string;
  records: DatasetRecord[];
  images: Float32Array[];
  kinds: number[][];
  /** Per patch: 0 = background, 1 + kind index = the thing covering it. */
  cover: Int32Array;
}

async function pictureSet(label: string, dataset: Dataset, records: DatasetRecord[]): Promise<PictureSet> {
  const withMeta = records.filter((r) => r.meta && Array.isArray((r.meta as { objects?: unknown }).objects));
  const side = config.image_size / config.patch_size;
  const images: Float32Array[] = [];
  for (const r of withMeta) images.push(await loadImage(imagePath(dataset, r), config.image_size));
  const objects = withMeta.map(
    (r) => (r.meta as { objects: { name: string; boxes?: [number, number, number, number][] }[] }).objects,
  );
  const kinds = objects.map((os) => [
    ...new Set(os.map((o) => kindIndex.get(o.name)).filter((k): k is number => k !== undefined)),
  ]);
  const cover = Int32Array.from(
    objects.flatMap((os) => patchCover(os, side).map((n) => (n === null ? 0 : 1 + kindIndex.get(n)!))),
  );
  return { label, records: withMeta, images, kinds, cover };
}

const t0 = performance.now();
const dataset = openDataset(data);
const train = await pictureSet(
  'train',
  dataset,
  dataset.records.filter((r) => r.split === 'train').slice(0, trainCount),
);
const testRecords = dataset.records.filter((r) => r.split === 'test');
const test = await pictureSet('test', dataset, evalCount > 0 ? testRecords.slice(0, evalCount) : testRecords);
const evalSets = [test];
if (oodCount > 0) {
  const ood = await ensureOodSet(oodData, oodCount, OOD_DEFAULTS.seed, { say: console.log });
  evalSets.push(await pictureSet('ood', ood, ood.records));
}
let oodFit: PictureSet | null = null;
if (oodFitCount > 0) {
  const dir = `${oodData}-fit`;
  const fitSet = await ensureOodSet(dir, oodFitCount, OOD_DEFAULTS.seed + 1, { say: console.log });
  oodFit = await pictureSet('oodFit', fitSet, fitSet.records);
}
if (!train.records.length || !test.records.length)
  fail(`${data}: needs train and test pictures with scene meta`);
console.log(
  `probe: ${train.records.length} train, ${evalSets.map((s) => `${s.records.length} ${s.label}`).join(', ')} pictures at ` +
    `${config.image_size} px (${gridSide(encoders[0]![1]) ** 2} patches), ${config.preset} encoder`,
);

const round = (v: number) => Number(v.toFixed(4));

/** The prior: every picture gets the train split's kind frequencies as scores. */
function priorScores(n: number): Float32Array {
  const freq = new Float32Array(K);
  for (const ks of train.kinds) for (const k of ks) freq[k]! += 1;
  const out = new Float32Array(n * K);
  for (let i = 0; i < n; i++) out.set(freq, i * K);
  return out;
}

/** Patch rows of `f` picked by `keep`, as features with their classes. */
function pickPatches(f: Features, cover: Int32Array, keep: number[]): { x: Features; y: Int32Array } {
  const x: Features = { n: keep.length, dim: f.dim, data: new Float32Array(keep.length * f.dim) };
  keep.forEach((p, i) => x.data.set(f.data.subarray(p * f.dim, (p + 1) * f.dim), i * f.dim));
  return { x, y: Int32Array.from(keep.map((p) => cover[p]!)) };
}

/** Training patches: every thing patch (up to the cap) and as many background ones, seeded. */
function trainingPatches(cover: Int32Array): number[] {
  const things: number[] = [];
  const background: number[] = [];
  cover.forEach((c, p) => (c ? things : background).push(p));
  let state = seed >>> 0 || 1;
  const shuffle = (a: number[]) => {
    for (let i = a.length - 1; i > 0; i--) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      const j = state % (i + 1);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  };
  const half = Math.floor(maxPatches / 2);
  const t = shuffle(things).slice(0, half);
  return [...t, ...shuffle(background).slice(0, t.length)];
}

function patchScores(f: Features, cover: Int32Array, probe: ReturnType<typeof fitSoftmax>['probe']) {
  const idx = Array.from(cover.keys());
  const thing = idx.filter((p) => cover[p]! > 0);
  const bg = idx.filter((p) => cover[p] === 0);
  const score = (keep: number[]) => {
    const { x, y } = pickPatches(f, cover, keep);
    return round(accuracy(predict(probe, x), K + 1, y));
  };
  return { thingPatches: score(thing), backgroundPatches: score(bg) };
}

const baselines: Record<string, unknown> = {};
for (const s of evalSets) {
  const thingCounts = new Map<number, number>();
  for (const c of train.cover) if (c) thingCounts.set(c, (thingCounts.get(c) ?? 0) + 1);
  const commonest = [...thingCounts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 1;
  const thingPatches = Array.from(s.cover).filter((c) => c > 0);
  baselines[s.label] = {
    kindsPrior: round(topKFound(priorScores(s.records.length), K, s.kinds)),
    thingPatchesCommonest: round(
      thingPatches.filter((c) => c === commonest).length / Math.max(1, thingPatches.length),
    ),
    thingPatchShare: round(thingPatches.length / Math.max(1, s.cover.length)),
  };
}

/** Probes fitted on `fit` pictures and scored on each of `scored`: { probe name: { set label: score } }. */
function probes(fit: PictureSet, fitF: EncoderFeatures, scored: [PictureSet, EncoderFeatures][]) {
  const res: Record<string, unknown> = {};
  for (const key of ['cls', 'clsMean', 'stemMean'] as const) {
    const { probe } = fitMultiLabel(fitF[key], fit.kinds, K, { epochs, seed });
    res[`kinds.${key}`] = Object.fromEntries(
      scored.map(([s, f]) => [s.label, round(topKFound(predict(probe, f[key]), K, s.kinds))]),
    );
  }
  const keep = trainingPatches(fit.cover);
  for (const key of ['patches', 'stemPatches'] as const) {
    const { x, y } = pickPatches(fitF[key], fit.cover, keep);
    const { probe } = fitSoftmax(x, y, K + 1, { epochs: patchEpochs, seed });
    res[`cover.${key}`] = Object.fromEntries(
      scored.map(([s, f]) => [s.label, patchScores(f[key], s.cover, probe)]),
    );
  }
  return res;
}

const results: Record<string, Record<string, unknown>> = {};
for (const [label, vision] of encoders) {
  const t = performance.now();
  const evalF = evalSets.map((s) => encoderFeatures(vision, s.images));
  const res = probes(
    train,
    encoderFeatures(vision, train.images),
    evalSets.map((s, i) => [s, evalF[i]!]),
  );
  // Fitted on free-layout pictures too: whether the features carry the things at all once the
  // background tells nothing, apart from whether a probe fitted on habitat pictures transfers.
  const oodIndex = evalSets.findIndex((s) => s.label === 'ood');
  if (oodFit && oodIndex >= 0) {
    res.fitOnFree = probes(oodFit, encoderFeatures(vision, oodFit.images), [
      [evalSets[oodIndex]!, evalF[oodIndex]!],
    ]);
  }
  res.seconds = Math.round((performance.now() - t) / 1000);
  results[label] = res;
  console.log(
    `${label} encoder (${res.seconds} s), probes fitted on ${train.records.length} habitat pictures:`,
  );
  for (const [k, v] of Object.entries(res))
    if (k.includes('.')) console.log(`  ${k.padEnd(18)} ${JSON.stringify(v)}`);
  if (res.fitOnFree) {
    console.log(`  fitted on ${oodFit!.records.length} other free-layout pictures:`);
    for (const [k, v] of Object.entries(res.fitOnFree as object))
      console.log(`  ${k.padEnd(18)} ${JSON.stringify(v)}`);
  }
}
console.log(`baselines: ${JSON.stringify(baselines)}`);

const kindsOf = (r: Record<string, unknown> | undefined, set: string) =>
  (r?.['kinds.clsMean'] as Record<string, number> | undefined)?.[set];
const met = results.trained
  ? evalSets.every((s) => kindsOf(results.trained, s.label)! > kindsOf(results.random, s.label)!)
  : null;
console.log(
  JSON.stringify({
    bench: 'probe',
    model: modelDir ?? null,
    preset: config.preset,
    imageSize: config.image_size,
    pictures: Object.fromEntries([train, ...evalSets].map((s) => [s.label, s.records.length])),
    baselines,
    random: results.random,
    trained: results.trained ?? null,
    peer: 'none: a probe measures what the features carry, there is nothing to time against (no speedup)',
    target:
      'the trained encoder finds more kinds than the random-init one ([CLS] + mean patch probe) on test and ood',
    met,
    seconds: Math.round((performance.now() - t0) / 1000),
  }),
);
