import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  mkdtempSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
  existsSync,
  readdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { configFor } from '../../src/model/config.ts';
import { saveModel } from '../../src/model/folder.ts';
import { createModel } from '../../src/model/nanovlm.ts';
import { loadModel } from '../../src/model/pipeline.ts';
import { readSafetensors, writeSafetensors } from '../../src/nn/index.ts';
import { Tokenizer } from '../../src/tokenizer/index.ts';
import { tinyConfig } from './helpers.ts';

const tokenizer = Tokenizer.fromMerges([]); // special tokens + the 256 bytes
const workdir = mkdtempSync(path.join(tmpdir(), 'nanovlm-folder-'));
test.after(() => rmSync(workdir, { recursive: true, force: true }));

let counter = 0;
async function savedModel(): Promise<{ dir: string; model: ReturnType<typeof createModel> }> {
  const model = createModel(configFor(tinyConfig(), tokenizer), { seed: 21 });
  const dir = path.join(workdir, `m${counter++}`);
  await saveModel(model, tokenizer, dir, { generation: { max_new_tokens: 6 } });
  return { dir, model };
}

/** A 40×30 gradient picture as RGB bytes. */
function pixels(): { data: Uint8Array; width: number; height: number; channels: 3 } {
  const width = 40;
  const height = 30;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set([(i * 7) % 256, (i * 3) % 256, 128], i * 3);
  return { data, width, height, channels: 3 };
}

test('save then load: the four files, the same weights, the same descriptions', async () => {
  const { dir, model } = await savedModel();
  assert.deepEqual(readdirSync(dir).sort(), [
    'config.json',
    'generation_config.json',
    'model.safetensors',
    'tokenizer.json',
  ]);
  const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));
  assert.equal(config.model_type, 'nanovlm');
  assert.equal(JSON.parse(readFileSync(path.join(dir, 'generation_config.json'), 'utf8')).max_new_tokens, 6);
  const vlm = await loadModel(dir);
  for (const [name, p] of model.parameters())
    assert.deepEqual(vlm.model.parameters().get(name)!.data, p.data, name);
  const raw = pixels();
  const png = await sharp(Buffer.from(raw.data), { raw: { width: 40, height: 30, channels: 3 } })
    .png()
    .toBuffer();
  const file = path.join(workdir, 'pic.png');
  writeFileSync(file, png);
  const a = await vlm.describe(raw, { temperature: 0 });
  const b = await vlm.describe(png, { temperature: 0 });
  const c = await vlm.describe(file);
  assert.equal(a.tokens, 6, 'generation_config.json max_new_tokens applies');
  assert.equal(a.finishReason, 'length');
  assert.deepEqual(b.ids, a.ids, 'a PNG of the same pixels gives the same text');
  assert.deepEqual(c.ids, a.ids, 'greedy is the default (do_sample false)');
  assert.equal(a.text, tokenizer.decode(a.ids));
});

test('describe: prompts, per-item options in a batch, streaming text', async () => {
  const { dir } = await savedModel();
  const vlm = await loadModel(dir);
  const pieces: string[] = [];
  const d = await vlm.describe(pixels(), {
    prompt: 'A red ball ',
    maxNewTokens: 5,
    temperature: 0.8,
    seed: 3,
    onToken: (t) => pieces.push(t),
  });
  assert.equal(d.prompt, 'A red ball');
  assert.equal(d.fullText, 'A red ball' + d.text);
  assert.equal(pieces.length, d.tokens);
  assert.equal(pieces.join(''), d.text);
  const [x, y] = await vlm.describeBatch(
    [{ image: pixels(), prompt: 'A red ball', maxNewTokens: 5, temperature: 0.8, seed: 3 }, pixels()],
    {
      maxNewTokens: 3,
    },
  );
  assert.deepEqual(x!.ids, d.ids, 'batched rows match single calls');
  assert.equal(y!.tokens, 3);
});

