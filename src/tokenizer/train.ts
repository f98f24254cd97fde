import { UserError } from '../util/errors.ts';
import { utf8Bytes } from './bytes.ts';
import { preTokenize } from './pretokenize.ts';
import { BYTE_ID_OFFSET, SPECIAL_TOKENS, Tokenizer } from './tokenizer.ts';

export interface TrainOptions {
  /** Final vocabulary size including the 4 special tokens and 256 bytes (default 4096). */
  vocabSize?: number;
  /** A pair must occur at least this many times to be merged (default 2); training stops earlier otherwise. */
  minFrequency?: number;
}

export const MIN_VOCAB_SIZE = SPECIAL_TOKENS.length + 256;
export const MAX_VOCAB_SIZE = 1 << 16;

/** Counts each distinct pre-tokenized piece of the texts. */
export function countPieces(texts: Iterable<string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const text of texts) {
    if (typeof text !== 'string') throw new TypeError(`trainTokenizer: expected strings, got ${typeof text}`);
    for (const piece of preTokenize(text)) counts.set(piece, (counts.get(piece) ?? 0) + 1);
  }
  return counts;
}

/**
 * Trains a byte-level BPE tokenizer. Works on distinct pieces with their counts; after each merge only the
 * pieces holding the merged pair are rewritten, and the pair counts they touch are adjusted. A max-heap
 * with lazy re-checking picks the most frequent pair (ties: the smaller (left, right) ids).
 */
export function trainTokenizer(texts: Iterable<string>, options: TrainOptions = {}): Tokenizer {
  const vocabSize = options.vocabSize ?? 4096;
  const minFrequency = options.minFrequency ?? 2;
  if (!Number.isInteger(vocabSize) || vocabSize < MIN_VOCAB_SIZE || vocabSize > MAX_VOCAB_SIZE) {
    throw new UserError(
      `vocabulary size must be an integer in [${MIN_VOCAB_SIZE}, ${MAX_VOCAB_SIZE}], got ${vocabSize}`,
    );
  }
  if (!Number.isFinite(minFrequency) || minFrequency < 1) {
    throw new UserError(`minimum frequency must be at least 1, got ${minFrequency}`);
  }
  const stride = vocabSize;
  const key = (a: number, b: number) => a * stride + b;

  // Distinct pieces as arrays of token ids (initially one per byte) with their counts.
  const words: Int32Array[] = [];
  const lengths: number[] = [];
  const freqs: number[] = [];
  for (const [piece, count] of countPieces(texts)) {
    const bytes = utf8Bytes(piece);
    const ids = new Int32Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) ids[i] = BYTE_ID_OFFSET + bytes[i]!;
    words.push(ids);
    lengths.push(ids.length);
    freqs.push(count);
  }

  const pairCount = new Map<number, number>();
  /** pair → pieces that held it at some point (may be stale; re-checked when used). */
  const pairWords = new Map<number, number[]>();
  const addWord = (k: number, w: number) => {
    const list = pairWords.get(k);
    if (!list) pairWords.set(k, [w]);
    else if (list[list.length - 1] !== w) list.push(w);
  };
  for (let w = 0; w < words.length; w++) {
    const ids = words[w]!;
    for (let i = 0; i + 1 < ids.length; i++) {
      const k = key(ids[i]!, ids[i + 1]!);
      pairCount.set(k, (pairCount.get(k) ?? 0) + freqs[w]!);
      addWord(k, w);
    }
  }
  const heap = new PairHeap();
  for (const [k, c] of pairCount) heap.push(c, k);

  const merges: [number, number, number][] = [];
  let nextId = BYTE_ID_OFFSET + 256;
  const seen = new Int32Array(words.length).fill(-1);
  const created = new Set<number>();

  while (nextId < vocabSize && heap.size > 0) {
    const [stored, k] = heap.pop();
    const current = pairCount.get(k) ?? 0;
    if (current !== stored) {
      if (current > 0) heap.push(current, k);
      continue;
    }
    if (current < minFrequency) break;
    const a = Math.floor(k / stride);
    const b = k - a * stride;
    const t = nextId++;
    merges.push([a, b, t]);
    created.clear();
    for (const w of pairWords.get(k)!) {
      if (seen[w] === t) continue;
      seen[w] = t;
      const ids = words[w]!;
      const n = lengths[w]!;
      const f = freqs[w]!;
      let hit = false;
      for (let i = 0; i + 1 < n; i++) if (ids[i] === a && ids[i + 1] === b) hit = true;
      if (!hit) continue;
      // Take the piece's pairs out, merge left to right, put its pairs back.
      for (let i = 0; i + 1 < n; i++) {
        const pk = key(ids[i]!, ids[i + 1]!);
        pairCount.set(pk, pairCount.get(pk)! - f);
      }
      let m = 0;
      for (let i = 0; i < n; i++) {
        if (i + 1 < n && ids[i] === a && ids[i + 1] === b) {
          ids[m++] = t;
          i++;
        } else ids[m++] = ids[i]!;
      }
      lengths[w] = m;
      for (let i = 0; i + 1 < m; i++) {
        const l = ids[i]!;
        const r = ids[i + 1]!;
        const pk = key(l, r);
        pairCount.set(pk, (pairCount.get(pk) ?? 0) + f);
        if (l === t || r === t) {
          addWord(pk, w);
          created.add(pk);
        }
      }
    }
    pairCount.delete(k);
    pairWords.delete(k);
    for (const pk of created) heap.push(pairCount.get(pk)!, pk);
  }
  return Tokenizer.fromMerges(merges.map(([l, r]) => [l, r] as [number, number]));
}

/** Max-heap of (count, pair key); ties go to the smaller key, so training is deterministic. */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];
  get size(): number {
    return this.counts.length;
  }
  private above(c1: number, k1: number, c2: number, k2: number): boolean {
    return c1 > c2 || (c1 === c2 && k1 < k2);
  }
  push(count: number, key: number): void {
    const { counts, keys } = this;
    let i = counts.length;
    counts.push(count);
    keys.push(key);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(count, key, counts[p]!, keys[p]!)) break;
      counts[i] = counts[p]!;
      keys[i] = keys[p]!;
      i = p;
    }
    counts[i] = count;
    keys[i] = key;
  }
  pop(): [number, number] {
    const { counts, keys } = this;
    const top: [number, number] = [counts[0]!, keys[0]!];
    const lc = counts.pop()!;
    const lk = keys.pop()!;
    const n = counts.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && this.above(counts[c + 1]!, keys[c + 1]!, counts[c]!, keys[c]!)) c++;
        if (!this.above(counts[c]!, keys[c]!, lc, lk)) break;
        counts[i] = counts[c]!;
        keys[i] = keys[c]!;
        i = c;
      }
      counts[i] = lc;
      keys[i] = lk;
    }
    return top;
  }
}
