/**
 * `nanovlm main` (npm run main): the whole pipeline on the built-in data, in one command.
 *
 * 1. Scenes: `data/scenes/` with --count pictures (default 30,000). Reused when its manifest holds that
 *    many records; rebuilt when the count differs.
 * 2. Tokenizer: `data/scenes/tokenizer.json` (train split, all texts, 4096 tokens). Reused when present,
 *    also after the scenes were rebuilt (their words do not change with the count or seed).
 * 3. Training: mini on ShortDesc in `runs/<name>/` for --minutes (default 15), the schedule fitted to the
 *    budget. On a second run:
 *      - an unfinished run (stopped by Ctrl-C, a kill, or the clock) is resumed exactly, with --minutes
 *        as the new budget;
 *      - a finished run is not trained again unless --extend is given: then it continues for another
 *        --minutes, its cosine schedule stretched to the new end (a warm restart at a lower rate).
 * 4. Evaluation: greedy descriptions of held-out test pictures with the best checkpoint, and of an
 *    out-of-distribution set (`data/scenes-ood/`, --ood-count free-layout pictures: any thing on any
 *    background); object recall, precision and count accuracy against the scene graph for both; a
 *    handful printed. Written to `runs/<name>/test_predictions.jsonl`, `ood_predictions.jsonl` and
 *    `report.json`.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { formatHelp, parseArgs, type CommandSpec, type Schema } from './args.ts';
import { printSummary } from './train.ts';
import { UserError } from '../util/errors.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';
import { formatDuration, Progress } from '../util/progress.ts';
import { MANIFEST, openDataset } from '../data/dataset.ts';
import { generateScenes, MAX_SCENES, type SceneSource } from '../data/scenes/index.ts';
import { trainTokenizer } from '../tokenizer/index.ts';
import { isPresetName } from '../model/config.ts';
import { resolveConfig } from '../train/config.ts';
import { mainJobSettings, RECIPE_NAMES, type RecipeName } from '../train/recipe.ts';
import { bestCheckpoint, listCheckpoints, resolveCheckpoint } from '../train/checkpoint.ts';
import { loadTrainerState } from '../train/state.ts';
import { train, type TrainSummary } from '../train/trainer.ts';
import {
  objectReport,
  predictionConsistency,
  scoreTestSplit,
  type ScoredPrediction,
} from '../eval/score-split.ts';
import type { ObjectTotals } from '../eval/objects.ts';
import { readMetrics } from '../train/metrics.ts';
import { OOD_DEFAULTS, ensureOodSet } from './ood-set.ts';

const options = {
  minutes: { type: 'number', help: 'training time budget in minutes', default: 15 },
  model: {
    type: 'string',
    help: 'model preset',
    choices: ['tiny', 'mini', 'base', 'large'],
    default: 'mini',
  },
  count: { type: 'integer', help: 'built-in scenes to generate', default: 30000, min: 1, max: MAX_SCENES },
  source: {
    type: 'string',
    help: 'pictures: clipart, photos (Debian packages, see src/data/photos) or mixed',
    choices: ['clipart', 'photos', 'mixed'],
    default: 'clipart',
  },
  data: {
    type: 'string',
    help: 'scenes folder',
    defaultHelp: 'data/scenes, data/photos or data/mixed (by --source)',
  },
  name: {
    type: 'string',
    help: 'run name, folder runs/<name>',
    defaultHelp: 'main, main-photos or main-mixed (by --source)',
  },
  recipe: {
    type: 'string',
    help: 'grounded: captions and the patch loss; captions: the descriptions alone, as the paper (src/train/recipe.ts)',
    choices: RECIPE_NAMES,
    default: 'grounded',
  },
  text: {
    type: 'string',
    help: 'descriptions to learn',
    choices: ['short', 'long', 'both'],
    default: 'short',
  },
  'eval-count': {
    type: 'integer',
    help: 'test pictures to describe and score (0 = all)',
    default: 500,
    min: 0,
  },
  show: { type: 'integer', help: 'descriptions to print', default: 8, min: 0 },
  extend: { type: 'boolean', help: 'train a finished run further for --minutes' },
  seed: { type: 'integer', help: 'seed of the model initialisation and the data order', default: 1337 },
  'scenes-seed': { type: 'integer', help: 'seed of the scenes (as nanovlm data scenes --seed)', default: 1 },
  'ood-count': {
    type: 'integer',
    help: 'out-of-distribution pictures (free layout) to describe and score (0 = none)',
    default: OOD_DEFAULTS.count,
    min: 0,
  },
  'ood-data': {
    type: 'string',
    help: 'folder of the out-of-distribution pictures',
    default: OOD_DEFAULTS.dir,
  },
  'ood-seed': {
    type: 'integer',
    help: 'seed of the out-of-distribution pictures',
    default: OOD_DEFAULTS.seed,
  },
  json: { type: 'boolean', help: 'print one JSON object (no progress output)' },
} as const satisfies Schema;

const spec: CommandSpec<typeof options> = {
  name: 'nanovlm main',
  usage:
    'usage: nanovlm main [--minutes 15] [--model mini] [--count 30000] [--source clipart|photos|mixed] [--name main] [--json] [--key=value ...]',
  summary:
    'Builds the built-in scenes and a tokenizer (reused when present), trains a model on ShortDesc for a\n' +
    'bounded time in runs/<name>/ (an unfinished run is resumed; --extend trains a finished one further),\n' +
    'then describes held-out test pictures and scores object recall/precision against the scene graph.\n' +
    'Extra --key=value settings go to the trainer (see nanovlm train --help).',
  allowExtra: true,
  options,
  examples: [
    'nanovlm main',
    'nanovlm main --minutes 30 --name long',
    'nanovlm main --extend --minutes 10',
    'nanovlm main --model.image_size=224 --name px224',
  ],
};

function manifestCount(dir: string): number {
  const file = path.join(dir, MANIFEST);
  if (!existsSync(file)) return -1;
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim()).length;
}

/** Which pictures a scenes folder holds (its info.json), or null when it does not say. */
function picturesOf(dir: string): string | null {
  try {
    const info = JSON.parse(readFileSync(path.join(dir, 'info.json'), 'utf8')) as { pictures?: string };
    return info.pictures ?? 'clipart';
  } catch {
    return null;
  }
}

