import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyRepetitionPenalty,
  argmax,
  drawFrom,
  sampleToken,
  samplingDistribution,
} from '../../src/model/sampling.ts';
import { Rng } from '../../src/util/rng.ts';

const P = [0.5, 0.2, 0.15, 0.1, 0.05];
const logits = Float32Array.from(P, Math.log);

function close(actual: ArrayLike<number>, expected: number[], tol = 1e-6): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++)
    assert.ok(Math.abs(actual[i]! - expected[i]!) < tol, `[${i}] ${actual[i]} vs ${expected[i]}`);
}

test('softmax with temperature: p^(1/T) renormalised', () => {
  close(samplingDistribution(logits), P);
  const sq = P.map(Math.sqrt);
  const z = sq.reduce((a, b) => a + b);
  close(
    samplingDistribution(logits, { temperature: 2 }),
    sq.map((x) => x / z),
  );
});

test('top-k keeps the k most likely tokens', () => {
  close(samplingDistribution(logits, { topK: 2 }), [0.5 / 0.7, 0.2 / 0.7, 0, 0, 0]);
  close(samplingDistribution(logits, { topK: 1 }), [1, 0, 0, 0, 0]);
  close(samplingDistribution(logits, { topK: 10 }), P);
});

test('top-p keeps the smallest most likely set reaching p', () => {
  close(samplingDistribution(logits, { topP: 0.8 }), [0.5 / 0.85, 0.2 / 0.85, 0.15 / 0.85, 0, 0]);
  close(samplingDistribution(logits, { topP: 0.69 }), [0.5 / 0.7, 0.2 / 0.7, 0, 0, 0]);
  close(samplingDistribution(logits, { topP: 0.3 }), [1, 0, 0, 0, 0]);
  // top-k first, then top-p within what is left: 0.5/0.85 < 0.6 <= (0.5+0.2)/0.85.
  close(samplingDistribution(logits, { topK: 3, topP: 0.6 }), [0.5 / 0.7, 0.2 / 0.7, 0, 0, 0]);
});

test('repetition penalty divides positive logits and multiplies negative ones', () => {
  const l = Float32Array.from([2, -1, 3]);
  applyRepetitionPenalty(l, [0, 1], 2);
  assert.deepEqual([...l], [1, -2, 3]);
});

test('greedy is argmax; suppressed tokens are never chosen', () => {
  const rng = new Rng(1);
  assert.equal(sampleToken(logits, { temperature: 0 }, rng), 0);
  assert.equal(sampleToken(logits, { temperature: 0 }, rng, [], [0]), 1);
  assert.equal(sampleToken(logits, { temperature: 0, repetitionPenalty: 10 }, rng, [0]), 1);
  assert.equal(argmax([1, 3, 3, 2]), 1);
  for (let i = 0; i < 200; i++) assert.notEqual(sampleToken(logits, { temperature: 1 }, rng, [], [0, 1]), 0);
});

test('draws follow the distribution, never outside its support, and repeat with the seed', () => {
  const probs = samplingDistribution(logits, { topK: 3 });
  const counts = [0, 0, 0, 0, 0];
  const rng = new Rng(42);
  const n = 20000;
  for (let i = 0; i < n; i++) counts[drawFrom(probs, rng)]!++;
  assert.equal(counts[3], 0);
  assert.equal(counts[4], 0);
  counts.forEach((c, i) =>
    assert.ok(Math.abs(c / n - probs[i]!) < 0.015, `token ${i}: ${c / n} vs ${probs[i]}`),
  );
  const seq = (seed: number) => {
    const r = new Rng(seed);
    return Array.from({ length: 20 }, () => sampleToken(logits, { temperature: 1 }, r));
  };
  assert.deepEqual(seq(5), seq(5));
  assert.notDeepEqual(seq(5), seq(6));
});
