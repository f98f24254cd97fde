import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { writeManifest, type DatasetRecord } from '../../src/data/dataset.ts';
import { configFor, presetConfig } from '../../src/model/config.ts';
import { saveModel } from '../../src/model/folder.ts';
import { createModel, textTargets } from '../../src/model/nanovlm.ts';
import { loadModel } from '../../src/model/pipeline.ts';
import { Tokenizer } from '../../src/tokenizer/index.ts';
import { Tensor, noGrad } from '../../src/tensor/tensor.ts';
import { crossEntropy } from '../../src/tensor/ops/index.ts';
import { loadImage } from '../../src/data/image.ts';
import { runComplete } from '../../src/eval/complete.ts';
import { buildPrefixSet } from '../../src/eval/prefix.ts';
import { perplexity } from '../../src/eval/perplexity.ts';
import { runAuto } from '../../src/eval/auto.ts';
import { readCompletions } from '../../src/eval/format.ts';
import { run as evalCli } from '../../src/cli/eval.ts';

const ANIMALS = ['dog', 'cat', 'cow', 'duck', 'frog', 'bear'];
const COUNTS = ['one', 'two', 'three'];

/** A tiny scene-like dataset: coloured squares with short/long texts naming things, and a scene graph. */
async function makeData(dir: string): Promise<DatasetRecord[]> {
  mkdirSync(path.join(dir, 'images'), { recursive: true });
  const records: DatasetRecord[] = [];
  for (let i = 0; i < 24; i++) {
    const name = ANIMALS[i % ANIMALS.length]!;
    const n = 1 + (i % 3);
    const image = `images/${i}.png`;
    await sharp({
      create: {
        width: 16,
        height: 16,
        channels: 3,
        background: { r: (i * 37) % 256, g: 90, b: (i * 11) % 256 },
      },
    })
      .png()
      .toFile(path.join(dir, image));
    const thing = n === 1 ? `a ${name}` : `${COUNTS[n - 1]} ${name}s`;
    records.push({
      id: `s${String(i).padStart(3, '0')}`,
      image,
      split: i < 12 ? 'train' : i < 18 ? 'val' : 'test',
      captions: [`${thing} on the grass`],
      short: `I can see ${thing} on the green grass today. The sun is warm and the sky is blue.`,
      long:
        `I can see ${thing} on the green grass today. The sun is warm and the sky is blue. ` +
        `A small bird sings in the big tree. Everyone is happy and the day is bright and long.`,
      meta: { groups: [{ name, count: n }] },
    });
  }
  await writeManifest(dir, records);
  return records;
}

