/**
 * Damaged and hostile model folders (issue 18): each is refused with one line naming the file and
 * the problem, before a model of the asked size is allocated, and the folder is left as it was.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { configFor } from '../../src/model/config.ts';
import { saveModel } from '../../src/model/folder.ts';
import { createModel } from '../../src/model/nanovlm.ts';
import { loadModel } from '../../src/model/pipeline.ts';
import { startServer } from '../../src/serve/index.ts';
import { Tokenizer } from '../../src/tokenizer/index.ts';
import { assertOneLineError, assertUnchanged, hashTree, runCli } from '../helpers/hostile.ts';
import { tinyConfig } from './helpers.ts';

const tokenizer = Tokenizer.fromMerges([]);
const root = mkdtempSync(path.join(tmpdir(), 'nanovlm-hostile-'));
const good = path.join(root, 'good');
const image = path.join(root, 'pic.png');
let counter = 0;

const overflowing = path.join(root, 'overflowing');

before(async () => {
  await saveModel(createModel(configFor(tinyConfig(), tokenizer), { seed: 3 }), tokenizer, good);
  // Finite weights whose products overflow float32: the final LayerNorm's gain at 3e38.
  const big = createModel(configFor(tinyConfig(), tokenizer), { seed: 3 });
  big.decoder.ln_f.weight.data.fill(3e38);
  await saveModel(big, tokenizer, overflowing);
  await sharp({ create: { width: 16, height: 16, channels: 3, background: '#c33' } })
    .png()
    .toFile(image);
});
after(() => rmSync(root, { recursive: true, force: true }));

/** A fresh copy of the good folder, changed by `mutate`. */
function damaged(mutate: (dir: string) => void): string {
  const dir = path.join(root, `bad${counter++}`);
  cpSync(good, dir, { recursive: true });
  mutate(dir);
  return dir;
}

const editJson = (file: string, change: Record<string, unknown>) => (dir: string) => {
  const p = path.join(dir, file);
  writeFileSync(p, JSON.stringify({ ...JSON.parse(readFileSync(p, 'utf8')), ...change }));
};

/** In-process load: rejects with `pattern`, without the memory a model of that size would take. */
async function refusedInProcess(dir: string, pattern: RegExp): Promise<void> {
  const rss0 = process.memoryUsage().rss;
  const before = hashTree(dir);
  await assert.rejects(loadModel(dir), (e: Error) => {
    assert.equal(e.name, 'UserError', e.stack);
    assert.match(e.message, pattern);
    return true;
  });
  const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
  assert.ok(grown < 200, `RSS grew ${grown.toFixed(0)} MB loading ${dir}`);
  assertUnchanged(dir, before);
}

test('config sizes that would exhaust memory are refused before allocating (item 1)', async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ n_embd: 1_000_000 }, /config\.json: "n_embd" must be at most 8192, got 1000000/],
    [{ n_layer: 1_000_000 }, /config\.json: "n_layer" must be at most 128/],
    [{ n_embd: 1e9 }, /config\.json: "n_embd" must be at most/],
    [{ connector_hidden: 1e9 }, /config\.json: "connector_hidden" must be at most/],
    [{ mlp_ratio: 1e6 }, /config\.json: "mlp_ratio" must be at most 16/],
    [{ image_size: 1_600_000 }, /config\.json: "image_size" must be at most 2048/],
    [{ max_text_len: 1e9 }, /config\.json: "max_text_len" must be at most 8192/],
    [
      { patch_conv_channels: [1e6, 1e6] },
      /config\.json: "patch_conv_channels" must be two integers of at most/,
    ],
    [
      { n_embd: 8192, n_head: 8, n_layer: 128 },
      /config\.json: these sizes make a model of \d+M parameters; at most 1000M/,
    ],
    [
      { image_size: 2048, patch_size: 8 },
      /config\.json: "image_size" 2048 in patches of 8 makes 65537 vision tokens/,
    ],
    // Within the bounds, but not what the weights hold: refused from the safetensors header alone.
    [
      { n_layer: 100 },
      /model\.safetensors: missing 1176 tensor\(s\) the model needs: decoder\.blocks\.2\..*config\.json/,
    ],
    [
      { n_embd: 4096, n_head: 2 },
      /model\.safetensors: tensor "connector\.proj\.weight" has shape \[32, 128\], the model expects \[4096, 128\]/,
    ],
    [
      { vision_blocks: 100 },
      /model\.safetensors: missing \d+ tensor\(s\) the model needs: vision\.blocks\.1\./,
    ],
    [
      { mlp_ratio: 16 },
      /model\.safetensors: tensor "vision\.blocks\.0\.mlp\.fc\.weight" has shape \[128, 32\], the model expects \[512, 32\]/,
    ],
  ];
  for (const [change, pattern] of cases)
    await refusedInProcess(damaged(editJson('config.json', change)), pattern);
});

test('the CLI prints one line and exits 1 for a config that asks for a huge model', async () => {
  for (const cmd of ['generate', 'serve']) {
    const dir = damaged(editJson('config.json', { n_embd: 1_000_000 }));
    const before = hashTree(dir);
    const args =
      cmd === 'generate' ? ['generate', '--model', dir, image] : ['serve', '--model', dir, '--port', '0'];
    const r = await runCli(args, { timeoutMs: 20_000 });
    assertOneLineError(
      r,
      /^nanovlm \w+: .*bad\d+\/config\.json: "n_embd" must be at most 8192, got 1000000$/,
    );
    assertUnchanged(dir, before);
  }
});

