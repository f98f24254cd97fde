/**
 * The HTTP server (node:http, no framework: a handful of routes do not need one). Routes:
 *   GET  /                     the web page (page.html)
 *   GET  /favicon.ico, /favicon.svg   its icon
 *   GET  /examples             the example pictures: {"data": [{"name", "url"}]}; GET /examples/N.png one
 *   GET  /health               {"status": "ok", ...}
 *   GET  /metrics              Prometheus text format
 *   GET  /v1/models            OpenAI's model list
 *   POST /v1/describe          see describe.ts
 *   POST /v1/chat/completions  see openai.ts
 * Every request gets an AbortSignal that fires when its client disconnects or its time runs out; the
 * queue and the generator stop working for it at once.
 */
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { VisionLanguageModel } from '../model/index.ts';
import { Batcher } from './batcher.ts';
import type { Example } from './examples.ts';
import { FAVICON_SVG, faviconIco } from './favicon.ts';
import type { ServeContext } from './context.ts';
import { handleDescribe } from './describe.ts';
import { ClientGone, HttpError, RequestTimeout } from './http-error.ts';
import { DEFAULT_MAX_IMAGE_PIXELS } from './image-input.ts';
import { Metrics } from './metrics.ts';
import { defaultModelId, handleChat, handleModels } from './openai.ts';
import { checkApiKey, checkOrigin, corsHeaders } from './guard.ts';
import { sendError, sendJson } from './respond.ts';

export interface ServeOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  maxBatch?: number;
  maxQueue?: number;
  /** Per-request time limit, from arrival to the last token. */
  timeoutMs?: number;
  maxBodyBytes?: number;
  maxImagePixels?: number;
  batchWindowMs?: number;
  /** Name shown to clients; default: the run's name for a checkpoint, else the folder's (defaultModelId). */
  modelId?: string;
  /** Where unexpected errors are reported (default: stderr). */
  log?: (line: string) => void;
  /** Requests must send `Authorization: Bearer <apiKey>` (except GET / and /health). */
  apiKey?: string;
  /** Web origins (`https://app.example`, or "*") allowed to send POSTs besides the server's own page. */
  allowedOrigins?: readonly string[];
  /** Most connections open at once; beyond that new ones are closed at once. */
  maxConnections?: number;
  /** Time a client has to send its request headers (slow-header connections are closed after it). */
  headersTimeoutMs?: number;
  /** Gets one line per finished request: method, path, status, milliseconds (default: none). */
  requestLog?: (line: string) => void;
  /** Pictures the page offers to click (`sceneExamples()` renders a few built-in scenes); default none. */
  examples?: readonly Example[];
}

export const SERVE_DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  maxBatch: 8,
  maxQueue: 64,
  timeoutMs: 60_000,
  maxBodyBytes: 10 * 1024 * 1024,
  maxConnections: 256,
  headersTimeoutMs: 10_000,
};

export interface RunningServer {
  url: string;
  port: number;
  server: http.Server;
  ctx: ServeContext;
  /** Stops taking requests, lets accepted ones finish (at most graceMs, then they get a 503), closes. */
  close(graceMs?: number): Promise<void>;
}

const PAGE = readFileSync(new URL('./page.html', import.meta.url));
const PAGE_HEADERS = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Length': String(PAGE.length),
  'Cache-Control': 'no-cache',
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy':
    "default-src 'self'; img-src 'self' blob: data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'",
};

const STATIC_HEADERS = { 'Cache-Control': 'public, max-age=3600', 'X-Content-Type-Options': 'nosniff' };

/** GET /examples/N.png (N counts from 1). */
const EXAMPLE_PATH = /^\/examples\/([1-9]\d{0,3})\.png$/;

const ROUTES: Record<string, string> = {
  '/': 'GET',
  '/favicon.ico': 'GET',
  '/favicon.svg': 'GET',
  '/examples': 'GET',
  '/health': 'GET',
  '/metrics': 'GET',
  '/v1/models': 'GET',
  '/v1/describe': 'POST',
  '/v1/chat/completions': 'POST',
};

