// `nanovlm data scenes --out DIR` over a folder that holds other files: refused without --overwrite; with
// it, only the scenes' own files are replaced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const BIN = path.resolve('bin/nanovlm.js');

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('data scenes: a rerun keeps a tokenizer.json and the user\'s file; overwriting takes --overwrite', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'scenes-cli-'));
  try {
    const out = path.join(root, 'scenes');
    const args = ['data', 'scenes', '--out', out, '--count', '3', '--workers', '1', '--json'];
    const first = cli(args);
    assert.equal(first.code, 0, first.err);
    writeFileSync(path.join(out, 'tokenizer.json'), '{"mine":true}');
    writeFileSync(path.join(out, 'my-notes.txt'), 'keep me');
    const manifest = readFileSync(path.join(out, 'manifest.jsonl'), 'utf8');

    const refused = cli([...args.slice(0, 4), '--count', '2', '--seed', '7']);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /holds scenes from an earlier build; choose a new folder, or pass --overwrite/);
    assert.doesNotMatch(refused.err, /\n\s+at /, 'no stack trace');
    assert.equal(readFileSync(path.join(out, 'manifest.jsonl'), 'utf8'), manifest, 'nothing changed');

    const again = cli([...args.slice(0, 4), '--count', '2', '--seed', '7', '--overwrite']);
    assert.equal(again.code, 0, again.err);
    assert.equal(readFileSync(path.join(out, 'tokenizer.json'), 'utf8'), '{"mine":true}');
    assert.equal(readFileSync(path.join(out, 'my-notes.txt'), 'utf8'), 'keep me');
    assert.deepEqual(readdirSync(path.join(out, 'images')).sort(), ['000001.png', '000002.png']);
    assert.equal(readFileSync(path.join(out, 'manifest.jsonl'), 'utf8').trim().split('\n').length, 2);
    assert.deepEqual(readdirSync(root), ['scenes'], 'no temporary folder left behind');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
