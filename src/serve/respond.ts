/** Writing answers: JSON, errors (OpenAI's error shape), and server-sent event streams. */
import type { ServerResponse } from 'node:http';
import { HttpError } from './http-error.ts';

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: HttpError): void {
  if (res.headersSent) return;
  const headers = { ...err.extra.headers };
  if (err.extra.closeConnection) headers['Connection'] = 'close';
  sendJson(res, err.status, err.toJSON(), headers);
  if (err.extra.closeConnection) {
    // The unread rest of the body is not read: close once the answer is out (a moment later, so the
    // client can read the answer before the reset that unread data causes).
    res.once('finish', () => setTimeout(() => res.socket?.destroy(), 250).unref());
  }
}

/** An open server-sent event stream. */
export class SseStream {
  constructor(private readonly res: ServerResponse) {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
  }

  get open(): boolean {
    return !this.res.writableEnded && !this.res.destroyed;
  }

  /** One event: `data` is sent as JSON unless it is already a string. */
  send(data: unknown, event?: string): void {
    if (!this.open) return;
    const payload = typeof data === 'string' ? data : JSON.stringify(data);
    this.res.write(`${event ? `event: ${event}\n` : ''}data: ${payload}\n\n`);
  }

  end(): void {
    if (this.open) this.res.end();
  }
}
