import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  buildReport,
  reportMarkdown,
  writeReport,
  stat,
  referenceAfterPrefix,
} from '../../src/eval/report.ts';

const base = {
  image: 'images/x.png',
  reference: 'The brown dog wants to catch the red ball.',
  prefix: 'The brown dog wants to',
  judge_model: 'gpt-4o',
  judge_protocol: 'nanovlms',
  prompt_version: 'nanovlms-p3-v1',
};
const g = (
  grammar: number,
  creativity: number,
  consistency: number,
  meaningfulness: number,
  plot: number,
) => ({ grammar, creativity, consistency, meaningfulness, plot });

const FILE_A = [
  {
    ...base,
    id: '1',
    system: 'nanovlm-mini',
    completion: ' catch the red ball.',
    grades: g(6, 5, 8, 7, 4),
    age_group: 'B',
    objects: { dog: 1, ball: 1 },
  },
  {
    ...base,
    id: '2',
    system: 'nanovlm-mini',
    completion: ' play with two cats.',
    grades: g(8, 7, 6, 7, 6),
    age_group: 'A',
    objects: { dog: 1, ball: 1 },
  },
  {
    ...base,
    id: '3',
    system: 'nanovlm-mini',
    completion: ' run.',
    error: 'unreadable answer after 3 tries: no grade for plot',
  },
];
const FILE_B = [
  {
    ...base,
    id: '1',
    system: 'blip-base',
    completion: 'a dog with a ball',
    grades: g(3, 2, 4, 4, 1),
    age_group: 'A',
  },
  {
    ...base,
    id: '2',
    system: 'blip-base',
    completion: 'a dog on the grass',
    grades: g(4, 2, 5, 5, 2),
    age_group: null,
  },
  { ...base, id: '3', system: 'blip-base', completion: 'a dog', grades: g(5, 2, 6, 6, 3), age_group: 'A' },
  // the same completion again (graded twice): counted once, the later line wins
  { ...base, id: '3', system: 'blip-base', completion: 'a dog', grades: g(5, 2, 6, 6, 3), age_group: 'A' },
];

