/**
 * `nanovlm eval complete`: the paper's evaluation input. For each picture of the prefix set, the model
 * gets the image and the beginning of its description and writes the rest, `samples` times (each with
 * its own seed). The result is a completions JSONL file that `judge`, `report` and `auto` read.
 */
import path from 'node:path';
import { openDataset, type Split } from '../data/dataset.ts';
import { loadModel, type VisionLanguageModel } from '../model/pipeline.ts';
import { UserError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/fs.ts';
import { hash32 } from '../util/rng.ts';
import type { CompletionLine } from './format.ts';
import { presentFromMeta } from './objects.ts';
import { buildPrefixSet, type Kind } from './prefix.ts';

export interface SamplingSettings {
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  maxNewTokens: number;
}

export interface CompleteOptions extends SamplingSettings {
  modelDir: string;
  dataDir: string;
  out: string;
  split: Split;
  kind: Kind;
  samples: number;
  count: number;
  seed: number;
  /** Row label in reports; default `nanovlm-<preset>`. */
  system?: string;
  /** Completions generated together. */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface CompleteSummary {
  out: string;
  system: string;
  prefixes: number;
  /** Records that could have been chosen. */
  eligible: number;
  completions: number;
  seconds: number;
}

/** Things in a scene picture as {name: count}, or undefined when the record's meta has no scene graph. */
export function objectsOf(meta: unknown): Record<string, number> | undefined {
  try {
    return Object.fromEntries(presentFromMeta(meta));
  } catch {
    return undefined;
  }
}

export async function runComplete(
  opts: CompleteOptions,
  loaded?: VisionLanguageModel,
): Promise<CompleteSummary> {
  if (!(opts.samples >= 1)) throw new UserError('--samples must be at least 1', 2);
  if (!(opts.count >= 1)) throw new UserError('--count must be at least 1', 2);
  if (opts.samples > 1 && opts.temperature === 0) {
    throw new UserError(
      '--samples > 1 with --temperature 0 would repeat the same greedy text; give a temperature',
      2,
    );
  }
  const t0 = performance.now();
  const vlm = loaded ?? (await loadModel(opts.modelDir));
  const dataset = openDataset(opts.dataDir);
  const { items, eligible } = buildPrefixSet(dataset.records, opts);
  const system = opts.system ?? `nanovlm-${vlm.config.preset}`;
  const jobs = items.flatMap((item, i) =>
    Array.from({ length: opts.samples }, (_, s) => ({
      item,
      sample: s,
      seed: hash32(opts.seed, i * opts.samples + s),
    })),
  );
  const lines: CompletionLine[] = [];
  const batch = Math.max(1, opts.batchSize ?? 8);
  for (let b = 0; b < jobs.length; b += batch) {
    const chunk = jobs.slice(b, b + batch);
    const results = await vlm.describeBatch(
      chunk.map((j) => ({
        image: path.join(dataset.dir, j.item.record.image),
        prompt: j.item.prefix,
        seed: j.seed,
        temperature: opts.temperature,
        topK: opts.topK,
        topP: opts.topP,
        repetitionPenalty: opts.repetitionPenalty,
        maxNewTokens: opts.maxNewTokens,
      })),
    );
    chunk.forEach((j, k) => {
      const r = results[k]!;
      const objects = objectsOf(j.item.record.meta);
      lines.push({
        id: j.item.record.id,
        image: path.join(dataset.dir, j.item.record.image),
        prefix: j.item.prefix,
        completion: r.text,
        reference: j.item.reference,
        system,
        sample: j.sample,
        kind: opts.kind,
        split: opts.split,
        ...(objects ? { objects } : {}),
        temperature: opts.temperature,
        top_k: opts.topK,
        top_p: opts.topP,
        repetition_penalty: opts.repetitionPenalty,
        max_new_tokens: opts.maxNewTokens,
        seed: j.seed,
        finish_reason: r.finishReason,
      });
    });
    opts.onProgress?.(Math.min(jobs.length, b + batch), jobs.length);
  }
  await writeFileAtomic(opts.out, lines.map((l) => JSON.stringify(l) + '\n').join(''));
  return {
    out: opts.out,
    system,
    prefixes: items.length,
    eligible,
    completions: lines.length,
    seconds: (performance.now() - t0) / 1000,
  };
}
