import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  countParams,
  countFlops,
  presetConfig,
  validateConfig,
  imageTokenCount,
} from '../../src/model/config.ts';
import { NanoVLM, createModel, textTargets, IGNORE_INDEX } from '../../src/model/nanovlm.ts';
import { AdamW } from '../../src/nn/index.ts';
import { Tensor } from '../../src/tensor/tensor.ts';
import { randomIds, randomImages, tinyConfig, tinyModel } from './helpers.ts';

test('presets land near the paper: ~5M / ~16M / ~25M and Table 2 shares', () => {
  const paper = {
    mini: { total: 5e6, shares: [69, 14, 17] },
    base: { total: 16e6, shares: [78, 8, 16] },
    large: { total: 25e6, shares: [73, 6, 21] },
  };
  for (const [name, want] of Object.entries(paper)) {
    const p = countParams(presetConfig(name));
    assert.ok(Math.abs(p.total - want.total) / want.total < 0.1, `${name}: ${p.total} parameters`);
    const shares = [p.vision, p.connector, p.decoder].map((n) => (100 * n) / p.total);
    shares.forEach((s, i) =>
      assert.ok(Math.abs(s - want.shares[i]!) <= 2.5, `${name} share ${i}: ${s.toFixed(1)}%`),
    );
  }
});

test('the accounting agrees with the instantiated models, per part', () => {
  for (const cfg of [
    tinyConfig(),
    tinyConfig({ image_tokens: 'all', tie_word_embeddings: false, connector_hidden: 0 }),
    presetConfig('mini'),
  ]) {
    const m = new NanoVLM(cfg);
    const want = countParams(cfg);
    assert.deepEqual(
      {
        vision: m.vision.parameterCount(),
        connector: m.connector.parameterCount(),
        decoder: m.decoder.parameterCount(),
      },
      { vision: want.vision, connector: want.connector, decoder: want.decoder },
    );
    assert.equal(m.parameterCount(), want.total);
  }
  const f = countFlops(presetConfig('mini'), 32);
  assert.equal(f.trainingPerSample, 3 * f.forward.total);
  assert.ok(f.forward.vision > f.forward.decoder, 'the 197-token ViT dominates mini');
});

test('parameter names follow the module tree', () => {
  const names = [...tinyModel().parameters().keys()];
  for (const n of [
    'vision.cls',
    'vision.pos',
    'vision.patch.conv1.weight',
    'vision.patch.conv2.bias',
    'vision.patch.norm.weight',
    'vision.patch.proj.weight',
    'vision.blocks.0.attn.qkv.weight',
    'vision.blocks.0.mlp.proj.bias',
    'vision.ln_f.weight',
    'connector.fc.weight',
    'connector.proj.weight',
    'decoder.wte.weight',
    'decoder.wpe.weight',
    'decoder.blocks.1.ln2.bias',
    'decoder.ln_f.bias',
  ]) {
    assert.ok(names.includes(n), `missing ${n}`);
  }
  assert.ok(!names.some((n) => n.includes('lm_head')), 'tied head has no weight of its own');
  assert.ok(
    new NanoVLM(tinyConfig({ tie_word_embeddings: false })).parameters().has('decoder.lm_head.weight'),
  );
});

test('forward: logits [B, L, vocab] for both image-token modes; loss near ln(vocab) at init', () => {
  for (const mode of ['cls', 'all'] as const) {
    const model = tinyModel({ image_tokens: mode });
    const cfg = model.config;
    const { logits, loss } = model.forward(randomImages(2, cfg.image_size), randomIds(cfg, [7, 4], 7));
    assert.deepEqual(logits.shape, [2, 7, cfg.vocab_size]);
    assert.deepEqual(model.encodeImages(randomImages(2, cfg.image_size)).shape, [
      2,
      imageTokenCount(cfg),
      cfg.n_embd,
    ]);
    assert.ok(Math.abs(loss.item() - Math.log(cfg.vocab_size)) < 0.2, `loss ${loss.item()}`);
  }
});

