import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../../src/model/generate.ts';
import { Tensor, noGrad } from '../../src/tensor/tensor.ts';
import type { NanoVLM } from '../../src/model/nanovlm.ts';
import { createModel } from '../../src/model/nanovlm.ts';
import { AdamW } from '../../src/nn/index.ts';
import { imageAt, randomIds, randomImages, tinyConfig, tinyModel } from './helpers.ts';

/** Logits of the next token after [image] [BOS] ids, computed by the plain forward pass (no cache). */
function fullForwardLogits(model: NanoVLM, image: Float32Array, ids: number[]): Float32Array {
  const S = model.config.image_size;
  return noGrad(() => {
    const img = model.encodeImages(new Tensor(image, [1, 3, S, S]));
    const logits = model.decoder.forward(
      img,
      Tensor.ids([model.config.bos_token_id, ...ids], [1, ids.length + 1]),
    );
    const V = model.config.vocab_size;
    return Float32Array.from(logits.f.subarray(ids.length * V));
  });
}

for (const imageTokens of ['cls', 'all'] as const) {
  test(`KV cache: logits equal the uncached forward at every step, batch with different prefixes (${imageTokens})`, async () => {
    const model = tinyModel({ image_tokens: imageTokens }, 3).eval();
    const images = randomImages(3, model.config.image_size, 5);
    const prefixes = [[], [7, 8, 9, 10], [11, 12]];
    const steps: Float32Array[][] = [[], [], []];
    const results = await generate(
      model,
      // Rows stop at different steps, so the cache is compacted under the remaining ones.
      prefixes.map((prefix, b) => ({
        image: imageAt(images, b),
        prefix,
        maxNewTokens: [3, 8, 5][b],
        temperature: 1,
        seed: b,
      })),
      { onLogits: (row, step, l) => (steps[row]![step] = Float32Array.from(l)), suppressTokens: [] },
    );
    let worst = 0;
    assert.deepEqual(
      results.map((r) => r.ids.length),
      [3, 8, 5],
    );
    results.forEach((r, b) => {
      steps[b]!.forEach((cached, k) => {
        const ref = fullForwardLogits(model, imageAt(images, b), [...prefixes[b]!, ...r.ids.slice(0, k)]);
        for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ref[i]! - cached[i]!));
      });
    });
    assert.ok(worst <= 1e-5, `max |cached - uncached| = ${worst}`);
  });
}

test('seeded sampling repeats; a row gives the same text alone or in a batch', async () => {
  const model = tinyModel({}, 4);
  const images = randomImages(2, model.config.image_size, 6);
  const run = (seed: number, b = 0) =>
    generate(model, [
      { image: imageAt(images, b), temperature: 1, topK: 20, topP: 0.95, maxNewTokens: 12, seed },
    ]);
  const [a] = await run(1);
  const [again] = await run(1);
  const [other] = await run(2);
  assert.deepEqual(a!.ids, again!.ids);
  assert.notDeepEqual(a!.ids, other!.ids);
  const batch = await generate(
    model,
    [0, 1].map((b) => ({
      image: imageAt(images, b),
      temperature: 1,
      topK: 20,
      topP: 0.95,
      maxNewTokens: 12,
      seed: 1,
    })),
  );
  assert.deepEqual(batch[0]!.ids, a!.ids);
  assert.deepEqual(batch[1]!.ids, (await run(1, 1))[0]!.ids);
});

test('stops at EOS: a model that always says EOS generates nothing; suppressing EOS runs to the limit', async () => {
  const model = tinyModel({}, 5);
  const cfg = model.config;
  const C = cfg.n_embd;
  // Final LayerNorm outputs a constant vector along EOS's embedding, so EOS has by far the largest logit.
  model.decoder.ln_f.weight.data.fill(0);
  const eos = model.decoder.wte.weight.f.subarray(cfg.eos_token_id * C, (cfg.eos_token_id + 1) * C);
  for (let c = 0; c < C; c++) model.decoder.ln_f.bias.data[c] = 1000 * eos[c]!;
  const image = imageAt(randomImages(1, cfg.image_size), 0);
  const tokens: number[] = [];
  const [r] = await generate(model, [
    { image, temperature: 0, maxNewTokens: 10, onToken: (id) => tokens.push(id) },
  ]);
  assert.deepEqual(r!.ids, []);
  assert.equal(r!.finishReason, 'stop');
  assert.deepEqual(tokens, []);
  const [s] = await generate(model, [{ image, temperature: 0, maxNewTokens: 10 }], {
    suppressTokens: [cfg.eos_token_id],
  });
  assert.equal(s!.ids.length, 10);
  assert.equal(s!.finishReason, 'length');
});

