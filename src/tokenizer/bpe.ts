/**
 * Applying learned merges to one pre-tokenized piece. The rule (the same as Hugging Face's BPE model):
 * repeatedly merge the adjacent pair with the lowest merge rank, the leftmost one when a pair occurs more
 * than once, until no adjacent pair has a rank.
 */
export class MergeRules {
  /** pairKey(left, right) → rank (index in the merge list). */
  private readonly rankOf = new Map<number, number>();
  /** rank → id of the merged token. */
  private readonly mergedIds: Int32Array;

  /** `stride` must exceed every token id (pairs are keyed as left * stride + right). */
  constructor(
    merges: ReadonlyArray<readonly [number, number, number]>,
    private readonly stride: number,
  ) {
    this.mergedIds = new Int32Array(merges.length);
    merges.forEach(([left, right, merged], rank) => {
      const key = left * stride + right;
      // A repeated pair keeps its first (lowest) rank, as in Hugging Face's loader.
      if (!this.rankOf.has(key)) this.rankOf.set(key, rank);
      this.mergedIds[rank] = merged;
    });
  }

  get size(): number {
    return this.mergedIds.length;
  }

  /** Merges the symbols of one piece (in place for short pieces) and returns the final token ids. */
  apply(symbols: number[]): number[] {
    return symbols.length > 48 ? this.applyLong(symbols) : this.applyShort(symbols);
  }

  /** Quadratic but allocation-free: best for the short pieces that make up almost all text. */
  private applyShort(syms: number[]): number[] {
    const { rankOf, stride } = this;
    let n = syms.length;
    while (n > 1) {
      let bestRank = Infinity;
      let at = -1;
      for (let i = 0; i < n - 1; i++) {
        const r = rankOf.get(syms[i]! * stride + syms[i + 1]!);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          at = i;
        }
      }
      if (at < 0) break;
      syms[at] = this.mergedIds[bestRank]!;
      syms.copyWithin(at + 1, at + 2, n);
      n--;
    }
    syms.length = n;
    return syms;
  }

  /**
   * Linked list + binary heap of (rank, position): O(n log n), for long pieces (a run of letters with no
   * spaces can be megabytes long). Pops in the same (rank, leftmost) order as applyShort.
   */
  private applyLong(symbols: number[]): number[] {
    const { rankOf, stride, mergedIds } = this;
    const n = symbols.length;
    const sym = Int32Array.from(symbols);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const alive = new Uint8Array(n).fill(1);
    const heap = new MinHeap();
    const pushPair = (i: number) => {
      const j = next[i]!;
      if (j < 0) return;
      const r = rankOf.get(sym[i]! * stride + sym[j]!);
      if (r !== undefined) heap.push(r * n + i);
    };
    for (let i = 0; i < n - 1; i++) pushPair(i);
    while (heap.size > 0) {
      const entry = heap.pop();
      const rank = Math.floor(entry / n);
      const i = entry - rank * n;
      const j = next[i]!;
      // Stale entries (a side already merged into something else) no longer match the pair's rank.
      if (!alive[i] || j < 0 || rankOf.get(sym[i]! * stride + sym[j]!) !== rank) continue;
      sym[i] = mergedIds[rank]!;
      alive[j] = 0;
      const k = next[j]!;
      next[i] = k;
      if (k >= 0) prev[k] = i;
      if (prev[i]! >= 0) pushPair(prev[i]!);
      pushPair(i);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]!) out.push(sym[i]!);
    return out;
  }
}

/** Binary min-heap of numbers. */
class MinHeap {
  private items: number[] = [];
  get size(): number {
    return this.items.length;
  }
  push(v: number): void {
    const a = this.items;
    let i = a.length;
    a.push(v);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= v) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = v;
  }
  pop(): number {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      const n = a.length;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && a[c + 1]! < a[c]!) c++;
        if (a[c]! >= last) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}
