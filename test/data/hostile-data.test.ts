/**
 * Manifests with invalid UTF-8 or absurd texts (issue 18 items 4, 13): `data check` flags them, a
 * describe merge keeps every line it was not asked to change byte for byte, and `tokenizer train`
 * refuses a 50 MB caption at once instead of spending gigabytes on it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run as tokenizerCli } from '../../src/cli/tokenizer.ts';
import { byteLines } from '../../src/util/fs.ts';
import { startFakeOpenAI, reply } from '../helpers/fake-openai.ts';
import { assertOneLineError, assertUnchanged, hashTree, runCli } from '../helpers/hostile.ts';
import { makeDataset } from '../train/fixture.ts';

const root = mkdtempSync(path.join(tmpdir(), 'nanovlm-hostile-data-'));
const good = path.join(root, 'good');
let counter = 0;
before(async () => {
  await makeDataset(good, { count: 12 });
});
after(() => rmSync(root, { recursive: true, force: true }));

/** A copy of the good dataset with `line` (raw bytes) added to its manifest as line 13. */
function withExtraLine(line: Buffer): string {
  const dir = path.join(root, `ds${counter++}`);
  cpSync(good, dir, { recursive: true });
  const manifest = path.join(dir, 'manifest.jsonl');
  writeFileSync(manifest, Buffer.concat([readFileSync(manifest), line, Buffer.from('\n')]));
  return dir;
}

const record = (id: string, caption: string | Buffer) =>
  Buffer.concat([
    Buffer.from(`{"id":"${id}","image":"images/0000.png","split":"train","captions":["`),
    Buffer.isBuffer(caption) ? caption : Buffer.from(caption),
    Buffer.from('"]}'),
  ]);
/** A caption whose bytes are not UTF-8 (a Latin-1 "café" and a stray continuation byte). */
const LATIN1 = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x80]);

test('data check flags invalid UTF-8, naming the line (item 4)', async () => {
  const dir = withExtraLine(record('latin1', LATIN1));
  const before = hashTree(dir);
  const r = await runCli(['data', 'check', '--in', dir, '--size', '16']);
  assertOneLineError(r, /manifest\.jsonl line 13: not valid UTF-8 text \(use --skip-bad to skip bad records\)$/);
  const all = await runCli(['data', 'check', '--in', dir, '--size', '16', '--skip-bad']);
  assert.equal(all.code, 1);
  assert.match(all.stdout, /1 problems:\n\s+\S+manifest\.jsonl line 13: not valid UTF-8 text/);
  assert.doesNotMatch(all.stdout, /no problems found/);
  assertUnchanged(dir, before);
});

test('a describe merge keeps every line it was not asked to change, byte for byte (item 4)', async () => {
  const dir = withExtraLine(record('latin1', LATIN1));
  const manifest = path.join(dir, 'manifest.jsonl');
  const linesBefore = byteLines(readFileSync(manifest));
  const server = await startFakeOpenAI(() =>
    reply.text('A kid sees a red ball on the floor. The ball is round and it is red and it rolls away fast.'),
  );
  try {
    const r = await runCli([
      'data', 'describe', '--in', dir, '--kind', 'short', '--endpoint', server.url, '--model', 'm',
      '--overwrite', '--limit', '1', '--skip-bad', '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout.trim().split('\n').at(-1)!).merged, 1);
  } finally {
    await server.close();
  }
  const linesAfter = byteLines(readFileSync(manifest));
  assert.equal(linesAfter.length, linesBefore.length);
  const changed = linesAfter.flatMap((line, i) => (line.equals(linesBefore[i]!) ? [] : [i]));
  assert.equal(changed.length, 1, `lines changed: ${changed.join(', ')}`);
  assert.match(linesAfter[changed[0]!]!.toString(), /A kid sees a red ball/);
  assert.ok(linesAfter[12]!.equals(record('latin1', LATIN1)), 'the invalid UTF-8 line kept its bytes');
});

test('absurdly long texts: data check flags them, tokenizer train refuses them quickly (item 13)', async () => {
  const dir = withExtraLine(record('huge', 'a kid sees a dog. '.repeat(50 * 2 ** 20 / 18)));
  const before = hashTree(dir);
  const check = await runCli(['data', 'check', '--in', dir, '--size', '16']);
  assertOneLineError(check, /manifest\.jsonl line 13: "captions"\[0\] is 52428798 characters long; at most 10000 are accepted/);
  const r = await runCli(['tokenizer', 'train', '--data', dir, '--vocab', '300']);
  assertOneLineError(r, /manifest\.jsonl line 13: "captions"\[0\] is 52428798 characters long/);
  assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
  // Memory: in-process, the refusal costs about the manifest's own size, not gigabytes.
  const rss0 = process.memoryUsage().rss;
  await assert.rejects(tokenizerCli(['train', '--data', dir, '--vocab', '300']), /at most 10000 are accepted/);
  const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
  assert.ok(grown < 400, `RSS grew ${grown.toFixed(0)} MB`);
  assertUnchanged(dir, before);
});