function files() {
  const dir = mkdtempSync(path.join(tmpdir(), 'nanovlm-report-'));
  const a = path.join(dir, 'graded-mini.jsonl');
  const b = path.join(dir, 'graded-blip.jsonl');
  writeFileSync(a, FILE_A.map((l) => JSON.stringify(l)).join('\n') + '\n');
  writeFileSync(b, FILE_B.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return { dir, a, b, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('mean and sample std', () => {
  assert.deepEqual(stat([6, 8]), { mean: 7, std: Math.SQRT2, n: 2 });
  assert.deepEqual(stat([5]), { mean: 5, std: 0, n: 1 });
  assert.ok(Number.isNaN(stat([]).mean));
  assert.equal(referenceAfterPrefix('The brown dog', 'The brown dog runs.'), 'runs.');
  assert.equal(referenceAfterPrefix('Other start', 'The brown dog runs.'), 'The brown dog runs.');
});

test('report numbers from hand-made graded files', async () => {
  const f = files();
  try {
    const r = await buildReport([f.a, f.b], { grammar: false });
    assert.equal(r.duplicates, 1);
    assert.deepEqual(
      r.systems.map((s) => s.system),
      ['blip-base', 'nanovlm-mini'],
    );
    const [blip, mini] = r.systems as [(typeof r.systems)[0], (typeof r.systems)[0]];
    assert.equal(mini.lines, 3);
    assert.equal(mini.graded, 2);
    assert.equal(mini.failed, 1);
    assert.deepEqual(mini.grades!.grammar, { mean: 7, std: Math.SQRT2, n: 2 });
    assert.deepEqual(mini.grades!.consistency, { mean: 7, std: Math.SQRT2, n: 2 });
    assert.equal(mini.grades!.plot.mean, 5);
    assert.ok(Math.abs(mini.average! - (7 + 6 + 7 + 7 + 5) / 5) < 1e-12);
    assert.equal(mini.ageGroups.A, 1);
    assert.equal(mini.ageGroups.B, 1);
    assert.equal(blip.graded, 3);
    assert.equal(blip.failed, 0);
    assert.deepEqual(blip.grades!.grammar, { mean: 4, std: 1, n: 3 });
    assert.equal(blip.ageGroups.A, 2);
    assert.equal(blip.ageGroups.unknown, 1);
    // no-LLM measures: ROUGE-1 of " catch the red ball." against "catch the red ball." is 1
    const m = mini.measures!;
    assert.equal(m.texts, 3);
    assert.ok(m.rouge!.rouge1 > 0.33 && m.rouge!.rouge1 < 1);
    // objects (whole text, prefix included): line 1 names dog + ball (both there); line 2 names the
    // dog (there) and "two cats" (not there)
    assert.equal(m.objects!.images, 2);
    assert.equal(m.objects!.present, 4);
    assert.equal(m.objects!.named, 4);
    assert.equal(m.objects!.truePositives, 3);
    assert.equal(m.objects!.recall, 0.75);
    assert.equal(blip.measures!.objects, undefined);
    // distinct-1 of blip: a dog with a ball / a dog on the grass / a dog: 12 words, 7 distinct
    assert.ok(Math.abs(blip.measures!.distinct1 - 7 / 12) < 1e-12);
    const md = reportMarkdown(r);
    assert.match(
      md,
      /\| nanovlm-mini \| 2 \| 7\.00 ± 1\.41 \| 6\.00 ± 1\.41 \| 7\.00 ± 1\.41 \| 7\.00 ± 0\.00 \| 5\.00 ± 1\.41 \| 6\.40 \| 1 \| gpt-4o/,
    );
    assert.match(md, /\| blip-base \| 3 \| 4\.00 ± 1\.00 \|/);
    assert.match(md, /\| blip-base \| 66\.7% \| 0\.0% \|/);
  } finally {
    f.cleanup();
  }
});

test('report files: Markdown, JSON and a PNG bar chart; grammar measured with link-grammar', async () => {
  const f = files();
  try {
    const r = await buildReport([f.a, f.b]);
    const out = path.join(f.dir, 'report');
    const written = await writeReport(r, out);
    assert.deepEqual(
      written.map((w) => path.basename(w)),
      ['report.md', 'report.json', 'grades.png'],
    );
    const png = readFileSync(path.join(out, 'grades.png'));
    assert.deepEqual([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG');
    const json = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
    assert.equal(json.systems[1].grades.grammar.mean, 7);
    const gram = json.systems[1].measures.grammar;
    assert.equal(gram.available, true);
    // "The brown dog wants to catch the red ball." parses; "The brown dog wants to run." too
    assert.equal(gram.sentences, 3);
    assert.ok(gram.accepted >= 2);
    assert.match(readFileSync(path.join(out, 'report.md'), 'utf8'), /link-grammar/);
  } finally {
    f.cleanup();
  }
});

test('a missing parser is named in the report instead of failing', async () => {
  const f = files();
  try {
    const r = await buildReport([f.b], { grammarOptions: { bin: '/nonexistent/link-parser' } });
    assert.equal(r.grammarParser.available, false);
    assert.match(reportMarkdown(r), /Grammatical: not measured, \/nonexistent\/link-parser is not installed/);
    // a parser that runs but prints nonsense costs the grammar column only
    const garbage = path.join(f.dir, 'garbage.sh');
    writeFileSync(
      garbage,
      '#!/bin/sh\nif [ "$1" = --version ]; then echo link-grammar-0.0.0; exit 0; fi\ncat >/dev/null; echo nonsense\n',
    );
    chmodSync(garbage, 0o755);
    const broken = await buildReport([f.b], { grammarOptions: { bin: garbage } });
    assert.equal(broken.systems[0]!.grades!.grammar.mean, 4);
    assert.match(
      reportMarkdown(broken),
      /Grammatical, blip-base: not measured, link-parser: no result for sentence 1/,
    );
    writeFileSync(f.b, JSON.stringify({ ...FILE_B[0], grades: { ...FILE_B[0]!.grades, plot: 12 } }) + '\n');
    await assert.rejects(
      buildReport([f.b]),
      /graded-blip\.jsonl line 1: grades\.plot must be a number from 1 to 10/,
    );
  } finally {
    f.cleanup();
  }
});
