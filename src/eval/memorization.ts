/**
 * The paper's memorisation check: for a generated text, the highest ROUGE-L F1 against any training
 * text, and whether it copies one.
 *
 * Exact, and fast for tens of thousands of training texts: the LCS of two texts can never exceed their
 * clipped unigram overlap, so ROUGE-1 F1 is an upper bound of ROUGE-L F1. An inverted index gives every
 * training text's unigram overlap with the query in one pass over the query's words' posting lists;
 * candidates are then checked with the O(n·m) LCS in order of that bound, stopping as soon as the bound
 * cannot beat the best ROUGE-L found.
 */
import { lcsLength, prf } from './rouge.ts';
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
  }

  /** The training text nearest to `text` by ROUGE-L F1. */
  nearest(text: string): NearestText {
    const q = words(text);
    const none: NearestText = { rougeL: 0, index: -1, checked: 0 };
    if (!q.length || !this.docs.length) return none;
    // Unknown words get ids of -1 - i: they match nothing, but keep their place in the LCS.
    const qIds = Int32Array.from(q, (w, i) => this.vocab.get(w) ?? -1 - i);
    const qCounts = new Map<number, number>();
    for (const id of qIds) if (id >= 0) qCounts.set(id, (qCounts.get(id) ?? 0) + 1);
    const overlap = new Map<number, number>();
    for (const [id, k] of qCounts) {
      const list = this.postings[id]!;
      for (let i = 0; i < list.length; i += 2) {
        const doc = list[i]!;
        overlap.set(doc, (overlap.get(doc) ?? 0) + Math.min(k, list[i + 1]!));
      }
    }
    const candidates = [...overlap].map(([doc, o]) => ({
      doc,
      bound: prf(o, q.length, this.docs[doc]!.length).f1,
    }));
    candidates.sort((a, b) => b.bound - a.bound || a.doc - b.doc);
    let best = none;
    let checked = 0;
    for (const { doc, bound } of candidates) {
      if (bound <= best.rougeL) break;
      checked++;
      const d = this.docs[doc]!;
      const f1 = prf(lcsLength(qIds, d), q.length, d.length).f1;
      if (f1 > best.rougeL) best = { rougeL: f1, index: doc, checked: 0 };
    }
    return { ...best, checked };
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
