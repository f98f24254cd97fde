import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { scalingChart, scalingMarkdown, type ScalingRow } from '../../src/eval/scaling-table.ts';
import { scaling } from '../../src/cli/scaling.ts';
import { UserError } from '../../src/util/errors.ts';
import { makeDataset } from '../train/fixture.ts';

const row = (over: Partial<ScalingRow>): ScalingRow => ({
  budget: 'samples',
  model: 'mini',
  text: 'short',
  params: 12_345_678,
  samples: 1000,
  steps: 125,
  trainSeconds: 90,
  test: { images: 10, recall: 0.5, precision: 0.625, countAccuracy: 0.75, consistency: 0.9 },
  ood: { images: 20, recall: 0.125, precision: 0.25, countAccuracy: 0.5, consistency: 0.8 },
  valPerplexity: 4.5,
  grammatical: 0.875,
  ...over,
});

test('scaling table: a section per budget, a row per run, missing measures as dashes; the chart is a PNG', () => {
  const rows = [
    row({}),
    row({
      model: 'base',
      text: 'long',
      test: { images: 10, recall: 0.75, precision: 0.5, countAccuracy: 0, consistency: 1 },
    }),
    row({ budget: 'minutes', trainSeconds: 300, ood: null, valPerplexity: null, grammatical: null }),
  ];
  const md = scalingMarkdown(rows, ['a note']);
  assert.match(md, /## Equal training samples \(1,000 each\)/);
  assert.match(md, /## Equal training time \(about 5 min each\)/);
  assert.match(
    md,
    /\| mini \| ShortDesc \| 12\.35 M \| 1000 \| 1\.5 \| 0\.500 \| 0\.625 \| 0\.750 \| 0\.125 \| 0\.250 \| 0\.500 \| 90\.0% \/ 80\.0% \| 4\.500 \| 87\.5% \|/,
  );
  assert.match(md, /\| base \| LongDesc \|.* \| 0\.750 \| 0\.500 \|/);
  assert.match(md, /\| mini \| ShortDesc \| .* \| – \| – \| – \| 90\.0% \/ – \| – \| – \|/);
  assert.match(md, /- a note/);
  const png = scalingChart(rows);
  assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
});

test('eval scaling on the tiny preset: four runs (two texts, two budgets), table files, finished runs reused', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'scaling-'));
  try {
    const data = await makeDataset(path.join(root, 'data'), { count: 40 });
    const out = path.join(root, 'scaling');
    const args = [
      '--data',
      data,
      '--out',
      out,
      '--models',
      'tiny',
      '--texts',
      'short,long',
      '--samples',
      '32',
      '--minutes',
      '0.01',
      '--eval-count',
      '3',
      '--ood-count',
      '4',
      '--ood-data',
      path.join(root, 'ood'),
      '--ppl-samples',
      '4',
      '--no-grammar',
      '--json',
    ];
    const log = console.log;
    const printed: string[] = [];
    console.log = (...a: unknown[]) => printed.push(a.join(' '));
    try {
      assert.equal(await scaling(args), 0);
      assert.equal(await scaling(args), 0);
    } finally {
      console.log = log;
    }
    const [first, second] = printed.map((l) => JSON.parse(l).rows as ScalingRow[]);
    assert.equal(first!.length, 4);
    assert.deepEqual(
      first!.map((r) => `${r.budget} ${r.text}`),
      ['samples short', 'samples long', 'minutes short', 'minutes long'],
    );
    for (const r of first!) {
      assert.equal(r.model, 'tiny');
      assert.ok(r.test.images > 0 && r.ood!.images === 4);
      assert.ok(r.valPerplexity! > 1 && r.params > 0 && r.grammatical === null);
      for (const v of [r.test.recall, r.test.precision, r.ood!.recall, r.test.consistency])
        assert.ok(v >= 0 && v <= 1);
    }
    assert.equal(first![0]!.samples, 32, 'equal samples: each run sees exactly --samples');
    // The second call trains nothing: the same checkpoints, the same rows.
    assert.deepEqual(second, first);
    for (const f of [
      'scaling.md',
      'scaling.png',
      'scaling.json',
      'tiny-short-32samples',
      'tiny-long-0.01min',
    ]) {
      assert.ok(existsSync(path.join(out, f)), f);
    }
    assert.match(readFileSync(path.join(out, 'scaling.md'), 'utf8'), /\| tiny \| LongDesc \|/);
    await assert.rejects(
      scaling(['--data', data, '--models', 'huge']),
      (e) => e instanceof UserError && e.exitCode === 2 && /unknown huge/.test(e.message),
    );
    await assert.rejects(scaling(['--data', path.join(root, 'none')]), /needs a dataset with its tokenizer/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
