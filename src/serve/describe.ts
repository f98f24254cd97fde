/**
 * POST /v1/describe: one image in, its description out.
 *   multipart/form-data   field "image" (the file) + option fields
 *   application/json      {"image": base64 | data URL, ...options}
 *   image/* or application/octet-stream   the image bytes; options in the query string
 * Options: prompt (the start of the description), max_new_tokens, temperature, top_k, top_p,
 * repetition_penalty, seed. `?stream=1` answers with server-sent events: `token` events
 * ({"text"}), then one `done` event with the full answer (or an `error` event).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from './body.ts';
import { promptTokens, startJob, type ServeContext } from './context.ts';
import { badRequest, HttpError } from './http-error.ts';
import { decodeImageString, imageToPixels } from './image-input.ts';
import { boundaryOf, parseMultipart } from './multipart.ts';
import {
  DESCRIBE_FIELDS,
  FieldReader,
  readDescribeOptions,
  rejectUnknown,
  type SamplingRequest,
} from './options.ts';
import { sendJson, SseStream } from './respond.ts';
import type { Description } from '../model/index.ts';

interface DescribeInput {
  image: Buffer;
  sampling: SamplingRequest;
}

const QUERY_FIELDS = ['stream'];

function queryObject(url: URL): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of url.searchParams) {
    if (k in out) throw badRequest(`query parameter "${k}" is given more than once`, k);
    out[k] = v;
  }
  return out;
}

async function readInput(
  req: IncomingMessage,
  ctx: ServeContext,
  query: Record<string, string>,
): Promise<DescribeInput> {
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  const mime = type.split(';')[0]!.trim();
  const body = await readBody(req, ctx.maxBodyBytes);
  if (mime === 'multipart/form-data') {
    rejectUnknown(query, QUERY_FIELDS, 'query string');
    const parts = parseMultipart(body, boundaryOf(req.headers['content-type']!));
    const fields: Record<string, string> = {};
    let image: Buffer | undefined;
    for (const p of parts) {
      if (p.name === 'image') {
        if (image) throw badRequest('multipart body: more than one "image" field', 'image');
        image = p.data;
      } else {
        rejectUnknown({ [p.name]: 1 }, DESCRIBE_FIELDS, 'multipart body');
        if (p.name in fields)
          throw badRequest(`multipart body: field "${p.name}" is given more than once`, p.name);
        fields[p.name] = p.data.toString('utf8');
      }
    }
    if (!image) throw badRequest('multipart body: the "image" field (the picture file) is missing', 'image');
    return { image, sampling: readDescribeOptions(fields, true, ctx.limits) };
  }
  if (mime === 'application/json') {
    rejectUnknown(query, QUERY_FIELDS, 'query string');
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch (e) {
      throw badRequest(`malformed JSON body: ${(e as Error).message}`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json))
      throw badRequest('the JSON body must be an object');
    const obj = json as Record<string, unknown>;
    rejectUnknown(obj, ['image', ...DESCRIBE_FIELDS], 'JSON body');
    const image = new FieldReader(obj, false).get('image', 'string');
    if (image === undefined)
      throw badRequest('"image" is missing: send the picture as base64 or a data: URL', 'image');
    return {
      image: decodeImageString(image, 'image'),
      sampling: readDescribeOptions(obj, false, ctx.limits),
    };
  }
  if (mime.startsWith('image/') || mime === 'application/octet-stream') {
    const { stream: _stream, ...options } = query;
    rejectUnknown(options, DESCRIBE_FIELDS, 'query string');
    return { image: body, sampling: readDescribeOptions(options, true, ctx.limits) };
  }
  throw new HttpError(
    415,
    `unsupported Content-Type "${mime || '(none)'}": send multipart/form-data, application/json, or the image bytes (image/png, image/jpeg, ...)`,
  );
}

function answer(ctx: ServeContext, d: Description, msTotal: number) {
  return {
    model: ctx.modelId,
    text: d.text,
    full_text: d.fullText,
    tokens: d.tokens,
    finish_reason: d.finishReason,
    ms: Math.round(msTotal),
    ms_first_token: Math.round(d.msFirstToken),
    tokens_per_second: d.ms > 0 ? Math.round((d.tokens * 1000 * 10) / d.ms) / 10 : 0,
  };
}

export async function handleDescribe(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: ServeContext,
  url: URL,
  signal: AbortSignal,
): Promise<void> {
  const t0 = performance.now();
  const query = queryObject(url);
  const stream = new FieldReader(query, true).get('stream', 'boolean') ?? false;
  const input = await readInput(req, ctx, query);
  promptTokens(ctx, input.sampling.prompt, 'prompt');
  // Cheap refusal before decoding when there is no room anyway.
  if (ctx.batcher.isFull) throw ctx.batcher.busyError();
  const pixels = await imageToPixels(input.image, ctx.vlm.config.image_size, 'image', ctx.maxImagePixels);
  if (!stream) {
    const d = await startJob(ctx, { pixels, sampling: input.sampling, signal });
    sendJson(res, 200, answer(ctx, d, performance.now() - t0));
    return;
  }
  let sse: SseStream | undefined;
  let streamed = '';
  const pending = startJob(ctx, {
    pixels,
    sampling: input.sampling,
    signal,
    onToken: (text) => {
      streamed += text;
      sse?.send({ text }, 'token');
    },
  });
  sse = new SseStream(res);
  try {
    const d = await pending;
    // Text the incremental decoder still held (an unfinished character at the end).
    if (d.text.length > streamed.length && d.text.startsWith(streamed))
      sse.send({ text: d.text.slice(streamed.length) }, 'token');
    sse.send(answer(ctx, d, performance.now() - t0), 'done');
  } catch (e) {
    if (e instanceof HttpError) sse.send(e.toJSON(), 'error');
    else throw e;
  } finally {
    sse.end();
  }
}
