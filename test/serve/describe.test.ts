import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunningServer } from '../../src/serve/index.ts';
import { metric, samplePng, saveTinyModel, serveTiny, type TinyModel } from './fixture.ts';

let model: TinyModel;
let server: RunningServer;
let png: Buffer<ArrayBuffer>;

before(async () => {
  model = await saveTinyModel();
  // A wide batching window so the concurrent requests below deterministically share a batch.
  server = await serveTiny(model.dir, { batchWindowMs: 250, maxBatch: 8 });
  png = await samplePng();
});
after(async () => {
  await server.close();
  model.cleanup();
});

const post = (path: string, body: BodyInit, headers: Record<string, string> = {}) =>
  fetch(server.url + path, { method: 'POST', body, headers });

interface Answer {
  model: string;
  text: string;
  full_text: string;
  tokens: number;
  finish_reason: string;
  ms: number;
  ms_first_token: number;
  tokens_per_second: number;
}

function checkAnswer(a: Answer, prompt = '') {
  assert.equal(a.model, 'tiny-vlm');
  assert.equal(typeof a.text, 'string');
  assert.ok(a.tokens >= 0 && a.tokens <= 24, `tokens ${a.tokens}`);
  assert.ok(['stop', 'length'].includes(a.finish_reason));
  assert.equal(a.full_text, prompt + a.text);
  assert.ok(a.ms >= 0 && a.tokens_per_second >= 0);
}

test('raw image body: seeded sampling is reproducible, a different seed differs', async () => {
  const ask = (seed: number) =>
    post(`/v1/describe?seed=${seed}&temperature=1&max_new_tokens=12`, png, { 'Content-Type': 'image/png' });
  const r1 = await ask(7);
  assert.equal(r1.status, 200);
  assert.match(r1.headers.get('content-type')!, /application\/json/);
  const a1 = (await r1.json()) as Answer;
  checkAnswer(a1);
  assert.ok(a1.tokens <= 12);
  const a2 = (await (await ask(7)).json()) as Answer;
  assert.equal(a2.text, a1.text);
  const others = await Promise.all(
    [8, 9, 10].map(async (s) => ((await (await ask(s)).json()) as Answer).text),
  );
  assert.ok(
    others.some((t) => t !== a1.text),
    'different seeds should give different samples',
  );
});

test('JSON body with a data: URL or bare base64, with a prompt', async () => {
  for (const image of [`data:image/png;base64,${png.toString('base64')}`, png.toString('base64')]) {
    const r = await post(
      '/v1/describe',
      JSON.stringify({ image, prompt: 'A red ball ', seed: 1, max_new_tokens: 8 }),
      {
        'Content-Type': 'application/json',
      },
    );
    assert.equal(r.status, 200);
    const a = (await r.json()) as Answer;
    checkAnswer(a, 'A red ball');
    assert.ok(a.full_text.startsWith('A red ball'));
  }
});

test('multipart upload with option fields', async () => {
  const form = new FormData();
  form.append('image', new Blob([png], { type: 'image/png' }), 'scene.png');
  form.append('prompt', 'Two boats');
  form.append('temperature', '0');
  form.append('max_new_tokens', '6');
  const r = await post('/v1/describe', form);
  assert.equal(r.status, 200);
  const a = (await r.json()) as Answer;
  checkAnswer(a, 'Two boats');
  assert.ok(a.tokens <= 6);
  // temperature 0 is greedy: the same answer again.
  const again = new FormData();
  for (const [k, v] of form) again.append(k, v);
  assert.equal(((await (await post('/v1/describe', again)).json()) as Answer).text, a.text);
});

