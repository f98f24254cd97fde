/**
 * Load test of `nanovlm serve` on loopback: N concurrent clients for S seconds send valid requests
 * (raw, JSON, multipart, streamed, OpenAI chat) mixed with bad ones (not an image, truncated, a
 * decompression bomb, malformed JSON, unknown fields, absurd max_tokens, negative temperature, remote
 * URLs, oversized bodies). The server runs as a child process so its RSS can be sampled.
 *
 *   npm run bench -- serve [--seconds 30] [--clients 200] [--warmup 10] [--model DIR] [--max-requests N]
 *
 * RSS starts low and climbs for the first ~15 s of load (V8 heap, code, allocator arenas of the
 * image-decoding threads) to a plateau it then keeps (checked over 90 s runs); the warm-up keeps that
 * climb out of the "first 10 s" so the comparison is about growth under steady load, i.e. leaks.
 *
 * Checks: no 5xx other than 503 (full queue / time-out), no crash, RSS flat (within 10%) between the
 * first and the last 10 s. Last line: one JSON object (no peer, so no "speedup").
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { parseArgs } from '../src/cli/args.ts';
import { configFor, createModel, saveModel } from '../src/model/index.ts';
import { MIN_VOCAB_SIZE, trainTokenizer } from '../src/tokenizer/index.ts';
import { bombPng } from '../tools/fixtures/png-bomb.ts';

const args = parseArgs(process.argv.slice(2), {
  name: 'bench serve',
  summary: 'load test of nanovlm serve',
  options: {
    seconds: { type: 'number', help: 'length of the load', default: 30 },
    clients: { type: 'integer', help: 'concurrent clients', default: 200 },
    model: { type: 'string', help: 'model folder (default: a fresh tiny model)' },
    'max-requests': { type: 'integer', help: 'stop after this many requests', default: 1_000_000 },
    'bad-share': { type: 'number', help: 'share of bad requests', default: 0.3 },
    warmup: {
      type: 'number',
      help: 'seconds of the same load before measuring (RSS climbs from the start-up level to a plateau first; 5xx still checked)',
      default: 10,
    },
  },
}).options;

const WINDOW_S = Math.min(10, args.seconds / 3);
const BODY_LIMIT_MB = 1;
const REQUEST_TIMEOUT_MS = 15_000;

async function tinyModel(): Promise<{ dir: string; cleanup: () => void }> {
  const texts = ['a red ball on green grass', 'two boats on the blue sea', 'a cat sleeps on a sofa at night'];
  const tokenizer = trainTokenizer(texts, { vocabSize: MIN_VOCAB_SIZE + 32, minFrequency: 1 });
  const model = createModel({ ...configFor('tiny', tokenizer), dropout: 0 }, { seed: 1 });
  const root = mkdtempSync(path.join(os.tmpdir(), 'nanovlm-bench-serve-'));
  const dir = path.join(root, 'tiny-vlm');
  await saveModel(model, tokenizer, dir, {
    generation: { do_sample: true, temperature: 1, max_new_tokens: 24 },
  });
  return { dir, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

interface Req {
  kind: string;
  path: string;
  init: RequestInit;
  stream?: boolean;
}

async function requestKinds(modelId: string): Promise<{ good: (() => Req)[]; bad: (() => Req)[] }> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="224" height="224"><rect width="224" height="224" fill="#8ecae6"/>
    <circle cx="80" cy="120" r="40" fill="#e63946"/><rect x="130" y="60" width="60" height="90" fill="#2a9d8f"/></svg>`;
  const png = Buffer.from(await sharp(Buffer.from(svg)).png().toBuffer());
  const jpeg = Buffer.from(await sharp(Buffer.from(svg)).jpeg({ quality: 85 }).toBuffer());
  const dataUrl = `data:image/png;base64,${png.toString('base64')}`;
  const tokens = () => 4 + Math.floor(Math.random() * 20);
  const raw = (body: Buffer<ArrayBuffer>, type: string): RequestInit => ({
    method: 'POST',
    body,
    headers: { 'Content-Type': type },
  });
  const json = (obj: unknown): RequestInit => ({
    method: 'POST',
    body: typeof obj === 'string' ? obj : JSON.stringify(obj),
    headers: { 'Content-Type': 'application/json' },
  });
  const chat = (url: string, extra: Record<string, unknown> = {}) =>
    json({
      model: modelId,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'A' },
            { type: 'image_url', image_url: { url } },
          ],
        },
      ],
      ...extra,
    });
  const good: (() => Req)[] = [
    () => ({
      kind: 'raw png',
      path: `/v1/describe?max_new_tokens=${tokens()}&temperature=0.8`,
      init: raw(png, 'image/png'),
    }),
    () => ({
      kind: 'raw jpeg',
      path: `/v1/describe?max_new_tokens=${tokens()}`,
      init: raw(jpeg, 'image/jpeg'),
    }),
    () => ({
      kind: 'json',
      path: '/v1/describe',
      init: json({ image: dataUrl, prompt: 'a red', max_new_tokens: tokens() }),
    }),
    () => {
      const form = new FormData();
      form.append('image', new Blob([png], { type: 'image/png' }), 'a.png');
      form.append('max_new_tokens', String(tokens()));
      return { kind: 'multipart', path: '/v1/describe', init: { method: 'POST', body: form } };
    },
    () => ({
      kind: 'stream',
      path: `/v1/describe?stream=1&max_new_tokens=${tokens()}`,
      init: raw(png, 'image/png'),
      stream: true,
    }),
    () => ({
      kind: 'chat',
      path: '/v1/chat/completions',
      init: chat(dataUrl, { max_tokens: tokens(), seed: 1 }),
    }),
    () => ({
      kind: 'chat stream',
      path: '/v1/chat/completions',
      init: chat(dataUrl, { max_tokens: tokens(), stream: true }),
      stream: true,
    }),
  ];
  const oversized = Buffer.alloc(Math.round(BODY_LIMIT_MB * 1.5 * 1024 * 1024), 1);
  const bomb = bombPng();
  const bad: (() => Req)[] = [
    () => ({
      kind: 'not an image',
      path: '/v1/describe',
      init: raw(Buffer.from('hello, not a picture'), 'image/png'),
    }),
    () => ({
      kind: 'truncated png',
      path: '/v1/describe',
      init: raw(png.subarray(0, png.length >> 1), 'image/png'),
    }),
    () => ({
      kind: 'truncated jpeg',
      path: '/v1/describe',
      init: raw(jpeg.subarray(0, (jpeg.length * 2) / 3), 'image/jpeg'),
    }),
    () => ({ kind: 'bomb', path: '/v1/describe', init: raw(bomb, 'image/png') }),
    () => ({ kind: 'oversized', path: '/v1/describe', init: raw(oversized, 'image/png') }),
    () => ({ kind: 'malformed json', path: '/v1/describe', init: json('{"image": ') }),
    () => ({ kind: 'unknown field', path: '/v1/describe', init: json({ image: dataUrl, colour: 'red' }) }),
    () => ({ kind: 'wrong type', path: '/v1/describe', init: json({ image: dataUrl, temperature: 'hot' }) }),
    () => ({
      kind: 'absurd max_tokens',
      path: '/v1/chat/completions',
      init: chat(dataUrl, { max_tokens: 1e9 }),
    }),
    () => ({
      kind: 'negative temperature',
      path: '/v1/chat/completions',
      init: chat(dataUrl, { temperature: -1 }),
    }),
    () => ({ kind: 'remote url', path: '/v1/chat/completions', init: chat('https://example.com/cat.png') }),
    () => ({ kind: 'file path', path: '/v1/chat/completions', init: chat('/etc/passwd') }),
    () => ({ kind: 'no route', path: '/v2/nothing', init: { method: 'GET' } }),
  ];
  return { good, bad };
}

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

const percentile = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

async function main(): Promise<number> {
  const owned = args.model ? null : await tinyModel();
  const modelDir = args.model ?? owned!.dir;
  const server = spawn(
    process.execPath,
    [
      'bin/nanovlm.js',
      'serve',
      '--model',
      modelDir,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--max-body-mb',
      String(BODY_LIMIT_MB),
      '--timeout-ms',
      '10000',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let serverLog = '';
  let exited: number | null | undefined;
  server.stderr!.on('data', (d) => (serverLog += d));
  server.on('exit', (code, signal) => (exited = code ?? (signal ? -1 : null)));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    server.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    server.once('exit', () => reject(new Error(`the server did not start:\n${out}\n${serverLog}`)));
  });
  console.log(
    `server ${url} (pid ${server.pid}), model ${modelDir}; ${args.clients} clients for ${args.seconds} s, ${Math.round(args.badShare * 100)}% bad requests`,
  );
  console.log(
    '(loopback, one machine: the clients and the server share its 2 cores with other work, so figures are noisy)',
  );

  const modelId = ((await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] }).data[0]!
    .id;
  const { good, bad } = await requestKinds(modelId);
  const statuses = new Map<string, number>();
  const byKind = new Map<string, Map<string, number>>();
  const latencies: number[] = [];
  const okLatencies: number[] = [];
  const rss: { t: number; bytes: number }[] = [];
  let sent = 0;
  const warmupStatuses = new Map<string, number>();
  const heap: { t: number; used: number; external: number }[] = [];
  let t0 = Infinity;

  async function client(until: number, record: boolean): Promise<void> {
    while (performance.now() < until && sent < args.maxRequests && exited === undefined) {
      sent++;
      const isBad = Math.random() < args.badShare;
      const pool = isBad ? bad : good;
      const req = pool[Math.floor(Math.random() * pool.length)]!();
      const start = performance.now();
      let status: string;
      try {
        const res = await fetch(url + req.path, {
          ...req.init,
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        const text = await res.text();
        status = String(res.status);
        // A stream that ended with an error event (e.g. time-out) is not a success.
        if (req.stream && res.ok && !/event: done|data: \[DONE\]/.test(text)) status = '200+stream-error';
        if (res.status === 503) await sleep(100 + Math.random() * 400);
      } catch (e) {
        const err = e as Error & { cause?: { code?: string } };
        status = err.name === 'TimeoutError' ? 'client-timeout' : `network:${err.cause?.code ?? err.name}`;
      }
      const ms = performance.now() - start;
      if (!record) {
        warmupStatuses.set(status, (warmupStatuses.get(status) ?? 0) + 1);
        continue;
      }
      latencies.push(ms);
      if (status === '200') okLatencies.push(ms);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      const k = byKind.get(req.kind) ?? new Map<string, number>();
      k.set(status, (k.get(status) ?? 0) + 1);
      byKind.set(req.kind, k);
    }
  }

  // Samples keep absolute times; they are made relative to the start of the measured load at the end.
  const sampler = setInterval(() => {
    if (exited === undefined) rss.push({ t: performance.now(), bytes: rssOf(server.pid!) });
  }, 500);
  // The server's own view of its memory (V8 heap, buffers), to tell a leak from allocator growth.
  const heapSampler = setInterval(async () => {
    try {
      const text = await (await fetch(`${url}/metrics`)).text();
      const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
      heap.push({
        t: performance.now(),
        used: read('nodejs_heap_size_used_bytes'),
        external: read('nodejs_external_memory_bytes'),
      });
    } catch {}
  }, 5000);
  if (args.warmup > 0) {
    console.log(`warming up for ${args.warmup} s (not measured)`);
    const until = performance.now() + args.warmup * 1000;
    await Promise.all(Array.from({ length: args.clients }, () => client(until, false)));
  }
  t0 = performance.now();
  const deadline = t0 + args.seconds * 1000;
  await Promise.all(Array.from({ length: args.clients }, () => client(deadline, true)));
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  clearInterval(heapSampler);
  for (const x of [...rss, ...heap]) x.t = (x.t - t0) / 1000;

  let metricsText = '';
  if (exited === undefined) metricsText = await (await fetch(`${url}/metrics`)).text();
  const crashed = exited !== undefined;
  server.kill('SIGTERM');
  const stopped = await Promise.race([
    new Promise((r) => server.once('exit', () => r(true))),
    sleep(15_000).then(() => false),
  ]);
  if (!stopped) server.kill('SIGKILL');
  owned?.cleanup();

  const metric = (name: string) =>
    Number(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(metricsText)?.[1] ?? NaN);
  latencies.sort((a, b) => a - b);
  okLatencies.sort((a, b) => a - b);
  const first = rss.filter((s) => s.t >= 0 && s.t <= WINDOW_S).map((s) => s.bytes);
  const last = rss.filter((s) => s.t >= seconds - WINDOW_S).map((s) => s.bytes);
  const rssGrowth = (mean(last) - mean(first)) / mean(first);
  const everything = [...statuses, ...warmupStatuses];
  const serverErrors = everything
    .filter(([s]) => /^5\d\d$/.test(s) && s !== '503')
    .reduce((n, [, c]) => n + c, 0);
  const networkErrors = everything
    .filter(([s]) => s.startsWith('network:') || s === 'client-timeout')
    .reduce((n, [, c]) => n + c, 0);
  const total = latencies.length;

  console.log(`\n${total} requests in ${seconds.toFixed(1)} s: ${(total / seconds).toFixed(1)} requests/s`);
  console.log(
    `latency all: p50 ${percentile(latencies, 0.5).toFixed(1)} ms, p99 ${percentile(latencies, 0.99).toFixed(1)} ms`,
  );
  console.log(
    `latency 200: p50 ${percentile(okLatencies, 0.5).toFixed(1)} ms, p99 ${percentile(okLatencies, 0.99).toFixed(1)} ms`,
  );
  console.log('by status:', Object.fromEntries([...statuses].sort()));
  for (const [kind, m] of [...byKind].sort())
    console.log(`  ${kind.padEnd(22)} ${JSON.stringify(Object.fromEntries(m))}`);
  console.log(
    `server: ${metric('nanovlm_generated_tokens_total')} tokens generated, ${metric('nanovlm_tokens_per_second').toFixed(0)} tokens/s while generating, ` +
      `mean batch ${(metric('nanovlm_batch_size_sum') / metric('nanovlm_batch_size_count')).toFixed(2)}`,
  );
  console.log(
    `RSS: first ${WINDOW_S} s ${(mean(first) / 1e6).toFixed(1)} MB, last ${WINDOW_S} s ${(mean(last) / 1e6).toFixed(1)} MB ` +
      `(growth ${(rssGrowth * 100).toFixed(1)}%, target within 10%), peak ${(Math.max(...rss.map((s) => s.bytes)) / 1e6).toFixed(1)} MB`,
  );
  const trend = rss
    .filter((_, i) => i % 10 === 0)
    .map((s) => `${s.t.toFixed(0)}s ${(s.bytes / 1e6).toFixed(0)}`);
  console.log(`RSS (MB) over time: ${trend.join(', ')}`);
  console.log(
    `V8 heap used / external (MB): ${heap.map((h) => `${h.t.toFixed(0)}s ${(h.used / 1e6).toFixed(0)}/${(h.external / 1e6).toFixed(0)}`).join(', ')}`,
  );
  const problems: string[] = [];
  if (crashed) problems.push(`the server exited during the load (code ${exited}):\n${serverLog}`);
  if (serverErrors > 0) problems.push(`${serverErrors} answers were 5xx other than 503`);
  if (networkErrors > 0) problems.push(`${networkErrors} requests failed without an answer`);
  if (!(Math.abs(rssGrowth) <= 0.1))
    problems.push(`RSS changed by ${(rssGrowth * 100).toFixed(1)}% (target: within 10%)`);
  if (!stopped) problems.push('the server did not stop within 15 s of SIGTERM');
  for (const p of problems) console.log(`PROBLEM: ${p}`);
  if (problems.length === 0) console.log('no 5xx other than 503, no crash, RSS flat, clean stop');

  console.log(
    JSON.stringify({
      bench: 'serve',
      clients: args.clients,
      warmup_seconds: args.warmup,
      seconds: Number(seconds.toFixed(1)),
      requests: total,
      requests_per_second: Number((total / seconds).toFixed(1)),
      p50_ms: Number(percentile(latencies, 0.5).toFixed(1)),
      p99_ms: Number(percentile(latencies, 0.99).toFixed(1)),
      ok_p50_ms: Number(percentile(okLatencies, 0.5).toFixed(1)),
      ok_p99_ms: Number(percentile(okLatencies, 0.99).toFixed(1)),
      statuses: Object.fromEntries([...statuses].sort()),
      server_errors_other_than_503: serverErrors,
      network_errors: networkErrors,
      crashed,
      clean_stop: stopped,
      tokens_per_second: Math.round(metric('nanovlm_tokens_per_second')),
      mean_batch: Number((metric('nanovlm_batch_size_sum') / metric('nanovlm_batch_size_count')).toFixed(2)),
      rss_at_start_mb: Number(((rss[0]?.bytes ?? NaN) / 1e6).toFixed(1)),
      rss_first_mb: Number((mean(first) / 1e6).toFixed(1)),
      rss_last_mb: Number((mean(last) / 1e6).toFixed(1)),
      rss_growth: Number(rssGrowth.toFixed(4)),
      target_rss_growth: 0.1,
    }),
  );
  return problems.length ? 1 : 0;
}

process.exitCode = await main();