async function expectLoadError(
  mutate: (dir: string) => Promise<void> | void,
  pattern: RegExp,
): Promise<void> {
  const { dir } = await savedModel();
  await mutate(dir);
  await assert.rejects(loadModel(dir), pattern);
}

test('a missing file is named', async () => {
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'generation_config.json']) {
    await expectLoadError(
      (dir) => unlinkSync(path.join(dir, f)),
      new RegExp(`${f.replace('.', '\\.')}: file not found`),
    );
  }
  await assert.rejects(loadModel(path.join(workdir, 'nowhere')), /nowhere: model folder not found/);
});

test('a config that does not match the weights names the tensor', async () => {
  const editConfig = (change: Record<string, unknown>) => (dir: string) => {
    const file = path.join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), ...change }));
  };
  await expectLoadError(
    editConfig({ n_embd: 48 }),
    /model\.safetensors: tensor "connector\.proj\.weight" has shape \[32, 128\], the model expects \[48, 128\].*config\.json/,
  );
  await expectLoadError(
    editConfig({ n_layer: 3 }),
    /model\.safetensors: missing \d+ tensor\(s\) the model needs: decoder\.blocks\.2\./,
  );
  await expectLoadError(
    editConfig({ vision_blocks: 0 }),
    /model\.safetensors: \d+ tensor\(s\) the model does not have: vision\.blocks\.0\./,
  );
  await expectLoadError(
    editConfig({ n_head: 5 }),
    /config\.json: "n_embd" 32 is not divisible by "n_head" 5/,
  );
  await expectLoadError(
    editConfig({ vocab_size: 300 }),
    /tokenizer\.json: the tokenizer has 260 tokens but the model's vocab_size is 300/,
  );
});

test('weights with a missing or extra tensor are named', async () => {
  const editWeights =
    (edit: (m: Map<string, import('../../src/tensor/tensor.ts').Tensor>) => void) => async (dir: string) => {
      const file = path.join(dir, 'model.safetensors');
      const { tensors } = readSafetensors(file);
      edit(tensors);
      await writeSafetensors(file, tensors);
    };
  await expectLoadError(
    editWeights((m) => m.delete('decoder.ln_f.bias')),
    /model\.safetensors: missing 1 tensor\(s\) the model needs: decoder\.ln_f\.bias/,
  );
  await expectLoadError(
    editWeights((m) => m.set('decoder.extra', m.get('decoder.ln_f.bias')!)),
    /model\.safetensors: 1 tensor\(s\) the model does not have: decoder\.extra/,
  );
  await expectLoadError(
    editWeights((m) => (m.get('vision.pos')!.data[3] = NaN)),
    /model\.safetensors: tensor "vision\.pos" holds a non-finite value \(NaN\) at index 3/,
  );
});

test('a corrupt weights file is refused, naming it', async () => {
  await expectLoadError((dir) => {
    const file = path.join(dir, 'model.safetensors');
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 100));
  }, /model\.safetensors: tensor "[\w.]+": data_offsets \[\d+, \d+\] run past the data section/);
  await expectLoadError(
    (dir) => writeFileSync(path.join(dir, 'model.safetensors'), 'not weights at all'),
    /model\.safetensors: header length/,
  );
  await expectLoadError(
    (dir) => writeFileSync(path.join(dir, 'generation_config.json'), '{"top_k": "many"}'),
    /generation_config\.json: "top_k" must be a non-negative integer/,
  );
});

test('saving over an existing folder replaces it whole, leaving no temp folders', async () => {
  const { dir } = await savedModel();
  const other = createModel(configFor(tinyConfig(), tokenizer), { seed: 99 });
  await saveModel(other, tokenizer, dir);
  const vlm = await loadModel(dir);
  assert.deepEqual(
    vlm.model.parameters().get('vision.pos')!.data,
    other.parameters().get('vision.pos')!.data,
  );
  assert.ok(!readdirSync(workdir).some((f) => f.includes('.tmp')), readdirSync(workdir).join(', '));
  assert.ok(existsSync(path.join(dir, 'tokenizer.json')));
});
