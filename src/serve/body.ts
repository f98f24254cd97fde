/**
 * Reads a request body into memory with a size limit. A declared Content-Length over the limit is
 * refused before reading anything; a chunked body is refused as soon as it passes the limit, so a huge
 * upload never fills memory.
 */
import type { IncomingMessage } from 'node:http';
import { ClientGone, HttpError } from './http-error.ts';

export function tooLarge(limit: number): HttpError {
  const mb = (limit / 1024 / 1024).toFixed(limit < 1024 * 1024 ? 3 : 0);
  return new HttpError(413, `request body too large: the limit is ${mb} MB (--max-body-mb)`, {
    closeConnection: true,
  });
}

export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: Error | null, body?: Buffer) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (err) {
        // Stop reading: the rest of an oversized body stays in the socket, which is closed after the answer.
        req.pause();
        reject(err);
      } else resolve(body!);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return finish(tooLarge(limit));
      chunks.push(chunk);
    };
    const onEnd = () => finish(null, Buffer.concat(chunks, size));
    const onError = () => finish(new ClientGone());
    const onClose = () => {
      if (!req.complete) finish(new ClientGone());
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}