export async function run(argv: string[]): Promise<number> {
  const { options: o, extra, help } = parseArgs(argv, spec);
  if (help) {
    console.log(formatHelp(spec as unknown as CommandSpec<Schema>));
    return 0;
  }
  const source = o.source as SceneSource;
  const data = o.data ?? (source === 'clipart' ? 'data/scenes' : `data/${source}`);
  const name = o.name ?? (source === 'clipart' ? 'main' : `main-${source}`);
  if (!isPresetName(o.model)) throw new UserError(`--model: unknown preset ${o.model}`, 2);
  if (!(o.minutes > 0)) throw new UserError('--minutes must be positive', 2);
  const say = (msg: string) => {
    if (!o.json) console.error(msg);
  };
  const t0 = performance.now();

  // 1. scenes
  // A folder of other pictures (its info.json says which) is rebuilt, not reused.
  const pictures = picturesOf(data);
  const have = pictures === null || pictures === source ? manifestCount(data) : -1;
  if (have === o.count) say(`scenes: reusing ${data} (${have} pictures)`);
  else {
    say(
      have > 0
        ? `scenes: ${data} has ${have} pictures, ${o.count} wanted: rebuilding`
        : `scenes: building ${o.count} pictures in ${data}`,
    );
    const progress = new Progress({ total: o.count, label: 'scenes', unit: 'img', quiet: o.json });
    const r = await generateScenes({
      out: data,
      count: o.count,
      seed: o.scenesSeed,
      source,
      overwrite: true, // only the scenes' own files are replaced; a tokenizer or a user's file stays
      onProgress: (done: number) => progress.update(done),
    });
    progress.finish();
    say(`scenes: ${r.count} pictures in ${r.seconds.toFixed(0)} s`);
  }
  const dataset = openDataset(data);

  // 2. tokenizer
  const tokFile = path.join(data, 'tokenizer.json');
  if (existsSync(tokFile))
    say(`tokenizer: reusing ${tokFile}`); // never replaced: it may be a user's own
  else {
    const t = performance.now();
    const texts = dataset.records
      .filter((r) => r.split === 'train')
      .flatMap((r) =>
        [r.short, r.long, ...r.captions].filter((x): x is string => typeof x === 'string' && x.length > 0),
      );
    const tok = trainTokenizer(texts, { vocabSize: 4096 });
    await tok.save(tokFile);
    say(
      `tokenizer: ${tok.vocabSize} tokens trained on ${texts.length} texts in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
  }

  // 3. training
  const runDir = path.join('runs', name);
  let summary: TrainSummary | null = null;
  const hasRun = listCheckpoints(runDir).length > 0 || existsSync(path.join(runDir, 'checkpoints', 'last'));
  let trainNote: string;
  if (!hasRun) {
    const cfg = resolveConfig({
      model: o.model,
      recipe: mainJobSettings(o.model, o.recipe as RecipeName),
      overrides: [
        ['data', data],
        ['text', o.text],
        ['minutes', String(o.minutes)],
        ['seed', String(o.seed)],
        ...extra,
      ],
    });
    say(`training: ${o.model} on ${o.text} descriptions for ${o.minutes} min in ${runDir}`);
    summary = await train({ config: cfg, runDir, quiet: o.json });
    trainNote = 'trained from scratch';
  } else {
    const ck = resolveCheckpoint(runDir);
    const st = loadTrainerState(ck);
    if (extra.length)
      throw new UserError(`${runDir} exists: settings cannot change; use another --name for a new run`, 2);
    const was = { model: st.config.model.preset, text: st.config.train.text, data: st.config.train.data };
    if (was.model !== o.model || was.text !== o.text || path.resolve(was.data) !== path.resolve(data)) {
      throw new UserError(
        `${runDir} holds a ${was.model} run on ${was.text} descriptions of ${was.data}; ` +
          `use another --name for --model ${o.model} --text ${o.text} --data ${data}`,
        2,
      );
    }
    if (!st.finished) {
      say(
        `training: resuming ${runDir} at step ${st.step}/${st.totalSteps ?? '?'} for up to ${o.minutes} min`,
      );
      summary = await train({ resume: runDir, resumeOverrides: { minutes: o.minutes }, quiet: o.json });
      trainNote = `resumed at step ${st.step}`;
    } else if (o.extend) {
      const rows = readMetrics(path.join(runDir, 'metrics.jsonl')).filter((r) => r.samples_per_s);
      const rate = rows.length
        ? rows.slice(-10).reduce((a, r) => a + r.samples_per_s!, 0) / Math.min(10, rows.length)
        : 0;
      const stepsPerMin = (rate * 60) / (st.config.train.batchSize * st.config.train.gradAccum);
      if (!(stepsPerMin > 0))
        throw new UserError(`${runDir}/metrics.jsonl: no speed measurements to size the extension`);
      const steps = (st.totalSteps ?? st.step) + Math.max(1, Math.floor(stepsPerMin * o.minutes * 0.95));
      say(`training: extending ${runDir} from step ${st.step} to ${steps} (about ${o.minutes} min)`);
      summary = await train({
        resume: runDir,
        resumeOverrides: { minutes: o.minutes, steps },
        quiet: o.json,
      });
      trainNote = `extended from step ${st.step}`;
    } else {
      say(`training: ${runDir} is finished (step ${st.step}); not training (use --extend to train further)`);
      trainNote = 'reused a finished run';
    }
  }
  const defaultName = source === 'clipart' ? 'main' : `main-${source}`;
  const again = `nanovlm main${source === 'clipart' ? '' : ` --source ${source}`}${name === defaultName ? '' : ` --name ${name}`}${o.data === undefined ? '' : ` --data ${data}`} (continues this run)`;
  if (summary && !o.json) printSummary(summary, (l) => console.error(l), again);
  if (summary?.stoppedBy === 'signal') return 130;

  // 4. evaluation on the test split
  const modelDir = bestCheckpoint(runDir) ?? resolveCheckpoint(runDir);
  // A small --count can leave the test split (2% of scenes) empty: the val split stands in, said so.
  const split = dataset.records.some((r) => r.split === 'test') ? 'test' : 'val';
  say(`evaluating ${modelDir} on the ${split} split`);
  const st = loadTrainerState(modelDir);
  const { totals, predictions } = await scoreTestSplit(modelDir, dataset, {
    limit: o.evalCount,
    field: o.text === 'long' ? 'long' : 'short',
    quiet: o.json,
    split,
  });
  await writeFileAtomic(
    path.join(runDir, 'test_predictions.jsonl'),
    predictions.map((p) => JSON.stringify(p)).join('\n') + '\n',
  );
  let ood: { totals: ObjectTotals; predictions: ScoredPrediction[] } | null = null;
  if (o.oodCount > 0) {
    const oodSet = await ensureOodSet(o.oodData, o.oodCount, o.oodSeed, { say, quiet: o.json });
    say(`evaluating ${modelDir} on ${o.oodData} (out of distribution)`);
    ood = await scoreTestSplit(modelDir, oodSet, {
      field: o.text === 'long' ? 'long' : 'short',
      quiet: o.json,
      split: 'all',
    });
    await writeFileAtomic(
      path.join(runDir, 'ood_predictions.jsonl'),
      ood.predictions.map((p) => JSON.stringify(p)).join('\n') + '\n',
    );
  }
  const consistency = predictionConsistency(predictions);
  const oodConsistency = ood ? predictionConsistency(ood.predictions) : null;
  const report = {
    run: runDir,
    model: modelDir,
    preset: o.model,
    training: trainNote,
    step: st.step,
    samplesSeen: st.samplesSeen,
    trainSeconds: Math.round(st.trainSeconds),
    valLoss: st.lastValLoss,
    bestValLoss: st.bestValLoss,
    valImageGain: st.lastImageGain,
    peakRssMB: summary ? Math.round(summary.peakRssMB) : null,
    samplesPerSecond: summary ? Number(summary.samplesPerSecond.toFixed(1)) : null,
    test: { split, ...objectReport(totals, consistency) },
    ood: ood ? { data: o.oodData, layout: 'free', ...objectReport(ood.totals, oodConsistency!) } : null,
    seconds: Math.round((performance.now() - t0) / 1000),
  };
  await writeJsonAtomic(path.join(runDir, 'report.json'), report);
  if (o.json) {
    console.log(JSON.stringify({ ...report, examples: predictions.slice(0, o.show) }));
    return 0;
  }
  console.log('');
  console.log(`Descriptions of held-out ${split} pictures (${path.join(data, 'images')}), greedy:`);
  for (const p of predictions.slice(0, o.show)) {
    const there = Object.entries(p.present)
      .map(([n, c]) => `${c} ${n}`)
      .join(', ');
    console.log(`\n  ${p.image}  [in the picture: ${there}]`);
    console.log(`  ${p.generated}`);
  }
  if (ood) {
    console.log(`\nOut of distribution (${o.oodData}: any thing on any background), greedy:`);
    for (const p of ood.predictions.slice(0, Math.min(3, o.show))) {
      const there = Object.entries(p.present)
        .map(([n, c]) => `${c} ${n}`)
        .join(', ');
      console.log(`\n  ${p.image}  [in the picture: ${there}]`);
      console.log(`  ${p.generated}`);
    }
  }
  console.log('');
  const col = (f: (t: ObjectTotals) => number) =>
    `${f(totals).toFixed(3)}${ood ? `   ${f(ood.totals).toFixed(3)}` : ''}`;
  if (ood) console.log(`                  ${split.padEnd(5)}   ood`);
  console.log(
    `object recall     ${col((t) => t.recall)}  (things in the picture that the description names)`,
  );
  console.log(`object precision  ${col((t) => t.precision)}  (named things that are really there)`);
  console.log(
    `count accuracy    ${col((t) => t.countAccuracy)}  (over ${totals.countJudged}${ood ? ` / ${ood.totals.countJudged}` : ''} stated counts)`,
  );
  console.log(
    `consistent        ${consistency.share.toFixed(3)}${oodConsistency ? `   ${oodConsistency.share.toFixed(3)}` : ''}  (descriptions free of self-contradiction and of numbers the picture lacks)`,
  );
  if (report.valImageGain !== null) {
    console.log(
      `image gain        ${report.valImageGain.toFixed(3)}  (val loss with mismatched pictures minus the real one, nats per token)`,
    );
  }
  console.log(
    `on ${totals.images} ${split} pictures${ood ? ` and ${ood.totals.images} ood pictures` : ''}; ` +
      `model ${modelDir} (step ${st.step}); total ${formatDuration(report.seconds)}`,
  );
  console.log(
    `run folder: ${runDir} (report.json, test_predictions.jsonl, ood_predictions.jsonl, metrics.jsonl, loss.png, samples.jsonl)`,
  );
  return 0;
}
