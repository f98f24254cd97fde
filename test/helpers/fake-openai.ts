/**
 * A loopback HTTP server speaking the OpenAI chat-completions protocol, for tests. Each request is
 * answered by a handler (or a script of replies, in order) that can return a text answer, an HTTP
 * error (with Retry-After), a malformed body, a dropped connection, or never answer at all.
 *
 *   const server = await startFakeOpenAI((req) => reply.text(`echo ${req.text}`));
 *   const client = new LlmClient({ endpoint: server.url, model: 'gpt-4o' });
 *   ...
 *   await server.close();
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FakeReply =
  | {
      kind: 'answer';
      text: string;
      promptTokens?: number;
      completionTokens?: number;
      model?: string;
      finishReason?: string;
      delayMs?: number;
    }
  | { kind: 'error'; status: number; message?: string; headers?: Record<string, string>; delayMs?: number }
  | { kind: 'raw'; status?: number; body: string; contentType?: string; delayMs?: number }
  /** Accepts the request and never answers. */
  | { kind: 'hang' }
  /** Sends 200 headers and the start of a body, then stalls forever. */
  | { kind: 'hangAfterHeaders' }
  /** Destroys the connection without an answer. */
  | { kind: 'reset' };

export const reply = {
  text: (
    text: string,
    opts: Omit<Extract<FakeReply, { kind: 'answer' }>, 'kind' | 'text'> = {},
  ): FakeReply => ({
    kind: 'answer',
    text,
    ...opts,
  }),
  error: (status: number, message = `error ${status}`, headers: Record<string, string> = {}): FakeReply => ({
    kind: 'error',
    status,
    message,
    headers,
  }),
  /** 429 with `Retry-After: <seconds>` (or `retry-after-ms` when `{ms}` is given). */
  rateLimit: (wait: number | { ms: number } = 1): FakeReply => ({
    kind: 'error',
    status: 429,
    message: 'Rate limit reached',
    headers:
      typeof wait === 'number' ? { 'retry-after': String(wait) } : { 'retry-after-ms': String(wait.ms) },
  }),
  /** A judge's answer (eval judge's JSON) giving every category grade `g`, age group B. */
  grades: (g: number, assessment = 'ok'): FakeReply =>
    reply.text(
      JSON.stringify({
        assessment,
        grammar: g,
        creativity: g,
        consistency: g,
        meaningfulness: g,
        plot: g,
        age_group: 'B',
      }),
    ),
  raw: (body: string, status = 200): FakeReply => ({ kind: 'raw', body, status }),
  hang: (): FakeReply => ({ kind: 'hang' }),
  hangAfterHeaders: (): FakeReply => ({ kind: 'hangAfterHeaders' }),
  reset: (): FakeReply => ({ kind: 'reset' }),
};

export interface FakeRequest {
  /** 0-based arrival order. */
  index: number;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body (undefined if it was not JSON). */
  body: any;
  model: string | undefined;
  messages: { role: string; content: unknown }[];
  /** All text parts of all messages, joined with newlines (to find what was asked). */
  text: string;
  /** Data/http URLs of image parts. */
  images: string[];
}

export type FakeHandler = (req: FakeRequest) => FakeReply | Promise<FakeReply>;

export interface FakeOpenAI {
  /** Base URL ending in /v1, as a client's endpoint. */
  url: string;
  /** Every request received, in order. */
  requests: FakeRequest[];
  /** Requests being handled now, and the most ever at once. */
  readonly inFlight: number;
  readonly maxInFlight: number;
  setHandler(handler: FakeHandler | FakeReply[]): void;
  /** Stops the server and destroys every connection (hanging ones included). */
  close(): Promise<void>;
}

function textOf(messages: FakeRequest['messages']): { text: string; images: string[] } {
  const texts: string[] = [];
  const images: string[] = [];
  for (const m of messages) {
    if (typeof m.content === 'string') texts.push(m.content);
    else if (Array.isArray(m.content)) {
      for (const p of m.content as any[]) {
        if (p?.type === 'text') texts.push(String(p.text));
        if (p?.type === 'image_url') images.push(String(p.image_url?.url));
      }
    }
  }
  return { text: texts.join('\n'), images };
}

const words = (s: string) => s.split(/\s+/).filter(Boolean).length;

/** A handler from a list: replies in order, then `after` (default: HTTP 500 "script exhausted"). */
export function scripted(
  replies: FakeReply[],
  after: FakeReply = reply.error(500, 'script exhausted'),
): FakeHandler {
  let i = 0;
  return () => (i < replies.length ? replies[i++]! : after);
}

export async function startFakeOpenAI(handler: FakeHandler | FakeReply[]): Promise<FakeOpenAI> {
  let handle: FakeHandler = Array.isArray(handler) ? scripted(handler) : handler;
  const requests: FakeRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let inFlight = 0;
  let maxInFlight = 0;
  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  const server = http.createServer(async (req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    let finished = false;
    const done = () => {
      if (!finished) {
        finished = true;
        inFlight--;
      }
    };
    res.on('close', done);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: any;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      body = undefined;
    }
    const messages = Array.isArray(body?.messages) ? body.messages : [];
    const { text, images } = textOf(messages);
    const request: FakeRequest = {
      index: requests.length,
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body,
      model: body?.model,
      messages,
      text,
      images,
    };
    requests.push(request);
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(typeof payload === 'string' ? payload : JSON.stringify(payload));
    };
    if (req.method !== 'POST' || !request.path.endsWith('/chat/completions')) {
      return send(404, { error: { message: `no route ${req.method} ${request.path}` } });
    }
    if (!body || !Array.isArray(body.messages) || typeof body.model !== 'string') {
      return send(400, { error: { message: 'body must be JSON with "model" and "messages"' } });
    }
    let r: FakeReply;
    try {
      r = await handle(request);
    } catch (e) {
      return send(500, { error: { message: `fake handler failed: ${(e as Error).message}` } });
    }
    if ('delayMs' in r && r.delayMs) await wait(r.delayMs);
    switch (r.kind) {
      case 'answer':
        return send(200, {
          id: `chatcmpl-fake-${request.index}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model: r.model ?? body.model,
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: r.text },
              finish_reason: r.finishReason ?? 'stop',
            },
          ],
          usage: {
            prompt_tokens: r.promptTokens ?? words(text),
            completion_tokens: r.completionTokens ?? words(r.text),
            total_tokens: (r.promptTokens ?? words(text)) + (r.completionTokens ?? words(r.text)),
          },
        });
      case 'error':
        return send(
          r.status,
          { error: { message: r.message ?? `error ${r.status}`, type: 'fake' } },
          r.headers,
        );
      case 'raw':
        res.writeHead(r.status ?? 200, { 'content-type': r.contentType ?? 'application/json' });
        return res.end(r.body);
      case 'hang':
        return; // never answer; close() destroys the socket
      case 'hangAfterHeaders':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"id": "chatcmpl-stalled", "choices": [');
        return;
      case 'reset':
        req.socket.destroy();
        return;
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    setHandler(h) {
      handle = Array.isArray(h) ? scripted(h) : h;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
