/**
 * `nanovlm eval scaling`: the paper's question with numbers. Trains each model (mini, base, large) on
 * each text (ShortDesc, LongDesc) twice, once for the same number of training samples and once for the
 * same minutes, with the main job's settings; then measures each: object recall / precision / counts on
 * the test split and on the out-of-distribution set, consistency, val perplexity and link-grammar
 * acceptance. Writes scaling.md, scaling.png and scaling.json into --out. Runs are folders under --out
 * and are reused (resumed when unfinished) by the next call, so a long table can be built in pieces.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseCommand, type CommandSpec, type Schema } from './args.ts';
import { predictionConsistency, scoreTestSplit } from '../eval/score-split.ts';
import { mainJobSettings } from '../train/recipe.ts';
import { OOD_DEFAULTS, ensureOodSet } from './ood-set.ts';
import { openDataset, type Dataset } from '../data/dataset.ts';
import { countParams, isPresetName, type PresetName } from '../model/config.ts';
import { loadModel } from '../model/pipeline.ts';
import { bestCheckpoint, listCheckpoints, readTrainerState, resolveCheckpoint } from '../train/checkpoint.ts';
import { resolveConfig } from '../train/config.ts';
import { train, type TrainerState } from '../train/trainer.ts';
import { checkGrammar } from '../eval/grammar.ts';
import { perplexity } from '../eval/perplexity.ts';
import { scalingChart, scalingMarkdown, type ScalingRow, type ScalingScores } from '../eval/scaling-table.ts';
import { sentences } from '../eval/text.ts';
import type { ObjectTotals } from '../eval/objects.ts';
import type { ConsistencyTotals } from '../eval/consistency.ts';
import { UserError } from '../util/errors.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/fs.ts';

export const scalingSpec = {
  name: 'nanovlm eval scaling',
  summary:
    'Train mini/base/large on ShortDesc and LongDesc at equal training samples and at equal minutes, then ' +
    'measure in-distribution and out-of-distribution object scores, consistency, val perplexity and grammar. ' +
    'Writes scaling.md, scaling.png and scaling.json; finished runs are reused.',
  examples: [
    'nanovlm eval scaling',
    'nanovlm eval scaling --models mini,base --texts short --samples 50000 --minutes 0',
  ],
  usage:
    'usage: nanovlm eval scaling [--samples 100000] [--minutes 15] [--models mini,base,large] [--texts short,long] [--out runs/scaling]',
  options: {
    data: {
      type: 'string',
      help: 'scenes folder with its tokenizer (npm run main builds it)',
      default: 'data/scenes',
    },
    out: { type: 'string', help: 'folder of the runs and the table', default: 'runs/scaling' },
    models: { type: 'string', help: 'presets, comma-separated', default: 'mini,base,large' },
    texts: { type: 'string', help: 'texts to learn, comma-separated (short, long)', default: 'short,long' },
    samples: {
      type: 'integer',
      help: 'training samples per run at equal samples (0 = skip)',
      default: 100000,
      min: 0,
    },
    minutes: {
      type: 'number',
      help: 'training minutes per run at equal time (0 = skip)',
      default: 15,
      min: 0,
    },
    'eval-count': { type: 'integer', help: 'test pictures to describe (0 = all)', default: 500, min: 0 },
    'ood-data': {
      type: 'string',
      help: 'out-of-distribution pictures (built when missing)',
      default: OOD_DEFAULTS.dir,
    },
    'ood-count': {
      type: 'integer',
      help: 'out-of-distribution pictures (0 = none)',
      default: OOD_DEFAULTS.count,
      min: 0,
    },
    'ppl-samples': { type: 'integer', help: 'val samples for perplexity (0 = all)', default: 500, min: 0 },
    grammar: { type: 'boolean', help: 'check sentences with link-grammar', default: true },
    json: { type: 'boolean', help: 'print the rows as one JSON line', default: false },
  },
} satisfies CommandSpec<Schema>;

function scores(t: ObjectTotals, c: ConsistencyTotals): ScalingScores {
  return {
    images: t.images,
    recall: t.recall,
    precision: t.precision,
    countAccuracy: t.countAccuracy,
    consistency: c.share,
  };
}

function list<T extends string>(
  flag: string,
  value: string,
  ok: (s: string) => s is T,
  known: readonly string[],
): T[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = items.filter((s) => !ok(s));
  if (bad.length || !items.length) {
    throw new UserError(
      `--${flag}: ${bad.length ? `unknown ${bad.join(', ')}` : 'nothing given'} (known: ${known.join(', ')})`,
      2,
    );
  }
  return items.filter(ok);
}

const isText = (s: string): s is 'short' | 'long' => s === 'short' || s === 'long';

/** Trains one run (or reuses/resumes it) and returns its best model folder. */
async function trainRun(
  runDir: string,
  model: PresetName,
  text: 'short' | 'long',
  budget: { samples: number } | { minutes: number },
  data: string,
  quiet: boolean,
): Promise<string> {
  const exists = listCheckpoints(runDir).length > 0;
  const st = exists ? readTrainerState<TrainerState>(resolveCheckpoint(runDir)) : null;
  // A run that used up its minutes is done even when the clock, not the schedule, stopped it.
  const done = st && (st.finished || ('minutes' in budget && st.trainSeconds >= budget.minutes * 60 * 0.9));
  if (!done) {
    if (exists) await train({ resume: runDir, quiet });
    else {
      const cfg = resolveConfig({
        model,
        recipe: mainJobSettings(model),
        overrides: [
          ['data', data],
          ['text', text],
          ...('minutes' in budget ? ([['minutes', String(budget.minutes)]] as [string, string][]) : []),
        ],
      });
      if ('samples' in budget) cfg.train.steps = Math.max(1, Math.ceil(budget.samples / cfg.train.batchSize));
      await train({ config: cfg, runDir, quiet });
    }
  }
  return bestCheckpoint(runDir) ?? resolveCheckpoint(runDir);
}

