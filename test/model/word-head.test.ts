import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor } from '../../src/tensor/tensor.ts';
import { takeRows } from '../../src/tensor/ops/index.ts';
import { wordBags } from '../../src/model/word-head.ts';
import { countParams, validateConfig } from '../../src/model/config.ts';
import { createModel } from '../../src/model/nanovlm.ts';
import { tinyConfig } from './helpers.ts';

test('word bags: the distinct text tokens of each row, without BOS, EOS and padding', () => {
  const cfg = tinyConfig(); // bos 0, eos 1, pad 2
  const ids = new Tensor(Int32Array.from([0, 5, 6, 5, 1, 2, 0, 7, 1, 2, 2, 2]), [2, 6]);
  const { rows, words } = wordBags(ids, cfg);
  assert.deepEqual([...rows], [0, 0, 1]);
  assert.deepEqual([...words], [5, 6, 7]);
  const cut = wordBags(ids, cfg, [2, 6]); // row 0 holds only BOS and its first word
  assert.deepEqual([...cut.words], [5, 7]);
});

test('takeRows refuses a row outside the tensor', () => {
  assert.throws(() => takeRows(Tensor.zeros([2, 3]), Int32Array.from([0, 2])), /row 2 is outside \[0, 2\)/);
});

test('the word head: counted, trained from the bag of words, absent from old config files', () => {
  const cfg = { ...tinyConfig(), word_head: true };
  const model = createModel(cfg, { seed: 3 });
  const p = countParams(cfg);
  assert.equal(p.wordHead, cfg.img_embd_dim * cfg.vocab_size + cfg.vocab_size);
  assert.equal(model.parameterCount(), p.total);
  const S = cfg.image_size;
  const images = Tensor.zeros([2, 3, S, S]);
  for (let i = 0; i < images.size; i++) images.data[i] = Math.sin(i * 0.37);
  const ids = new Tensor(Int32Array.from([0, 5, 6, 1, 0, 7, 1, 2]), [2, 4]);
  const { wordLoss } = model.forward(images, ids);
  assert.ok(wordLoss && wordLoss.item() > 0, 'a positive bag-of-words loss');
  wordLoss.backward();
  const g = model.wordHead!.proj.weight.grad!;
  assert.ok(
    g.some((x) => x !== 0),
    'the head receives a gradient',
  );
  assert.ok(
    model.vision.patch.proj.weight.grad!.some((x) => x !== 0),
    'and so does the encoder',
  );

  const { word_head: _, ...old } = cfg;
  assert.equal(validateConfig(old).word_head, false);
  assert.equal(createModel(tinyConfig(), { seed: 3 }).wordHead, null);
});
