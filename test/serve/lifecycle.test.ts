/** The queue bound, time-outs, cancellation on disconnect, and shutdown. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import OpenAI from 'openai';
import type { RunningServer } from '../../src/serve/index.ts';
import { metric, samplePng, saveTinyModel, serveTiny, type TinyModel } from './fixture.ts';

let quick: TinyModel;
/** Room for 1024 tokens, so a greedy generation runs long enough to be interrupted. */
let long: TinyModel;
let png: Buffer<ArrayBuffer>;
const LONG = 1024;

before(async () => {
  [quick, long] = await Promise.all([saveTinyModel(), saveTinyModel({ max_text_len: LONG })]);
  png = await samplePng();
});
after(() => {
  quick.cleanup();
  long.cleanup();
});

const describe = (server: RunningServer, query = '', signal?: AbortSignal) =>
  fetch(`${server.url}/v1/describe${query}`, {
    method: 'POST',
    body: png,
    headers: { 'Content-Type': 'image/png' },
    signal,
  });

async function until(what: string, check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
const health = async (s: RunningServer) =>
  (await (await fetch(`${s.url}/health`)).json()) as { queue_length: number; generating: number };
const metrics = async (s: RunningServer) => (await fetch(`${s.url}/metrics`)).text();

async function readEvents(
  res: Response,
  stopAfterFirstToken = false,
): Promise<{ event: string; data: any }[]> {
  const out: { event: string; data: any }[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(piece, { stream: true });
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const [ev, data] = buf.slice(0, end).split('\n');
      buf = buf.slice(end + 2);
      out.push({ event: ev!.slice(7), data: JSON.parse(data!.slice(6)) });
      if (stopAfterFirstToken && out.at(-1)!.event === 'token') return out;
    }
  }
  return out;
}

test('a full queue answers 503 with Retry-After; the queued request still completes', async () => {
  // One waiting place, and a long batching window so the first request sits in the queue.
  const server = await serveTiny(quick.dir, { maxQueue: 1, maxBatch: 2, batchWindowMs: 400 });
  try {
    const first = describe(server, '?max_new_tokens=4');
    await until('the first request to be queued', async () => (await health(server)).queue_length === 1);
    const refused = await describe(server);
    assert.equal(refused.status, 503);
    assert.match(refused.headers.get('retry-after')!, /^[1-9][0-9]*$/);
    const body = (await refused.json()) as { error: { message: string; type: string } };
    assert.match(body.error.message, /the server is busy \(1 requests waiting\); retry later/);
    assert.equal(body.error.type, 'overloaded_error');
    assert.equal((await first).status, 200);
    assert.equal(metric(await metrics(server), 'nanovlm_http_errors_total{status="503"}'), 1);
  } finally {
    await server.close();
  }
});

test('a request that times out while queued gets a 503 (plain) or an error event (stream) and leaves the queue', async () => {
  const server = await serveTiny(quick.dir, { timeoutMs: 100, batchWindowMs: 1000 });
  try {
    const t0 = performance.now();
    const r = await describe(server);
    assert.equal(r.status, 503);
    assert.ok(r.headers.get('retry-after'));
    assert.match(
      ((await r.json()) as { error: { message: string } }).error.message,
      /took longer than the server's limit of 100 ms/,
    );
    assert.ok(performance.now() - t0 < 900, 'answered at the time-out, not after the batch window');
    assert.equal((await health(server)).queue_length, 0);
    const s = await describe(server, '?stream=1');
    assert.equal(s.status, 200);
    const events = await readEvents(s);
    assert.deepEqual(
      events.map((e) => e.event),
      ['error'],
    );
    assert.match(events[0]!.data.error.message, /limit of 100 ms/);
  } finally {
    await server.close();
  }
});

