// `npm run bench -- learn [--models mini,base] [--samples 100000] [--batch 8] [--lr 3e-3] [--image-tokens all|cls]
//   [--image-size 112] [--data data/scenes] [--eval-count 500] [--ood-data data/scenes-ood] [--ood-count 400]`
//
// Does it learn? Trains each model on ShortDesc for a fixed number of training samples (not a time
// budget, so results compare across machines), then describes test pictures greedily and scores
// object recall / precision / count accuracy against the scene graphs, on the test split and on an
// out-of-distribution set (free layout: any thing on any background; built in --ood-data when missing,
// the main job's set and seed). Runs go to
// runs/learn-<model>-<samples>-<size>px-<image tokens>/ and are reused (resumed if unfinished) on the next
// call. The settings are the main job's (mainJobSettings in src/train/recipe.ts: batch 8, peak lr 3e-3 decaying to 3e-4, 112 px,
// all vision tokens, ...); the flags above override them.
// The data folder must exist (npm run main builds data/scenes). No peer: the last line has no speedup.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { openDataset } from '../src/data/dataset.ts';
import { resolveConfig } from '../src/train/config.ts';
import { isPresetName, PRESET_NAMES } from '../src/model/config.ts';
import { train } from '../src/train/trainer.ts';
import { bestCheckpoint, listCheckpoints, resolveCheckpoint } from '../src/train/checkpoint.ts';
import { loadTrainerState } from '../src/train/state.ts';
import { scoreTestSplit } from '../src/eval/score-split.ts';
import { mainJobSettings } from '../src/train/recipe.ts';
import { OOD_DEFAULTS, ensureOodSet } from '../src/cli/ood-set.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : undefined;
}
const models = (arg('models') ?? 'mini,base').split(',');
const samples = Number(arg('samples') ?? '100000');
const data = arg('data') ?? 'data/scenes';
const evalCount = Number(arg('eval-count') ?? '500');
const oodData = arg('ood-data') ?? OOD_DEFAULTS.dir;
const oodCount = Number(arg('ood-count') ?? String(OOD_DEFAULTS.count));
// Flags that override the main job's settings (a given --lr decays to a tenth of itself, as the main job's).
const lrFlag = arg('lr');
const flags: [string, string | undefined][] = [
  ['batchSize', arg('batch')],
  ['lr', lrFlag],
  ['minLr', lrFlag === undefined ? undefined : String(Number(lrFlag) / 10)],
  ['model.image_tokens', arg('image-tokens')],
  ['model.image_size', arg('image-size')],
];
const overrides = flags.filter((f): f is [string, string] => f[1] !== undefined);
const unknown = models.filter((m) => !isPresetName(m));
if (unknown.length) {
  console.error(`--models: unknown preset ${unknown.join(', ')} (known: ${PRESET_NAMES.join(', ')})`);
  process.exit(2);
}
if (!existsSync(path.join(data, 'manifest.jsonl'))) {
  console.error(`${data}: no dataset (build it with "npm run main" or "nanovlm data scenes --out ${data}")`);
  process.exit(2);
}
const dataset = openDataset(data);
const oodSet =
  oodCount > 0 ? await ensureOodSet(oodData, oodCount, OOD_DEFAULTS.seed, { say: console.log }) : null;
const out: Record<string, unknown> = {};
for (const name of models.filter(isPresetName)) {
  const cfg = resolveConfig({
    model: name,
    recipe: mainJobSettings(name),
    overrides: [['data', data], ['text', 'short'], ...overrides],
  });
  const { batchSize, lr } = cfg.train;
  const { image_size: imageSize, image_tokens: imageTokens } = cfg.model;
  const steps = Math.ceil(samples / batchSize);
  cfg.train.steps = steps;
  const runDir = path.join('runs', `learn-${name}-${samples}-${imageSize}px-${imageTokens}`);
  const t0 = performance.now();
  const exists = listCheckpoints(runDir).length > 0;
  const st = exists ? loadTrainerState(resolveCheckpoint(runDir)) : null;
  let trainSeconds = st?.trainSeconds ?? 0;
  if (!st?.finished) {
    console.log(
      `${name}: training ${steps} steps × ${batchSize} samples in ${runDir}${exists ? ' (resuming)' : ''}`,
    );
    const summary = exists ? await train({ resume: runDir }) : await train({ config: cfg, runDir });
    trainSeconds = loadTrainerState(summary.checkpoint).trainSeconds;
    console.log(
      `${name}: ${summary.samplesPerSecond.toFixed(1)} samples/s, peak RSS ${summary.peakRssMB.toFixed(0)} MB`,
    );
  }
  const modelDir = bestCheckpoint(runDir) ?? resolveCheckpoint(runDir);
  const state = loadTrainerState(modelDir);
  const { totals, predictions } = await scoreTestSplit(modelDir, dataset, { limit: evalCount });
  for (const p of predictions.slice(0, 3)) console.log(`  ${p.image}: ${p.generated}`);
  console.log(
    `${name}: recall ${totals.recall.toFixed(3)}, precision ${totals.precision.toFixed(3)}, ` +
      `count accuracy ${totals.countAccuracy.toFixed(3)} on ${totals.images} test pictures ` +
      `(best val loss ${state.bestValLoss?.toFixed(4)} at step ${state.bestStep})`,
  );
  const ood = oodSet ? (await scoreTestSplit(modelDir, oodSet, { split: 'all', quiet: true })).totals : null;
  if (ood) {
    console.log(
      `${name}: out of distribution recall ${ood.recall.toFixed(3)}, precision ${ood.precision.toFixed(3)}, ` +
        `count accuracy ${ood.countAccuracy.toFixed(3)} on ${ood.images} pictures`,
    );
  }
  out[name] = {
    batch: batchSize,
    lr,
    imageSize,
    imageTokens,
    samples: state.samplesSeen,
    steps: state.step,
    trainSeconds: Math.round(trainSeconds),
    bestValLoss: state.bestValLoss,
    valImageGain: state.lastImageGain,
    recall: Number(totals.recall.toFixed(4)),
    precision: Number(totals.precision.toFixed(4)),
    countAccuracy: Number(totals.countAccuracy.toFixed(4)),
    testImages: totals.images,
    oodRecall: ood ? Number(ood.recall.toFixed(4)) : null,
    oodPrecision: ood ? Number(ood.precision.toFixed(4)) : null,
    oodCountAccuracy: ood ? Number(ood.countAccuracy.toFixed(4)) : null,
    oodImages: ood?.images ?? 0,
    seconds: Math.round((performance.now() - t0) / 1000),
  };
}
console.log(
  JSON.stringify({
    bench: 'learn',
    samples,
    targets: { miniRecall: 0.6, miniPrecision: 0.8 },
    models: out,
  }),
);
