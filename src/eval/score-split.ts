/**
 * Object scores of greedy descriptions of a split's pictures against their scene graphs, their
 * consistency, and both as they go into a report.
 */
import type { Dataset, DatasetRecord } from '../data/dataset.ts';
import { describeImages } from '../model/describe-images.ts';
import { readModelFolder } from '../model/folder.ts';
import { UserError } from '../util/errors.ts';
import { consistencyOf, type ConsistencyTotals } from './consistency.ts';
import { Progress } from '../util/progress.ts';
import {
  ObjectMatcher,
  loadKnownObjects,
  presentFromMeta,
  scoreDescription,
  totalScores,
  type ObjectTotals,
} from './objects.ts';

export interface ScoredPrediction {
  id: string;
  image: string;
  generated: string;
  reference: string;
  present: Record<string, number>;
  named: { name: string; count: number | null }[];
}

/** Scores greedy descriptions of test pictures against their scene graphs. */
export async function scoreTestSplit(
  modelDir: string,
  dataset: Dataset,
  {
    limit = 0,
    field = 'short',
    quiet = false,
    split = 'test',
  }: { limit?: number; field?: 'short' | 'long'; quiet?: boolean; split?: 'test' | 'val' | 'all' } = {},
): Promise<{ totals: ObjectTotals; predictions: ScoredPrediction[] }> {
  const { model, tokenizer } = readModelFolder(modelDir);
  let records: DatasetRecord[] = dataset.records.filter(
    (r) => (split === 'all' || r.split === split) && r.meta,
  );
  if (!records.length) throw new UserError(`${dataset.dir}: no ${split} pictures with scene meta to score`);
  if (limit > 0) records = records.slice(0, limit);
  const matcher = new ObjectMatcher(loadKnownObjects());
  const progress = new Progress({ total: records.length, label: 'describe', unit: 'img', quiet });
  const texts: string[] = [];
  const chunk = 64;
  for (let i = 0; i < records.length; i += chunk) {
    texts.push(...(await describeImages(model, tokenizer, dataset, records.slice(i, i + chunk))));
    progress.update(texts.length);
  }
  progress.finish();
  const scores = records.map((r, i) => scoreDescription(texts[i]!, presentFromMeta(r.meta), matcher));
  const predictions = records.map((r, i) => ({
    id: r.id,
    image: r.image,
    generated: texts[i]!,
    reference: String(r[field] ?? ''),
    present: Object.fromEntries(scores[i]!.present),
    named: scores[i]!.named.map(({ name, count }) => ({ name, count })),
  }));
  return { totals: totalScores(scores), predictions };
}

/** Consistency of scored descriptions (no self-contradiction, no number the picture does not have). */
export function predictionConsistency(predictions: readonly ScoredPrediction[]): ConsistencyTotals {
  const matcher = new ObjectMatcher(loadKnownObjects());
  return consistencyOf(
    predictions.map((p) => ({ text: p.generated, present: new Map(Object.entries(p.present)) })),
    matcher,
  );
}

/** Object and consistency scores of one picture set as they go into report.json. */
export function objectReport(t: ObjectTotals, c: ConsistencyTotals) {
  return {
    images: t.images,
    objectRecall: Number(t.recall.toFixed(4)),
    objectPrecision: Number(t.precision.toFixed(4)),
    countAccuracy: Number(t.countAccuracy.toFixed(4)),
    countJudged: t.countJudged,
    consistency: Number(c.share.toFixed(4)),
    selfConsistency: Number(c.selfShare.toFixed(4)),
    contradictions: c.byKind,
  };
}