async function fixture() {
  const dir = mkdtempSync(path.join(tmpdir(), 'nanovlm-eval-complete-'));
  const data = path.join(dir, 'data');
  const records = await makeData(data);
  const tok = Tokenizer.fromMerges([]);
  const cfg = configFor({ ...presetConfig('tiny'), max_text_len: 128, dropout: 0 }, tok);
  const modelDir = path.join(dir, 'model');
  await saveModel(createModel(cfg, { seed: 3 }), tok, modelDir);
  return { dir, data, records, modelDir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** `nanovlm eval SUB` on the fixture's model and data (2 images) and `more`: its exit code and what it printed. */
async function evalPrinting(sub: string, f: { modelDir: string; data: string }, more: string[]) {
  const log = console.log;
  const printed: string[] = [];
  console.log = (...a: unknown[]) => printed.push(a.join(' '));
  try {
    const code = await evalCli([sub, '--model', f.modelDir, '--data', f.data, '--count', '2', ...more]);
    return { code, printed };
  } finally {
    console.log = log;
  }
}

test('prefix set: reproducible, 6-7 / 18-20 words cut at word boundaries, from the asked split only', async () => {
  const f = await fixture();
  try {
    const a = buildPrefixSet(f.records, { split: 'test', kind: 'short', count: 4, seed: 1 });
    const b = buildPrefixSet(f.records.slice().reverse(), {
      split: 'test',
      kind: 'short',
      count: 4,
      seed: 1,
    });
    assert.equal(a.eligible, 6);
    assert.deepEqual(
      a.items.map((i) => [i.record.id, i.prefix]),
      b.items.map((i) => [i.record.id, i.prefix]),
    );
    for (const it of a.items) {
      assert.equal(it.record.split, 'test');
      assert.ok(it.prefixWords >= 6 && it.prefixWords <= 7);
      assert.equal(it.prefix.split(' ').length, it.prefixWords);
      assert.ok(it.reference.startsWith(it.prefix + ' '));
    }
    const other = buildPrefixSet(f.records, { split: 'test', kind: 'short', count: 4, seed: 2 });
    assert.notDeepEqual(
      other.items.map((i) => i.record.id),
      a.items.map((i) => i.record.id),
    );
    const long = buildPrefixSet(f.records, { split: 'test', kind: 'long', count: 25, seed: 1 });
    assert.equal(long.items.length, 6);
    assert.ok(
      long.items.every((i) => i.prefixWords >= 18 && i.prefixWords <= 20 && i.reference.startsWith(i.prefix)),
    );
    const tooShort = f.records.map((r) => ({ ...r, short: 'A dog runs on the green grass.' }));
    assert.throws(
      () => buildPrefixSet(tooShort, { split: 'test', kind: 'short', count: 1, seed: 0 }),
      /no test record has a "short" description of at least 10 words/,
    );
  } finally {
    f.cleanup();
  }
});

test('complete: N seeded completions per prefix from a saved tiny model, same file on a rerun', async () => {
  const f = await fixture();
  try {
    const out = path.join(f.dir, 'c.jsonl');
    const opts = {
      modelDir: f.modelDir,
      dataDir: f.data,
      out,
      split: 'test' as const,
      kind: 'short' as const,
      samples: 2,
      count: 3,
      seed: 7,
      temperature: 0.9,
      topK: 0,
      topP: 1,
      repetitionPenalty: 1,
      maxNewTokens: 12,
    };
    const s = await runComplete(opts);
    assert.equal(s.completions, 6);
    assert.equal(s.system, 'nanovlm-tiny');
    const lines = readCompletions(out);
    assert.equal(lines.length, 6);
    for (const l of lines) {
      const rec = f.records.find((r) => r.id === l.id)!;
      assert.equal(rec.split, 'test');
      assert.equal(l.reference, rec.short);
      assert.ok(rec.short!.startsWith(l.prefix));
      assert.equal(l.image, path.join(f.data, rec.image));
      assert.deepEqual(l.objects, { [(rec.meta as any).groups[0].name]: (rec.meta as any).groups[0].count });
      assert.equal(l.temperature, 0.9);
      assert.equal(l.max_new_tokens, 12);
      assert.ok(typeof l.completion === 'string' && l.completion.length > 0);
    }
    assert.deepEqual(
      lines.map((l) => l.sample),
      [0, 1, 0, 1, 0, 1],
    );
    // two samples of one prefix have different seeds (and, from an untrained model, different texts)
    assert.notEqual(lines[0]!.seed, lines[1]!.seed);
    const first = readFileSync(out, 'utf8');
    await runComplete(opts);
    assert.equal(readFileSync(out, 'utf8'), first);
    await assert.rejects(runComplete({ ...opts, temperature: 0 }), /--samples > 1 with --temperature 0/);

    // the same through the CLI, greedy, one sample
    const out2 = path.join(f.dir, 'c2.jsonl');
    const greedy = ['--temperature', '0', '--system', 'mine', '--max-new-tokens', '5'];
    const { code, printed } = await evalPrinting('complete', f, [...greedy, '--out', out2, '--json']);
    assert.equal(code, 0);
    assert.equal(JSON.parse(printed[0]!).completions, 2);
    assert.ok(readCompletions(out2).every((l) => l.system === 'mine' && l.temperature === 0));
  } finally {
    f.cleanup();
  }
});

test('perplexity equals exp of the per-token loss computed one sample at a time', async () => {
  const f = await fixture();
  try {
    const vlm = await loadModel(f.modelDir);
    const { openDataset } = await import('../../src/data/dataset.ts');
    const ds = openDataset(f.data);
    const r = await perplexity(vlm, ds, { split: 'val', text: 'short', batchSize: 4 });
    assert.equal(r.samples, 6);
    let nll = 0;
    let tokens = 0;
    const cfg = vlm.config;
    for (const rec of ds.records.filter((x) => x.split === 'val')) {
      const ids = [vlm.tokenizer.bosId, ...vlm.tokenizer.encode(rec.short!), vlm.tokenizer.eosId];
      const img = await loadImage(path.join(f.data, rec.image), cfg.image_size);
      const idT = new Tensor(Int32Array.from(ids), [1, ids.length]);
      const logits = noGrad(
        () => vlm.model.forward(new Tensor(img, [1, 3, cfg.image_size, cfg.image_size]), idT).logits,
      );
      const loss = crossEntropy(logits, textTargets(idT, cfg), { ignoreIndex: -100 }).item();
      nll += loss * (ids.length - 1);
      tokens += ids.length - 1;
    }
    assert.equal(r.tokens, tokens);
    assert.ok(Math.abs(r.loss - nll / tokens) < 1e-4, `${r.loss} vs ${nll / tokens}`);
    assert.ok(Math.abs(r.perplexity - Math.exp(nll / tokens)) / r.perplexity < 1e-4);
  } finally {
    f.cleanup();
  }
});

test('auto: offline measures of a model (objects, ROUGE, memorisation, grammar, perplexity)', async () => {
  const f = await fixture();
  const events: [string, number, number][] = [];
  try {
    const r = await runAuto({
      modelDir: f.modelDir,
      dataDir: f.data,
      split: 'test',
      kind: 'short',
      count: 4,
      seed: 0,
      pplSamples: 3,
      maxNewTokens: 10,
      onProgress: (stage, done, total) => events.push([stage, done, total]),
    });
    assert.equal(r.descriptions, 4);
    // The describe stage reports its start (0 done), so a progress bar's rate counts the first batch's time.
    assert.deepEqual(
      events.filter(([s]) => s === 'describe'),
      [
        ['describe', 0, 4],
        ['describe', 4, 4],
      ],
    );
    const m = r.measures;
    assert.equal(m.texts, 4);
    assert.equal(m.objects!.images, 4);
    assert.equal(m.objects!.present, 4);
    assert.ok(m.rouge && m.rouge.n === 4);
    assert.ok(m.memorization && m.memorization.texts === 4);
    assert.equal(m.consistency!.texts, 4);
    assert.ok(m.consistency!.share >= 0 && m.consistency!.share <= m.consistency!.selfShare);
    assert.ok(m.grammar && m.grammar.available);
    assert.ok(!('skipped' in r.perplexity) && r.perplexity.samples === 3 && r.perplexity.perplexity > 1);
    // the CLI prints the same as Markdown
    const quick = ['--ppl-samples', '-1', '--no-grammar', '--max-new-tokens', '4'];
    const { code, printed } = await evalPrinting('auto', f, quick);
    assert.equal(code, 0);
    const md = printed.join('\n');
    assert.match(md, /# Offline evaluation of .* \(tiny\)/);
    assert.match(md, /Perplexity: not measured \(not asked for\)/);
    assert.match(md, /\| nanovlm-tiny \| 2 \|/);
    assert.match(md, /\| consistent \|/);
    assert.match(md, /Consistent: share of texts free of self-contradiction/);
  } finally {
    f.cleanup();
  }
});
