import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, noGrad } from '../../src/tensor/tensor.ts';
import { withBackend } from '../../src/tensor/backends/index.ts';
import { Dropout, getDropoutState, seedDropout, setDropoutState } from '../../src/nn/index.ts';

const ones = () => Tensor.full([4, 250], 1);
const draw = (d: Dropout) => withBackend('ts', () => noGrad(() => d.forward(ones()).toArray()));

test('restoring the dropout RNG state reproduces the exact masks', () => {
  const d = new Dropout(0.25);
  seedDropout(123);
  draw(d);
  const saved = getDropoutState();
  const expected = [draw(d), draw(d), draw(d)];
  assert.notDeepEqual(expected[0], expected[1], 'each call draws a new mask');
  draw(d);
  setDropoutState(saved);
  assert.deepEqual([draw(d), draw(d), draw(d)], expected);
  seedDropout(123);
  const first = draw(d);
  seedDropout(124);
  assert.notDeepEqual(draw(d), first, 'another seed, another mask');
  assert.throws(() => setDropoutState([1, 2, 3]), /four uint32/);
});

test('dropout keeps about 1-p of the elements, scaled by 1/(1-p); identity in eval mode and for p = 0', () => {
  const d = new Dropout(0.25);
  seedDropout(1);
  const y = draw(d);
  const kept = y.filter((x) => x !== 0);
  assert.ok(Math.abs(kept.length / y.length - 0.75) < 0.05, `kept ${kept.length}/${y.length}`);
  assert.ok(kept.every((x) => Math.abs(x - 1 / 0.75) < 1e-6));
  const x = ones();
  d.eval();
  assert.equal(d.forward(x), x);
  assert.equal(new Dropout(0).forward(x), x);
  assert.throws(() => new Dropout(1), /p must be in \[0, 1\)/);
});
