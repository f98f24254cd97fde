/**
 * DataLoader: turns a dataset split into batches of (image, token ids) for the trainer.
 *
 * - Order: a sample's place in an epoch comes from a permutation seeded by hash32(seed, epoch), so any
 *   (epoch, position) can be recomputed: `state()` / `restore()` resume on exactly the same batches.
 * - Streaming: images are decoded from disk when a batch is built; only a bounded LRU of decoded
 *   pictures (uint8 RGB at the model's size) and the prefetched batches are held in memory.
 * - Prefetch: the next `prefetch` batches are requested as soon as one is handed out. sharp decodes on
 *   libuv's threads, so that work proceeds while the trainer computes; `stats()` says how often
 *   `next()` still had to wait.
 * - Packed folders (src/data/packed.ts) are a second source: same samples in the same order, pixels
 *   read from the shards and ids taken from the index instead of decoding and tokenising.
 */
import { hash32, Rng } from '../util/rng.ts';
import { UserError } from '../util/errors.ts';
import { decodeImage, rgbToCHW } from './image.ts';
import { imagePath, type Dataset, type DatasetRecord, type Split } from './dataset.ts';
import { ByteLru } from './lru.ts';
import { isPackedDataset, type PackedData } from './packed.ts';
import { patchTargets } from './patch-cover.ts';

export type TextField = 'short' | 'long' | 'both';

export interface TokenizerLike {
  encode(text: string): number[];
  bosId: number;
  eosId: number;
  padId: number;
}

export interface LoaderOptions {
  split: Split;
  text: TextField;
  imageSize: number;
  batchSize: number;
  /** Longest token sequence including BOS and EOS; longer texts are cut (and then have no EOS). */
  maxLen: number;
  /** Either a tokenizer, or `encode` plus the three special ids. */
  tokenizer?: TokenizerLike;
  encode?: (text: string) => number[];
  bosId?: number;
  eosId?: number;
  padId?: number;
  seed?: number;
  /** Shuffle each epoch (default true); false keeps manifest order (validation). */
  shuffle?: boolean;
  /** Drop the last, smaller batch of each epoch (default false). */
  dropLast?: boolean;
  /** Batches decoded ahead of the one being used (default 2). */
  prefetch?: number;
  /** Memory for the decoded-image cache in MB (default 256; 0 disables it). */
  cacheMB?: number;
  /** Skip (and count) unreadable images and records without the wanted text, instead of failing. */
  skipBad?: boolean;
  /** Pad every batch to maxLen instead of to its longest sample. */
  padToMax?: boolean;
  /** Pixel cap for source images (see image.ts). */
  maxPixels?: number;
  /** Patches per side of the model's grid: batches then carry the patch loss's targets. */
  patchGrid?: number;
}

export interface Batch {
  /** [size, 3, S, S] float32, normalised to [-1, 1]. */
  images: Float32Array;
  /** [size, L] int32: BOS, text, EOS, then PAD. */
  ids: Int32Array;
  /** Tokens per row including BOS/EOS (the rest is PAD). */
  lengths: number[];
  L: number;
  /** Rows in this batch (smaller than batchSize for a last partial batch or skipped bad images). */
  size: number;
  records: DatasetRecord[];
  /** Which text each row carries. */
  fields: ('short' | 'long')[];
  epoch: number;
  /** Offset of the batch's first sample within the epoch's order. */
  position: number;
  /** With `patchGrid`: per row, the token naming the thing over each patch (src/data/patch-cover.ts). */
  patchTargets?: Int32Array;
}

export interface LoaderState {
  epoch: number;
  /** Offset (in samples) of the next batch within the epoch's order. */
  position: number;
  seed: number;
  /** Samples per epoch when saved: a resume on a changed dataset is refused. */
  samples: number;
}

export interface LoaderStats {
  batches: number;
  imagesDecoded: number;
  cacheHits: number;
  badImages: number;
  truncatedTexts: number;
  /** next() calls whose batch was not ready yet, and the total time spent waiting. */
  waits: number;
  waitMs: number;
}

interface Sample {
  record: DatasetRecord;
  field: 'short' | 'long';
}

interface Pending {
  epoch: number;
  position: number;
  promise: Promise<Batch>;
  settled: boolean;
}

