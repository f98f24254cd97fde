import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Tensor, noGrad } from '../../src/tensor/tensor.ts';
import { withBackend } from '../../src/tensor/backends/index.ts';
import { UserError } from '../../src/util/errors.ts';
import { Rng } from '../../src/util/rng.ts';
import {
  Block,
  Conv2d,
  Embedding,
  LayerNorm,
  Linear,
  MultiHeadAttention,
  initWeights,
  readSafetensors,
  writeSafetensors,
} from '../../src/nn/index.ts';
import { TinyGpt } from '../../tools/fixtures/tiny-gpt.ts';

const tmp = mkdtempSync(path.join(tmpdir(), 'nanovlm-nn-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const cfg = { vocab: 11, dim: 8, heads: 2, layers: 2, maxLen: 5, tied: false };

test('a Block names its parameters in a stable, PyTorch-like order', () => {
  const names = [...new Block(8, 2).parameters().keys()];
  assert.deepEqual(names, [
    'ln1.weight',
    'ln1.bias',
    'attn.qkv.weight',
    'attn.qkv.bias',
    'attn.proj.weight',
    'attn.proj.bias',
    'ln2.weight',
    'ln2.bias',
    'mlp.fc.weight',
    'mlp.fc.bias',
    'mlp.proj.weight',
    'mlp.proj.bias',
  ]);
  const model = new TinyGpt(cfg);
  const all = [...model.parameters().keys()];
  assert.deepEqual(all.slice(0, 2), ['pos', 'tok.weight'], "a module's own parameters come first");
  assert.ok(all.includes('blocks.1.attn.qkv.weight'));
  assert.ok(all.includes('blocks.0.mlp.proj.bias'));
  assert.deepEqual(all.slice(-3), ['ln_f.weight', 'ln_f.bias', 'head.weight']);
  assert.deepEqual([...new TinyGpt(cfg).parameters().keys()], all, 'same names for a second instance');
  assert.deepEqual(model.parameters().get('blocks.1.attn.qkv.weight')!.shape, [24, 8]);
  assert.ok([...model.namedModules().keys()].includes('blocks.1.mlp.fc'));
});

test('parameterCount matches a hand count', () => {
  const d = 8;
  // Per block: two LayerNorms (2d each), qkv (3d·d + 3d), proj (d·d + d), fc (4d·d + 4d), proj (4d·d + d).
  const perBlock = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d);
  assert.equal(perBlock, 12 * d * d + 13 * d);
  assert.equal(new Block(d, 2).parameterCount(), perBlock);
  const untied = 11 * d + 5 * d + 2 * perBlock + 2 * d + 11 * d;
  assert.equal(new TinyGpt(cfg).parameterCount(), untied);
  assert.equal(new TinyGpt({ ...cfg, tied: true }).parameterCount(), untied - 11 * d);
  assert.equal(new Linear(3, 4, { bias: false }).parameterCount(), 12);
  assert.equal(new Conv2d(3, 5, [2, 3], { stride: 2 }).parameterCount(), 5 * 3 * 2 * 3 + 5);
  assert.equal(new Embedding(7, 3).parameterCount(), 21);
  assert.throws(() => new MultiHeadAttention(10, 3), /not divisible/);
});

test('train() and eval() reach every submodule', () => {
  const model = new TinyGpt(cfg);
  model.eval();
  assert.ok([...model.namedModules().values()].every((m) => !m.training));
  model.train();
  assert.ok(model.blocks.items[1]!.attn.drop.training);
});

test('fan-in init: linear weights at std 1/sqrt(in), embeddings keep std, residual scaling still applies', () => {
  const m = new TinyGpt({ ...cfg, dim: 64, heads: 4 });
  initWeights(m, new Rng(3), { residualLayers: 2, fanIn: true });
  const p = m.parameters();
  const std = (t: Tensor) => Math.sqrt(t.toArray().reduce((s, x) => s + x * x, 0) / t.size);
  assert.ok(Math.abs(std(p.get('blocks.0.mlp.fc.weight')!) - 1 / 8) < 0.006, 'fc: fan-in 64');
  assert.ok(
    Math.abs(std(p.get('blocks.0.mlp.proj.weight')!) - 1 / 16 / 2) < 0.003,
    'proj: fan-in 256, / sqrt(4)',
  );
  assert.ok(Math.abs(std(p.get('tok.weight')!) - 0.02) < 0.004, 'embedding keeps 0.02');
  const conv = new Conv2d(3, 16, 3);
  initWeights(conv, new Rng(4), { fanIn: true });
  assert.ok(Math.abs(std(conv.weight) - 1 / Math.sqrt(27)) < 0.03, 'conv: fan-in 3·3·3');
});

test('seeded init: same seed same weights, GPT-2 statistics, scaled residual projections', () => {
  const a = new TinyGpt({ ...cfg, dim: 32, heads: 4 });
  const b = new TinyGpt({ ...cfg, dim: 32, heads: 4 });
  initWeights(a, new Rng(7), { residualLayers: 2 });
  initWeights(b, new Rng(7), { residualLayers: 2 });
  for (const [name, p] of a.parameters()) assert.deepEqual(p.data, b.parameters().get(name)!.data, name);
  const p = a.parameters();
  const std = (t: Tensor) => Math.sqrt(t.toArray().reduce((s, x) => s + x * x, 0) / t.size);
  assert.ok(Math.abs(std(p.get('blocks.0.mlp.fc.weight')!) - 0.02) < 0.002);
  assert.ok(Math.abs(std(p.get('tok.weight')!) - 0.02) < 0.004);
  assert.ok(Math.abs(std(p.get('blocks.0.mlp.proj.weight')!) - 0.01) < 0.001, 'scaled by 1/sqrt(2·2)');
  assert.ok(Math.abs(std(p.get('blocks.1.attn.proj.weight')!) - 0.01) < 0.002);
  assert.ok(
    p
      .get('blocks.0.attn.qkv.bias')!
      .toArray()
      .every((x) => x === 0),
  );
  assert.ok(
    p
      .get('ln_f.weight')!
      .toArray()
      .every((x) => x === 1),
  );
  assert.ok(
    p
      .get('ln_f.bias')!
      .toArray()
      .every((x) => x === 0),
  );
  initWeights(b, new Rng(8));
  assert.notDeepEqual(p.get('head.weight')!.data, b.parameters().get('head.weight')!.data);
});

test('state dict round trip through safetensors reproduces the model exactly', async () => {
  const a = new TinyGpt(cfg);
  initWeights(a, new Rng(1));
  const file = path.join(tmp, 'model.safetensors');
  await writeSafetensors(file, a.stateDict(), { format: 'pt' });
  const b = new TinyGpt(cfg);
  initWeights(b, new Rng(2));
  const qkvBefore = b.blocks.items[0]!.attn.qkv.weight;
  const { tensors, metadata } = readSafetensors(file);
  assert.equal(metadata.format, 'pt');
  assert.deepEqual(b.loadStateDict(tensors), { missing: [], unexpected: [] });
  assert.equal(b.blocks.items[0]!.attn.qkv.weight, qkvBefore, 'parameters keep their identity');
  const ids = Tensor.ids([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [2, 5]);
  withBackend('ts', () =>
    noGrad(() => assert.deepEqual(a.forward(ids).data, b.forward(ids).data, 'same outputs after loading')),
  );
});

test('loadStateDict names the tensor for missing, unexpected and wrong-shape entries', () => {
  const model = new TinyGpt(cfg);
  const full = model.stateDict();
  const without = new Map(full);
  without.delete('blocks.1.ln2.bias');
  const err = (fn: () => unknown, re: RegExp) =>
    assert.throws(
      fn,
      (e: unknown) => e instanceof UserError && re.test(e.message) && e.message.startsWith('ckpt.st'),
    );
  err(() => model.loadStateDict(without, { source: 'ckpt.st' }), /missing 1 tensor.*blocks\.1\.ln2\.bias/);
  const extra = new Map(full).set('blocks.2.ln1.weight', Tensor.zeros([8]));
  err(() => model.loadStateDict(extra, { source: 'ckpt.st' }), /does not have: blocks\.2\.ln1\.weight/);
  const wrong = new Map(full).set('blocks.0.attn.qkv.weight', Tensor.zeros([8, 24]));
  err(
    () => model.loadStateDict(wrong, { source: 'ckpt.st' }),
    /"blocks\.0\.attn\.qkv\.weight" has shape \[8, 24\], the model expects \[24, 8\]/,
  );
  const ints = new Map(full).set('pos', Tensor.zeros([5, 8], 'int32'));
  err(() => model.loadStateDict(ints, { source: 'ckpt.st' }), /"pos" is int32/);

  // Non-strict: loads what matches, reports the rest; a bad entry leaves the model untouched.
  const fresh = new TinyGpt(cfg);
  const pos = Tensor.full([5, 8], 0.5);
  const r = fresh.loadStateDict({ pos, other: Tensor.zeros([1]) }, { strict: false });
  assert.deepEqual(r.unexpected, ['other']);
  assert.equal(r.missing.length, fresh.parameters().size - 1);
  assert.ok(fresh.pos.toArray().every((x) => x === 0.5));
  assert.throws(
    () =>
      fresh.loadStateDict(
        { pos: Tensor.full([5, 8], 2), ln_f: Tensor.zeros([3]), 'ln_f.bias': Tensor.zeros([3]) },
        { strict: false },
      ),
    /ln_f\.bias/,
  );
  assert.ok(
    fresh.pos.toArray().every((x) => x === 0.5),
    'nothing copied when a shape is wrong',
  );
});

test('tied weights are one parameter under one name', () => {
  const tied = new TinyGpt({ ...cfg, tied: true });
  assert.ok(!tied.parameters().has('head.weight'));
  const shared = new Linear(4, 4);
  class Twice extends Linear {
    constructor() {
      super(4, 4);
      this.child('again', shared);
      this.child('again2', shared);
    }
  }
  assert.deepEqual([...new Twice().parameters().keys()], ['weight', 'bias', 'again.weight', 'again.bias']);
  assert.equal(new LayerNorm(6).parameterCount(), 12);
});

test('layers pass their options to the ops: conv stride/padding, attention key mask and causality', () =>
  withBackend('ts', () =>
    noGrad(() => {
      const conv = new Conv2d(3, 4, 3, { stride: 2, padding: 1 });
      initWeights(conv, new Rng(1));
      assert.deepEqual(conv.forward(Tensor.randn([2, 3, 8, 8], new Rng(2))).shape, [2, 4, 4, 4]);

      // Changing a hidden (masked) key, or a later key under causality, leaves the other outputs unchanged.
      const x = Tensor.randn([1, 4, 8], new Rng(3));
      const x2 = Tensor.from(x.data, [1, 4, 8]);
      for (let c = 0; c < 8; c++) x2.data[2 * 8 + c]! += 1;
      const rows = (t: Tensor, r: number[]) =>
        r.flatMap((i) => Array.from(t.data.subarray(i * 8, i * 8 + 8)));
      const full = new MultiHeadAttention(8, 2);
      initWeights(full, new Rng(4));
      const mask = Uint8Array.from([1, 1, 0, 1]);
      assert.deepEqual(rows(full.forward(x, mask), [0, 1, 3]), rows(full.forward(x2, mask), [0, 1, 3]));
      assert.notDeepEqual(
        rows(full.forward(x), [0]),
        rows(full.forward(x2), [0]),
        'unmasked, the key matters',
      );
      const causal = new MultiHeadAttention(8, 2, { causal: true });
      initWeights(causal, new Rng(4));
      assert.deepEqual(rows(causal.forward(x), [0, 1]), rows(causal.forward(x2), [0, 1]));
      assert.notDeepEqual(rows(causal.forward(x), [3]), rows(causal.forward(x2), [3]));
    }),
  ));
