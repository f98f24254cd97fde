/**
 * The decode path's state: the keys and values every causal block has seen, so a generation step runs
 * the new positions only, and grows-on-demand scratch buffers, so steps allocate nothing once warm.
 * Used by `Block.decodeInto` (and its attention and MLP) and `Decoder.decode`; no autograd graph.
 */

/** Keys and values of every layer for `rows` rows of up to `maxLength` positions, [rows, maxLength, C] each. */
export class KVCache {
  readonly k: Float32Array[];
  readonly v: Float32Array[];
  /** Positions filled (the same for every row: shorter prefixes are left-padded). */
  length = 0;
  constructor(
    readonly layers: number,
    public rows: number,
    readonly maxLength: number,
    readonly channels: number,
  ) {
    const n = rows * maxLength * channels;
    this.k = Array.from({ length: layers }, () => new Float32Array(n));
    this.v = Array.from({ length: layers }, () => new Float32Array(n));
  }
  /** Keeps only the rows in `keep` (ascending), moved to the front. */
  compact(keep: readonly number[]): void {
    const span = this.maxLength * this.channels;
    const used = this.length * this.channels;
    keep.forEach((from, to) => {
      if (from === to) return;
      for (let l = 0; l < this.layers; l++) {
        this.k[l]!.copyWithin(to * span, from * span, from * span + used);
        this.v[l]!.copyWithin(to * span, from * span, from * span + used);
      }
    });
    this.rows = keep.length;
  }
}

/** Grows-on-demand scratch buffers, by name; a buffer is valid until the next `get` of its name. */
export class DecoderScratch {
  private bufs = new Map<string, Float32Array>();
  get(name: string, n: number): Float32Array {
    let b = this.bufs.get(name);
    if (!b || b.length < n) {
      b = new Float32Array(n);
      this.bufs.set(name, b);
    }
    return b.subarray(0, n);
  }
}

/** One pass of the decode path: `T` new positions for each of the cache's rows, after `cache.length`. */
export interface DecodeStep {
  cache: KVCache;
  T: number;
  /** Positions computed: cache.rows × T. */
  rows: number;
  /** Key mask [cache.rows, cache.length + T] (1 = a real position), or null when no row is padded. */
  mask: Uint8Array | null;
  scratch: DecoderScratch;
}
