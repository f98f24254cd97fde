/** The OpenAI-compatible endpoint, driven by the official `openai` client. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { RunningServer } from '../../src/serve/index.ts';
import { samplePng, saveTinyModel, serveTiny, type TinyModel } from './fixture.ts';

let model: TinyModel;
let server: RunningServer;
let client: OpenAI;
let dataUrl: string;

before(async () => {
  model = await saveTinyModel();
  server = await serveTiny(model.dir);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'not-needed', maxRetries: 0 });
  dataUrl = `data:image/png;base64,${(await samplePng()).toString('base64')}`;
});
after(async () => {
  await server.close();
  model.cleanup();
});

const messages = (text?: string): OpenAI.Chat.ChatCompletionMessageParam[] => [
  { role: 'system', content: 'You describe pictures.' },
  {
    role: 'user',
    content: [
      ...(text ? [{ type: 'text' as const, text }] : []),
      { type: 'image_url' as const, image_url: { url: dataUrl, detail: 'low' as const } },
    ],
  },
];

test('models.list shows the served model', async () => {
  const page = await client.models.list();
  assert.deepEqual(
    page.data.map((m) => [m.id, m.object, m.owned_by]),
    [['tiny-vlm', 'model', 'nanovlm']],
  );
});

test('chat.completions.create: a completion in OpenAI shape, seeded and reproducible', async () => {
  const ask = () =>
    client.chat.completions.create({
      model: 'tiny-vlm',
      messages: messages('A red'),
      max_tokens: 10,
      temperature: 0.9,
      top_p: 0.95,
      seed: 11,
    });
  const c = await ask();
  assert.match(c.id, /^chatcmpl-[0-9a-f]{24}$/);
  assert.equal(c.object, 'chat.completion');
  assert.equal(c.model, 'tiny-vlm');
  assert.equal(c.choices.length, 1);
  const choice = c.choices[0]!;
  assert.equal(choice.message.role, 'assistant');
  assert.equal(typeof choice.message.content, 'string');
  assert.ok(['stop', 'length'].includes(choice.finish_reason));
  assert.ok(c.usage!.completion_tokens <= 10);
  // Prompt tokens: one image token (the [CLS] output), BOS, and the tokens of "A red".
  assert.ok(c.usage!.prompt_tokens >= 3);
  assert.equal(c.usage!.total_tokens, c.usage!.prompt_tokens + c.usage!.completion_tokens);
  const again = await ask();
  assert.equal(again.choices[0]!.message.content, choice.message.content);
  // The user's text is the prefix: the same request on /v1/describe continues it identically.
  const d = await fetch(`${server.url}/v1/describe`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      image: dataUrl,
      prompt: 'A red',
      max_new_tokens: 10,
      temperature: 0.9,
      top_p: 0.95,
      seed: 11,
    }),
  });
  assert.equal(((await d.json()) as { text: string }).text, choice.message.content);
});

test('stream: true yields chat.completion.chunk deltas that add up to the plain answer, with usage', async () => {
  const params = {
    model: 'tiny-vlm',
    messages: messages(),
    max_completion_tokens: 12,
    temperature: 1,
    seed: 5,
  };
  const plain = await client.chat.completions.create(params);
  const stream = await client.chat.completions.create({
    ...params,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let role: string | undefined;
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | null | undefined;
  let chunks = 0;
  const ids = new Set<string>();
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, 'chat.completion.chunk');
    ids.add(chunk.id);
    const choice = chunk.choices[0];
    if (choice) {
      role ??= choice.delta.role;
      text += choice.delta.content ?? '';
      finish = choice.finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(role, 'assistant');
  assert.equal(text, plain.choices[0]!.message.content);
  assert.equal(finish, plain.choices[0]!.finish_reason);
  assert.equal(usage!.completion_tokens, plain.usage!.completion_tokens);
  assert.ok(chunks >= 3);
  assert.equal(ids.size, 1, 'every chunk carries the same completion id');
});

test('the raw stream ends with data: [DONE]', async () => {
  const r = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'tiny-vlm', messages: messages(), max_tokens: 3, stream: true }),
  });
  assert.match(r.headers.get('content-type')!, /text\/event-stream/);
  const lines = (await r.text()).trim().split('\n\n');
  assert.equal(lines.at(-1), 'data: [DONE]');
  for (const l of lines.slice(0, -1)) assert.equal(JSON.parse(l.slice(6)).object, 'chat.completion.chunk');
});

test('errors reach the client as OpenAI errors', async () => {
  const remote = client.chat.completions.create({
    model: 'tiny-vlm',
    messages: [
      { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] },
    ],
  });
  await assert.rejects(remote, (e: unknown) => {
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.match(e.message, /remote URLs are not fetched/);
    return true;
  });
  await assert.rejects(
    client.chat.completions.create({ model: 'tiny-vlm', messages: messages(), max_tokens: 5000 }),
    (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.match(e.message, /max_tokens must be an integer in \[1, 64\]/);
      return true;
    },
  );
  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-4o', messages: messages() }),
    (e: unknown) => {
      assert.ok(e instanceof OpenAI.NotFoundError);
      return true;
    },
  );
});