export async function startServer(vlm: VisionLanguageModel, opts: ServeOptions = {}): Promise<RunningServer> {
  const o = { ...SERVE_DEFAULTS, ...opts };
  const log = opts.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const metrics = new Metrics({
    queueLength: () => batcher.queueLength,
    queueCapacity: o.maxQueue,
    generating: () => batcher.generatingCount,
  });
  const batcher = new Batcher(vlm, {
    maxBatch: o.maxBatch,
    maxQueue: o.maxQueue,
    batchWindowMs: o.batchWindowMs,
    onBatch: (size, tokens, ms) => metrics.batch(size, tokens, ms),
  });
  const ctx: ServeContext = {
    vlm,
    modelId: opts.modelId ?? defaultModelId(vlm.dir),
    parameters: vlm.model.parameterCount(),
    created: Math.floor(Date.now() / 1000),
    batcher,
    metrics,
    limits: { maxNewTokens: vlm.config.max_text_len, vocabSize: vlm.config.vocab_size, maxPromptChars: 4000 },
    maxBodyBytes: o.maxBodyBytes,
    maxImagePixels: o.maxImagePixels ?? DEFAULT_MAX_IMAGE_PIXELS,
    timeoutMs: o.timeoutMs,
  };
  const allowedOrigins = opts.allowedOrigins ?? [];
  const examples = opts.examples ?? [];
  const favicon = await faviconIco();
  const sendBytes = (req: IncomingMessage, res: ServerResponse, type: string, bytes: Buffer) => {
    res.writeHead(200, { 'Content-Type': type, 'Content-Length': String(bytes.length), ...STATIC_HEADERS });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  };
  const active = new Set<AbortController>();
  let closing = false;

  async function route(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    signal: AbortSignal,
  ): Promise<void> {
    const p = url.pathname;
    const cors = corsHeaders(req, allowedOrigins);
    if (cors) for (const [k, v] of Object.entries(cors)) res.setHeader(k, v);
    if (cors && req.method === 'OPTIONS') {
      res.writeHead(204).end();
      return;
    }
    checkOrigin(req, allowedOrigins);
    checkApiKey(req, p, opts.apiKey);
    const example = EXAMPLE_PATH.exec(p);
    const method = ROUTES[p] ?? (example && Number(example[1]) <= examples.length ? 'GET' : undefined);
    if (!method)
      throw new HttpError(
        404,
        `no such route: ${p.slice(0, 100)} (try GET /, POST /v1/describe, POST /v1/chat/completions)`,
      );
    const m = req.method === 'HEAD' && method === 'GET' ? 'GET' : req.method;
    if (m !== method)
      throw new HttpError(405, `${p} takes ${method}, not ${req.method}`, { headers: { Allow: method } });
    switch (p) {
      case '/':
        res.writeHead(200, PAGE_HEADERS);
        res.end(req.method === 'HEAD' ? undefined : PAGE);
        return;
      case '/favicon.ico':
        return sendBytes(req, res, 'image/x-icon', favicon);
      case '/favicon.svg':
        return sendBytes(req, res, 'image/svg+xml', FAVICON_SVG);
      case '/examples':
        return sendJson(res, 200, {
          object: 'list',
          data: examples.map((e, i) => ({ name: e.name, url: `/examples/${i + 1}.png` })),
        });
      case '/health':
        return sendJson(res, closing ? 503 : 200, {
          status: closing ? 'shutting_down' : 'ok',
          model: ctx.modelId,
          image_size: vlm.config.image_size,
          queue_length: batcher.queueLength,
          generating: batcher.generatingCount,
          max_new_tokens: ctx.limits.maxNewTokens,
        });
      case '/metrics': {
        const text = metrics.render();
        res.writeHead(200, {
          'Content-Type': 'text/plain; version=0.0.4; charset=utf-8',
          'Cache-Control': 'no-store',
        });
        res.end(text);
        return;
      }
      case '/v1/models':
        return handleModels(res, ctx);
      case '/v1/describe':
        return handleDescribe(req, res, ctx, url, signal);
      case '/v1/chat/completions':
        return handleChat(req, res, ctx, signal);
      default:
        return sendBytes(req, res, 'image/png', examples[Number(example![1]) - 1]!.png);
    }
  }

  // Time-outs are checked every second (Node's default, 30 s, lets slow clients hold a connection longer).
  const server = http.createServer({ connectionsCheckingInterval: 1000 }, async (req, res) => {
    const t0 = performance.now();
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      url = new URL('http://localhost/?');
    }
    const routeLabel =
      url.pathname in ROUTES ? url.pathname : EXAMPLE_PATH.test(url.pathname) ? '/examples/N.png' : 'other';
    const ac = new AbortController();
    active.add(ac);
    const timer = setTimeout(() => ac.abort(new RequestTimeout(o.timeoutMs)), o.timeoutMs);
    res.on('close', () => {
      clearTimeout(timer);
      active.delete(ac);
      if (!res.writableFinished) ac.abort(new ClientGone());
      const status = res.writableFinished ? res.statusCode : 499;
      const ms = performance.now() - t0;
      metrics.request(routeLabel, status, ms / 1000);
      opts.requestLog?.(`${req.method} ${url.pathname.slice(0, 200)} ${status} ${ms.toFixed(0)} ms`);
    });
    if (closing) res.setHeader('Connection', 'close');
    try {
      await route(req, res, url, ac.signal);
    } catch (e) {
      if (e instanceof ClientGone) {
        res.destroy();
      } else if (e instanceof HttpError) {
        sendError(res, e);
      } else {
        log(`nanovlm serve: internal error on ${req.method} ${url.pathname}: ${(e as Error)?.stack ?? e}`);
        if (res.headersSent) res.destroy();
        else sendError(res, new HttpError(500, 'internal server error (see the server log)'));
      }
    }
  });
  server.requestTimeout = o.timeoutMs;
  server.headersTimeout = Math.min(o.headersTimeoutMs, o.timeoutMs);
  server.maxConnections = o.maxConnections;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = o.host.includes(':') ? `[${o.host}]` : o.host;

  return {
    url: `http://${shownHost}:${port}`,
    port,
    server,
    ctx,
    async close(graceMs = 10_000) {
      if (closing) return;
      closing = true;
      // Drain first: keep the listener open while accepted requests finish (new ones get a 503 with
      // Retry-After and Connection: close instead of a reset), then stop listening and close.
      const deadline = Date.now() + Math.max(0, graceMs);
      const force = setTimeout(() => {
        for (const ac of active)
          ac.abort(new HttpError(503, 'the server is shutting down', { headers: { 'Retry-After': '5' } }));
      }, graceMs);
      await batcher.close();
      // Give the last answers a moment to be written, then drop what is left.
      while (active.size > 0 && Date.now() < deadline + 1000) await new Promise((r) => setTimeout(r, 20));
      clearTimeout(force);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
