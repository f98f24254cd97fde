import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../../src/model/generate.ts';
import { Tensor, noGrad } from '../../src/tensor/tensor.ts';
import type { NanoVLM } from '../../src/model/nanovlm.ts';
import { imageAt, randomImages, tinyModel } from './helpers.ts';

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
