/** The OpenAI-compatible endpoint, driven by the official `openai` client. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import type { RunningServer } from '../../src/serve/index.ts';
import { defaultModelId, readUserText } from '../../src/serve/openai.ts';
import { samplePng, saveTinyModel, serveTiny, type TinyModel } from './fixture.ts';

let model: TinyModel;
let server: RunningServer;
let client: OpenAI;
let dataUrl: string;
const BIN = path.resolve('bin/nanovlm.js');

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
  // The user's text is the start: the answer is the whole description, as /v1/describe's full_text.
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
  const described = (await d.json()) as { text: string; full_text: string };
  assert.equal(choice.message.content, described.full_text);
  assert.equal(choice.message.content, 'A red' + described.text);
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

/** The same description on /v1/describe, from the start (no prompt) or from a given start. */
async function describeDirect(prompt: string, seed: number, maxNewTokens: number) {
  const r = await fetch(`${server.url}/v1/describe`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ image: dataUrl, prompt, max_new_tokens: maxNewTokens, temperature: 1, seed }),
  });
  return ((await r.json()) as { full_text: string }).full_text;
}

test('a question or an instruction gets a description from the start, not a continuation', async () => {
  const fromScratch = (await describeDirect('', 3, 12)).trimStart();
  for (const text of [
    'What animals are in this picture?',
    'Describe this picture.',
    'describe the image in simple words',
    'Is there a dog',
    'Caption:',
    'Tell me what you see',
  ]) {
    const c = await client.chat.completions.create({
      model: 'tiny-vlm',
      messages: messages(text),
      max_tokens: 12,
      temperature: 1,
      seed: 3,
    });
    const content = c.choices[0]!.message.content!;
    assert.equal(content, fromScratch, text);
    assert.doesNotMatch(content, /^\s/, 'no leading space');
  }
});

test('a given start comes back as part of the whole description, streamed or not; no leading space', async () => {
  for (const start of ['The brown dog', 'Two boats on the sea', '  A cat  ']) {
    const params = { model: 'tiny-vlm', messages: messages(start), max_tokens: 8, temperature: 1, seed: 9 };
    const plain = (await client.chat.completions.create(params)).choices[0]!.message.content!;
    assert.ok(plain.startsWith(start.trim()), `${JSON.stringify(plain)} starts with ${start}`);
    assert.equal(plain, await describeDirect(start.trim(), 9, 8));
    let streamed = '';
    const pieces: string[] = [];
    for await (const chunk of await client.chat.completions.create({ ...params, stream: true })) {
      const piece = chunk.choices[0]?.delta.content ?? '';
      if (piece) pieces.push(piece);
      streamed += piece;
    }
    assert.equal(streamed, plain);
    assert.equal(pieces[0], start.trim(), 'the start is the first piece');
  }
  // Without any text the stream does not open with a space either.
  let first = '';
  for await (const chunk of await client.chat.completions.create({
    model: 'tiny-vlm',
    messages: messages(),
    max_tokens: 6,
    seed: 2,
    stream: true,
  })) {
    first ||= chunk.choices[0]?.delta.content ?? '';
  }
  assert.doesNotMatch(first, /^\s/);
});

test('readUserText: questions and instructions ask; other text is a start', () => {
  for (const t of [
    'What is this?',
    'Where is the cat',
    'Please describe it',
    'List the objects:',
    'How many dogs are there?',
  ])
    assert.deepEqual(readUserText(t), { prompt: '', asked: true }, t);
  for (const t of ['The dog', 'A red ball is', 'There are two', 'Three trees and a big fire'])
    assert.deepEqual(readUserText(`  ${t} `), { prompt: t, asked: false }, t);
  assert.deepEqual(readUserText('   '), { prompt: '', asked: false });
});

test("the model's default name: the run for a checkpoint, else the folder", () => {
  assert.equal(defaultModelId('runs/main/checkpoints/best'), 'main');
  assert.equal(defaultModelId('/x/runs/mini-short/checkpoints/step-500/'), 'mini-short-step-500');
  assert.equal(defaultModelId('models/tiny-vlm'), 'tiny-vlm');
  assert.equal(defaultModelId(undefined), 'nanovlm');
});

test('nanovlm serve: --model-name names the model; one log line per request unless --quiet', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'nanovlm-serve-name-'));
  const checkpoint = path.join(root, 'runs', 'pets', 'checkpoints', 'best');
  cpSync(model.dir, checkpoint, { recursive: true });
  const serve = async (args: string[]) => {
    const proc = spawn(process.execPath, [BIN, 'serve', '--model', checkpoint, '--port', '0', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (out += d));
    await new Promise<void>((resolve, reject) => {
      proc.stdout!.on('data', () => out.includes('listening on') && resolve());
      proc.once('exit', () => reject(new Error(`the server exited: ${out}`)));
    });
    const url = /listening on (http:\/\/\S+)/.exec(out)![1]!;
    const ids = ((await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] }).data.map(
      (m) => m.id,
    );
    assert.equal((await fetch(`${url}/nope`)).status, 404);
    await new Promise((r) => setTimeout(r, 100));
    proc.kill('SIGTERM');
    await once(proc, 'exit');
    return { ids, out };
  };
  try {
    const named = await serve([]);
    assert.deepEqual(named.ids, ['pets']);
    assert.match(named.out, /model "pets"/);
    assert.match(named.out, /^GET \/v1\/models 200 \d+ ms$/m);
    assert.match(named.out, /^GET \/nope 404 \d+ ms$/m);
    const quiet = await serve(['--model-name', 'nanovlm-mini', '--quiet']);
    assert.deepEqual(quiet.ids, ['nanovlm-mini']);
    assert.doesNotMatch(quiet.out, /^GET /m);
    const bad = spawnSync(
      process.execPath,
      [BIN, 'serve', '--model', checkpoint, '--model-name', 'two words'],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--model-name must be 1-200 characters without spaces/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('nanovlm serve: a bad --host is a usage error in one line, not a stack trace', () => {
  for (const host of ['999.1.1.1', 'no-such-host.invalid']) {
    const r = spawnSync(
      process.execPath,
      [BIN, 'serve', '--model', model.dir, '--host', host, '--port', '0'],
      {
        encoding: 'utf8',
        timeout: 60_000,
      },
    );
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`^nanovlm serve: --host: "${host.replace(/\./g, '\\.')}" is not an address`),
    );
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
