/**
 * Text generation: batching and sampling around the decoder's KV-cache path (`Decoder.decode`).
 *
 * Each image is encoded once (vision encoder + connector, under noGrad). The decoder then runs a
 * prefill pass over every row's prefix [image token(s)] [BOS] prompt..., then one position per step,
 * each block appending its keys and values to the cache.
 *
 * Rows whose prefixes differ in length are LEFT-padded to a common length: a key mask hides the
 * padding, and positions are counted per row from its first real token, so each row computes exactly
 * what it would alone. Finished rows (EOS, length, abort) are dropped from the batch by compacting the
 * cache, so the remaining ones do not pay for them.
 */
import { DecoderScratch, KVCache } from '../nn/index.ts';
import { Tensor, noGrad } from '../tensor/tensor.ts';
import { UserError } from '../util/errors.ts';
import { Rng } from '../util/rng.ts';
import { imageTokenCount } from './config.ts';
import type { NanoVLM } from './nanovlm.ts';
import { sampleToken, type SamplingOptions } from './sampling.ts';

export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to generate (EOS not counted); capped by the room left in max_text_len. */
  maxNewTokens?: number;
  /** Seed of this row's sampler (same seed, image and prompt → same text). Default: random. */
  seed?: number;
  /** Called with each new token id as it is chosen (EOS is not reported). */
  onToken?: (id: number, index: number) => void;
  /** Aborting stops this row: its result so far comes back with finishReason "aborted". */
  signal?: AbortSignal;
}

export interface GenerateRequest extends GenerateOptions {
  /** One image, CHW float32 [3, S, S], normalised to [-1, 1] (loadImage's output). */
  image: Float32Array;
  /** Token ids of the start of the text (after BOS), for prefix completion. */
  prefix?: readonly number[];
}

export type FinishReason = 'stop' | 'length' | 'aborted';

export interface GenerateResult {
  /** Generated ids (the prefix and EOS not included). */
  ids: number[];
  finishReason: FinishReason;
  /** Milliseconds from the call to this row's first token, and to its end. */
  msFirstToken: number;
  ms: number;
}

export interface BatchOptions {
  /** Aborts every row. */
  signal?: AbortSignal;
  /** Token ids that are never generated (default: BOS and PAD). */
  suppressTokens?: readonly number[];
  /** For tests: the logits each row's token was chosen from (step 0 = after the prefix). */
  onLogits?: (row: number, step: number, logits: Float32Array) => void;
  /** Give the event loop a turn every this many steps (so aborts and I/O get through); 0 never. */
  yieldEvery?: number;
}

export const DEFAULT_MAX_NEW_TOKENS = 64;

