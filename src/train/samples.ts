/**
 * The sample descriptions a run ends with: greedy descriptions of the first val pictures, written to
 * samples.jsonl in the run folder (both engines).
 */
import path from 'node:path';
import type { Dataset } from '../data/dataset.ts';
import type { Tokenizer } from '../tokenizer/index.ts';
import { writeFileAtomic } from '../util/fs.ts';
import type { TrainConfig } from './config.ts';
import { describeImages, type VLM } from './model-bridge.ts';

export interface SampleDescription {
  id: string;
  reference: string;
  generated: string;
}

/**
 * Describes the first `tc.samples` val pictures and writes them to samples.jsonl. `load` gives the model;
 * it is called only when there is something to describe.
 */
export async function describeValSamples(
  dataset: Dataset,
  tc: TrainConfig,
  runDir: string,
  load: () => Promise<{ model: VLM; tokenizer: Tokenizer }>,
): Promise<SampleDescription[]> {
  if (tc.samples === 0) return [];
  const records = dataset.records.filter((r) => r.split === 'val').slice(0, tc.samples);
  if (!records.length) return [];
  const { model, tokenizer } = await load();
  const field = tc.text === 'long' ? 'long' : 'short';
  const texts = await describeImages(model, tokenizer, dataset, records);
  const out = records.map((r, i) => ({
    id: r.id,
    image: r.image,
    reference: String(r[field] ?? ''),
    generated: texts[i]!,
  }));
  await writeFileAtomic(
    path.join(runDir, 'samples.jsonl'),
    out.map((o) => JSON.stringify(o)).join('\n') + '\n',
  );
  return out.map(({ id, reference, generated }) => ({ id, reference, generated }));
}