test('"__proto__" and other inherited names are unknown keys (item 10)', async () => {
  for (const key of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
    const dir = damaged((d) => {
      const p = path.join(d, 'config.json');
      const text = readFileSync(p, 'utf8').replace(/^\{/, `{"${key}": {"n_layer": 99},`);
      writeFileSync(p, text);
    });
    await refusedInProcess(dir, new RegExp(`config\\.json: unknown key "${key}"`));
    if (key === '__proto__') {
      const before = hashTree(dir);
      const r = await runCli(['generate', '--model', dir, image], { timeoutMs: 20_000 });
      assertOneLineError(r, /config\.json: unknown key "__proto__"$/);
      assertUnchanged(dir, before);
    }
  }
});

test('an invalid generation_config.json is refused at load, naming the file (item 3)', async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [
      { temperature: -1 },
      /generation_config\.json: "temperature" must be a number >= 0 \(0 = greedy\), got -1/,
    ],
    [{ top_p: -5 }, /generation_config\.json: "top_p" must be a number in \(0, 1\], got -5/],
    [{ top_p: 1.5 }, /"top_p" must be a number in \(0, 1\], got 1\.5/],
    [
      { repetition_penalty: 0 },
      /generation_config\.json: "repetition_penalty" must be a number > 0 \(1 = off\), got 0/,
    ],
    [
      { max_new_tokens: -5 },
      /generation_config\.json: "max_new_tokens" must be a non-negative integer, got -5/,
    ],
    [{ max_new_tokens: 2.5 }, /"max_new_tokens" must be a non-negative integer, got 2\.5/],
    [{ top_k: 1.5 }, /"top_k" must be a non-negative integer/],
    [{ temperature: '0.7' }, /"temperature" must be a number >= 0 \(0 = greedy\), got "0\.7"/],
    [{ eos_token_id: 7 }, /generation_config\.json: "eos_token_id" is 7 but 1 in the config/],
  ];
  for (const [change, pattern] of cases)
    await refusedInProcess(damaged(editJson('generation_config.json', change)), pattern);
  // serve refuses to start (it used to start and answer every default request with a 400).
  const dir = damaged(editJson('generation_config.json', { top_p: -5 }));
  const r = await runCli(['serve', '--model', dir, '--port', '0'], { timeoutMs: 20_000 });
  assertOneLineError(r, /generation_config\.json: "top_p" must be a number in \(0, 1\], got -5$/);
  assert.equal(r.stdout, '', 'nothing was served');
});

test('a folder or a FIFO where a model file is expected is refused, not read or waited on (items 6, 8)', async () => {
  const asDir = (f: string) => (d: string) => {
    unlinkSync(path.join(d, f));
    mkdirSync(path.join(d, f));
  };
  const asFifo = (f: string) => (d: string) => {
    unlinkSync(path.join(d, f));
    execFileSync('mkfifo', [path.join(d, f)]);
  };
  for (const f of ['model.safetensors', 'config.json', 'tokenizer.json', 'generation_config.json']) {
    const esc = f.replace('.', '\\.');
    await refusedInProcess(damaged(asDir(f)), new RegExp(`${esc}: is a folder, expected a file`));
    await refusedInProcess(
      damaged(asFifo(f)),
      new RegExp(`${esc}: is a named pipe \\(FIFO\\), expected a file`),
    );
  }
  const dir = damaged(asFifo('model.safetensors'));
  const before = hashTree(dir);
  const r = await runCli(['generate', '--model', dir, image], { timeoutMs: 20_000 });
  assertOneLineError(r, /model\.safetensors: is a named pipe \(FIFO\), expected a file$/);
  assertUnchanged(dir, before);
  // An image that is a FIFO is refused too (the decoder would wait on it forever).
  const fifo = path.join(root, 'pipe.png');
  execFileSync('mkfifo', [fifo]);
  const r2 = await runCli(['generate', '--model', good, fifo], { timeoutMs: 20_000 });
  assertOneLineError(r2, /pipe\.png: is a named pipe \(FIFO\), expected a file$/);
});

test('weights that overflow give a clear error, not empty text and exit 0 (item 9)', async () => {
  const before = hashTree(overflowing);
  const vlm = await loadModel(overflowing); // every weight is finite: only running the model shows it
  await assert.rejects(
    vlm.describe(image),
    /overflowing\/model\.safetensors: the model computed a non-finite logit \((-?Infinity|NaN) for token \d+\): its weights overflow/,
  );
  const r = await runCli(['generate', '--model', overflowing, image], { timeoutMs: 20_000 });
  assertOneLineError(r, /model\.safetensors: the model computed a non-finite logit/);
  assert.equal(r.stdout, '');
  // The server answers 500 with the reason (it used to answer 200 with empty text).
  const server = await startServer(vlm, { port: 0, log: () => {} });
  try {
    const res = await fetch(`${server.url}/v1/describe`, {
      method: 'POST',
      body: readFileSync(image),
      headers: { 'Content-Type': 'image/png' },
    });
    const body = (await res.json()) as { error: { message: string; type: string } };
    assert.equal(res.status, 500);
    assert.equal(body.error.type, 'server_error');
    assert.match(body.error.message, /non-finite logit/);
    assert.equal((await fetch(`${server.url}/health`)).status, 200, 'the server keeps running');
  } finally {
    await server.close();
  }
  assertUnchanged(overflowing, before);
});
