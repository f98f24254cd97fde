/**
 * A client for any OpenAI-compatible `/v1/chat/completions` endpoint (OpenAI, vLLM, llama.cpp, Ollama...).
 *
 * - Concurrency: at most `concurrency` requests in flight (a request keeps its slot while it backs off,
 *   so a rate-limited server sees fewer requests, not more).
 * - Time-outs: one timer covers connecting, headers AND the body, so a server that sends headers and
 *   then stalls cannot hang us.
 * - Retries: 408/409/429/5xx, time-outs, network errors and malformed answers, with exponential backoff
 *   and jitter; `Retry-After` / `retry-after-ms` is honoured and pauses every request of this client.
 *   Other 4xx answers (bad key, unknown model) fail at once.
 * - Accounting: tokens as reported by the server, and a cost estimate from a price table.
 */
import { UserError } from '../util/errors.ts';
import type { ChatMessage } from './content.ts';
import { costUsd, DEFAULT_PRICES, priceFor, type PriceTable } from './prices.ts';
import { Semaphore } from './semaphore.ts';
import { backoffDelay, parseRetryAfter, sleep } from './retry.ts';

export interface ClientOptions {
  /** Base URL (`https://api.openai.com/v1`, `http://127.0.0.1:8000`) or the full chat-completions URL. */
  endpoint: string;
  /** Default: the OPENAI_API_KEY environment variable; no Authorization header when neither is set. */
  apiKey?: string;
  /** Model used when a request names none. */
  model?: string;
  concurrency?: number;
  /** Whole-request time limit (connect + headers + body), ms. Default 120 s. */
  timeoutMs?: number;
  /** Retries after the first attempt. Default 6. */
  maxRetries?: number;
  /** First backoff delay, ms (doubles each retry, with jitter). Default 1000. */
  baseDelayMs?: number;
  /** Longest backoff delay, ms. Default 60 s. */
  maxDelayMs?: number;
  /** Longest wait a server may ask for with Retry-After, ms. Default 5 min. */
  maxRetryAfterMs?: number;
  /** Prices per model, merged over DEFAULT_PRICES. */
  prices?: PriceTable;
  /** Called before each retry (for logs). */
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
}

export interface ChatRequest {
  messages: ChatMessage[];
  model?: string;
  temperature?: number;
  maxTokens?: number;
  /** 'json' asks for a JSON object (`response_format: {type: 'json_object'}`); an object is passed as is. */
  responseFormat?: 'json' | 'text' | Record<string, unknown>;
  /** More body fields (seed, top_p, stop, ...). */
  extra?: Record<string, unknown>;
  /** Cancels the request, including any backoff wait. */
  signal?: AbortSignal;
}

export interface ChatResult {
  text: string;
  finishReason: string | null;
  model: string;
  promptTokens: number;
  completionTokens: number;
  /** Estimated cost of this call in USD (0 when the model has no price). */
  costUsd: number;
  /** Attempts made (1 = no retry). */
  attempts: number;
}

export interface UsageTotals {
  requests: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  retries: number;
  failures: number;
  /** Models answered for which no price is known (their cost counts as 0). */
  unpricedModels: string[];
}

/** A failed chat request; `status` is the HTTP status when there was one. */
export class LlmError extends UserError {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'LlmError';
  }
}

export function chatCompletionsUrl(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new UserError(`--endpoint: not a URL: "${endpoint}"`, 2);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UserError(`--endpoint: use http(s), got "${endpoint}"`, 2);
  const p = url.pathname.replace(/\/+$/, '');
  if (p.endsWith('/chat/completions')) return url.toString();
  url.pathname = p.endsWith('/v1') ? `${p}/chat/completions` : `${p}/v1/chat/completions`;
  return url.toString();
}

const RETRYABLE_STATUS = new Set([408, 409, 425, 429, 500, 502, 503, 504]);

function abortError(signal: AbortSignal): Error {
  const reason = signal.reason;
  return reason instanceof Error ? reason : new DOMException('The operation was aborted', 'AbortError');
}

export class LlmClient {
  readonly url: string;
  readonly model: string | undefined;
  readonly usage: UsageTotals = {
    requests: 0,
    promptTokens: 0,
    completionTokens: 0,
    costUsd: 0,
    retries: 0,
    failures: 0,
    unpricedModels: [],
  };
  private readonly opts: Required<Omit<ClientOptions, 'apiKey' | 'model' | 'onRetry' | 'headers' | 'prices'>>;
  private readonly apiKey: string | undefined;
  private readonly prices: PriceTable;
  private readonly slots: Semaphore;
  private pausedUntil = 0;

  constructor(private readonly options: ClientOptions) {
    this.url = chatCompletionsUrl(options.endpoint);
    this.model = options.model;
    this.apiKey = options.apiKey ?? process.env.OPENAI_API_KEY;
    this.prices = { ...DEFAULT_PRICES, ...options.prices };
    this.opts = {
      endpoint: options.endpoint,
      concurrency: options.concurrency ?? 4,
      timeoutMs: options.timeoutMs ?? 120_000,
      maxRetries: options.maxRetries ?? 6,
      baseDelayMs: options.baseDelayMs ?? 1000,
      maxDelayMs: options.maxDelayMs ?? 60_000,
      maxRetryAfterMs: options.maxRetryAfterMs ?? 300_000,
    };
    this.slots = new Semaphore(this.opts.concurrency);
  }

  /** Requests currently holding a concurrency slot. */
  get inFlight(): number {
    return this.slots.inUse;
  }

