import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run as evalCli } from '../../src/cli/eval.ts';
import { startFakeOpenAI, reply } from '../helpers/fake-openai.ts';

async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  const err = console.error;
  console.log = (...a: unknown[]) => lines.push(a.join(' '));
  console.error = () => {};
  try {
    return { code: await evalCli(argv), out: lines.join('\n') };
  } finally {
    console.log = log;
    console.error = err;
  }
}

const line = (system: string, id: string, completion: string) =>
  JSON.stringify({
    id,
    image: `images/${id}.png`,
    prefix: 'The brown dog wants to',
    completion,
    reference: 'The brown dog wants to catch the red ball.',
    system,
  });

test('judge and report from the command line, for our model and a baseline', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nanovlm-eval-cli-'));
  const server = await startFakeOpenAI((req) => {
    const g = req.text.includes('catch the red ball') ? 8 : 4;
    return reply.grades(g);
  });
  try {
    const ours = path.join(dir, 'ours.jsonl');
    const blip = path.join(dir, 'blip.jsonl');
    writeFileSync(
      ours,
      [line('nanovlm-mini', '1', ' catch the red ball.'), line('nanovlm-mini', '2', ' sleep.')].join('\n') +
        '\n',
    );
    writeFileSync(blip, line('blip-base', '1', 'a dog with a ball') + '\n');
    for (const f of [ours, blip]) {
      const r = await capture(['judge', '--in', f, '--endpoint', server.url, '--model', 'gpt-4o', '--json']);
      assert.equal(r.code, 0);
      assert.equal(JSON.parse(r.out).failed, 0);
    }
    const graded = [
      path.join(dir, 'ours.graded-nanovlms.jsonl'),
      path.join(dir, 'blip.graded-nanovlms.jsonl'),
    ];
    assert.ok(graded.every((g) => existsSync(g)));
    assert.equal(server.requests.length, 3);
    // a rerun is free
    const again = await capture(['judge', '--in', ours, '--endpoint', server.url, '--json']);
    assert.equal(JSON.parse(again.out).alreadyDone, 2);
    assert.equal(server.requests.length, 3);

    // `--in graded*.jsonl` as the shell expands it: --in a b
    const out = path.join(dir, 'report');
    const r = await capture(['report', '--in', ...graded, '--out', out, '--no-grammar']);
    assert.equal(r.code, 0);
    assert.match(r.out, /\| blip-base \| 1 \| 4\.00 ± 0\.00 \|/);
    assert.match(r.out, /\| nanovlm-mini \| 2 \| 6\.00 ± 2\.83 \|/);
    for (const f of ['report.md', 'report.json', 'grades.png']) assert.ok(existsSync(path.join(out, f)), f);
    const json = JSON.parse((await capture(['report', '--in', graded[1]!, '--json', '--no-measures'])).out);
    assert.equal(json.systems[0].system, 'blip-base');
    assert.equal(json.systems[0].measures, undefined);
    assert.match(readFileSync(path.join(out, 'report.md'), 'utf8'), /Grammatical: not measured, not run/);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('usage errors are clear', async () => {
  await assert.rejects(evalCli(['grade']), /unknown subcommand "grade"/);
  await assert.rejects(evalCli(['judge', '--in', 'x.jsonl']), /--endpoint is required/);
  await assert.rejects(
    evalCli(['judge', '--in', 'x.jsonl', '--endpoint', 'http://127.0.0.1:9', '--protocol', 'gpt']),
    /--protocol: expected one of nanovlms, tinystories/,
  );
  await assert.rejects(evalCli(['report']), /give at least one --in FILE/);
  await assert.rejects(
    evalCli(['report', '--in', '/nonexistent/graded.jsonl']),
    /\/nonexistent\/graded\.jsonl: file not found/,
  );
  await assert.rejects(
    evalCli(['judge', '--in', '/nonexistent/c.jsonl', '--endpoint', 'http://127.0.0.1:9']),
    /c\.jsonl: file not found/,
  );
  assert.equal((await capture(['judge', '--help'])).code, 0);
});