test('after overfitting, greedy decoding writes each image its text, stops at EOS, and completes prefixes', async () => {
  const model = createModel(tinyConfig(), { seed: 8 });
  const cfg = model.config;
  const images = randomImages(2, cfg.image_size, 10);
  const ids = randomIds(cfg, [9, 7], 9, 11);
  const opt = new AdamW(model.parameters(), { lr: 5e-3, weightDecay: 0 });
  for (let step = 0; step < 80; step++) {
    model.zeroGrad();
    const { loss } = model.forward(images, ids);
    loss.backward();
    opt.step();
  }
  const texts = [ids.toArray().slice(1, 8), ids.toArray().slice(10, 15)]; // without BOS and EOS
  const streamed: number[][] = [[], []];
  const out = await generate(
    model,
    [0, 1].map((b) => ({
      image: imageAt(images, b),
      temperature: 0,
      maxNewTokens: 20,
      onToken: (id: number) => streamed[b]!.push(id),
    })),
  );
  out.forEach((r, b) => {
    assert.deepEqual(r.ids, texts[b]);
    assert.equal(r.finishReason, 'stop');
    assert.deepEqual(streamed[b], texts[b]);
    assert.ok(r.msFirstToken > 0 && r.msFirstToken <= r.ms);
  });
  const [done] = await generate(model, [
    { image: imageAt(images, 0), prefix: texts[0]!.slice(0, 3), temperature: 0 },
  ]);
  assert.deepEqual(done!.ids, texts[0]!.slice(3));
});

test('aborting ends a row early with what it has; other rows go on', async () => {
  const model = tinyModel({}, 6);
  const images = randomImages(2, model.config.image_size, 12);
  const ctrl = new AbortController();
  const out = await generate(
    model,
    [
      {
        image: imageAt(images, 0),
        temperature: 1,
        seed: 1,
        maxNewTokens: 10,
        signal: ctrl.signal,
        onToken: (_, i) => i === 2 && ctrl.abort(),
      },
      { image: imageAt(images, 1), temperature: 1, seed: 1, maxNewTokens: 10 },
    ],
    { suppressTokens: [model.config.eos_token_id] },
  );
  assert.equal(out[0]!.finishReason, 'aborted');
  assert.equal(out[0]!.ids.length, 3);
  assert.equal(out[1]!.finishReason, 'length');
  assert.equal(out[1]!.ids.length, 10);
  const [pre] = await generate(model, [{ image: imageAt(images, 0), signal: AbortSignal.abort() }]);
  assert.deepEqual([pre!.finishReason, pre!.ids.length], ['aborted', 0]);
});

test('bad requests are refused with a reason', async () => {
  const model = tinyModel();
  const image = imageAt(randomImages(1, model.config.image_size), 0);
  await assert.rejects(
    generate(model, [{ image: new Float32Array(5) }]),
    /image should be float32 \[3, 32, 32\]/,
  );
  await assert.rejects(
    generate(model, [{ image, prefix: [999] }]),
    /prefix token 999 is not in the vocabulary/,
  );
  await assert.rejects(
    generate(model, [{ image, prefix: new Array(40).fill(5) }]),
    /the prompt is 40 tokens; at most 22 fit/,
  );
  await assert.rejects(generate(model, [{ image, temperature: -1 }]), /temperature must be >= 0/);
  await assert.rejects(generate(model, [{ image, topP: 0 }]), /topP must be in \(0, 1\]/);
});

test('a batch of short and long prompts each runs to its own room in max_text_len (the padding fits the cache)', async () => {
  const model = tinyModel({}, 6);
  const cfg = model.config;
  const images = randomImages(2, cfg.image_size);
  const long = Array.from({ length: 10 }, (_, i) => 4 + (i % (cfg.vocab_size - 4)));
  const results = await generate(
    model,
    [
      { image: imageAt(images, 0), prefix: [5], temperature: 0, maxNewTokens: 1000 },
      { image: imageAt(images, 1), prefix: long, temperature: 0, maxNewTokens: 1000 },
    ],
    { suppressTokens: [cfg.eos_token_id] },
  );
  // BOS + prefix + new tokens fill max_text_len, the last new token needing no position of its own.
  assert.equal(results[0]!.ids.length, cfg.max_text_len - 2 + 1);
  assert.equal(results[1]!.ids.length, cfg.max_text_len - 11 + 1);
  assert.ok(results.every((r) => r.finishReason === 'length'));
});
