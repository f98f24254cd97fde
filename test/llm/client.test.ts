import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LlmClient, LlmError, chatCompletionsUrl } from '../../src/llm/client.ts';
import { parseRetryAfter, backoffDelay } from '../../src/llm/retry.ts';
import { priceFor, costUsd } from '../../src/llm/prices.ts';
import { userMessage } from '../../src/llm/content.ts';
import { startFakeOpenAI, reply, type FakeOpenAI } from '../helpers/fake-openai.ts';

const ask = (text: string) => ({ messages: [userMessage(text)] });

async function withServer(
  handler: Parameters<typeof startFakeOpenAI>[0],
  fn: (s: FakeOpenAI) => Promise<void>,
) {
  const server = await startFakeOpenAI(handler);
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

test('endpoint URLs are normalised to .../v1/chat/completions', () => {
  assert.equal(chatCompletionsUrl('http://127.0.0.1:8000'), 'http://127.0.0.1:8000/v1/chat/completions');
  assert.equal(
    chatCompletionsUrl('https://api.openai.com/v1/'),
    'https://api.openai.com/v1/chat/completions',
  );
  assert.equal(chatCompletionsUrl('http://h/x/v1/chat/completions'), 'http://h/x/v1/chat/completions');
  assert.throws(() => chatCompletionsUrl('not a url'), /not a URL/);
  assert.throws(() => chatCompletionsUrl('ftp://h/v1'), /http/);
});

test('Retry-After parsing, backoff bounds and prices', () => {
  assert.equal(parseRetryAfter(new Headers({ 'retry-after': '3' })), 3000);
  assert.equal(parseRetryAfter(new Headers({ 'retry-after-ms': '250', 'retry-after': '9' })), 250);
  const now = Date.parse('2025-01-01T00:00:00Z');
  assert.equal(parseRetryAfter(new Headers({ 'retry-after': 'Wed, 01 Jan 2025 00:00:05 GMT' }), now), 5000);
  assert.equal(parseRetryAfter(new Headers({ 'retry-after': 'soon' })), undefined);
  assert.equal(parseRetryAfter(new Headers()), undefined);
  for (let a = 1; a <= 8; a++) {
    const cap = Math.min(1000, 100 * 2 ** (a - 1));
    assert.equal(
      backoffDelay(a, 100, 1000, () => 0),
      cap / 2,
    );
    assert.ok(backoffDelay(a, 100, 1000, () => 0.999) <= cap);
  }
  assert.deepEqual(priceFor('gpt-4o-2024-08-06'), { input: 2.5, output: 10 });
  assert.deepEqual(priceFor('gpt-4o-mini'), { input: 0.15, output: 0.6 });
  assert.equal(priceFor('llama-3'), undefined);
  assert.equal(costUsd(1_000_000, 500_000, { input: 2.5, output: 10 }), 7.5);
});

test('answers, sends the request fields and the key, counts tokens and cost', async () => {
  await withServer(
    () => reply.text('A dog runs.', { promptTokens: 1000, completionTokens: 200 }),
    async (server) => {
      const client = new LlmClient({ endpoint: server.url, apiKey: 'sk-test', model: 'gpt-4o' });
      const r = await client.chat({
        messages: [userMessage('describe', ['data:image/png;base64,AAAA'])],
        temperature: 0.2,
        maxTokens: 50,
        responseFormat: 'json',
      });
      assert.equal(r.text, 'A dog runs.');
      assert.equal(r.attempts, 1);
      assert.equal(r.promptTokens, 1000);
      assert.equal(r.completionTokens, 200);
      assert.ok(Math.abs(r.costUsd - (1000 * 2.5 + 200 * 10) / 1e6) < 1e-12);
      const req = server.requests[0]!;
      assert.equal(req.headers.authorization, 'Bearer sk-test');
      assert.equal(req.path, '/v1/chat/completions');
      assert.equal(req.body.temperature, 0.2);
      assert.equal(req.body.max_tokens, 50);
      assert.deepEqual(req.body.response_format, { type: 'json_object' });
      assert.deepEqual(req.images, ['data:image/png;base64,AAAA']);
      assert.equal(client.usage.promptTokens, 1000);
      assert.equal(client.usage.completionTokens, 200);
      assert.equal(client.usage.requests, 1);
    },
  );
});

test('the API key comes from OPENAI_API_KEY; unknown models cost 0 and are listed', async () => {
  const old = process.env.OPENAI_API_KEY;
  process.env.OPENAI_API_KEY = 'sk-from-env';
  try {
    await withServer(
      () => reply.text('ok'),
      async (server) => {
        const client = new LlmClient({ endpoint: server.url, model: 'local-llama' });
        const r = await client.chat(ask('hi'));
        assert.equal(server.requests[0]!.headers.authorization, 'Bearer sk-from-env');
        assert.equal(r.costUsd, 0);
        assert.deepEqual(client.usage.unpricedModels, ['local-llama']);
      },
    );
  } finally {
    if (old === undefined) delete process.env.OPENAI_API_KEY;
    else process.env.OPENAI_API_KEY = old;
  }
});

test('retries 5xx, malformed bodies and dropped connections, then succeeds', async () => {
  await withServer(
    [
      reply.error(500),
      reply.raw('{"choices": [ oops'),
      reply.reset(),
      reply.error(503),
      reply.raw('{"choices": []}'),
      reply.text('fine'),
    ],
    async (server) => {
      const retries: string[] = [];
      const client = new LlmClient({
        endpoint: server.url,
        model: 'gpt-4o',
        baseDelayMs: 5,
        onRetry: (i) => retries.push(i.reason),
      });
      const r = await client.chat(ask('x'));
      assert.equal(r.text, 'fine');
      assert.equal(r.attempts, 6);
      assert.equal(server.requests.length, 6);
      assert.equal(client.usage.retries, 5);
      assert.match(retries[0]!, /HTTP 500/);
      assert.match(retries[1]!, /malformed answer \(not JSON\)/);
      assert.match(retries[2]!, /network error/);
      assert.match(retries[4]!, /no choices/);
    },
  );
});

test('gives up after maxRetries with the last reason', async () => {
  await withServer(
    () => reply.raw('<html>bad gateway</html>', 200),
    async (server) => {
      const client = new LlmClient({ endpoint: server.url, model: 'gpt-4o', baseDelayMs: 1, maxRetries: 2 });
      await assert.rejects(client.chat(ask('x')), (e: unknown) => {
        assert.ok(e instanceof LlmError);
        assert.match(e.message, /malformed answer.*after 3 attempts/);
        return true;
      });
      assert.equal(server.requests.length, 3);
      assert.equal(client.usage.failures, 1);
    },
  );
});

test('client errors (401, 400) are not retried and say why', async () => {
  await withServer(
    [reply.error(401, 'Incorrect API key provided'), reply.error(400, "Invalid 'messages'")],
    async (server) => {
      const client = new LlmClient({ endpoint: server.url, model: 'gpt-4o', baseDelayMs: 1 });
      await assert.rejects(
        client.chat(ask('x')),
        /HTTP 401: Incorrect API key provided \(check OPENAI_API_KEY\)/,
      );
      assert.equal(server.requests.length, 1);
      await assert.rejects(client.chat(ask('x')), /HTTP 400: Invalid 'messages'$/);
      assert.equal(server.requests.length, 2);
    },
  );
});

test('honours Retry-After (seconds and ms) and pauses the other requests too', async () => {
  await withServer([reply.rateLimit(1), reply.text('one')], async (server) => {
    const client = new LlmClient({ endpoint: server.url, model: 'gpt-4o', baseDelayMs: 1 });
    const t0 = Date.now();
    const r = await client.chat(ask('x'));
    assert.equal(r.text, 'one');
    assert.ok(Date.now() - t0 >= 990, `waited only ${Date.now() - t0} ms`);
  });
  let first = true;
  const arrivals: number[] = [];
  await withServer(
    () => {
      arrivals.push(Date.now());
      if (first) {
        first = false;
        return reply.rateLimit({ ms: 300 });
      }
      return reply.text('ok', { delayMs: 0 });
    },
    async (server) => {
      const client = new LlmClient({ endpoint: server.url, model: 'gpt-4o', concurrency: 2, baseDelayMs: 1 });
      const a = client.chat(ask('a'));
      await new Promise((r) => setTimeout(r, 60)); // let the 429 arrive first
      const b = client.chat(ask('b'));
      await Promise.all([a, b]);
      // The request sent after the 429 waited for the pause too, not only the one that got it.
      assert.equal(arrivals.length, 3);
      assert.ok(arrivals[1]! - arrivals[0]! >= 290, `second request after ${arrivals[1]! - arrivals[0]!} ms`);
    },
  );
});

test('a server that never answers, or stalls after the headers, times out and is retried', async () => {
  for (const stall of [reply.hang(), reply.hangAfterHeaders()]) {
    await withServer([stall, reply.text('after the stall')], async (server) => {
      const client = new LlmClient({ endpoint: server.url, model: 'gpt-4o', timeoutMs: 300, baseDelayMs: 1 });
      const t0 = Date.now();
      const r = await client.chat(ask('x'));
      assert.equal(r.text, 'after the stall');
      assert.equal(r.attempts, 2);
      const ms = Date.now() - t0;
      assert.ok(ms >= 290 && ms < 3000, `took ${ms} ms`);
    });
  }
  await withServer(
    () => reply.hangAfterHeaders(),
    async (server) => {
      const client = new LlmClient({
        endpoint: server.url,
        model: 'gpt-4o',
        timeoutMs: 150,
        baseDelayMs: 1,
        maxRetries: 1,
      });
      await assert.rejects(client.chat(ask('x')), /no complete answer within 150 ms \(after 2 attempts\)/);
    },
  );
});

test('network errors are retried and reported', async () => {
  const server = await startFakeOpenAI(() => reply.text('x'));
  const url = server.url;
  await server.close(); // nothing listens on that port now
  const client = new LlmClient({ endpoint: url, model: 'gpt-4o', baseDelayMs: 1, maxRetries: 2 });
  await assert.rejects(client.chat(ask('x')), /network error \(ECONNREFUSED\).*after 3 attempts/);
});

test('never more than `concurrency` requests in flight', async () => {
  await withServer(
    (req) => reply.text(`re: ${req.text}`, { delayMs: 40 }),
    async (server) => {
      const client = new LlmClient({ endpoint: server.url, model: 'gpt-4o', concurrency: 3 });
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => client.chat(ask(`q${i}`))));
      assert.deepEqual(
        answers.map((a) => a.text),
        Array.from({ length: 10 }, (_, i) => `re: q${i}`),
      );
      assert.equal(server.maxInFlight, 3);
      assert.equal(server.requests.length, 10);
    },
  );
});

test('an abort signal cancels a request waiting in backoff at once', async () => {
  await withServer(
    () => reply.rateLimit(30),
    async (server) => {
      const client = new LlmClient({ endpoint: server.url, model: 'gpt-4o' });
      const ac = new AbortController();
      const t0 = Date.now();
      const p = client.chat({ ...ask('x'), signal: ac.signal });
      setTimeout(() => ac.abort(), 100);
      await assert.rejects(p, (e: Error) => e.name === 'AbortError');
      assert.ok(Date.now() - t0 < 2000);
    },
  );
});
