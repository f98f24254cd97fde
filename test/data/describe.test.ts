import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describeDataset, readResults, resultsFile } from '../../src/data/describe.ts';
import { checkLength, cleanAnswer, countSentences, countWords, PROMPT_LONG, PROMPT_SHORT } from '../../src/data/prompts.ts';
import { openDataset } from '../../src/data/dataset.ts';
import { LlmClient } from '../../src/llm/client.ts';
import { startFakeOpenAI, reply, type FakeHandler, type FakeRequest } from '../helpers/fake-openai.ts';
import { makeDataset, tempDir } from './dataset-fixtures.ts';

/** A valid ShortDesc (24 words, 2 sentences) naming the picture number, so answers can be traced. */
const shortFor = (n: string) =>
  `The little picture number ${n} shows a happy red bird on a tree. ` + `It sings a sweet song for all the friends nearby today.`;
const longFor = (n: string) =>
  Array.from({ length: 5 }, (_, k) => `Sentence ${k + 1} about picture ${n} has exactly thirteen simple words in it today.`).join(' ');
/** The record number a request is about (the fixture's captions are "picture number N"). */
const numberOf = (req: FakeRequest) => /picture number (\d+)/.exec(req.text)![1]!;

async function setup(n: number, handler: FakeHandler) {
  const t = tempDir('nanovlm-describe-');
  await makeDataset(t.dir, n);
  // The fixture already has texts: drop them so there is work to do.
  const manifest = path.join(t.dir, 'manifest.jsonl');
  const lines = readFileSync(manifest, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  writeFileSync(manifest, lines.map(({ short, long, ...rest }) => JSON.stringify(rest)).join('\n') + '\n');
  const server = await startFakeOpenAI(handler);
  const client = (o: Partial<ConstructorParameters<typeof LlmClient>[0]> = {}) =>
    new LlmClient({ endpoint: server.url, model: 'gpt-4o', apiKey: 'k', baseDelayMs: 1, ...o });
  return {
    dir: t.dir,
    server,
    client,
    cleanup: async () => {
      await server.close();
      t.cleanup();
    },
  };
}

test('length rules: words and sentences are counted as a reader would', () => {
  assert.equal(countWords("The kid's ice-cream is big — really big!"), 7);
  assert.equal(countSentences('A dog runs. It is fast! Is it happy? Yes.'), 4);
  assert.equal(countSentences('Mum said "go home." Then we left'), 2);
  assert.deepEqual(checkLength(shortFor('1'), 'short'), { ok: true, words: 24, sentences: 2 });
  assert.deepEqual(checkLength(longFor('1'), 'long'), { ok: true, words: 65, sentences: 5 });
  assert.equal(checkLength('Too short. Really.', 'short').ok, false);
  assert.equal(cleanAnswer('  Description: "A cat sits.\n It naps." '), 'A cat sits. It naps.');
  assert.ok(PROMPT_LONG.includes('create a short 60-70 word (5-6 sentences) description'));
  assert.ok(!PROMPT_LONG.includes('20-25'));
});

test('describes every record with the paper prompt, counts cost, merges into the manifest', async () => {
  const s = await setup(5, (req) => reply.text(shortFor(numberOf(req)), { promptTokens: 200, completionTokens: 30 }));
  try {
    const sum = await describeDataset({ dir: s.dir, kind: 'short', client: s.client(), concurrency: 2, withImage: true });
    assert.equal(sum.described, 5);
    assert.equal(sum.merged, 5);
    assert.equal(sum.promptTokens, 1000);
    assert.equal(sum.completionTokens, 150);
    assert.ok(Math.abs(sum.costUsd - (1000 * 2.5 + 150 * 10) / 1e6) < 1e-12);
    const req = s.server.requests[0]!;
    assert.ok(req.text.startsWith(PROMPT_SHORT + '\n\nCaptions:\n1. picture number '));
    assert.equal(req.images.length, 1);
    assert.match(req.images[0]!, /^data:image\/png;base64,iVBOR/);
    const ds = openDataset(s.dir);
    for (const r of ds.records) {
      assert.equal(r.short, shortFor(String((r.meta as { i: number }).i)));
      assert.deepEqual(r.captions, [`picture number ${(r.meta as { i: number }).i}`]); // other fields untouched
    }
    // Nothing left to do on a rerun: no requests.
    const before = s.server.requests.length;
    const again = await describeDataset({ dir: s.dir, kind: 'short', client: s.client() });
    assert.equal(again.todo, 0);
    assert.equal(s.server.requests.length, before);
  } finally {
    await s.cleanup();
  }
});

test('re-asks (bounded) when an answer breaks the length rule', async () => {
  const asked = new Map<string, number>();
  const s = await setup(3, (req) => {
    const n = numberOf(req);
    asked.set(n, (asked.get(n) ?? 0) + 1);
    if (n === '2') return reply.text('Way too short. Sorry.'); // never fixes it
    return asked.get(n) === 1 ? reply.text('A bird. It sings a lot. It flies. It eats. Yes.') : reply.text(longFor(n));
  });
  try {
    const sum = await describeDataset({ dir: s.dir, kind: 'long', client: s.client(), maxAttempts: 3 });
    assert.equal(sum.described, 2);
    assert.equal(sum.lengthFailures, 1);
    assert.equal(sum.reasks, 2 + 2);
    assert.equal(asked.get('2'), 3);
    const reask = s.server.requests.find((r) => numberOf(r) === '0' && r.messages.length === 3)!;
    assert.equal(reask.messages[1]!.role, 'assistant');
    assert.match(
      String(reask.messages[2]!.content),
      /^Your description has 11 words in 5 sentences, but it must have 60-70 words in 5-6 sentences\./,
    );
    const results = readFileSync(resultsFile(s.dir, 'long'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const failed = results.find((r) => r.id === 'r2');
    assert.equal(failed.ok, false);
    assert.equal(failed.attempts, 3);
    const ds = openDataset(s.dir);
    assert.equal(ds.records.find((r) => r.id === 'r2')!.long, undefined); // failures are not merged
    assert.equal(ds.records.find((r) => r.id === 'r0')!.long, longFor('0'));
    // A rerun asks again only for the one that failed.
    const n = s.server.requests.length;
    await describeDataset({ dir: s.dir, kind: 'long', client: s.client(), maxAttempts: 1 });
    assert.deepEqual(s.server.requests.slice(n).map(numberOf), ['2']);
  } finally {
    await s.cleanup();
  }
});

test('a killed run loses only its in-flight requests; the rerun skips what is done', async () => {
  const s = await setup(12, (req) => reply.text(shortFor(numberOf(req)), { delayMs: 15 }));
  try {
    const ac = new AbortController();
    let written = 0;
    const first = await describeDataset({
      dir: s.dir,
      kind: 'short',
      client: s.client({ concurrency: 3 }),
      concurrency: 3,
      signal: ac.signal,
      onResult: () => {
        if (++written === 4) ac.abort();
      },
    });
    assert.equal(first.aborted, true);
    assert.equal(first.merged, 0);
    const doneIds = [...readResults(resultsFile(s.dir, 'short'), 'short').keys()];
    assert.equal(doneIds.length, 4);
    // Simulate a kill in the middle of an append: a torn last line.
    appendFileSync(resultsFile(s.dir, 'short'), '{"id": "r11", "kind": "sh');
    const firstRequests = s.server.requests.length;
    const second = await describeDataset({ dir: s.dir, kind: 'short', client: s.client({ concurrency: 3 }), concurrency: 3 });
    assert.equal(second.alreadyDone, 4);
    assert.equal(second.described, 8);
    const askedAgain = s.server.requests.slice(firstRequests).map((r) => `r${numberOf(r)}`);
    assert.equal(askedAgain.length, 8);
    assert.ok(askedAgain.every((id) => !doneIds.includes(id)));
    assert.equal(second.merged, 12);
    assert.ok(openDataset(s.dir).records.every((r) => r.short === shortFor(r.id.slice(1))));
    const lines = readFileSync(resultsFile(s.dir, 'short'), 'utf8').trim().split('\n');
    assert.equal(lines.length, 12);
    lines.forEach((l) => JSON.parse(l));
  } finally {
    await s.cleanup();
  }
});

test('a record whose request keeps failing is counted and the others go on; a bad key stops the run', async () => {
  const s = await setup(4, (req) => (numberOf(req) === '1' ? reply.error(400, 'content policy') : reply.text(shortFor(numberOf(req)))));
  try {
    const sum = await describeDataset({ dir: s.dir, kind: 'short', client: s.client() });
    assert.equal(sum.requestFailures, 1);
    assert.equal(sum.described, 3);
    assert.equal(sum.merged, 3);
    s.server.setHandler(() => reply.error(401, 'Incorrect API key provided'));
    await assert.rejects(
      describeDataset({ dir: s.dir, kind: 'short', client: s.client() }),
      /HTTP 401: Incorrect API key provided \(check OPENAI_API_KEY\)/,
    );
  } finally {
    await s.cleanup();
  }
});

test('malformed answers and 429s along the way still end with every record described', async () => {
  let count = 0;
  const s = await setup(4, (req) => {
    count++;
    if (count === 1) return reply.rateLimit({ ms: 20 });
    if (count === 2) return reply.raw('{"choices": [{"message": ');
    if (count === 3) return reply.hang();
    return reply.text(shortFor(numberOf(req)));
  });
  try {
    const sum = await describeDataset({ dir: s.dir, kind: 'short', client: s.client({ timeoutMs: 200 }), concurrency: 1 });
    assert.equal(sum.described, 4);
    assert.equal(sum.requestFailures, 0);
    assert.equal(s.server.requests.length, 7);
  } finally {
    await s.cleanup();
  }
});

test('results file: a complete last line without newline is kept and terminated; a bad middle line is named', () => {
  const t = tempDir('nanovlm-results-');
  try {
    const file = path.join(t.dir, 'r.jsonl');
    const line = { id: 'a', kind: 'short', text: 'x', ok: true };
    writeFileSync(file, JSON.stringify(line));
    assert.deepEqual([...readResults(file, 'short').keys()], ['a']);
    assert.equal(readFileSync(file, 'utf8'), JSON.stringify(line) + '\n');
    writeFileSync(file, `${JSON.stringify(line)}\n{oops\n${JSON.stringify({ ...line, id: 'b' })}\n`);
    assert.throws(() => readResults(file, 'short'), /r.jsonl line 2: invalid JSON/);
  } finally {
    t.cleanup();
  }
});
