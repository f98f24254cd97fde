/** What every endpoint needs: the model, the queue, the limits; and running one request through them. */
import {
  imageTokenCount,
  type DescribeItem,
  type Description,
  type VisionLanguageModel,
} from '../model/index.ts';
import { UserError } from '../util/errors.ts';
import type { Batcher } from './batcher.ts';
import { ClientGone, HttpError, RequestTimeout, badRequest } from './http-error.ts';
import type { Metrics } from './metrics.ts';
import type { Limits, SamplingRequest } from './options.ts';

export interface ServeContext {
  vlm: VisionLanguageModel;
  /** The name clients use for the model (its folder's name). */
  modelId: string;
  /** The model's parameter count. */
  parameters: number;
  /** Unix seconds the model was loaded (OpenAI's `created`). */
  created: number;
  batcher: Batcher;
  metrics: Metrics;
  limits: Limits;
  maxBodyBytes: number;
  maxImagePixels: number;
  timeoutMs: number;
}

/** Tokens of the prompt (as describeBatch will encode it); a 400 when it leaves no room to write. */
export function promptTokens(ctx: ServeContext, prompt: string, param: string): number {
  const n = prompt.trimEnd() ? ctx.vlm.tokenizer.encode(prompt.trimEnd()).length : 0;
  const most = ctx.vlm.config.max_text_len - 2;
  if (n > most) throw badRequest(`${param} is ${n} tokens long; this model takes at most ${most}`, param);
  return n;
}

/** Tokens the model reads before writing: image tokens, BOS, and the prompt (OpenAI's prompt_tokens). */
export function contextTokens(ctx: ServeContext, promptTokenCount: number): number {
  return imageTokenCount(ctx.vlm.config) + 1 + promptTokenCount;
}

export interface Job {
  pixels: Float32Array;
  sampling: SamplingRequest;
  signal: AbortSignal;
  onToken?: (text: string) => void;
}

/**
 * Queues a job; throws synchronously with a 503 when the queue is full (so no stream has started yet).
 * The returned promise gives the description, or fails with an HttpError (time-out: 503), or ClientGone.
 */
export function startJob(ctx: ServeContext, job: Job): Promise<Description> {
  const { prompt, maxNewTokens, temperature, topK, topP, repetitionPenalty, seed } = job.sampling;
  const item: DescribeItem = {
    image: job.pixels,
    prompt,
    maxNewTokens: maxNewTokens ?? Math.min(ctx.vlm.generation.max_new_tokens, ctx.limits.maxNewTokens),
    signal: job.signal,
    ...(temperature !== undefined && { temperature }),
    ...(topK !== undefined && { topK }),
    ...(topP !== undefined && { topP }),
    ...(repetitionPenalty !== undefined && { repetitionPenalty }),
    ...(seed !== undefined && { seed }),
    ...(job.onToken && { onToken: (text: string) => text && job.onToken!(text) }),
  };
  const pending = ctx.batcher.submit(item);
  return pending.then(
    (d) => {
      if (d.finishReason === 'aborted') throw asHttpError(job.signal.reason, ctx);
      return d;
    },
    (e) => {
      throw asHttpError(e, ctx);
    },
  );
}

/** Maps what can end a job early onto what the client is told. */
export function asHttpError(e: unknown, ctx: ServeContext): unknown {
  if (e instanceof HttpError || e instanceof ClientGone) return e;
  if (e instanceof RequestTimeout) {
    return new HttpError(503, e.message, {
      headers: { 'Retry-After': String(ctx.batcher.retryAfterSeconds()) },
      code: 'timeout',
    });
  }
  if (e instanceof UserError) return new HttpError(400, e.message);
  return e;
}
