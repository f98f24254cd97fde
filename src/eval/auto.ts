/**
 * `nanovlm eval auto`: the measures that need no LLM, for one of our models, offline:
 * greedy descriptions of pictures of a split (no prefix) scored for object recall / precision / count
 * accuracy against the scene `meta`, ROUGE against the reference, distinct-n, simple words, grammar
 * (link-grammar) and memorisation (highest ROUGE-L against every training text); plus perplexity on
 * the val split.
 */
import { openDataset, type Dataset, type Split } from '../data/dataset.ts';
import type { TextField } from '../data/loader.ts';
import { loadModel, type VisionLanguageModel } from '../model/pipeline.ts';
import { UserError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import path from 'node:path';
import { objectsOf } from './complete.ts';
import { linkParserStatus } from './grammar.ts';
import { measureTexts, type TextMeasures } from './measures.ts';
import { TrainingTextIndex } from './memorization.ts';
import { perplexity, type PerplexityResult } from './perplexity.ts';
import { measureNotes, measuresTable } from './report.ts';
import type { Kind } from './prefix.ts';

export interface AutoOptions {
  modelDir: string;
  dataDir: string;
  split: Split;
  kind: Kind;
  /** Pictures to describe (0 = all of the split). */
  count: number;
  seed: number;
  maxNewTokens?: number;
  batchSize?: number;
  /** Samples for perplexity on the val split (0 = all; -1 = skip). */
  pplSamples: number;
  grammar?: boolean;
  /** Texts for the memorisation check: the train split's short and long descriptions (default true). */
  memorization?: boolean;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface AutoReport {
  model: string;
  preset: string;
  data: string;
  split: Split;
  kind: Kind;
  descriptions: number;
  measures: TextMeasures;
  perplexity: PerplexityResult | { skipped: string };
  grammarParser: { available: boolean; version?: string; reason?: string };
  /** A few descriptions with their references, for a look. */
  examples: { id: string; text: string; reference: string }[];
  seconds: number;
}

export function trainingTexts(dataset: Dataset): string[] {
  const out: string[] = [];
  for (const r of dataset.records) {
    if (r.split !== 'train') continue;
    if (r.short) out.push(r.short);
    if (r.long) out.push(r.long);
  }
  return out;
}

export async function runAuto(opts: AutoOptions, loaded?: VisionLanguageModel): Promise<AutoReport> {
  const t0 = performance.now();
  const vlm = loaded ?? (await loadModel(opts.modelDir));
  const dataset = openDataset(opts.dataDir);
  const pool = dataset.records
    .filter((r) => r.split === opts.split)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (!pool.length) throw new UserError(`${opts.dataDir}: no "${opts.split}" records`);
  const chosen = opts.count > 0 ? new Rng(opts.seed).shuffle(pool.slice()).slice(0, opts.count) : pool;

  const texts: string[] = [];
  const batch = Math.max(1, opts.batchSize ?? 16);
  opts.onProgress?.('describe', 0, chosen.length); // the clock starts here, not at the first batch's end
  for (let b = 0; b < chosen.length; b += batch) {
    const part = chosen.slice(b, b + batch);
    const res = await vlm.describeBatch(
      part.map((r) => ({
        image: path.join(dataset.dir, r.image),
        temperature: 0,
        maxNewTokens: opts.maxNewTokens,
      })),
    );
    texts.push(...res.map((d) => d.text.trim()));
    opts.onProgress?.('describe', texts.length, chosen.length);
  }

  const train = opts.memorization === false ? [] : trainingTexts(dataset);
  const measures = await measureTexts(
    chosen.map((r, i) => ({
      generated: texts[i]!,
      full: texts[i]!,
      reference: (r[opts.kind] as string | undefined) ?? undefined,
      objects: objectsOf(r.meta),
    })),
    { grammar: opts.grammar ?? true, trainIndex: train.length ? new TrainingTextIndex(train) : undefined },
  );

  let ppl: AutoReport['perplexity'];
  if (opts.pplSamples < 0) ppl = { skipped: 'not asked for' };
  else if (!dataset.records.some((r) => r.split === 'val')) ppl = { skipped: 'the dataset has no val split' };
  else {
    ppl = await perplexity(vlm, dataset, {
      split: 'val',
      text: opts.kind as TextField,
      maxSamples: opts.pplSamples,
      onBatch: (d, t) => opts.onProgress?.('perplexity', d, t),
    });
  }
  return {
    model: opts.modelDir,
    preset: vlm.config.preset,
    data: opts.dataDir,
    split: opts.split,
    kind: opts.kind,
    descriptions: texts.length,
    measures,
    perplexity: ppl,
    grammarParser: (opts.grammar ?? true) ? linkParserStatus() : { available: false, reason: 'not run' },
    examples: chosen
      .slice(0, 5)
      .map((r, i) => ({ id: r.id, text: texts[i]!, reference: String(r[opts.kind] ?? '') })),
    seconds: (performance.now() - t0) / 1000,
  };
}

export function autoMarkdown(r: AutoReport): string {
  const label = `nanovlm-${r.preset}`;
  const out = [
    `# Offline evaluation of ${r.model} (${r.preset})`,
    '',
    `${r.descriptions} greedy descriptions of ${r.split} pictures from ${r.data}, compared with their ${r.kind === 'short' ? 'ShortDesc' : 'LongDesc'}.`,
    '',
    ...measuresTable([[label, r.measures]]),
    '',
  ];
  const p = r.perplexity;
  out.push(
    'skipped' in p
      ? `Perplexity: not measured (${p.skipped}).`
      : `Perplexity on ${p.split} (${p.text}): **${p.perplexity.toFixed(2)}** (loss ${p.loss.toFixed(4)} nats/token over ${p.tokens} tokens of ${p.samples} texts).`,
  );
  out.push(
    '',
    ...measureNotes(r.grammarParser, [[label, r.measures]]).map((n) =>
      n.replace(
        'Object scores use the whole description (prefix included).',
        'Object scores count the things named in each description.',
      ),
    ),
  );
  out.push('', '## Examples', '');
  for (const e of r.examples) out.push(`- **${e.id}**: ${e.text}`, `  - reference: ${e.reference}`);
  return out.join('\n') + '\n';
}