export class DataLoader {
  readonly samples: readonly Sample[];
  /** Records left out because they lack the wanted text (only with skipBad). */
  readonly missingText: number;
  private readonly opts: Required<Omit<LoaderOptions, 'tokenizer' | 'encode' | 'bosId' | 'eosId' | 'padId' | 'maxPixels' | 'patchGrid'>> & {
    maxPixels?: number;
    patchGrid?: number;
  };
  private readonly tok: TokenizerLike;
  private seed: number;
  private cursor = { epoch: 0, position: 0 };
  private queue: Pending[] = [];
  private orders = new Map<number, Int32Array>();
  private tokenCache: (Int32Array | undefined)[];
  private cache: ByteLru<Uint8Array>;
  private inflight = new Map<string, Promise<Uint8Array>>();
  private bad = new Set<string>();
  /** For a packed dataset: the reader, and each sample's number in its packed split. */
  private packed: { data: PackedData; sample: Int32Array } | null = null;
  private counters: LoaderStats = {
    batches: 0,
    imagesDecoded: 0,
    cacheHits: 0,
    badImages: 0,
    truncatedTexts: 0,
    waits: 0,
    waitMs: 0,
  };

  constructor(
    readonly dataset: Dataset,
    options: LoaderOptions,
  ) {
    this.opts = {
      split: options.split,
      text: options.text,
      imageSize: options.imageSize,
      batchSize: options.batchSize,
      maxLen: options.maxLen,
      seed: options.seed ?? 1,
      shuffle: options.shuffle ?? true,
      dropLast: options.dropLast ?? false,
      prefetch: options.prefetch ?? 2,
      cacheMB: options.cacheMB ?? 256,
      skipBad: options.skipBad ?? false,
      padToMax: options.padToMax ?? false,
      maxPixels: options.maxPixels,
      patchGrid: options.patchGrid,
    };
    this.tok = options.tokenizer ?? {
      encode: options.encode!,
      bosId: options.bosId!,
      eosId: options.eosId!,
      padId: options.padId!,
    };
    if (typeof this.tok.encode !== 'function') throw new Error('DataLoader: a tokenizer or encode() is required');
    for (const k of ['bosId', 'eosId', 'padId'] as const) {
      if (!Number.isInteger(this.tok[k])) throw new Error(`DataLoader: ${k} must be an integer`);
    }
    const { batchSize, maxLen, imageSize, prefetch } = this.opts;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new UserError(`batch size must be ≥ 1, got ${batchSize}`);
    if (!Number.isInteger(maxLen) || maxLen < 2) throw new UserError(`maxLen must be ≥ 2, got ${maxLen}`);
    if (!Number.isInteger(imageSize) || imageSize < 1) throw new UserError(`image size must be ≥ 1, got ${imageSize}`);
    if (!Number.isInteger(prefetch) || prefetch < 0) throw new UserError(`prefetch must be ≥ 0, got ${prefetch}`);
    this.seed = this.opts.seed;

    const built = this.buildSamples();
    this.samples = built.samples;
    this.missingText = built.missing;
    this.tokenCache = new Array(this.samples.length);
    this.cache = new ByteLru(this.opts.cacheMB * 1024 * 1024);
    if (isPackedDataset(dataset)) this.packed = this.usePacked(dataset.packed);
    if (this.epochLimit() === 0) {
      throw new UserError(
        `${dataset.dir}: the ${this.opts.split} split has ${this.samples.length} samples, fewer than one batch of ${batchSize}`,
      );
    }
  }

  private buildSamples(): { samples: Sample[]; missing: number } {
    const { split, text, skipBad } = this.opts;
    const fields: ('short' | 'long')[] = text === 'both' ? ['short', 'long'] : [text];
    const samples: Sample[] = [];
    let missing = 0;
    let firstMissing: string | null = null;
    let inSplit = 0;
    for (const record of this.dataset.records) {
      if (record.split !== split) continue;
      inSplit++;
      for (const field of fields) {
        const t = record[field];
        if (typeof t === 'string' && t.trim()) samples.push({ record, field });
        else {
          missing++;
          firstMissing ??= `id "${record.id}" has no "${field}"`;
        }
      }
    }
    if (!inSplit) throw new UserError(`${this.dataset.dir}: no records in the "${split}" split`);
    if (missing && !skipBad) {
      throw new UserError(
        `${this.dataset.dir}: ${missing} ${split} texts are missing (${firstMissing}); ` +
          `run "nanovlm data describe" for them, choose another text, or use --skip-bad`,
      );
    }
    return { samples, missing };
  }

