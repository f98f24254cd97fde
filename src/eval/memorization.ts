/**
 * The paper's memorisation check: for a generated text, the highest ROUGE-L F1 against any training
 * text, and whether it copies one.
 *
 * Exact, and fast for tens of thousands of training texts: the LCS of two texts can never exceed their
 * clipped unigram overlap, so ROUGE-1 F1 is an upper bound of ROUGE-L F1. An inverted index gives every
 * training text's unigram overlap with the query in one pass over the query's words' posting lists;
 * candidates are then checked in order of that bound with a bit-parallel LCS, stopping as soon as the
 * bound cannot beat the best ROUGE-L found.
 */
import { prf } from './rouge.ts';
import { words } from './text.ts';

/** A generated text "copies" a training text when their ROUGE-L F1 reaches this. */
export const COPY_THRESHOLD = 0.9;

export interface NearestText {
  /** Highest ROUGE-L F1 against the training texts (0 when none shares a word). */
  rougeL: number;
  /** Index of that training text (-1 when none). */
  index: number;
  /** Training texts whose LCS was computed (for tests and tuning). */
  checked: number;
}

export class TrainingTextIndex {
  private readonly vocab = new Map<string, number>();
  /** Each training text as word ids. */
  private readonly docs: Int32Array[] = [];
  /** word id → (doc, count) pairs, flattened. */
  private postings: number[][] = [];
  /** The same as typed arrays, made on the first query (they are read millions of times). */
  private packed: Int32Array[] | null = null;

  constructor(texts: Iterable<string>) {
    for (const t of texts) this.add(t);
  }

  get size(): number {
    return this.docs.length;
  }

  private add(text: string): void {
    const ids = Int32Array.from(words(text), (w) => {
      let id = this.vocab.get(w);
      if (id === undefined) {
        id = this.vocab.size;
        this.vocab.set(w, id);
        this.postings.push([]);
      }
      return id;
    });
    const doc = this.docs.length;
    this.docs.push(ids);
    const counts = new Map<number, number>();
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const [id, k] of counts) this.postings[id]!.push(doc, k);
    this.packed = null;
  }

  /** The training text nearest to `text` by ROUGE-L F1. */
  nearest(text: string): NearestText {
    const q = words(text);
    const none: NearestText = { rougeL: 0, index: -1, checked: 0 };
    if (!q.length || !this.docs.length) return none;
    const qIds = q.map((w) => this.vocab.get(w) ?? -1);
    const qCounts = new Map<number, number>();
    for (const id of qIds) if (id >= 0) qCounts.set(id, (qCounts.get(id) ?? 0) + 1);
    // Clipped unigram overlap with every training text sharing a word.
    const overlap = new Int32Array(this.docs.length);
    const touched: number[] = [];
    for (const [id, k] of qCounts) {
      const list = (this.packed ??= this.postings.map((p) => Int32Array.from(p)))[id]!;
      for (let i = 0; i < list.length; i += 2) {
        const doc = list[i]!;
        if (overlap[doc] === 0) touched.push(doc);
        overlap[doc]! += Math.min(k, list[i + 1]!);
      }
    }
    // The bound depends only on (overlap, text length): group by that pair and visit the groups in
    // order of their bound, instead of sorting every candidate.
    const groups = new Map<number, number[]>();
    for (const doc of touched) {
      const key = overlap[doc]! * 65536 + Math.min(65535, this.docs[doc]!.length);
      const g = groups.get(key);
      if (g) g.push(doc);
      else groups.set(key, [doc]);
    }
    const order = [...groups.keys()]
      .map((key) => ({ key, bound: prf(Math.floor(key / 65536), q.length, key % 65536).f1 }))
      .sort((a, b) => b.bound - a.bound);
    const lcs = new BitParallelLcs(qIds);
    let best = none;
    let checked = 0;
    search: for (const { key, bound } of order) {
      if (bound <= best.rougeL) break;
      for (const doc of groups.get(key)!) {
        checked++;
        const d = this.docs[doc]!;
        const f1 = prf(lcs.with(d), q.length, d.length).f1;
        if (f1 > best.rougeL) {
          best = { rougeL: f1, index: doc, checked: 0 };
          if (bound <= best.rougeL) break search;
        }
      }
    }
    return { ...best, checked };
  }
}

/**
 * LCS length of a fixed query against many texts, with the bit-vector method of Crochemore, Iliopoulos,
 * Pinzon and Reid (2001): for each text symbol b, U = V & M[b]; V = (V + U) | (V - U); the LCS is the
 * number of zero bits of V. Words of the text that are not in the query leave V unchanged and are
 * skipped, so a check costs about (shared words) × ceil(|query| / 32) operations.
 */
export class BitParallelLcs {
  private readonly m: number;
  private readonly words: number;
  /** symbol id → its match mask (bit i set where query[i] is that symbol). */
  private readonly masks = new Map<number, Uint32Array>();
  private readonly v: Uint32Array;

  constructor(query: readonly number[]) {
    this.m = query.length;
    this.words = Math.max(1, Math.ceil(this.m / 32));
    query.forEach((id, i) => {
      if (id < 0) return; // a word no text has
      let mask = this.masks.get(id);
      if (!mask) this.masks.set(id, (mask = new Uint32Array(this.words)));
      mask[i >>> 5]! |= 1 << (i & 31);
    });
    this.v = new Uint32Array(this.words);
  }

  with(text: ArrayLike<number>): number {
    const v = this.v;
    const W = this.words;
    v.fill(0xffffffff);
    for (let j = 0; j < text.length; j++) {
      const mask = this.masks.get(text[j]!);
      if (!mask) continue;
      let carry = 0;
      let borrow = 0;
      for (let w = 0; w < W; w++) {
        const vw = v[w]!;
        const u = (vw & mask[w]!) >>> 0;
        const sum = vw + u + carry;
        carry = sum > 0xffffffff ? 1 : 0;
        const diff = vw - u - borrow;
        borrow = diff < 0 ? 1 : 0;
        v[w] = ((sum >>> 0) | (diff >>> 0)) >>> 0;
      }
    }
    let zeros = 0;
    for (let i = 0; i < this.m; i++) if (((v[i >>> 5]! >>> (i & 31)) & 1) === 0) zeros++;
    return zeros;
  }
}

export interface MemorizationSummary {
  texts: number;
  /** Mean and largest of each text's highest ROUGE-L against the training texts. */
  meanMaxRougeL: number;
  maxRougeL: number;
  /** Share of texts whose highest ROUGE-L reaches COPY_THRESHOLD. */
  copyShare: number;
  copyThreshold: number;
}

export function memorization(
  texts: readonly string[],
  index: TrainingTextIndex,
  threshold = COPY_THRESHOLD,
): MemorizationSummary {
  let sum = 0;
  let max = 0;
  let copies = 0;
  for (const t of texts) {
    const r = index.nearest(t).rougeL;
    sum += r;
    max = Math.max(max, r);
    if (r >= threshold) copies++;
  }
  const n = texts.length;
  return {
    texts: n,
    meanMaxRougeL: n ? sum / n : 0,
    maxRougeL: max,
    copyShare: n ? copies / n : 0,
    copyThreshold: threshold,
  };
}
