/** Every kind of bad request gets a clear 4xx, and the server keeps answering afterwards. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import sharp from 'sharp';
import type { RunningServer } from '../../src/serve/index.ts';
import { metric, samplePng, saveTinyModel, serveTiny, type TinyModel } from './fixture.ts';
import { BOMB_SIDE, bombPng } from '../../tools/fixtures/png-bomb.ts';

let model: TinyModel;
let server: RunningServer;
let png: Buffer<ArrayBuffer>;
const BODY_LIMIT = 256 * 1024;

before(async () => {
  model = await saveTinyModel();
  server = await serveTiny(model.dir, { maxBodyBytes: BODY_LIMIT });
  png = await samplePng();
});
after(async () => {
  await server.close();
  model.cleanup();
});

async function expectError(res: Response, status: number, message: RegExp): Promise<void> {
  const body = (await res.json()) as { error: { message: string; type: string } };
  assert.equal(res.status, status, body.error?.message);
  assert.match(body.error.message, message);
  assert.equal(body.error.type, status === 404 ? 'not_found_error' : 'invalid_request_error');
}

const raw = (body: BodyInit, type = 'image/png', query = '') =>
  fetch(`${server.url}/v1/describe${query}`, { method: 'POST', body, headers: { 'Content-Type': type } });
const asJson = (body: unknown, path = '/v1/describe') =>
  fetch(server.url + path, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' },
  });

test('not an image, truncated PNG and JPEG, empty body', async () => {
  await expectError(await raw('hello, I am text', 'image/png'), 400, /^image: not a supported image/);
  await expectError(
    await raw(png.subarray(0, Math.floor(png.length / 2))),
    400,
    /^image: cannot decode image/,
  );
  const jpeg = Buffer.from(await sharp(png).resize(128, 96).jpeg({ quality: 90 }).toBuffer());
  await expectError(
    await raw(jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), 'image/jpeg'),
    400,
    /^image: cannot decode/,
  );
  await expectError(await raw(new Uint8Array(0)), 400, /image is empty/);
});

test('a decompression bomb is refused from its header', async () => {
  const bomb = bombPng({ dataBytes: (BOMB_SIDE + 1) * 3 * 4 }); // about four rows' worth, all zero
  assert.ok(bomb.length < BODY_LIMIT);
  const t0 = performance.now();
  await expectError(
    await raw(bomb),
    400,
    /too large to decode safely \(60000×60000\); the limit is 16777216 pixels/,
  );
  assert.ok(performance.now() - t0 < 2000);
});

test('a body over the limit: 413 at once from Content-Length, or as soon as a chunked body passes it', async () => {
  await expectError(
    await raw(new Uint8Array(BODY_LIMIT + 1)),
    413,
    /request body too large: the limit is 0\.250 MB/,
  );
  // A chunked upload that never ends: the server must answer without waiting for the end.
  const { status, body, sent } = await new Promise<{ status: number; body: string; sent: number }>(
    (resolve, reject) => {
      const req = http.request(`${server.url}/v1/describe`, {
        method: 'POST',
        headers: { 'Content-Type': 'image/png' },
      });
      let sent = 0;
      const piece = Buffer.alloc(16 * 1024, 7);
      const pump = setInterval(() => {
        if (sent > 64 * BODY_LIMIT) {
          clearInterval(pump);
          reject(new Error('the server kept reading'));
        }
        req.write(piece);
        sent += piece.length;
      }, 1);
      req.on('response', (res) => {
        clearInterval(pump);
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: text, sent }));
      });
      req.on('error', () => {});
    },
  );
  assert.equal(status, 413);
  assert.match(body, /request body too large/);
  assert.ok(sent < 16 * BODY_LIMIT, `sent ${sent} bytes before the answer`);
});

test('malformed JSON, wrong types, unknown fields, missing image', async () => {
  await expectError(await asJson('{"image": "abc"'), 400, /^malformed JSON body/);
  await expectError(await asJson('[1, 2]'), 400, /JSON body must be an object/);
  const image = png.toString('base64');
  await expectError(
    await asJson({ image, temperature: 'hot' }),
    400,
    /^temperature must be a number, got a string \("hot"\)/,
  );
  await expectError(await asJson({ image, max_new_tokens: 2.5 }), 400, /^max_new_tokens must be an integer/);
  await expectError(await asJson({ image, prompt: 42 }), 400, /^prompt must be a string, got number 42/);
  await expectError(await asJson({ image: 12 }), 400, /^image must be a string/);
  await expectError(
    await asJson({ image, colour: 'red' }),
    400,
    /^JSON body: unknown field "colour" \(known: image, prompt,/,
  );
  await expectError(await asJson({ prompt: 'A' }), 400, /"image" is missing/);
  await expectError(await asJson({ image: 'not base64!' }), 400, /^image: not valid base64 or a data: URL/);
  await expectError(
    await asJson({ image: 'data:text/plain;base64,aGVsbG8=' }),
    400,
    /holds "text\/plain", not an image/,
  );
  await expectError(await raw(png, 'text/plain'), 415, /unsupported Content-Type "text\/plain"/);
});

test('absurd max_new_tokens, negative or huge temperature, bad top_p, overlong prompt, unknown query fields', async () => {
  await expectError(
    await raw(png, 'image/png', '?max_new_tokens=1000000000'),
    400,
    /^max_new_tokens must be an integer in \[1, 64\]/,
  );
  await expectError(
    await raw(png, 'image/png', '?max_new_tokens=0'),
    400,
    /^max_new_tokens must be an integer in \[1, 64\]/,
  );
  await expectError(
    await raw(png, 'image/png', '?temperature=-0.5'),
    400,
    /^temperature must be in \[0, 2\], got -0\.5/,
  );
  await expectError(await raw(png, 'image/png', '?temperature=1e9'), 400, /^temperature must be in \[0, 2\]/);
  await expectError(
    await raw(png, 'image/png', '?temperature=warm'),
    400,
    /^temperature must be a number, got "warm"/,
  );
  await expectError(await raw(png, 'image/png', '?top_p=0'), 400, /^top_p must be in \(0, 1\]/);
  await expectError(await raw(png, 'image/png', '?stream=maybe'), 400, /^stream must be true or false/);
  await expectError(await raw(png, 'image/png', '?colour=red'), 400, /^query string: unknown field "colour"/);
  await expectError(
    await raw(png, 'image/png', `?prompt=${'word '.repeat(100)}`),
    400,
    /^prompt is \d+ tokens long; this model takes at most 62/,
  );
  await expectError(
    await raw(png, 'image/png', `?prompt=${'x'.repeat(5000)}`),
    400,
    /^prompt is 5000 characters; at most 4000/,
  );
});

test('multipart: missing image, unknown field, broken body', async () => {
  const form = new FormData();
  form.append('prompt', 'A');
  await expectError(
    await fetch(`${server.url}/v1/describe`, { method: 'POST', body: form }),
    400,
    /the "image" field .* is missing/,
  );
  const form2 = new FormData();
  form2.append('image', new Blob([png]), 'a.png');
  form2.append('size', 'big');
  await expectError(
    await fetch(`${server.url}/v1/describe`, { method: 'POST', body: form2 }),
    400,
    /^multipart body: unknown field "size"/,
  );
  const cut = `--XYZ\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n${'x'.repeat(100)}`;
  await expectError(
    await raw(cut, 'multipart/form-data; boundary=XYZ'),
    400,
    /ends before the closing boundary/,
  );
  await expectError(await raw(cut, 'multipart/form-data'), 400, /no boundary parameter/);
});

test('image URLs and file paths are refused, never fetched or read', async () => {
  await expectError(
    await asJson({ image: 'https://example.com/cat.png' }),
    400,
    /remote URLs are not fetched/,
  );
  await expectError(await asJson({ image: '/etc/passwd' }), 400, /file paths are not read/);
  await expectError(await asJson({ image: 'file:///etc/passwd' }), 400, /file paths are not read/);
  await expectError(await asJson({ image: './images/000001.png' }), 400, /file paths are not read/);
  const chat = (url: string) =>
    asJson(
      { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }] }] },
      '/v1/chat/completions',
    );
  await expectError(
    await chat('http://127.0.0.1:1/x.png'),
    400,
    /^messages\[0\]\.content\[0\]\.image_url\.url: remote URLs are not fetched/,
  );
  await expectError(await chat('/home/user/cat.jpg'), 400, /file paths are not read/);
  await expectError(await chat('ftp://host/cat.jpg'), 400, /only data: URLs are accepted/);
});

test('chat completions: wrong types, unknown fields, absurd max_tokens, negative temperature, wrong model', async () => {
  const url = `data:image/png;base64,${png.toString('base64')}`;
  const messages = [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }] }];
  const chat = (body: Record<string, unknown>) => asJson(body, '/v1/chat/completions');
  await expectError(
    await chat({ messages, max_tokens: 100000 }),
    400,
    /^max_tokens must be an integer in \[1, 64\]/,
  );
  await expectError(
    await chat({ messages, temperature: -1 }),
    400,
    /^temperature must be in \[0, 2\], got -1/,
  );
  await expectError(await chat({ messages, temperature: '0.5' }), 400, /^temperature must be a number/);
  await expectError(
    await chat({ messages, frequency_penalty: 1 }),
    400,
    /^request: unknown field "frequency_penalty"/,
  );
  await expectError(await chat({ messages, n: 3 }), 400, /^n must be 1/);
  await expectError(await chat({ messages: 'hi' }), 400, /^messages must be an array/);
  await expectError(await chat({ messages: [{ role: 'user', content: 'describe it' }] }), 400, /^no image/);
  await expectError(await chat({ messages: [{ role: 'robot', content: 'x' }] }), 400, /role must be one of/);
  await expectError(
    await chat({ messages: [{ role: 'user', content: [{ type: 'audio' }] }] }),
    400,
    /type must be "text" or "image_url"/,
  );
  await expectError(
    await chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: url }] }] }),
    400,
    /image_url must be an object/,
  );
  await expectError(
    await chat({ messages, model: 'gpt-4o' }),
    404,
    /The model "gpt-4o" does not exist; this server has "tiny-vlm"/,
  );
  await expectError(await chat('{' as unknown as Record<string, unknown>), 400, /^malformed JSON body/);
});

test('after all of that the server still answers, and the errors are counted', async () => {
  const r = await raw(png, 'image/png', '?max_new_tokens=4');
  assert.equal(r.status, 200);
  assert.ok(((await r.json()) as { tokens: number }).tokens <= 4);
  const text = await (await fetch(server.url + '/metrics')).text();
  assert.ok(metric(text, 'nanovlm_http_errors_total{status="400"}') >= 40);
  assert.ok(metric(text, 'nanovlm_http_errors_total{status="413"}') >= 2);
  assert.equal(metric(text, 'nanovlm_http_errors_total{status="500"}'), 0);
});
