import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LlmClient } from '../../src/llm/client.ts';
import { runJudge, type JudgeOptions } from '../../src/eval/judge.ts';
import type { GradedLine } from '../../src/eval/format.ts';
import { startFakeOpenAI, reply, type FakeOpenAI, type FakeHandler } from '../helpers/fake-openai.ts';

const COMPLETIONS = [
  {
    id: '1',
    image: 'images/1.png',
    prefix: 'The brown dog wants to',
    completion: ' catch the red ball.',
    reference: 'The brown dog wants to catch the red ball.',
    system: 'nanovlm-mini',
  },
  {
    id: '2',
    image: 'images/2.png',
    prefix: 'A small cat sits under',
    completion: ' the tree.',
    reference: 'A small cat sits under the big tree.',
    system: 'nanovlm-mini',
  },
  {
    id: '1',
    image: 'images/1.png',
    prefix: 'The brown dog wants to',
    completion: 'a dog with a ball',
    reference: 'The brown dog wants to catch the red ball.',
    system: 'blip-base',
  },
  {
    id: '2',
    image: 'images/2.png',
    prefix: 'A small cat sits under',
    completion: 'a cat sitting under a tree',
    reference: 'A small cat sits under the big tree.',
    system: 'blip-base',
    sample: 0,
  },
];

/** Grades that depend on the text, so the test can check which answer landed on which line. */
function gradesFor(text: string) {
  const g = text.includes('catch the red ball') ? 8 : text.includes('the tree.') ? 6 : 3;
  return {
    assessment: `grade ${g}`,
    grammar: g,
    creativity: g - 1,
    consistency: g,
    meaningfulness: g,
    plot: g - 2,
    age_group: g > 5 ? 'B' : 'A',
  };
}
const jsonGrades: FakeHandler = (req) => reply.text(JSON.stringify(gradesFor(req.text)));