interface Row {
  index: number;
  req: GenerateRequest;
  rng: Rng;
  maxNew: number;
  seen: Set<number>;
  result: GenerateResult;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Generates text for a batch of images (each with its own prefix and sampling options). Results come
 * back in request order.
 */
export async function generate(
  model: NanoVLM,
  requests: readonly GenerateRequest[],
  opts: BatchOptions = {},
): Promise<GenerateResult[]> {
  const t0 = performance.now();
  const cfg = model.config;
  const S = cfg.image_size;
  const C = cfg.n_embd;
  const nImg = imageTokenCount(cfg);
  const suppress = opts.suppressTokens ?? [cfg.bos_token_id, cfg.pad_token_id];
  const yieldEvery = opts.yieldEvery ?? 1;
  if (requests.length === 0) return [];
  for (const [i, r] of requests.entries()) {
    if (!(r.image instanceof Float32Array) || r.image.length !== 3 * S * S) {
      throw new UserError(`request ${i}: image should be float32 [3, ${S}, ${S}] (${3 * S * S} values)`);
    }
    for (const id of r.prefix ?? []) {
      if (!Number.isInteger(id) || id < 0 || id >= cfg.vocab_size)
        throw new UserError(`request ${i}: prefix token ${id} is not in the vocabulary`);
    }
    if (1 + (r.prefix?.length ?? 0) >= cfg.max_text_len) {
      throw new UserError(
        `request ${i}: the prompt is ${r.prefix!.length} tokens; at most ${cfg.max_text_len - 2} fit`,
      );
    }
    if (r.temperature !== undefined && !(r.temperature >= 0))
      throw new UserError(`request ${i}: temperature must be >= 0`);
    if (r.topP !== undefined && !(r.topP > 0 && r.topP <= 1))
      throw new UserError(`request ${i}: topP must be in (0, 1]`);
    if (r.topK !== undefined && !(Number.isInteger(r.topK) && r.topK >= 0))
      throw new UserError(`request ${i}: topK must be a non-negative integer`);
    if (r.repetitionPenalty !== undefined && !(r.repetitionPenalty > 0))
      throw new UserError(`request ${i}: repetitionPenalty must be > 0`);
    if (r.maxNewTokens !== undefined && !(Number.isInteger(r.maxNewTokens) && r.maxNewTokens >= 0)) {
      throw new UserError(`request ${i}: maxNewTokens must be a non-negative integer`);
    }
  }

  const wasTraining = model.training;
  model.eval();
  try {
    const B = requests.length;
    // 1. Images → image tokens [B, nImg, C], once.
    const pixels = new Float32Array(B * 3 * S * S);
    requests.forEach((r, b) => pixels.set(r.image, b * 3 * S * S));
    const imageTokens = noGrad(() => model.encodeImages(new Tensor(pixels, [B, 3, S, S]))).f;

    // 2. Prefill: [pad...] [image] [BOS] prefix, left-padded to the longest prefix.
    const textLens = requests.map((r) => 1 + (r.prefix?.length ?? 0));
    const T = nImg + Math.max(...textLens);
    const pad = Int32Array.from(textLens, (n) => T - nImg - n);
    // A left-padded row's positions start after its padding: the cache holds the longest padding too.
    const cache = new KVCache(cfg.n_layer, B, Math.max(...pad) + nImg + cfg.max_text_len, C);
    const scratch = new DecoderScratch();
    const x = new Float32Array(B * T * C);
    const wte = model.decoder.wte.weight.f;
    const putToken = (dst: Float32Array, at: number, id: number) =>
      dst.set(wte.subarray(id * C, (id + 1) * C), at);
    requests.forEach((r, b) => {
      const p = pad[b]!;
      x.set(imageTokens.subarray(b * nImg * C, (b + 1) * nImg * C), (b * T + p) * C);
      [cfg.bos_token_id, ...(r.prefix ?? [])].forEach((id, i) => putToken(x, (b * T + p + nImg + i) * C, id));
    });
    const rows: Row[] = requests.map((req, index) => {
      const room = cfg.max_text_len - textLens[index]! + 1;
      return {
        index,
        req,
        rng: new Rng(req.seed ?? Math.floor(Math.random() * 2 ** 32)),
        maxNew: Math.min(req.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS, room),
        seen: new Set((req.prefix ?? []).filter((id) => !suppress.includes(id))),
        result: { ids: [], finishReason: 'length', msFirstToken: 0, ms: 0 },
      };
    });
    let logits = model.decoder.decode(cache, x, T, pad, scratch);

    // 3. Decode: choose a token per active row, then feed the chosen tokens back.
    let active = rows.filter((row) => {
      if (row.maxNew > 0 && !opts.signal?.aborted && !row.req.signal?.aborted) return true;
      row.result.finishReason = opts.signal?.aborted || row.req.signal?.aborted ? 'aborted' : 'length';
      row.result.ms = performance.now() - t0;
      return false;
    });
    let activeRows = rows.map((_, b) => b).filter((b) => active.includes(rows[b]!));
    if (activeRows.length < B) compactAll(cache, pad, activeRows);
    logits = pickRows(logits, activeRows, cfg.vocab_size);
    const V = cfg.vocab_size;
    for (let step = 0; active.length > 0; step++) {
      const next: number[] = [];
      const keep: number[] = [];
      active.forEach((row, i) => {
        const l = logits.subarray(i * V, (i + 1) * V);
        opts.onLogits?.(row.index, row.result.ids.length, l);
        const id = sampleToken(l, row.req, row.rng, row.seen, suppress);
        const now = performance.now() - t0;
        if (row.result.ids.length === 0) row.result.msFirstToken = now;
        if (id === cfg.eos_token_id) {
          row.result.finishReason = 'stop';
        } else {
          row.result.ids.push(id);
          row.seen.add(id);
          row.req.onToken?.(id, row.result.ids.length - 1);
          if (row.result.ids.length >= row.maxNew) row.result.finishReason = 'length';
          else if (opts.signal?.aborted || row.req.signal?.aborted) row.result.finishReason = 'aborted';
          else {
            keep.push(i);
            next.push(id);
            return;
          }
        }
        row.result.ms = now;
      });
      if (keep.length < active.length) {
        compactAll(cache, pad, keep);
        active = keep.map((i) => active[i]!);
      }
      if (active.length === 0) break;
      const xs = scratch.get('x1', active.length * C);
      next.forEach((id, i) => putToken(xs, i * C, id));
      logits = model.decoder.decode(cache, xs, 1, pad, scratch);
      if (yieldEvery > 0 && step % yieldEvery === yieldEvery - 1) {
        await yieldToEventLoop();
        // Aborts that arrived while we yielded end those rows before the next token.
        const stillOn: number[] = [];
        active.forEach((row, i) => {
          if (opts.signal?.aborted || row.req.signal?.aborted) {
            row.result.finishReason = 'aborted';
            row.result.ms = performance.now() - t0;
          } else stillOn.push(i);
        });
        if (stillOn.length < active.length) {
          compactAll(cache, pad, stillOn);
          logits = pickRows(logits, stillOn, V);
          active = stillOn.map((i) => active[i]!);
        }
      }
    }
    return rows.map((r) => r.result);
  } finally {
    model.train(wasTraining);
  }
}

function compactAll(cache: KVCache, pad: Int32Array, keep: readonly number[]): void {
  cache.compact(keep);
  keep.forEach((from, to) => (pad[to] = pad[from]!));
}

function pickRows(logits: Float32Array, keep: readonly number[], V: number): Float32Array {
  if (keep.length * V === logits.length) return logits;
  const out = new Float32Array(keep.length * V);
  keep.forEach((from, to) => out.set(logits.subarray(from * V, (from + 1) * V), to * V));
  return out;
}
