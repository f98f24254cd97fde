/**
 * A pool of ArrayBuffers for the tensors of a training step. A step allocates the same few hundred
 * megabytes of activations, gradients and scratch every time; as fresh typed arrays that memory has to be
 * zeroed by the allocator and then found by the garbage collector (several full collections per step).
 * The step scope (scope.ts) takes its buffers from here and gives them back, so after the first step a
 * step allocates nothing.
 *
 * Buffers come in size classes, four per power of two (at most 25 % slack), so sizes that vary a little
 * (batches of different lengths) still share buffers. Memory stays bounded: `endStep()` drops the buffers
 * that sat unused in the pool through the last two steps, and the free buffers never exceed `limitBytes`.
 */

/** Requests below this many bytes are not pooled: small typed arrays are cheap for V8. */
export const MIN_POOLED_BYTES = 4096;

/** The size class of a request: rounded up to a quarter of its power of two. */
export function sizeClass(bytes: number): number {
  if (bytes <= MIN_POOLED_BYTES) return MIN_POOLED_BYTES;
  const quarter = 2 ** Math.floor(Math.log2(bytes)) / 4;
  return Math.ceil(bytes / quarter) * quarter;
}

interface FreeList {
  buffers: ArrayBuffer[];
  /** The fewest free buffers this class had since the last `endStep()` (buffers nobody asked for). */
  low: number;
  /** The same for the step before. */
  lowBefore: number;
}

export interface PoolStats {
  /** Bytes held in free buffers. */
  freeBytes: number;
  freeBuffers: number;
  /** Requests served from the pool / by a new allocation since the pool was made (or `reset()`). */
  hits: number;
  misses: number;
  /** Free buffers dropped by trimming or by the limit. */
  dropped: number;
}

export class BufferPool {
  private readonly lists = new Map<number, FreeList>();
  private freeBytes = 0;
  private hits = 0;
  private misses = 0;
  private dropped = 0;

  /** @param limitBytes the most bytes the free buffers may hold; releases beyond it are dropped. */
  constructor(public limitBytes = 2 ** 31) {}

  /**
   * A buffer of at least `bytes` bytes. Its first `zeroBytes` bytes are zero; the rest hold whatever its
   * last user left (a new buffer is all zeros).
   */
  acquire(bytes: number, zeroBytes = 0): ArrayBuffer {
    const size = sizeClass(bytes);
    const list = this.lists.get(size);
    const buf = list?.buffers.pop();
    if (!list || !buf) {
      this.misses++;
      if (list) list.low = 0;
      return new ArrayBuffer(size);
    }
    this.hits++;
    this.freeBytes -= size;
    if (list.buffers.length < list.low) list.low = list.buffers.length;
    if (zeroBytes > 0) new Uint8Array(buf, 0, zeroBytes).fill(0);
    return buf;
  }

  /** Gives `buf` (from `acquire`) back. The caller must hold no view of it any more. */
  release(buf: ArrayBuffer): void {
    const size = buf.byteLength;
    if (size !== sizeClass(size)) throw new Error(`BufferPool.release: ${size} bytes is not a pool buffer`);
    if (this.freeBytes + size > this.limitBytes) {
      this.dropped++;
      return;
    }
    let list = this.lists.get(size);
    if (!list) {
      list = { buffers: [], low: 0, lowBefore: 0 };
      this.lists.set(size, list);
    }
    list.buffers.push(buf);
    this.freeBytes += size;
  }

  /**
   * Called once per step, after the step's buffers came back: drops the buffers of each class that no
   * request reached in this step or the one before (so alternating shapes keep theirs), bounding the pool
   * by what the last two steps needed at once.
   */
  endStep(): void {
    for (const [size, list] of this.lists) {
      const idle = Math.min(list.low, list.lowBefore);
      for (let i = 0; i < idle; i++) list.buffers.pop();
      this.freeBytes -= idle * size;
      this.dropped += idle;
      if (list.buffers.length === 0) {
        this.lists.delete(size);
        continue;
      }
      list.lowBefore = list.low - idle;
      list.low = list.buffers.length;
    }
  }

  /** Drops every free buffer (and the counters). */
  reset(): void {
    this.lists.clear();
    this.freeBytes = 0;
    this.hits = this.misses = this.dropped = 0;
  }

  stats(): PoolStats {
    let freeBuffers = 0;
    for (const list of this.lists.values()) freeBuffers += list.buffers.length;
    return {
      freeBytes: this.freeBytes,
      freeBuffers,
      hits: this.hits,
      misses: this.misses,
      dropped: this.dropped,
    };
  }
}

/** The pool step scopes draw from. */
export const bufferPool = new BufferPool();
