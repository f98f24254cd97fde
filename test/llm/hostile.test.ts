/**
 * Hostile LLM endpoints (issue 18 items 2, 5, 7, 12): a huge answer, a redirect to another host, a key
 * echoed back, endless Retry-After, and a dead endpoint behind `eval judge`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LlmClient, redactSecret } from '../../src/llm/client.ts';
import { userMessage } from '../../src/llm/content.ts';
import { startFakeOpenAI, reply } from '../helpers/fake-openai.ts';
import { assertOneLineError, hashTree, runCli } from '../helpers/hostile.ts';

const ask = { messages: [userMessage('describe')] };
/** A server answering each request with `limit` bytes of 'a' as JSON (less when the client leaves). */
async function endlessServer(limit: number) {
  const chunk = Buffer.alloc(64 * 1024, 'a');
  let total = 0;
  const server = await rawServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    let sent = 0;
    const pump = () => {
      while (sent < limit && !res.destroyed) {
        sent += chunk.length;
        total += chunk.length;
        if (!res.write(chunk)) return res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  return { ...server, sent: () => total };
}

const KEY = 'sk-proj-Z9xQ4w7Lm2Nv8Kp3Rt6Yb1Cd5';

/** A loopback server with a raw handler; counts its requests. */
async function rawServer(
  handler: http.RequestListener,
): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits: () => hits,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

test('an endless answer is cut at the byte limit, with memory bounded (item 2)', async () => {
  // Bounded: 256 MB at most, whatever the client does.
  const server = await endlessServer(256 * 2 ** 20);
  try {
    const rss0 = process.memoryUsage().rss;
    const client = new LlmClient({ endpoint: server.url, model: 'm', maxRetries: 3, baseDelayMs: 1 });
    await assert.rejects(client.chat(ask), /answer refused: more than the 8388608-byte limit/);
    assert.equal(server.hits(), 1, 'an oversized answer is not retried');
    const sent = server.sent();
    assert.ok(sent < 64 * 2 ** 20, `the client stopped reading (${sent} bytes sent)`);
    const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
    assert.ok(grown < 150, `RSS grew ${grown.toFixed(0)} MB`);
    // A declared length over the limit is refused before reading.
    const declared = await rawServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-length': String(2 ** 32) });
      res.write('{');
    });
    try {
      const c = new LlmClient({ endpoint: declared.url, model: 'm', maxResponseBytes: 1000 });
      await assert.rejects(
        c.chat(ask),
        /answer of 4294967296 bytes refused: larger than the 1000-byte limit/,
      );
    } finally {
      await declared.close();
    }
  } finally {
    await server.close();
  }
});

test('a redirect to another origin is not followed; one within the origin is (item 5)', async () => {
  const other = await startFakeOpenAI(() => reply.text('stolen'));
  const redirector = await rawServer((req, res) => {
    req.resume();
    if (req.url!.startsWith('/moved')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ choices: [{ message: { content: 'same host' }, finish_reason: 'stop' }] }));
    } else if (req.url!.startsWith('/v1/chat')) {
      res.writeHead(307, { location: `${other.url}/chat/completions` }).end();
    } else {
      res.writeHead(308, { location: '/moved/v1/chat/completions' }).end();
    }
  });
  try {
    const client = new LlmClient({ endpoint: redirector.url, model: 'm', apiKey: KEY, maxRetries: 2 });
    const origin = new URL(other.url).origin.replace(/[.]/g, '\\.');
    await assert.rejects(
      client.chat(ask),
      new RegExp(`HTTP 307 redirect to another origin \\(${origin}\\) not followed`),
    );
    assert.equal(other.requests.length, 0, 'nothing reached the other host');
    const same = new LlmClient({ endpoint: `${redirector.url}/old/v1`, model: 'm' });
    assert.equal((await same.chat(ask)).text, 'same host');
  } finally {
    await redirector.close();
    await other.close();
  }
});

test('the key is redacted when an endpoint echoes it (item 7)', async () => {
  const masked = `${KEY.slice(0, 10)}${'*'.repeat(14)}${KEY.slice(-4)}`;
  const server = await startFakeOpenAI((req) =>
    req.index === 0
      ? reply.error(401, `Incorrect API key provided: ${req.headers.authorization}`)
      : reply.error(500, `upstream said: key=${masked} (${KEY.slice(5, 20)})`),
  );
  try {
    const client = new LlmClient({ endpoint: server.url, model: 'm', apiKey: KEY, maxRetries: 0 });
    const reasons: string[] = [];
    const err1 = await client.chat(ask).catch((e: Error) => e);
    assert.match(String(err1), /HTTP 401: Incorrect API key provided: Bearer \[redacted\]/);
    const retrying = new LlmClient({
      endpoint: server.url,
      model: 'm',
      apiKey: KEY,
      maxRetries: 1,
      baseDelayMs: 1,
      onRetry: (i) => reasons.push(i.reason),
    });
    const err2 = await retrying.chat(ask).catch((e: Error) => e);
    for (const text of [String(err1), String(err2), ...reasons]) {
      for (let i = 0; i + 8 <= KEY.length; i++) assert.ok(!text.includes(KEY.slice(i, i + 8)), text);
    }
    assert.match(String(err2), /key=\[redacted\]\*+/);
  } finally {
    await server.close();
  }
  assert.equal(redactSecret('nothing secret here', KEY), 'nothing secret here');
});

