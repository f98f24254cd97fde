/**
 * OpenAI-compatible chat completions: POST /v1/chat/completions and GET /v1/models.
 *
 * The model describes one image; it answers no questions and follows no instructions. A request carries
 * exactly one image, as an `image_url` content part holding a data: URL (the server fetches nothing and
 * reads no files). The text of the last user message is read in one of two ways (`readUserText`):
 *   - a question or an instruction ("What animals are in this picture?", "Describe the image.") gets a
 *     description written from the start;
 *   - any other text is the start of the description ("The brown dog"): the answer is the whole
 *     description, that start included.
 * The answer never begins with a space. System and assistant messages are accepted and ignored.
 * Supported: max_tokens (or max_completion_tokens), temperature, top_p, seed, stream
 * (+ stream_options.include_usage), n = 1. Other fields are refused by name.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { readBody } from './body.ts';
import { contextTokens, promptTokens, startJob, type ServeContext } from './context.ts';
import { badRequest, HttpError } from './http-error.ts';
import { decodeImageString, imageToPixels } from './image-input.ts';
import { checkSampling, FieldReader, rejectUnknown, typeName, type SamplingRequest } from './options.ts';
import { sendJson, SseStream } from './respond.ts';

const REQUEST_FIELDS = [
  'model',
  'messages',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'seed',
  'stream',
  'stream_options',
  'n',
  'user',
];
const ROLES = ['system', 'developer', 'user', 'assistant'];

interface ChatRequest {
  sampling: SamplingRequest;
  image: Buffer;
  stream: boolean;
  includeUsage: boolean;
}

/** Words that open a question or a request rather than a description. */
const ASKING =
  /^(what|which|who|whom|whose|where|when|why|how|is|are|was|were|do|does|did|can|could|would|will|should|may|might|tell|describe|explain|list|name|show|give|write|caption|say|identify|count|find|look|please|summari[sz]e|generate|create|provide|help)\b/i;

/**
 * The user's text as the model can use it: a question or an instruction (ends with "?" or ":", or opens
 * with a question or request word) asks for a description from the start (prompt ''); anything else is
 * the description's start.
 */
export function readUserText(text: string): { prompt: string; asked: boolean } {
  const t = text.trim();
  if (t && (/[?:]$/.test(t) || ASKING.test(t))) return { prompt: '', asked: true };
  return { prompt: t, asked: false };
}

/**
 * The name clients see when none is given: a training checkpoint (`runs/<run>/checkpoints/best`) is
 * named after its run (`<run>-<checkpoint>` for other checkpoints); any other folder by its own name.
 */