test('time-outs and disconnects stop a running generation', async () => {
  const server = await serveTiny(long.dir);
  try {
    // Baseline: greedy decoding of this model runs to the length limit (no EOS), and how long that takes.
    let fastest = Infinity;
    for (let i = 0; i < 2; i++) {
      const t0 = performance.now();
      const a = (await (await describe(server, `?temperature=0&max_new_tokens=${LONG}`)).json()) as {
        tokens: number;
        finish_reason: string;
      };
      fastest = Math.min(fastest, performance.now() - t0);
      assert.equal(a.finish_reason, 'length');
      assert.equal(a.tokens, LONG);
    }

    // A client that leaves after the first token: its row stops, the request is counted as 499.
    let before = metric(await metrics(server), 'nanovlm_generated_tokens_total');
    const ac = new AbortController();
    const res = await describe(server, `?stream=1&temperature=0&max_new_tokens=${LONG}`, ac.signal);
    const first = await readEvents(res, true);
    assert.equal(first.at(-1)!.event, 'token');
    ac.abort();
    await until(
      'the 499 to be counted',
      async () =>
        metric(await metrics(server), 'nanovlm_http_requests_total{route="/v1/describe",status="499"}') === 1,
    );
    await until('generation to stop', async () => (await health(server)).generating === 0);
    let generated = metric(await metrics(server), 'nanovlm_generated_tokens_total') - before;
    assert.ok(generated < LONG, `the abandoned request generated ${generated} tokens`);

    // A time-out shorter than the generation: 503 (plain) or an error event after some tokens (stream).
    const short = await serveTiny(long.dir, { timeoutMs: Math.max(20, Math.round(fastest / 4)) });
    try {
      before = metric(await metrics(short), 'nanovlm_generated_tokens_total');
      const r = await describe(short, `?temperature=0&max_new_tokens=${LONG}`);
      assert.equal(r.status, 503);
      assert.match(
        ((await r.json()) as { error: { message: string } }).error.message,
        /took longer than the server's limit/,
      );
      generated = metric(await metrics(short), 'nanovlm_generated_tokens_total') - before;
      assert.ok(generated < LONG, `the timed-out request generated ${generated} tokens`);
      const events = await readEvents(
        await describe(short, `?stream=1&temperature=0&max_new_tokens=${LONG}`),
      );
      assert.equal(events.at(-1)!.event, 'error');
      assert.ok(events.length - 1 < LONG);
      // The OpenAI client sees the time-out mid-stream as an error, and a plain one as a 503.
      const client = new OpenAI({ baseURL: `${short.url}/v1`, apiKey: 'x', maxRetries: 0 });
      const chat = {
        model: 'tiny-vlm',
        messages: [
          {
            role: 'user' as const,
            content: [
              {
                type: 'image_url' as const,
                image_url: { url: `data:image/png;base64,${png.toString('base64')}` },
              },
            ],
          },
        ],
        max_tokens: LONG,
        temperature: 0,
      };
      const stream = await client.chat.completions.create({ ...chat, stream: true });
      await assert.rejects(
        (async () => {
          for await (const _ of stream);
        })(),
        /took longer than the server's limit/,
      );
      await assert.rejects(
        client.chat.completions.create(chat),
        (e: unknown) => e instanceof OpenAI.APIError && e.status === 503,
      );
    } finally {
      await short.close();
    }
  } finally {
    await server.close();
  }
});

test('nanovlm serve: bad flags, a missing model, and a graceful stop on SIGTERM that finishes running requests', async () => {
  const cli = (args: string[]) =>
    spawn(process.execPath, ['bin/nanovlm.js', 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const finished = async (p: ReturnType<typeof cli>) => {
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    p.stderr!.on('data', (d) => (out += d));
    const [code] = await once(p, 'exit');
    return { code, out };
  };
  const noModel = await finished(cli([]));
  assert.equal(noModel.code, 2);
  assert.match(noModel.out, /--model is required/);
  const missing = await finished(cli(['--model', '/nonexistent/model', '--port', '0']));
  assert.equal(missing.code, 1);
  assert.match(missing.out, /\/nonexistent\/model: model folder not found/);

  const proc = cli(['--model', long.dir, '--port', '0']);
  const done = finished(proc);
  let banner = '';
  await new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (d) => {
      banner += d;
      if (banner.includes('listening on')) resolve();
    });
    proc.once('exit', () => reject(new Error(`the server exited: ${banner}`)));
  });
  const url = /listening on (http:\/\/\S+)/.exec(banner)![1]!;
  assert.match(banner, /model "tiny-vlm"/);
  const res = await fetch(`${url}/v1/describe?stream=1&temperature=0&max_new_tokens=${LONG}`, {
    method: 'POST',
    body: png,
    headers: { 'Content-Type': 'image/png' },
  });
  const reading = readEvents(res);
  await new Promise((r) => setTimeout(r, 30));
  proc.kill('SIGTERM');
  const events = await reading;
  assert.equal(events.at(-1)!.event, 'done', 'the running request finishes');
  assert.equal(events.at(-1)!.data.tokens, LONG);
  const { code, out } = await done;
  assert.equal(code, 143, out); // 128 + SIGTERM, as a process ended by the signal
  assert.match(out, /SIGTERM: finishing running requests, then stopping[\s\S]*stopped/);
  await assert.rejects(fetch(`${url}/health`));
});