function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), 'nanovlm-judge-'));
  const input = path.join(dir, 'completions.jsonl');
  writeFileSync(input, COMPLETIONS.map((c) => JSON.stringify(c)).join('\n') + '\n');
  return {
    dir,
    input,
    out: path.join(dir, 'graded.jsonl'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function withServer(handler: FakeHandler, fn: (s: FakeOpenAI) => Promise<void>) {
  const server = await startFakeOpenAI(handler);
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

const client = (s: FakeOpenAI, o: Partial<ConstructorParameters<typeof LlmClient>[0]> = {}) =>
  new LlmClient({ endpoint: s.url, model: 'gpt-4o', baseDelayMs: 1, maxRetries: 3, ...o });

function judgeOpts(s: FakeOpenAI, f: ReturnType<typeof setup>, o: Partial<JudgeOptions> = {}): JudgeOptions {
  return {
    input: f.input,
    out: f.out,
    protocol: 'nanovlms',
    model: 'gpt-4o',
    client: client(s),
    concurrency: 2,
    ...o,
  };
}

const readOut = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as GradedLine);

test('grades every completion with fixed answers, in JSON mode, recording judge and prompt version', async () => {
  const f = setup();
  try {
    await withServer(jsonGrades, async (s) => {
      const sum = await runJudge(judgeOpts(s, f));
      assert.equal(sum.total, 4);
      assert.equal(sum.graded, 4);
      assert.equal(sum.failed, 0);
      assert.equal(sum.requests, 4);
      assert.equal(s.requests.length, 4);
      for (const r of s.requests) {
        assert.deepEqual(r.body.response_format, { type: 'json_object' });
        assert.equal(r.body.temperature, 0);
        assert.match(
          r.text,
          /grade the children's completion in terms of grammar, creativity, consistency, meaningfulness and plot/,
        );
      }
      const lines = readOut(f.out);
      assert.equal(lines.length, 4);
      const mini1 = lines.find((l) => l.system === 'nanovlm-mini' && l.id === '1')!;
      assert.deepEqual(mini1.grades, {
        grammar: 8,
        creativity: 7,
        consistency: 8,
        meaningfulness: 8,
        plot: 6,
      });
      assert.equal(mini1.age_group, 'B');
      assert.equal(mini1.judge_model, 'gpt-4o');
      assert.equal(mini1.judge_protocol, 'nanovlms');
      assert.equal(mini1.prompt_version, 'nanovlms-p3-v1');
      assert.equal(mini1.parsed_from, 'json');
      assert.equal(mini1.completion, ' catch the red ball.');
      // a baseline's file is graded the same way
      const blip = lines.find((l) => l.system === 'blip-base' && l.id === '2')!;
      assert.equal(blip.grades!.grammar, 3);
    });
  } finally {
    f.cleanup();
  }
});

test('text answers are parsed; unreadable ones are asked again, then recorded as failures and retried on the next run', async () => {
  const f = setup();
  try {
    const handler: FakeHandler = (req) => {
      if (req.text.includes('blip') || req.text.includes('a cat sitting under a tree'))
        return reply.text('I would rather not grade this.');
      const g = gradesFor(req.text);
      return reply.text(
        `Nice work.\n\nGrammar: ${g.grammar}/10\nCreativity: ${g.creativity}/10\nConsistency: ${g.consistency}/10\nMeaningfulness: ${g.meaningfulness}/10\nPlot: ${g.plot}/10\nAge group: ${g.age_group}`,
      );
    };
    await withServer(handler, async (s) => {
      const sum = await runJudge(judgeOpts(s, f, { reasks: 1, jsonMode: 'off' }));
      assert.equal(sum.graded, 3);
      assert.equal(sum.failed, 1);
      assert.equal(s.requests.length, 5); // 3 good answers + 2 tries for the unreadable one
      assert.ok(s.requests.every((r) => r.body.response_format === undefined));
      const reask = s.requests.find((r) => r.messages.length === 3)!;
      assert.equal(reask.messages[1]!.role, 'assistant');
      assert.match(String(reask.messages[2]!.content), /could not be read \(no grade for grammar/);
      const lines = readOut(f.out);
      const failed = lines.filter((l) => l.error);
      assert.equal(failed.length, 1);
      assert.match(failed[0]!.error!, /unreadable answer after 2 tries/);
      assert.equal(lines.find((l) => l.id === '1' && l.system === 'nanovlm-mini')!.parsed_from, 'text');

      // The next run retries only the failed line (its cached answers are still unreadable, so it asks
      // nothing new) and leaves exactly one line per completion.
      s.setHandler(jsonGrades);
      const again = await runJudge(judgeOpts(s, f, { reasks: 1, jsonMode: 'off' }));
      assert.equal(again.alreadyDone, 3);
      assert.equal(again.cached, 2);
      assert.equal(again.failed, 1);
      assert.equal(s.requests.length, 5);
      assert.equal(readOut(f.out).length, 4);
      // without the cache the new answer is used
      const third = await runJudge(judgeOpts(s, f, { reasks: 1, jsonMode: 'off', cacheFile: null }));
      assert.equal(third.graded, 1);
      assert.equal(s.requests.length, 6);
      const final = readOut(f.out);
      assert.equal(final.length, 4);
      assert.ok(final.every((l) => l.grades && !l.error));
    });
  } finally {
    f.cleanup();
  }
});

test('429s with Retry-After and time-outs are retried; a judge that never answers is recorded as a failure', async () => {
  const f = setup();
  try {
    let n = 0;
    const flaky: FakeHandler = (req) => {
      n++;
      if (n <= 2) return reply.rateLimit({ ms: 20 });
      if (n === 3) return reply.hang();
      if (req.text.includes('a cat sitting under a tree')) return reply.hang();
      return jsonGrades(req);
    };
    await withServer(flaky, async (s) => {
      const sum = await runJudge(
        judgeOpts(s, f, { client: client(s, { timeoutMs: 300, maxRetries: 3 }), concurrency: 1 }),
      );
      assert.equal(sum.graded, 3);
      assert.equal(sum.failed, 1);
      assert.ok(sum.retries >= 3, `retries ${sum.retries}`);
      const failed = readOut(f.out).find((l) => l.error)!;
      assert.equal(failed.completion, 'a cat sitting under a tree');
      assert.match(failed.error!, /judge request failed: .*no complete answer within 300 ms/);
    });
  } finally {
    f.cleanup();
  }
});

test('resume after a kill: graded lines are kept, a torn last line dropped, only the rest asked', async () => {
  const f = setup();
  try {
    await withServer(jsonGrades, async (s) => {
      await runJudge(judgeOpts(s, f, { cacheFile: null }));
      const lines = readFileSync(f.out, 'utf8').split('\n').filter(Boolean);
      // as if killed while writing the third line
      writeFileSync(f.out, lines[0] + '\n' + lines[1] + '\n' + lines[2]!.slice(0, 40));
      const before = s.requests.length;
      const sum = await runJudge(judgeOpts(s, f, { cacheFile: null }));
      assert.equal(sum.alreadyDone, 2);
      assert.equal(sum.graded, 2);
      assert.equal(s.requests.length - before, 2);
      const out = readOut(f.out);
      assert.equal(out.length, 4);
      assert.equal(new Set(out.map((l) => `${l.system}/${l.id}`)).size, 4);
      // nothing left to do: no request at all
      const none = await runJudge(judgeOpts(s, f, { cacheFile: null }));
      assert.equal(none.alreadyDone, 4);
      assert.equal(s.requests.length - before, 2);
      // another judge model may not append to this file
      await assert.rejects(
        runJudge(judgeOpts(s, f, { model: 'gpt-4o-mini' })),
        /graded by gpt-4o with nanovlms-p3-v1, but this run uses gpt-4o-mini/,
      );
    });
  } finally {
    f.cleanup();
  }
});

test('the answer cache makes a rerun into a new file cost zero requests', async () => {
  const f = setup();
  try {
    await withServer(jsonGrades, async (s) => {
      const cacheFile = path.join(f.dir, 'judge-cache.jsonl');
      await runJudge(judgeOpts(s, f, { cacheFile }));
      assert.equal(s.requests.length, 4);
      const out2 = path.join(f.dir, 'graded-again.jsonl');
      const sum = await runJudge(judgeOpts(s, f, { cacheFile, out: out2 }));
      assert.equal(s.requests.length, 4);
      assert.equal(sum.cached, 4);
      assert.equal(sum.requests, 0);
      const strip = (l: GradedLine) => ({ ...l, judge_answered_model: undefined });
      assert.deepEqual(readOut(out2).map(strip).sort(byKey), readOut(f.out).map(strip).sort(byKey));
      // the tinystories protocol is a different request: not served from the nanovlms answers
      const out3 = path.join(f.dir, 'graded-ts.jsonl');
      const ts = await runJudge(judgeOpts(s, f, { cacheFile, out: out3, protocol: 'tinystories' }));
      assert.equal(ts.cached, 0);
      assert.equal(s.requests.length, 8);
      assert.ok(s.requests.slice(4).every((r) => r.text.includes('***')));
      assert.equal(readOut(out3)[0]!.prompt_version, 'tinystories-v1');
    });
  } finally {
    f.cleanup();
  }
});
const byKey = (a: GradedLine, b: GradedLine) => (`${a.system}/${a.id}` < `${b.system}/${b.id}` ? -1 : 1);

test('a server without JSON mode is asked in plain text; bad credentials stop the run', async () => {
  const f = setup();
  try {
    const noJsonMode: FakeHandler = (req) =>
      req.body.response_format
        ? reply.error(400, "Invalid parameter: 'response_format' is not supported")
        : jsonGrades(req);
    await withServer(noJsonMode, async (s) => {
      const sum = await runJudge(judgeOpts(s, f, { concurrency: 1 }));
      assert.equal(sum.graded, 4);
      assert.equal(s.requests.length, 5); // one refused, then plain text for the rest
    });
    await withServer(
      () => reply.error(401, 'Incorrect API key provided'),
      async (s) => {
        const out = path.join(f.dir, 'unauth.jsonl');
        await assert.rejects(
          runJudge(judgeOpts(s, f, { out, concurrency: 1 })),
          /judge stopped: .*HTTP 401.*0 of 4 lines are graded/,
        );
        assert.ok(!existsSync(out) || readOut(out).length === 0);
      },
    );
  } finally {
    f.cleanup();
  }
});

test('bad completion files are refused with file and line', async () => {
  const f = setup();
  try {
    writeFileSync(
      f.input,
      JSON.stringify(COMPLETIONS[0]) + '\n' + JSON.stringify({ ...COMPLETIONS[1], prefix: 3 }) + '\n',
    );
    await withServer(jsonGrades, async (s) => {
      await assert.rejects(runJudge(judgeOpts(s, f)), /completions\.jsonl line 2: "prefix" must be a string/);
      writeFileSync(f.input, JSON.stringify(COMPLETIONS[0]) + '\n' + JSON.stringify(COMPLETIONS[0]) + '\n');
      await assert.rejects(runJudge(judgeOpts(s, f)), /line 2: duplicate completion/);
      writeFileSync(f.input, '{"id": "1"\n');
      await assert.rejects(runJudge(judgeOpts(s, f)), /line 1: invalid JSON/);
      assert.equal(s.requests.length, 0);
    });
  } finally {
    f.cleanup();
  }
});
