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
 *   All waits of one request add up to at most `maxTotalWaitMs` (5 min): then it fails.
 * - Hostile servers: answers are read up to `maxResponseBytes` (8 MB); redirects are followed only
 *   within the endpoint's origin (the prompts and the key never go to another host); the API key is
 *   redacted from every message that could echo it.
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
  /** Longest wait a server may ask for with Retry-After, ms. Default 60 s. */
  maxRetryAfterMs?: number;
  /** Longest total of the waits between the attempts of one request, ms. Default 5 min. */
  maxTotalWaitMs?: number;
  /** Largest answer read, bytes; a bigger one fails the request. Default 8 MB. */
  maxResponseBytes?: number;
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

/** The default cap on one request's waits between retries (said in the commands' --help). */
export const DEFAULT_MAX_TOTAL_WAIT_MS = 300_000;
const MAX_REDIRECTS = 5;

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
      maxRetryAfterMs: options.maxRetryAfterMs ?? 60_000,
      maxTotalWaitMs: options.maxTotalWaitMs ?? DEFAULT_MAX_TOTAL_WAIT_MS,
      maxResponseBytes: options.maxResponseBytes ?? 8 * 1024 * 1024,
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
      let waitedMs = 0;
      for (let attempt = 1; ; attempt++) {
        await this.waitForPause(req.signal);
        try {
          const result = await this.once(payload, model, req.signal);
          return { ...result, attempts: attempt };
        } catch (e) {
          if (req.signal?.aborted) throw abortError(req.signal);
          const err = e instanceof LlmError ? e : new LlmError(String((e as Error)?.message ?? e), true);
          const delayMs =
            err.retryAfterMs !== undefined
              ? Math.min(err.retryAfterMs, this.opts.maxRetryAfterMs)
              : backoffDelay(attempt, this.opts.baseDelayMs, this.opts.maxDelayMs);
          const outOfTime = waitedMs + delayMs > this.opts.maxTotalWaitMs;
          if (!err.retryable || attempt > this.opts.maxRetries || outOfTime) {
            this.usage.failures++;
            const tries = attempt > 1 ? ` (after ${attempt} attempts)` : '';
            const gaveUp =
              err.retryable && outOfTime && attempt <= this.opts.maxRetries
                ? `; gave up: the next wait would pass ${Math.round(this.opts.maxTotalWaitMs / 1000)} s of waiting for this request`
                : '';
            throw new LlmError(
              this.redact(`${this.url}: ${err.message}${tries}${gaveUp}`),
              err.retryable,
              err.status,
            );
          }
          if (err.retryAfterMs !== undefined)
            this.pausedUntil = Math.max(this.pausedUntil, Date.now() + delayMs);
          waitedMs += delayMs;
          this.usage.retries++;
          this.options.onRetry?.({ attempt, delayMs, reason: this.redact(err.message) });
          await sleep(delayMs, req.signal);
        }
      }
    });
  }

  /** Blanks the API key (whole, or a piece of 8+ characters of it) out of a message. */
  redact(text: string): string {
    return redactSecret(text, this.apiKey);
  }

  /** POSTs to the endpoint, following redirects only within its origin (never to another host). */
  private async post(
    headers: Record<string, string>,
    payload: string,
    signal: AbortSignal,
  ): Promise<Response> {
    let url = this.url;
    const origin = new URL(this.url).origin;
    for (let hop = 0; ; hop++) {
      const res = await fetch(url, { method: 'POST', headers, body: payload, signal, redirect: 'manual' });
      if (res.status < 300 || res.status >= 400 || res.status === 304) return res;
      await res.body?.cancel();
      const location = res.headers.get('location');
      if (!location) throw new LlmError(`HTTP ${res.status} redirect without a Location`, false, res.status);
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new LlmError(`HTTP ${res.status} redirect to an unreadable Location`, false, res.status);
      }
      if (next.origin !== origin)
        throw new LlmError(
          `HTTP ${res.status} redirect to another origin (${next.origin}) not followed: the prompts and the key stay with ${origin}`,
          false,
          res.status,
        );
      if (hop >= MAX_REDIRECTS) throw new LlmError(`more than ${MAX_REDIRECTS} redirects`, false, res.status);
      url = next.toString();
    }
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
      res = await this.post(headers, payload, combined);
      status = res.status;
      text = await readCapped(res, this.opts.maxResponseBytes);
    } catch (e) {
      if (e instanceof LlmError) throw e;
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

/** The body as text, refusing (and cancelling) it past `limit` bytes. */
async function readCapped(res: Response, limit: number): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    await res.body?.cancel();
    throw new LlmError(
      `answer of ${declared} bytes refused: larger than the ${limit}-byte limit`,
      false,
      res.status,
    );
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > limit) {
      await res.body.cancel().catch(() => {});
      throw new LlmError(`answer refused: more than the ${limit}-byte limit`, false, res.status);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * `text` with `secret` replaced by [redacted]: whole, or every piece of 8 or more characters of it
 * (servers echo keys whole, cut or masked). Keys shorter than 8 characters are only redacted whole.
 */
export function redactSecret(text: string, secret: string | undefined): string {
  if (!secret || secret.length < 4) return text;
  if (secret.length < 8) return text.split(secret).join('[redacted]');
  const piece = 8;
  const hidden = new Uint8Array(text.length);
  for (let i = 0; i + piece <= text.length; i++) {
    if (secret.includes(text.slice(i, i + piece))) hidden.fill(1, i, i + piece);
  }
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (!hidden[i]) out += text[i];
    else if (i === 0 || !hidden[i - 1]) out += '[redacted]';
  }
  return out;
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