  /** Sends one chat request (retrying as configured) and returns the first choice's text. */
  async chat(req: ChatRequest): Promise<ChatResult> {
    const model = req.model ?? this.model;
    if (!model) throw new UserError('no model given for the chat request (use --model)', 2);
    const body: Record<string, unknown> = { model, messages: req.messages, ...req.extra };
    if (req.temperature !== undefined) body.temperature = req.temperature;
    if (req.maxTokens !== undefined) body.max_tokens = req.maxTokens;
    if (req.responseFormat === 'json') body.response_format = { type: 'json_object' };
    else if (typeof req.responseFormat === 'object') body.response_format = req.responseFormat;
    const payload = JSON.stringify(body);

    return this.slots.run(async () => {
      for (let attempt = 1; ; attempt++) {
        await this.waitForPause(req.signal);
        try {
          const result = await this.once(payload, model, req.signal);
          return { ...result, attempts: attempt };
        } catch (e) {
          if (req.signal?.aborted) throw abortError(req.signal);
          const err = e instanceof LlmError ? e : new LlmError(String((e as Error)?.message ?? e), true);
          if (!err.retryable || attempt > this.opts.maxRetries) {
            this.usage.failures++;
            const tries = attempt > 1 ? ` (after ${attempt} attempts)` : '';
            throw new LlmError(`${this.url}: ${err.message}${tries}`, err.retryable, err.status);
          }
          let delayMs: number;
          if (err.retryAfterMs !== undefined) {
            delayMs = Math.min(err.retryAfterMs, this.opts.maxRetryAfterMs);
            this.pausedUntil = Math.max(this.pausedUntil, Date.now() + delayMs);
          } else {
            delayMs = backoffDelay(attempt, this.opts.baseDelayMs, this.opts.maxDelayMs);
          }
          this.usage.retries++;
          this.options.onRetry?.({ attempt, delayMs, reason: err.message });
          await sleep(delayMs, req.signal);
        }
      }
    });
  }

  private async waitForPause(signal?: AbortSignal): Promise<void> {
    const wait = this.pausedUntil - Date.now();
    if (wait > 0) await sleep(wait, signal);
  }

  /** One HTTP attempt; throws LlmError (retryable or not). */
  private async once(
    payload: string,
    model: string,
    signal?: AbortSignal,
  ): Promise<Omit<ChatResult, 'attempts'>> {
    const timeout = new AbortController();
    const timer = setTimeout(
      () => timeout.abort(new LlmError(`no complete answer within ${this.opts.timeoutMs} ms`, true)),
      this.opts.timeoutMs,
    );
    const combined = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
    const headers: Record<string, string> = { 'content-type': 'application/json', ...this.options.headers };
    if (this.apiKey) headers.authorization = `Bearer ${this.apiKey}`;
    let status = 0;
    let text: string;
    let res: Response;
    try {
      res = await fetch(this.url, { method: 'POST', headers, body: payload, signal: combined });
      status = res.status;
      text = await res.text();
    } catch (e) {
      if (timeout.signal.aborted && !signal?.aborted) throw timeout.signal.reason as LlmError;
      if (signal?.aborted) throw abortError(signal);
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      const detail = cause?.code ?? cause?.message ?? (e as Error).message;
      throw new LlmError(`network error (${detail})`, true);
    } finally {
      clearTimeout(timer);
    }
    this.usage.requests++;
    if (status < 200 || status >= 300) {
      const retryAfterMs = parseRetryAfter(res.headers);
      const reason = serverMessage(text);
      const hint = status === 401 ? ' (check OPENAI_API_KEY)' : '';
      throw new LlmError(
        `HTTP ${status}${reason ? `: ${reason}` : ''}${hint}`,
        RETRYABLE_STATUS.has(status) || status >= 500,
        status,
        retryAfterMs,
      );
    }
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      throw new LlmError(`malformed answer (not JSON): ${JSON.stringify(text.slice(0, 120))}`, true, status);
    }
    const choice = json?.choices?.[0];
    const message = choice?.message;
    if (!message) throw new LlmError('malformed answer (no choices[0].message)', true, status);
    if (typeof message.content !== 'string') {
      if (typeof message.refusal === 'string')
        throw new LlmError(`the model refused: ${message.refusal}`, false, status);
      throw new LlmError('malformed answer (choices[0].message.content is not a string)', true, status);
    }
    const promptTokens = Number(json.usage?.prompt_tokens) || 0;
    const completionTokens = Number(json.usage?.completion_tokens) || 0;
    const answeredModel = typeof json.model === 'string' ? json.model : model;
    const price = priceFor(answeredModel, this.prices) ?? priceFor(model, this.prices);
    if (!price && !this.usage.unpricedModels.includes(answeredModel))
      this.usage.unpricedModels.push(answeredModel);
    const cost = costUsd(promptTokens, completionTokens, price);
    this.usage.promptTokens += promptTokens;
    this.usage.completionTokens += completionTokens;
    this.usage.costUsd += cost;
    return {
      text: message.content,
      finishReason: choice.finish_reason ?? null,
      model: answeredModel,
      promptTokens,
      completionTokens,
      costUsd: cost,
    };
  }
}

/** The `error.message` of an OpenAI-style error body, or the start of the text. */
function serverMessage(text: string): string {
  try {
    const j = JSON.parse(text);
    const m = j?.error?.message ?? j?.message ?? j?.error;
    if (typeof m === 'string') return m.slice(0, 300);
  } catch {
    /* not JSON */
  }
  return text.trim().slice(0, 200);
}