test('?stream=1 sends token events whose text adds up to the final answer', async () => {
  const r = await post('/v1/describe?stream=1&seed=3&max_new_tokens=10', png, {
    'Content-Type': 'image/png',
  });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type')!, /text\/event-stream/);
  const raw = await r.text();
  const events = raw
    .trim()
    .split('\n\n')
    .map((block) => {
      const [ev, data] = block.split('\n');
      return { event: ev!.replace('event: ', ''), data: JSON.parse(data!.replace('data: ', '')) };
    });
  const done = events.at(-1)!;
  assert.equal(done.event, 'done');
  const tokens = events.filter((e) => e.event === 'token');
  assert.equal(tokens.length + 1, events.length);
  assert.equal(tokens.map((e) => e.data.text).join(''), done.data.text);
  assert.ok(tokens.length >= 1 && tokens.length <= done.data.tokens);
  // Same seed without streaming: the same text.
  const plain = await post('/v1/describe?seed=3&max_new_tokens=10', png, { 'Content-Type': 'image/png' });
  assert.equal(((await plain.json()) as Answer).text, done.data.text);
});

test('requests that arrive together are generated in one batch', async () => {
  const before = await (await fetch(server.url + '/metrics')).text();
  const n = 5;
  const answers = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      post(`/v1/describe?seed=${i}&max_new_tokens=8`, png, { 'Content-Type': 'image/png' }).then(
        (r) => r.json() as Promise<Answer>,
      ),
    ),
  );
  answers.forEach((a) => checkAnswer(a));
  const after = await (await fetch(server.url + '/metrics')).text();
  const batches = metric(after, 'nanovlm_batch_size_count') - metric(before, 'nanovlm_batch_size_count');
  const rows = metric(after, 'nanovlm_batch_size_sum') - metric(before, 'nanovlm_batch_size_sum');
  assert.equal(rows, n);
  assert.ok(batches < n, `${n} requests took ${batches} batches`);
  // A request in a batch gets what it would get alone (rows are independent).
  const alone = (await (
    await post(`/v1/describe?seed=2&max_new_tokens=8`, png, { 'Content-Type': 'image/png' })
  ).json()) as Answer;
  assert.equal(alone.text, answers[2]!.text);
});

test('health, models, metrics, page, 404 and 405', async () => {
  const health = await fetch(server.url + '/health');
  assert.equal(health.status, 200);
  const h = (await health.json()) as Record<string, unknown>;
  assert.equal(h.status, 'ok');
  assert.equal(h.model, 'tiny-vlm');

  const models = (await (await fetch(server.url + '/v1/models')).json()) as { data: { id: string }[] };
  assert.deepEqual(
    models.data.map((m) => m.id),
    ['tiny-vlm'],
  );

  const page = await fetch(server.url + '/');
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type')!, /text\/html/);
  assert.match(await page.text(), /<title>nanovlm<\/title>/);

  const missing = await fetch(server.url + '/nope');
  assert.equal(missing.status, 404);
  assert.match(((await missing.json()) as { error: { message: string } }).error.message, /no such route/);
  const wrongMethod = await fetch(server.url + '/v1/describe');
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.get('allow'), 'POST');
  await wrongMethod.body?.cancel();

  const m = await fetch(server.url + '/metrics');
  assert.match(m.headers.get('content-type')!, /text\/plain; version=0\.0\.4/);
  const text = await m.text();
  // Prometheus text format: every sample line is `name{labels} value` and every metric has HELP and TYPE.
  for (const line of text.trim().split('\n')) {
    assert.match(
      line,
      /^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+]+)$/,
      line,
    );
  }
  assert.ok(metric(text, 'nanovlm_http_requests_total{route="/v1/describe",status="200"}') >= 10);
  assert.equal(metric(text, 'nanovlm_http_errors_total{status="404"}'), 1);
  assert.equal(metric(text, 'nanovlm_http_errors_total{status="405"}'), 1);
  assert.ok(metric(text, 'nanovlm_generated_tokens_total') > 0);
  assert.ok(metric(text, 'nanovlm_tokens_per_second') > 0);
  assert.equal(metric(text, 'nanovlm_queue_length'), 0);
  assert.equal(metric(text, 'nanovlm_queue_capacity'), 64);
  assert.ok(metric(text, 'process_resident_memory_bytes') > 1e6);
});