test('waits between retries are capped in total (item 12)', async () => {
  const server = await startFakeOpenAI(() => reply.rateLimit({ ms: 200 }));
  try {
    const client = new LlmClient({ endpoint: server.url, model: 'm', maxRetries: 6, maxTotalWaitMs: 500 });
    const t0 = Date.now();
    await assert.rejects(
      client.chat(ask),
      /HTTP 429: Rate limit reached \(after 3 attempts\); gave up: the next wait would pass 1 s of waiting for this request/,
    );
    assert.equal(server.requests.length, 3);
    assert.ok(Date.now() - t0 < 2000);
  } finally {
    await server.close();
  }
});

/** Writes `n` lines for `eval judge` (the same completion each) to dir/completions.jsonl; returns its path. */
function writeCompletions(dir: string, n: number): string {
  const input = path.join(dir, 'completions.jsonl');
  const line = (i: number) =>
    JSON.stringify({
      id: String(i),
      image: 'x.png',
      prefix: 'A dog',
      completion: ' runs.',
      reference: 'A dog runs.',
      system: 's',
    });
  writeFileSync(input, Array.from({ length: n }, (_, i) => line(i)).join('\n') + '\n');
  return input;
}

/** `eval judge` on `input` against `endpoint`, with no answer cache. */
const judgeArgs = (input: string, endpoint: string, retries: number, concurrency: number) => [
  ...['eval', 'judge', '--in', input, '--endpoint', endpoint, '--model', 'judge-m'],
  ...['--retries', String(retries), '--concurrency', String(concurrency), '--no-cache'],
];

test('eval judge stops after repeated failures against a dead endpoint; --help says the wait cap (item 12)', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nanovlm-judge-dead-'));
  try {
    const input = writeCompletions(dir, 60);
    const dead = await startFakeOpenAI(() => reply.error(503, 'no backend'));
    const before = hashTree(dir);
    const r = await runCli(judgeArgs(input, dead.url, 0, 2), { timeoutMs: 60_000 });
    const requests = dead.requests.length;
    await dead.close();
    assertOneLineError(r, /judge stopped: 10 requests in a row failed; last: \S+: HTTP 503: no backend/);
    assert.ok(requests <= 12, `${requests} requests were sent`);
    // The input is untouched; the only new file is the graded output (its failed lines are retried on a rerun).
    const after = hashTree(dir);
    assert.equal(after.get('completions.jsonl'), before.get('completions.jsonl'));
    assert.deepEqual([...after.keys()].sort(), ['completions.graded-nanovlms.jsonl', 'completions.jsonl']);
    const help = await runCli(['eval', 'judge', '--help']);
    assert.match(help.stdout, /add up to at most 5 min/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** `eval judge` over 12 lines against `endpoint`: its result, and whether the input was left as it was. */
async function judgeCli(endpoint: string, env: Record<string, string> = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'nanovlm-judge-hostile-'));
  try {
    const input = writeCompletions(dir, 12);
    const before = hashTree(dir).get('completions.jsonl');
    const r = await runCli(judgeArgs(input, endpoint, 1, 1), { timeoutMs: 60_000, env });
    return { r, inputUnchanged: hashTree(dir).get('completions.jsonl') === before };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('eval judge from the command line: a huge answer, a cross-origin redirect, an echoed key', async () => {
  const huge = await endlessServer(32 * 2 ** 20);
  const other = await startFakeOpenAI(() => reply.text('stolen'));
  const redirector = await rawServer((req, res) => {
    req.resume();
    res.writeHead(307, { location: `${other.url}/chat/completions` }).end();
  });
  const echo = await startFakeOpenAI((req) =>
    reply.error(401, `Incorrect API key provided: ${req.headers.authorization}`),
  );
  try {
    const big = await judgeCli(huge.url);
    assertOneLineError(
      big.r,
      /judge stopped: 10 requests in a row failed; last: \S+: answer refused: more than the 8388608-byte limit/,
    );
    assert.ok(big.inputUnchanged);
    const moved = await judgeCli(redirector.url, { OPENAI_API_KEY: KEY });
    assertOneLineError(
      moved.r,
      /judge stopped: 10 requests in a row failed; last: \S+: HTTP 307 redirect to another origin \(http:\/\/127\.0\.0\.1:\d+\) not followed/,
    );
    assert.equal(other.requests.length, 0, 'neither the prompts nor the key reached the other host');
    assert.ok(moved.inputUnchanged);
    const echoed = await judgeCli(echo.url, { OPENAI_API_KEY: KEY });
    assertOneLineError(
      echoed.r,
      /judge stopped: \S+: HTTP 401: Incorrect API key provided: Bearer \[redacted\] \(check OPENAI_API_KEY\)/,
    );
    for (let i = 0; i + 8 <= KEY.length; i++) assert.ok(!echoed.r.stderr.includes(KEY.slice(i, i + 8)));
    assert.ok(echoed.inputUnchanged);
  } finally {
    await Promise.all([huge.close(), other.close(), redirector.close(), echo.close()]);
  }
});