  /** Maps the samples onto a packed split, refusing a packed folder made for another size or tokenizer. */
  private usePacked(data: PackedData): { data: PackedData; sample: Int32Array } {
    const where = `${data.dir}`;
    if (data.index.image_size !== this.opts.imageSize) {
      throw new UserError(
        `${where}: packed at ${data.index.image_size} px, the model wants ${this.opts.imageSize} (pack again with --image-size ${this.opts.imageSize})`,
      );
    }
    const sample = new Int32Array(this.samples.length);
    this.samples.forEach((s, i) => {
      const loc = data.locate(s.record)!;
      sample[i] = data.sampleOf(loc.split, loc.index, s.field);
      if (sample[i]! < 0)
        throw new UserError(`${where}: packed with --text ${data.index.text}, which has no "${s.field}" texts`);
    });
    // The ids were made by the packing tokenizer: a few samples re-encoded tell whether it is this one.
    const { bosId, eosId } = this.tok;
    for (let i = 0; i < Math.min(4, this.samples.length); i++) {
      const s = this.samples[i]!;
      const want = [bosId, ...this.tok.encode(s.record[s.field] as string), eosId];
      const got = data.ids(this.opts.split, sample[i]!);
      if (want.length !== got.length || want.some((v, k) => v !== got[k])) {
        throw new UserError(
          `${where}: packed with another tokenizer (the ids of "${s.record.id}" differ); pack again with this one`,
        );
      }
    }
    return { data, sample };
  }

  /** Samples used per epoch (a multiple of the batch size with dropLast). */
  private epochLimit(): number {
    const n = this.samples.length;
    return this.opts.dropLast ? n - (n % this.opts.batchSize) : n;
  }

  get batchesPerEpoch(): number {
    return Math.ceil(this.epochLimit() / this.opts.batchSize);
  }

  get epoch(): number {
    return this.cursor.epoch;
  }

  /** The epoch's sample order: identity without shuffle, else a permutation seeded by (seed, epoch). */
  private order(epoch: number): Int32Array {
    let o = this.orders.get(epoch);
    if (!o) {
      o = new Int32Array(this.samples.length);
      for (let i = 0; i < o.length; i++) o[i] = i;
      if (this.opts.shuffle) {
        const rng = new Rng(hash32(this.seed, epoch));
        for (let i = o.length - 1; i > 0; i--) {
          const j = rng.int(i + 1);
          const t = o[i]!;
          o[i] = o[j]!;
          o[j] = t;
        }
      }
      if (this.orders.size >= 3) this.orders.delete(this.orders.keys().next().value!);
      this.orders.set(epoch, o);
    }
    return o;
  }

  private after(pos: { epoch: number; position: number }): { epoch: number; position: number } {
    const next = pos.position + this.opts.batchSize;
    return next >= this.epochLimit() ? { epoch: pos.epoch + 1, position: 0 } : { epoch: pos.epoch, position: next };
  }

  /** Keeps `count` batches requested, starting at the cursor. */
  private fill(count: number): void {
    let pos = this.queue.length ? this.after(this.queue[this.queue.length - 1]!) : { ...this.cursor };
    while (this.queue.length < count) {
      const p: Pending = { ...pos, promise: this.build(pos.epoch, pos.position), settled: false };
      // Marks readiness and keeps an early failure from being an unhandled rejection before it is awaited.
      p.promise.then(
        () => (p.settled = true),
        () => (p.settled = true),
      );
      this.queue.push(p);
      pos = this.after(pos);
    }
  }

  /** The next batch, possibly with no rows (all of its images bad and skipped). */
  private async nextRaw(): Promise<Batch> {
    this.fill(1);
    const p = this.queue.shift()!;
    this.cursor = this.after(p);
    this.fill(this.opts.prefetch);
    if (!p.settled) {
      const t0 = performance.now();
      try {
        await p.promise;
      } finally {
        this.counters.waits++;
        this.counters.waitMs += performance.now() - t0;
      }
    }
    const batch = await p.promise;
    this.counters.batches++;
    return batch;
  }

  /** The next batch; epochs follow one another without end (`batch.epoch` says which). */
  async next(): Promise<Batch> {
    for (;;) {
      const b = await this.nextRaw();
      if (b.size > 0) return b;
    }
  }

  /** The remaining batches of the current epoch (a whole epoch when called at its start). */
  async *epochBatches(): AsyncGenerator<Batch> {
    const epoch = this.cursor.epoch;
    while (this.cursor.epoch === epoch) {
      const b = await this.nextRaw();
      if (b.size > 0) yield b;
    }
  }

  state(): LoaderState {
    return { epoch: this.cursor.epoch, position: this.cursor.position, seed: this.seed, samples: this.samples.length };
  }