export function defaultModelId(dir: string | undefined): string {
  if (!dir) return 'nanovlm';
  const parts = path.resolve(dir).split(path.sep).filter(Boolean);
  const [run, checkpoints, name] = parts.slice(-3);
  if (checkpoints === 'checkpoints' && run && name) return name === 'best' ? run : `${run}-${name}`;
  return parts.at(-1) ?? 'nanovlm';
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function parseChatRequest(obj: Record<string, unknown>, ctx: ServeContext): ChatRequest {
  rejectUnknown(obj, REQUEST_FIELDS, 'request');
  const f = new FieldReader(obj, false);
  const model = f.get('model', 'string');
  if (model !== undefined && model !== ctx.modelId) {
    throw new HttpError(
      404,
      `The model "${model.slice(0, 80)}" does not exist; this server has "${ctx.modelId}"`,
      {
        param: 'model',
        code: 'model_not_found',
      },
    );
  }
  f.get('user', 'string');
  const n = f.get('n', 'integer');
  if (n !== undefined && n !== 1) throw badRequest(`n must be 1 (one answer per request), got ${n}`, 'n');
  const maxTokens = f.get('max_tokens', 'integer');
  const maxCompletion = f.get('max_completion_tokens', 'integer');
  if (maxTokens !== undefined && maxCompletion !== undefined && maxTokens !== maxCompletion) {
    throw badRequest('max_tokens and max_completion_tokens disagree; give one of them', 'max_tokens');
  }
  let includeUsage = false;
  if (obj.stream_options !== undefined && obj.stream_options !== null) {
    if (!isObject(obj.stream_options))
      throw badRequest(
        `stream_options must be an object, got ${typeName(obj.stream_options)}`,
        'stream_options',
      );
    rejectUnknown(obj.stream_options, ['include_usage'], 'stream_options');
    includeUsage = new FieldReader(obj.stream_options, false).get('include_usage', 'boolean') ?? false;
  }
  const { image, prompt } = readMessages(obj.messages);
  const sampling = checkSampling(
    {
      prompt,
      maxNewTokens: maxTokens ?? maxCompletion,
      temperature: f.get('temperature', 'number'),
      topP: f.get('top_p', 'number'),
      seed: f.get('seed', 'integer'),
    },
    ctx.limits,
    {
      maxNewTokens: maxTokens !== undefined ? 'max_tokens' : 'max_completion_tokens',
      topP: 'top_p',
      topK: 'top_k',
      repetitionPenalty: 'repetition_penalty',
      prompt: 'messages',
    },
  );
  return { sampling, image, stream: f.get('stream', 'boolean') ?? false, includeUsage };
}

/** The one image and the prompt (text of the last user message) from OpenAI-style messages. */
function readMessages(messages: unknown): { image: Buffer; prompt: string } {
  if (!Array.isArray(messages))
    throw badRequest(`messages must be an array, got ${typeName(messages)}`, 'messages');
  if (messages.length === 0)
    throw badRequest('messages is empty: send a user message with an image', 'messages');
  let image: Buffer | undefined;
  let prompt = '';
  messages.forEach((m: unknown, i) => {
    const where = `messages[${i}]`;
    if (!isObject(m)) throw badRequest(`${where} must be an object, got ${typeName(m)}`, 'messages');
    rejectUnknown(m, ['role', 'content', 'name'], where);
    const role = new FieldReader(m, false).get('role', 'string');
    if (role === undefined || !ROLES.includes(role))
      throw badRequest(`${where}.role must be one of ${ROLES.join(', ')}`, 'messages');
    const parts = contentParts(m.content, where);
    if (role !== 'user') return;
    const texts: string[] = [];
    parts.forEach((p, j) => {
      if (p.type === 'text') texts.push(p.text);
      else {
        if (image)
          throw badRequest(`${where}.content[${j}]: only one image per request is supported`, 'messages');
        image = decodeImageString(p.url, `${where}.content[${j}].image_url.url`);
      }
    });
    prompt = readUserText(texts.join(' ')).prompt;
  });
  if (!image)
    throw badRequest('no image: add an image_url content part (a data: URL) to a user message', 'messages');
  return { image, prompt };
}

type Part = { type: 'text'; text: string } | { type: 'image_url'; url: string };

function contentParts(content: unknown, where: string): Part[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (content === null || content === undefined) return [];
  if (!Array.isArray(content))
    throw badRequest(
      `${where}.content must be a string or an array of parts, got ${typeName(content)}`,
      'messages',
    );
  return content.map((p: unknown, j): Part => {
    const at = `${where}.content[${j}]`;
    if (!isObject(p)) throw badRequest(`${at} must be an object, got ${typeName(p)}`, 'messages');
    if (p.type === 'text') {
      rejectUnknown(p, ['type', 'text'], at);
      const text = new FieldReader(p, false).get('text', 'string');
      if (text === undefined) throw badRequest(`${at}.text is missing`, 'messages');
      return { type: 'text', text };
    }
    if (p.type === 'image_url') {
      rejectUnknown(p, ['type', 'image_url'], at);
      const iu = p.image_url;
      if (!isObject(iu))
        throw badRequest(
          `${at}.image_url must be an object {"url": "data:..."}, got ${typeName(iu)}`,
          'messages',
        );
      rejectUnknown(iu, ['url', 'detail'], `${at}.image_url`);
      const url = new FieldReader(iu, false).get('url', 'string');
      if (url === undefined) throw badRequest(`${at}.image_url.url is missing`, 'messages');
      return { type: 'image_url', url };
    }
    throw badRequest(`${at}.type must be "text" or "image_url", got ${typeName(p.type)}`, 'messages');
  });
}

export function handleModels(res: ServerResponse, ctx: ServeContext): void {
  sendJson(res, 200, {
    object: 'list',
    data: [
      {
        id: ctx.modelId,
        object: 'model',
        created: ctx.created,
        owned_by: 'nanovlm',
        // Beyond OpenAI's fields (its clients keep them): what the page shows beside the name.
        preset: ctx.vlm.config.preset,
        parameters: ctx.parameters,
        image_size: ctx.vlm.config.image_size,
      },
    ],
  });
}

export async function handleChat(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: ServeContext,
  signal: AbortSignal,
): Promise<void> {
  const mime = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const body = await readBody(req, ctx.maxBodyBytes);
  if (mime !== 'application/json')
    throw new HttpError(415, `unsupported Content-Type "${mime || '(none)'}": send application/json`);
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw badRequest(`malformed JSON body: ${(e as Error).message}`);
  }
  if (!isObject(json)) throw badRequest('the JSON body must be an object');
  const chat = parseChatRequest(json, ctx);
  const promptCount = promptTokens(ctx, chat.sampling.prompt, 'messages');
  if (ctx.batcher.isFull) throw ctx.batcher.busyError();
  const pixels = await imageToPixels(chat.image, ctx.vlm.config.image_size, 'image_url', ctx.maxImagePixels);
  const id = `chatcmpl-${randomBytes(12).toString('hex')}`;
  const created = Math.floor(Date.now() / 1000);
  const usage = (completion: number) => {
    const prompt = contextTokens(ctx, promptCount);
    return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  };
  const finish = (reason: string) => (reason === 'stop' ? 'stop' : 'length');
  // The whole description: the given start (if any) and what the model wrote, never a leading space.
  const answer = (d: { fullText: string }) => d.fullText.trimStart();

  if (!chat.stream) {
    const d = await startJob(ctx, { pixels, sampling: chat.sampling, signal });
    sendJson(res, 200, {
      id,
      object: 'chat.completion',
      created,
      model: ctx.modelId,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: answer(d), refusal: null },
          logprobs: null,
          finish_reason: finish(d.finishReason),
        },
      ],
      usage: usage(d.tokens),
    });
    return;
  }
  const chunk = (delta: Record<string, unknown>, finishReason: string | null) => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model: ctx.modelId,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...(chat.includeUsage && { usage: null }),
  });
  let sse: SseStream | undefined;
  let streamed = '';
  const send = (text: string) => {
    const piece = streamed ? text : text.trimStart();
    if (!piece) return;
    streamed += piece;
    sse?.send(chunk({ content: piece }, null));
  };
  const pending = startJob(ctx, { pixels, sampling: chat.sampling, signal, onToken: send });
  sse = new SseStream(res);
  sse.send(chunk({ role: 'assistant', content: '' }, null));
  send(chat.sampling.prompt);
  try {
    const d = await pending;
    const full = answer(d);
    if (full.length > streamed.length && full.startsWith(streamed))
      sse.send(chunk({ content: full.slice(streamed.length) }, null));
    sse.send(chunk({}, finish(d.finishReason)));
    if (chat.includeUsage)
      sse.send({
        id,
        object: 'chat.completion.chunk',
        created,
        model: ctx.modelId,
        choices: [],
        usage: usage(d.tokens),
      });
    sse.send('[DONE]');
  } catch (e) {
    // OpenAI's clients raise an error for a data chunk holding "error".
    if (e instanceof HttpError) sse.send(e.toJSON());
    else throw e;
  } finally {
    sse.end();
  }
}