async function measure(
  modelDir: string,
  budget: ScalingRow['budget'],
  text: 'short' | 'long',
  dataset: Dataset,
  ood: Dataset | null,
  o: { evalCount: number; pplSamples: number; grammar: boolean; quiet: boolean },
): Promise<ScalingRow> {
  const state = readTrainerState<TrainerState>(modelDir);
  const test = await scoreTestSplit(modelDir, dataset, { limit: o.evalCount, field: text, quiet: o.quiet });
  const oodRes = ood
    ? await scoreTestSplit(modelDir, ood, { field: text, quiet: o.quiet, split: 'all' })
    : null;
  const vlm = await loadModel(modelDir);
  const ppl = dataset.records.some((r) => r.split === 'val')
    ? await perplexity(vlm, dataset, { split: 'val', text, maxSamples: o.pplSamples })
    : null;
  let grammatical: number | null = null;
  if (o.grammar) {
    const g = await checkGrammar(test.predictions.flatMap((p) => sentences(p.generated)));
    if (g.available) grammatical = g.acceptedShare;
  }
  return {
    budget,
    model: vlm.config.preset,
    text,
    params: countParams(vlm.config).total,
    samples: state.samplesSeen,
    steps: state.step,
    trainSeconds: Math.round(state.trainSeconds),
    test: scores(test.totals, predictionConsistency(test.predictions)),
    ood: oodRes ? scores(oodRes.totals, predictionConsistency(oodRes.predictions)) : null,
    valPerplexity: ppl?.perplexity ?? null,
    grammatical,
  };
}

export async function scaling(argv: string[]): Promise<number> {
  const parsed = parseCommand(argv, scalingSpec);
  if (!parsed) return 0;
  const o = parsed.options;
  const models = list('models', o.models, isPresetName, ['tiny', 'mini', 'base', 'large']);
  const texts = list('texts', o.texts, isText, ['short', 'long']);
  if (!o.samples && !o.minutes)
    throw new UserError('--samples and --minutes are both 0: nothing to train', 2);
  if (!existsSync(path.join(o.data, 'manifest.jsonl')) || !existsSync(path.join(o.data, 'tokenizer.json'))) {
    throw new UserError(
      `${o.data}: needs a dataset with its tokenizer.json (npm run main builds data/scenes)`,
      2,
    );
  }
  const say = (msg: string) => {
    if (!o.json) console.error(msg);
  };
  const dataset = openDataset(o.data);
  const ood =
    o.oodCount > 0
      ? await ensureOodSet(o.oodData, o.oodCount, OOD_DEFAULTS.seed, { say, quiet: o.json })
      : null;
  const budgets: ({ kind: 'samples'; samples: number } | { kind: 'minutes'; minutes: number })[] = [];
  if (o.samples) budgets.push({ kind: 'samples', samples: o.samples });
  if (o.minutes) budgets.push({ kind: 'minutes', minutes: o.minutes });
  const rows: ScalingRow[] = [];
  for (const b of budgets) {
    for (const text of texts) {
      for (const model of models) {
        const label = b.kind === 'samples' ? `${b.samples}samples` : `${b.minutes}min`;
        const runDir = path.join(o.out, `${model}-${text}-${label}`);
        say(
          `scaling: ${model} on ${text} for ${b.kind === 'samples' ? `${b.samples} samples` : `${b.minutes} min`} in ${runDir}`,
        );
        const modelDir = await trainRun(
          runDir,
          model,
          text,
          b.kind === 'samples' ? { samples: b.samples } : { minutes: b.minutes },
          o.data,
          o.json,
        );
        const row = await measure(modelDir, b.kind, text, dataset, ood, {
          evalCount: o.evalCount,
          pplSamples: o.pplSamples,
          grammar: o.grammar,
          quiet: o.json,
        });
        rows.push(row);
        say(
          `  test recall ${row.test.recall.toFixed(3)} precision ${row.test.precision.toFixed(3)}; ` +
            `ood recall ${row.ood?.recall.toFixed(3) ?? '–'}; consistent ${row.test.consistency.toFixed(3)}; ` +
            `val perplexity ${row.valPerplexity?.toFixed(2) ?? '–'}`,
        );
      }
    }
  }
  const notes = [
    `Data: ${o.data} (test: up to ${o.evalCount || 'all'} pictures), ood: ${ood ? `${o.oodData}, ${ood.records.length} pictures` : 'not measured'}; settings of the main job (mainJobSettings).`,
    ...(o.grammar ? [] : ['Grammar not checked (--no-grammar).']),
  ];
  const md = scalingMarkdown(rows, notes);
  await mkdir(o.out, { recursive: true });
  await writeFileAtomic(path.join(o.out, 'scaling.md'), md);
  await writeFileAtomic(path.join(o.out, 'scaling.png'), scalingChart(rows));
  await writeJsonAtomic(path.join(o.out, 'scaling.json'), { rows });
  if (o.json) console.log(JSON.stringify({ out: o.out, rows }));
  else {
    console.log(md);
    console.log(`wrote ${path.join(o.out, 'scaling.md')}, scaling.png and scaling.json`);
  }
  return 0;
}
