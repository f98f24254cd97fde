/**
 * The server against hostile clients and pages (issue 18 item 11): the API key, the Origin check,
 * slow-header connections, the warning for a non-loopback address, and SIGTERM under load.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import OpenAI from 'openai';
import { samplePng, saveTinyModel, serveTiny, type TinyModel } from './fixture.ts';
import { assertOneLineError, runCli } from '../helpers/hostile.ts';

const KEY = 'nv-test-key-0123456789';
let model: TinyModel;
let long: TinyModel;
let png: Buffer<ArrayBuffer>;
before(async () => {
  [model, long] = await Promise.all([saveTinyModel(), saveTinyModel({ max_text_len: 512 })]);
  png = await samplePng();
});
after(() => {
  model.cleanup();
  long.cleanup();
});

/** A raw request (fetch cannot set Origin or Host), answered with its status and JSON body. */
function request(
  url: string,
  opts: { method?: string; path?: string; headers?: Record<string, string>; body?: Buffer },
): Promise<{ status: number; body: any; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url + (opts.path ?? '/v1/describe?max_new_tokens=2'), {
      method: opts.method ?? 'POST',
      headers: { 'content-type': 'image/png', ...opts.headers },
    });
    req.on('response', async (res) => {
      let text = '';
      for await (const d of res) text += d;
      let body: any = text;
      try {
        body = JSON.parse(text);
      } catch {
        /* the page */
      }
      resolve({ status: res.statusCode!, body, headers: res.headers });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

test('--api-key: checked as OpenAI clients send it; the page and /health stay open', async () => {
  const server = await serveTiny(model.dir, { apiKey: KEY });
  try {
    const good = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: KEY, maxRetries: 0 });
    assert.equal((await good.models.list()).data[0]!.id, 'tiny-vlm');
    const bad = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'nv-wrong-key-000000', maxRetries: 0 });
    await assert.rejects(bad.models.list(), (e: unknown) => e instanceof OpenAI.APIError && e.status === 401);
    const none = await request(server.url, { body: png });
    assert.equal(none.status, 401);
    assert.match(none.body.error.message, /needs an API key: send "Authorization: Bearer <key>"/);
    assert.equal(none.headers['www-authenticate'], 'Bearer');
    const wrong = await request(server.url, { body: png, headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error.code, 'invalid_api_key');
    assert.ok(!JSON.stringify(wrong.body).includes(KEY));
    const ok = await request(server.url, { body: png, headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    for (const p of ['/', '/health']) assert.equal((await fetch(server.url + p)).status, 200, p);
    assert.equal((await fetch(`${server.url}/metrics`)).status, 401);
  } finally {
    await server.close();
  }
});

test("POSTs from another web origin are refused; the server's own page and allowed origins are not", async () => {
  const server = await serveTiny(model.dir, { allowedOrigins: ['https://app.example'] });
  try {
    const host = new URL(server.url).host;
    const post = (headers: Record<string, string>) => request(server.url, { body: png, headers });
    const evil = await post({ origin: 'https://evil.example' });
    assert.equal(evil.status, 403);
    assert.match(
      evil.body.error.message,
      /web origin https:\/\/evil\.example are not allowed \(start the server with --allow-origin/,
    );
    // DNS rebinding: the attacker's name resolves to this machine, so Host and Origin agree.
    assert.equal((await post({ origin: 'http://evil.example:8080', host: 'evil.example:8080' })).status, 403);
    assert.equal((await post({ origin: 'null' })).status, 403);
    assert.equal((await post({ origin: `http://${host}` })).status, 200, 'the page served from here');
    const listed = await post({ origin: 'https://app.example' });
    assert.equal(listed.status, 200);
    assert.equal(
      listed.headers['access-control-allow-origin'],
      'https://app.example',
      'its pages can read it',
    );
    const preflight = await request(server.url, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(preflight.status, 204);
    assert.match(String(preflight.headers['access-control-allow-headers']), /Authorization/);
    assert.equal(evil.headers['access-control-allow-origin'], undefined);
    assert.equal((await post({})).status, 200, 'no Origin: not a browser');
    const chat = await request(server.url, {
      path: '/v1/chat/completions',
      headers: { origin: 'https://evil.example', 'content-type': 'application/json' },
      body: Buffer.from('{}'),
    });
    assert.equal(chat.status, 403);
    assert.equal(
      (
        await request(server.url, {
          method: 'GET',
          path: '/health',
          headers: { origin: 'https://evil.example' },
        })
      ).status,
      200,
    );
  } finally {
    await server.close();
  }
});

test('slow-header connections are capped in number and closed after the headers time-out', async () => {
  const server = await serveTiny(model.dir, { maxConnections: 20, headersTimeoutMs: 300 });
  const port = server.port;
  const sockets: net.Socket[] = [];
  let closed = 0;
  try {
    for (let i = 0; i < 100; i++) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      s.on('close', () => closed++);
      s.resume(); // read, so the server's closing is seen
      s.write('POST /v1/describe HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
      sockets.push(s);
    }
    await new Promise((r) => setTimeout(r, 400));
    assert.ok(closed >= 80, `only ${closed} of the 100 were closed at once (cap 20)`);
    const t0 = Date.now();
    while (closed < 100 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
    assert.equal(closed, 100, 'slow connections are closed within the headers time-out and a check interval');
    assert.equal((await fetch(`${server.url}/health`)).status, 200, 'the server still answers');
  } finally {
    for (const s of sockets) s.destroy();
    await server.close();
  }
});

test('nanovlm serve: bad key and origin flags; a warning on a non-loopback address without a key', async () => {
  assertOneLineError(
    await runCli(['serve', '--model', model.dir, '--api-key', 'short']),
    /--api-key must be at least 8 characters$/,
    2,
  );
  assertOneLineError(
    await runCli(['serve', '--model', model.dir, '--allow-origin', 'https://app.example/path']),
    /--allow-origin takes an origin like https:\/\/app\.example \(no path\), got "https:\/\/app\.example\/path"$/,
    2,
  );
  for (const [extra, warned] of [
    [[], true],
    [['--api-key', KEY], false],
  ] as const) {
    const proc = spawn(
      process.execPath,
      ['bin/nanovlm.js', 'serve', '--model', model.dir, '--host', '0.0.0.0', '--port', '0', ...extra],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    proc.stderr.on('data', (d) => (err += d));
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (d) => {
        out += d;
        if (out.includes('listening on')) resolve();
      });
      proc.once('exit', () => reject(new Error(`exited: ${out}${err}`)));
    });
    proc.kill('SIGTERM');
    const [code] = await once(proc, 'exit');
    assert.equal(code, 143);
    if (warned)
      assert.match(
        err,
        /warning: listening on 0\.0\.0\.0 without an API key: anyone who can reach this address can use the model/,
      );
    else assert.equal(err, '');
  }
});

test('SIGTERM under load: every accepted request is answered, later ones get 503, exit 143', async () => {
  const proc = spawn(
    process.execPath,
    ['bin/nanovlm.js', 'serve', '--model', long.dir, '--port', '0', '--max-batch', '2'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  proc.stderr.on('data', (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('listening on')) resolve();
    });
    proc.once('exit', () => reject(new Error(`exited: ${out}`)));
  });
  const url = /listening on (http:\/\/\S+)/.exec(out)![1]!;
  const describe = () =>
    fetch(`${url}/v1/describe?temperature=0&max_new_tokens=150`, {
      method: 'POST',
      body: png,
      headers: { 'Content-Type': 'image/png' },
    });
  const exited = once(proc, 'exit');
  // Six requests: two generating, four queued, when the signal comes.
  const accepted = Array.from({ length: 6 }, describe);
  const t0 = Date.now();
  while (Date.now() - t0 < 10_000) {
    const h = (await (await fetch(`${url}/health`)).json()) as { generating: number; queue_length: number };
    if (h.generating > 0 && h.generating + h.queue_length === 6) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  proc.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 50));
  const late = await describe();
  assert.equal(late.status, 503);
  assert.ok(late.headers.get('retry-after'));
  const answers = await Promise.all(accepted);
  for (const a of answers) {
    assert.equal(a.status, 200);
    assert.equal(((await a.json()) as { tokens: number }).tokens, 150);
  }
  const [code] = await exited;
  assert.equal(code, 143, out);
  assert.match(out, /stopped/);
});
