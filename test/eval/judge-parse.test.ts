import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJudgeAnswer } from '../../src/eval/judge-parse.ts';
import { judgeMessages, NANOVLMS_PROMPT_3 } from '../../src/eval/judge-prompts.ts';

test('JSON answers: plain, fenced, nested, with strings like "7/10"', () => {
  const a = parseJudgeAnswer(
    '{"assessment": "Fine.", "grammar": 7, "creativity": 6, "consistency": 8, "meaningfulness": 7.5, "plot": 5, "age_group": "B"}',
  );
  assert.deepEqual(a.grades, { grammar: 7, creativity: 6, consistency: 8, meaningfulness: 7.5, plot: 5 });
  assert.equal(a.ageGroup, 'B');
  assert.equal(a.assessment, 'Fine.');
  assert.equal(a.from, 'json');
  const b = parseJudgeAnswer(
    'Here you go:\n```json\n{"Grades": {"Grammar": "8/10", "Creativity": "6 out of 10", "Consistency": 9, "Meaningfulness": 8, "Plot": 7}, "Age group": "C: 6-7"}\n```',
  );
  assert.deepEqual(b.grades, { grammar: 8, creativity: 6, consistency: 9, meaningfulness: 8, plot: 7 });
  assert.equal(b.ageGroup, 'C');
});

test('text answers are read as a fallback', () => {
  const t = parseJudgeAnswer(
    'The completion is mostly grammatical, though the grammar slips once.\n\n' +
      '**Grammar**: 7/10\nCreativity: 6/10\nConsistency - 8 out of 10\nMeaningfulness: 7\nPlot: 5/10\nAge group: B (4-5)',
  );
  assert.deepEqual(t.grades, { grammar: 7, creativity: 6, consistency: 8, meaningfulness: 7, plot: 5 });
  assert.equal(t.ageGroup, 'B');
  assert.equal(t.from, 'text');
  assert.match(t.assessment, /mostly grammatical/);
});

test('answers that cannot be used say why', () => {
  assert.throws(() => parseJudgeAnswer('I cannot grade this.'), /no grade for grammar, creativity/);
  assert.throws(
    () =>
      parseJudgeAnswer('{"grammar": 11, "creativity": 6, "consistency": 8, "meaningfulness": 7, "plot": 5}'),
    /grammar = 11 is outside 1-10/,
  );
  assert.throws(
    () =>
      parseJudgeAnswer('{"grammar": 0, "creativity": 6, "consistency": 8, "meaningfulness": 7, "plot": 5}'),
    /outside 1-10/,
  );
  assert.throws(
    () => parseJudgeAnswer('Grammar: 7/10, Creativity: 6/10'),
    /no grade for consistency, meaningfulness, plot/,
  );
  assert.throws(
    () =>
      parseJudgeAnswer(
        '{"grammar": 7, "creativity": 6, "consistency": 8, "meaningfulness": 7, "plot": 5, "age_group": "Z"}',
      ),
    /age group "Z"/,
  );
});

test('prompts: Prompt 3 verbatim for nanovlms, *** split for tinystories', () => {
  const [m] = judgeMessages('nanovlms', 'The brown dog wants to', ' catch the ball.');
  assert.equal(m!.role, 'user');
  const text = m!.content as string;
  assert.ok(text.startsWith(NANOVLMS_PROMPT_3));
  assert.match(text, /The text's beginning: The brown dog wants to\n/);
  assert.match(text, /The completed text: The brown dog wants to catch the ball\./);
  assert.match(text, /A: 3 or under\. B: 4-5\. C: 6-7\. D: 8-9\. E: 10-12\. F: 13-16\./);
  const ts = judgeMessages('tinystories', 'The brown dog wants to', ' catch the ball.')[0]!.content as string;
  assert.match(ts, /The brown dog wants to\*\*\* catch the ball\./);
  assert.ok(ts.indexOf('general assessment') < ts.indexOf('grade the student'));
});
