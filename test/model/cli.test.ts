import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { run as info } from '../../src/cli/info.ts';
import { run as generateCli } from '../../src/cli/generate.ts';
import { configFor, countParams, presetConfig } from '../../src/model/config.ts';
import { saveModel } from '../../src/model/folder.ts';
import { createModel } from '../../src/model/nanovlm.ts';
import { Tokenizer } from '../../src/tokenizer/index.ts';
import { tinyConfig } from './helpers.ts';

/** Runs a command in-process and returns its exit code and printed lines. */
async function capture(
  fn: (argv: string[]) => Promise<number>,
  argv: string[],
): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(' '));
  try {
    return { code: await fn(argv), lines };
  } finally {
    console.log = log;
  }
}

test('nanovlm info --json: counts, shares and FLOPs', async () => {
  const { code, lines } = await capture(info, ['--model', 'mini', '--json']);
  assert.equal(code, 0);
  assert.equal(lines.length, 1);
  const out = JSON.parse(lines[0]!);
  assert.deepEqual(out.params, countParams(presetConfig('mini')));
  assert.equal(out.params.total, out.params.vision + out.params.connector + out.params.decoder);
  assert.ok(Math.abs(out.shares.vision + out.shares.connector + out.shares.decoder - 100) < 0.2);
  assert.ok(out.flops_per_sample > 1e9 && out.flops_per_sample < 1e11, String(out.flops_per_sample));
  const all = JSON.parse(
    (await capture(info, ['--model', 'mini', '--json', '--image_tokens=all'])).lines[0]!,
  );
  assert.ok(all.flops_per_sample > out.flops_per_sample, '197 image tokens cost the decoder more');
  const text = await capture(info, ['--model', 'base']);
  assert.match(text.lines.join('\n'), /model base: 15\.12M parameters[\s\S]*vision\s+11\.68M\s+77\.3 %/);
  await assert.rejects(info(['--model', 'mini', '--n_embd=abc']), /n_embd must be a number/);
  await assert.rejects(info(['--model', 'giant']), /neither a preset/);
});

test('nanovlm generate: several images, JSON lines, seeded', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nanovlm-cli-'));
  try {
    const tok = Tokenizer.fromMerges([]);
    await saveModel(createModel(configFor(tinyConfig(), tok), { seed: 2 }), tok, path.join(dir, 'model'));
    const img = path.join(dir, 'a.png');
    await sharp({ create: { width: 20, height: 20, channels: 3, background: { r: 250, g: 0, b: 0 } } })
      .png()
      .toFile(img);
    const argv = [
      '--model',
      path.join(dir, 'model'),
      '--image',
      img,
      img,
      '--json',
      '--temperature',
      '1',
      '--seed',
      '4',
    ];
    const a = await capture(generateCli, [...argv, '--max-new-tokens', '4', '--prompt', 'A']);
    assert.equal(a.code, 0);
    assert.equal(a.lines.length, 2);
    const rows = a.lines.map((l) => JSON.parse(l));
    assert.equal(rows[0].tokens, 4);
    assert.equal(rows[0].prompt, 'A');
    assert.equal(rows[0].full_text, 'A' + rows[0].text);
    assert.equal(rows[0].text, rows[1].text, 'same image, same seed');
    const b = await capture(generateCli, [...argv, '--max-new-tokens', '4', '--prompt', 'A']);
    assert.deepEqual(
      b.lines.map((l) => JSON.parse(l).text),
      rows.map((r) => r.text),
    );
    await assert.rejects(generateCli(['--model', path.join(dir, 'model')]), /at least one --image/);
    await assert.rejects(generateCli([...argv, '--top-p', '2']), /--top-p must be in \(0, 1\]/);
    await assert.rejects(
      generateCli(['--model', path.join(dir, 'model'), '--image', path.join(dir, 'none.png')]),
      /none\.png: file not found/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