test('text targets: next token, EOS included, BOS, padding and the last column ignored', () => {
  const cfg = tinyConfig();
  const ids = randomIds(cfg, [5, 3], 6);
  const t = textTargets(ids, cfg).toArray();
  const I = IGNORE_INDEX;
  const d = ids.toArray();
  assert.deepEqual(t, [d[1], d[2], d[3], cfg.eos_token_id, I, I, d[7], cfg.eos_token_id, I, I, I, I]);
  // Explicit lengths give the same answer, and override the pad id.
  assert.deepEqual(textTargets(ids, cfg, [5, 3]).toArray(), t);
  assert.deepEqual(textTargets(ids, cfg, [2, 3]).toArray().slice(0, 6), [d[1], I, I, I, I, I]);
});

test('padding does not change the loss of the real tokens', () => {
  const model = tinyModel();
  const cfg = model.config;
  const images = randomImages(1, cfg.image_size);
  const short = randomIds(cfg, [6], 6);
  const padded = new Tensor(new Int32Array(10).fill(cfg.pad_token_id), [1, 10]);
  padded.data.set(short.data);
  const a = model.eval().forward(images, short).loss.item();
  const b = model.forward(images, padded).loss.item();
  assert.ok(Math.abs(a - b) < 1e-6, `${a} vs ${b}`);
});

test('every parameter gets a gradient, and the image matters to the loss', () => {
  const model = tinyModel({ dropout: 0.1 });
  const cfg = model.config;
  const ids = randomIds(cfg, [8, 5], 8);
  const { loss } = model.train().forward(randomImages(2, cfg.image_size), ids);
  loss.backward();
  for (const [name, p] of model.parameters()) {
    assert.ok(p.grad && p.grad.some((g) => g !== 0), `${name} has no gradient`);
  }
  model.eval();
  const l1 = model.forward(randomImages(2, cfg.image_size, 1), ids).loss.item();
  const l2 = model.forward(randomImages(2, cfg.image_size, 2), ids).loss.item();
  assert.notEqual(l1, l2);
});

test('dropout is active in train mode only', () => {
  const model = tinyModel({ dropout: 0.1 });
  const cfg = model.config;
  const images = randomImages(2, cfg.image_size);
  const ids = randomIds(cfg, [8, 5], 8);
  const e1 = model.eval().forward(images, ids).loss.item();
  const e2 = model.forward(images, ids).loss.item();
  assert.equal(e1, e2);
  const t1 = model.train().forward(images, ids).loss.item();
  const t2 = model.forward(images, ids).loss.item();
  assert.notEqual(t1, t2);
});

test('overfits one tiny batch: loss falls with AdamW', () => {
  const model = createModel(tinyConfig({ dropout: 0 }), { seed: 4 });
  const cfg = model.config;
  const images = randomImages(4, cfg.image_size, 9);
  const ids = randomIds(cfg, [10, 8, 6, 9], 10, 9);
  const opt = new AdamW(model.parameters(), { lr: 3e-3, weightDecay: 0 });
  const losses: number[] = [];
  for (let step = 0; step < 40; step++) {
    model.zeroGrad();
    const { loss } = model.forward(images, ids);
    loss.backward();
    opt.step();
    losses.push(loss.item());
  }
  assert.ok(losses[39]! < 0.3 * losses[0]!, `loss ${losses[0]} -> ${losses[39]}`);
});

test('config validation names the key', () => {
  const good = presetConfig('mini');
  assert.throws(
    () => validateConfig({ ...good, n_embd: 100 }, 'x.json'),
    /x\.json: "n_embd" 100 is not divisible by "n_head" 8/,
  );
  assert.throws(
    () => validateConfig({ ...good, image_tokens: 'some' }, 'x.json'),
    /"image_tokens" must be "cls" or "all"/,
  );
  assert.throws(() => validateConfig({ ...good, bogus: 1 }, 'x.json'), /unknown key "bogus"/);
  assert.throws(
    () => validateConfig({ ...good, n_layer: 2.5 }, 'x.json'),
    /"n_layer" must be a non-negative integer/,
  );
  const { vocab_size: _, ...missing } = good;
  assert.throws(() => validateConfig(missing, 'x.json'), /"vocab_size" is missing/);
  assert.throws(() => validateConfig({ ...good, image_size: 100 }), /not a multiple of "patch_size"/);
  assert.throws(() => presetConfig('huge'), /unknown model preset "huge"/);
});
