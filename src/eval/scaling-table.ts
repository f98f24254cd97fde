/**
 * The scaling table (the paper's question: what do bigger models buy at the same data, and at the same
 * time?): one row per (budget, model, text), as Markdown and one grouped bar chart. Pure formatting;
 * `nanovlm eval scaling` (src/cli/scaling.ts) trains and measures the rows.
 */
import { barChartPng } from '../util/plot.ts';

export interface ScalingScores {
  images: number;
  recall: number;
  precision: number;
  countAccuracy: number;
  /** Share of descriptions free of self-contradiction and of numbers the picture lacks. */
  consistency: number;
}

export interface ScalingRow {
  /** "samples" (every model sees the same number of training samples) or "minutes" (the same time). */
  budget: 'samples' | 'minutes';
  model: string;
  text: 'short' | 'long';
  params: number;
  samples: number;
  steps: number;
  trainSeconds: number;
  test: ScalingScores;
  ood: ScalingScores | null;
  valPerplexity: number | null;
  /** Share of the test descriptions' sentences link-grammar parses; null when not measured. */
  grammatical: number | null;
}

const f3 = (v: number | null | undefined) =>
  v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(3);
const pct = (v: number | null | undefined) =>
  v === null || v === undefined ? '–' : `${(100 * v).toFixed(1)}%`;

function budgetTitle(rows: readonly ScalingRow[], budget: ScalingRow['budget']): string {
  if (budget === 'samples')
    return `Equal training samples (${rows[0]?.samples.toLocaleString('en-US') ?? '?'} each)`;
  const minutes = Math.round((rows[0]?.trainSeconds ?? 0) / 6) / 10;
  return `Equal training time (about ${minutes} min each)`;
}

/** The table as Markdown: one section per budget, notes on what each column is. */
export function scalingMarkdown(rows: readonly ScalingRow[], notes: readonly string[] = []): string {
  const out = ['# Scaling: mini, base and large on ShortDesc and LongDesc', ''];
  for (const budget of ['samples', 'minutes'] as const) {
    const part = rows.filter((r) => r.budget === budget);
    if (!part.length) continue;
    out.push(
      `## ${budgetTitle(part, budget)}`,
      '',
      '| model | text | parameters | samples | train min | test recall | test precision | test counts | ood recall | ood precision | ood counts | consistent (test / ood) | val perplexity | grammatical |',
      '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const r of part) {
      out.push(
        `| ${r.model} | ${r.text === 'short' ? 'ShortDesc' : 'LongDesc'} | ${(r.params / 1e6).toFixed(2)} M | ${r.samples} | ` +
          `${(r.trainSeconds / 60).toFixed(1)} | ${f3(r.test.recall)} | ${f3(r.test.precision)} | ${f3(r.test.countAccuracy)} | ` +
          `${f3(r.ood?.recall)} | ${f3(r.ood?.precision)} | ${f3(r.ood?.countAccuracy)} | ` +
          `${pct(r.test.consistency)} / ${pct(r.ood?.consistency)} | ${f3(r.valPerplexity)} | ${pct(r.grammatical)} |`,
      );
    }
    out.push('');
  }
  out.push(
    '- recall / precision / counts: object recall, precision and count accuracy of greedy descriptions against the scene graph (`src/eval/objects.ts`); test = the test split, ood = the free-layout set (any thing on any background).',
    '- consistent: share of descriptions free of self-contradiction and of numbers the picture lacks (`src/eval/consistency.ts`).',
    "- val perplexity: on the val split, for the text the model learned; grammatical: share of the test descriptions' sentences link-grammar parses completely.",
    ...notes.map((n) => `- ${n}`),
  );
  return out.join('\n') + '\n';
}

/** One PNG: a group per run, bars for the test and ood object scores and consistency. */
export function scalingChart(rows: readonly ScalingRow[]): Buffer {
  const series = [
    'test recall',
    'test precision',
    'ood recall',
    'ood precision',
    'consistent (test)',
    'grammatical',
  ];
  return barChartPng({
    title: 'Scaling: object scores, consistency and grammar per run',
    yLabel: 'share',
    yMax: 1,
    width: Math.max(760, 120 * rows.length),
    series,
    groups: rows.map((r) => ({
      label: `${r.model} ${r.text} (${r.budget === 'samples' ? '= samples' : '= min'})`,
      values: [
        r.test.recall,
        r.test.precision,
        r.ood?.recall ?? null,
        r.ood?.precision ?? null,
        r.test.consistency,
        r.grammatical,
      ],
    })),
  });
}
