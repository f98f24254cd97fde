/**
 * The paper's prefix set: a fixed set of pictures (25 by default), each with the beginning of its
 * description — the first 6-7 words of the ShortDesc, or 18-20 words of the LongDesc — that the model
 * must complete.
 *
 * Reproducible: the split's records that have the wanted text (and enough words left to complete) are
 * ordered by id, shuffled with `Rng(seed)`, and the first `count` are taken; each one's prefix length
 * within the range comes from `hash32(seed, position)`. Same dataset + seed → same set.
 */
import type { DatasetRecord, Split } from '../data/dataset.ts';
import { UserError } from '../util/errors.ts';
import { hash32, Rng } from '../util/rng.ts';
import { firstWords, wordCount } from './text.ts';

export type Kind = 'short' | 'long';

/** Prefix length in words, [min, max], per kind (paper: 6-7 for ShortDesc, 18-20 for LongDesc). */
export const PREFIX_WORDS: Record<Kind, [number, number]> = { short: [6, 7], long: [18, 20] };
/** A description must have at least this many words after the longest prefix to be used. */
export const MIN_WORDS_TO_COMPLETE = 3;

export interface PrefixItem {
  record: DatasetRecord;
  prefix: string;
  reference: string;
  prefixWords: number;
}

export interface PrefixSetOptions {
  split: Split;
  kind: Kind;
  count: number;
  seed: number;
}

export function buildPrefixSet(
  records: readonly DatasetRecord[],
  opts: PrefixSetOptions,
): { items: PrefixItem[]; eligible: number } {
  const [lo, hi] = PREFIX_WORDS[opts.kind];
  const eligible = records
    .filter((r) => r.split === opts.split)
    .filter(
      (r) =>
        typeof r[opts.kind] === 'string' && wordCount(r[opts.kind] as string) >= hi + MIN_WORDS_TO_COMPLETE,
    )
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (!eligible.length) {
    throw new UserError(
      `no ${opts.split} record has a "${opts.kind}" description of at least ${hi + MIN_WORDS_TO_COMPLETE} words to build prefixes from`,
    );
  }
  const order = new Rng(opts.seed).shuffle(eligible.slice());
  const items = order.slice(0, opts.count).map((record, i) => {
    const reference = (record[opts.kind] as string).trim();
    const n = lo + (hash32(opts.seed, i) % (hi - lo + 1));
    return { record, prefix: firstWords(reference, n), reference, prefixWords: n };
  });
  return { items, eligible: eligible.length };
}
