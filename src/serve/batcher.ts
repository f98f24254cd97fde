/**
 * The request queue in front of the model. Requests wait in a bounded FIFO; a single worker takes up to
 * `maxBatch` of them at a time and generates for all in one batch (one forward pass per step for every
 * image), so requests that arrive together share the work. The model is used by one batch at a time.
 *
 * Each request carries its own AbortSignal (client gone, time-out): aborted while waiting, it leaves
 * the queue at once; aborted while generating, its row stops at the next token.
 */
import {
  NonFiniteLogitsError,
  type DescribeItem,
  type Description,
  type VisionLanguageModel,
} from '../model/index.ts';
import { HttpError } from './http-error.ts';

export interface BatcherOptions {
  maxBatch: number;
  maxQueue: number;
  /** How long an idle worker waits for companions of a first request before starting (ms). */
  batchWindowMs?: number;
  /** Called after each batch with its size, the tokens it generated and its duration. */
  onBatch?: (size: number, tokens: number, ms: number) => void;
}

interface Waiting {
  item: DescribeItem;
  resolve: (d: Description) => void;
  reject: (e: unknown) => void;
  detach: () => void;
}

export class Batcher {
  private readonly queue: Waiting[] = [];
  private running: Promise<void> | null = null;
  private closed = false;
  private generating = 0;
  /** Smoothed seconds per batch, for Retry-After. */
  private batchSeconds = 1;

  constructor(
    private readonly vlm: VisionLanguageModel,
    private readonly opts: BatcherOptions,
  ) {
    if (!(opts.maxBatch >= 1) || !(opts.maxQueue >= 0))
      throw new Error('Batcher: maxBatch must be >= 1 and maxQueue >= 0');
  }

  /** Requests waiting for the model. */
  get queueLength(): number {
    return this.queue.length;
  }

  /** Requests in the batch being generated. */
  get generatingCount(): number {
    return this.generating;
  }

  get isFull(): boolean {
    return this.queue.length >= this.opts.maxQueue;
  }

  /** Seconds a client should wait before retrying when the queue is full. */
  retryAfterSeconds(): number {
    const batchesAhead = Math.ceil((this.queue.length + 1) / this.opts.maxBatch);
    return Math.max(1, Math.ceil(batchesAhead * this.batchSeconds));
  }

  busyError(): HttpError {
    return new HttpError(503, `the server is busy (${this.queue.length} requests waiting); retry later`, {
      headers: { 'Retry-After': String(this.retryAfterSeconds()) },
    });
  }

  /**
   * Queues one request. Throws at once (synchronously) with a 503 when the queue is full or the server
   * is shutting down, so the caller can still answer with a plain status.
   */
  submit(item: DescribeItem): Promise<Description> {
    if (this.closed)
      throw new HttpError(503, 'the server is shutting down', { headers: { 'Retry-After': '5' } });
    if (this.isFull) throw this.busyError();
    const signal = item.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Description>((resolve, reject) => {
      const onAbort = () => {
        const i = this.queue.indexOf(waiting);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal!.reason);
      };
      const waiting: Waiting = {
        item,
        resolve,
        reject,
        detach: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiting);
      this.running ??= this.work();
    });
  }

  private async work(): Promise<void> {
    try {
      const window = this.opts.batchWindowMs ?? 2;
      if (window > 0 && this.queue.length < this.opts.maxBatch)
        await new Promise((r) => setTimeout(r, window));
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.opts.maxBatch);
        batch.forEach((w) => w.detach());
        await this.run(batch);
      }
    } finally {
      this.running = null;
    }
    // A request may have arrived between the last check and the reset above.
    if (this.queue.length > 0 && !this.running) this.running = this.work();
  }

  private async run(batch: Waiting[]): Promise<void> {
    const t0 = performance.now();
    this.generating = batch.length;
    try {
      const results = await this.vlm.describeBatch(batch.map((w) => w.item));
      const ms = performance.now() - t0;
      this.batchSeconds = 0.8 * this.batchSeconds + 0.2 * (ms / 1000);
      this.opts.onBatch?.(
        batch.length,
        results.reduce((s, d) => s + d.tokens, 0),
        ms,
      );
      batch.forEach((w, i) => w.resolve(results[i]!));
    } catch (e) {
      // A model that overflows is the server's fault, not the client's: a 500 that says why.
      const err = e instanceof NonFiniteLogitsError ? new HttpError(500, e.message) : e;
      batch.forEach((w) => w.reject(err));
    } finally {
      this.generating = 0;
    }
  }

  /**
   * Refuses new requests and resolves once every accepted one (running or waiting) is done. To cut it
   * short, abort the requests' signals: waiting ones leave the queue, running rows stop.
   */
  async close(): Promise<void> {
    this.closed = true;
    while (this.running) await this.running;
  }
}