  /** Continues exactly where `state()` was taken; prefetched batches are dropped. */
  restore(state: LoaderState): void {
    if (state.samples !== this.samples.length) {
      throw new UserError(
        `cannot resume the data order: the ${this.opts.split} split now has ${this.samples.length} samples, ` +
          `the checkpoint was made with ${state.samples}`,
      );
    }
    if (!Number.isInteger(state.epoch) || state.epoch < 0 || !Number.isInteger(state.position) || state.position < 0) {
      throw new UserError(`invalid loader state ${JSON.stringify(state)}`);
    }
    this.close();
    this.seed = state.seed;
    this.orders.clear();
    this.cursor = state.position >= this.epochLimit() ? { epoch: state.epoch + 1, position: 0 } : { ...state };
  }

  /** Drops prefetched work (their results are discarded). */
  close(): void {
    this.queue = [];
  }

  stats(): LoaderStats & { cachedImages: number; cacheMB: number } {
    return { ...this.counters, cachedImages: this.cache.size, cacheMB: this.cache.usedBytes / 1048576 };
  }

  private readonly nameTokens = new Map<string, number>();
  /** The first token of " name": what the patch loss teaches a patch to say for a thing. */
  private readonly nameToken = (name: string): number => {
    let id = this.nameTokens.get(name);
    if (id === undefined) {
      id = this.tok.encode(' ' + name)[0] ?? this.tok.padId;
      this.nameTokens.set(name, id);
    }
    return id;
  };

  private tokens(index: number): Int32Array {
    let t = this.tokenCache[index];
    if (!t) {
      const s = this.samples[index]!;
      const { bosId, eosId } = this.tok;
      const ids = this.packed
        ? this.packed.data.ids(this.opts.split, this.packed.sample[index]!)
        : [bosId, ...this.tok.encode(s.record[s.field] as string), eosId];
      if (ids.length > this.opts.maxLen) this.counters.truncatedTexts++;
      t = Int32Array.from(ids.slice(0, this.opts.maxLen));
      this.tokenCache[index] = t;
    }
    return t;
  }

  /** Decoded RGB bytes of a record's image, from the cache or from disk; null if bad and skipped. */
  private decode(record: DatasetRecord): Promise<Uint8Array | null> {
    if (this.packed) {
      // Read from the shard (page cache, no decoding): no LRU needed.
      const loc = this.packed.data.locate(record)!;
      this.counters.imagesDecoded++;
      try {
        return Promise.resolve(this.packed.data.pixels(loc.split, loc.index));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const file = imagePath(this.dataset, record);
    if (this.bad.has(file)) return Promise.resolve(null);
    const hit = this.cache.get(file);
    if (hit) {
      this.counters.cacheHits++;
      return Promise.resolve(hit);
    }
    let p = this.inflight.get(file);
    if (!p) {
      p = decodeImage(file, this.opts.imageSize, { maxPixels: this.opts.maxPixels });
      this.inflight.set(file, p);
      p.then(
        (rgb) => {
          this.counters.imagesDecoded++;
          this.cache.set(file, rgb);
        },
        () => {},
      ).finally(() => this.inflight.delete(file));
    } else {
      this.counters.cacheHits++;
    }
    return p.catch((e) => {
      if (!this.opts.skipBad) throw e;
      if (!this.bad.has(file)) {
        this.bad.add(file);
        this.counters.badImages++;
      }
      return null;
    });
  }

  private async build(epoch: number, position: number): Promise<Batch> {
    const order = this.order(epoch);
    const end = Math.min(position + this.opts.batchSize, this.epochLimit());
    const picked = Array.from(order.subarray(position, end));
    const decoded = await Promise.all(picked.map((i) => this.decode(this.samples[i]!.record)));
    const rows = picked.filter((_, k) => decoded[k] !== null);
    const pixels = decoded.filter((d): d is Uint8Array => d !== null);
    const S = this.opts.imageSize;
    const plane = 3 * S * S;
    const images = new Float32Array(rows.length * plane);
    pixels.forEach((rgb, k) => rgbToCHW(rgb, S, images, k * plane));
    const toks = rows.map((i) => this.tokens(i));
    const lengths = toks.map((t) => t.length);
    const L = this.opts.padToMax ? this.opts.maxLen : Math.max(2, ...lengths);
    const ids = new Int32Array(rows.length * L).fill(this.tok.padId);
    toks.forEach((t, k) => ids.set(t, k * L));
    const records = rows.map((i) => this.samples[i]!.record);
    const grid = this.opts.patchGrid;
    return {
      images,
      ids,
      lengths,
      L,
      size: rows.length,
      records,
      fields: rows.map((i) => this.samples[i]!.field),
      epoch,
      position,
      ...(grid ? { patchTargets: patchTargets(records, grid, this.nameToken, this.tok.padId) } : {}),
    };
  }
}
