import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkGrammar, linkParserStatus, parseLinkParserOutput, parserLine } from '../../src/eval/grammar.ts';

test('link-parser output is read per echoed sentence', () => {
  const sent = ['The dog runs.', 'Dog the runs.', 'is ball tree near ball.', 'A very long one.', 'Bye.'];
  const output = [
    'verbosity set to 1',
    'The dog runs.',
    'Found 3 linkages (3 had no P.P. violations)',
    '\tLinkage 1, cost vector = (UNUSED=0 DIS= 0.00 LEN=6)',
    'Dog the runs.',
    'No complete linkages found.',
    'is ball tree near ball.',
    'No complete linkages found.',
    'Found 10624 linkages (0 of 1000 random linkages had no P.P. violations)',
    'A very long one.',
    'Timer is expired!',
    'No complete linkages found.',
    'Bye.',
    'Found 2554 linkages (338 of 1000 random linkages had no P.P. violations)',
    'Bye.',
  ].join('\n');
  assert.deepEqual(parseLinkParserOutput(output, sent), [
    'accepted',
    'rejected',
    'rejected',
    'timeout',
    'accepted',
  ]);
  assert.deepEqual(
    parseLinkParserOutput('x\nFound 4 linkages (4 had no P.P. violations) at null count 1\n', ['x']),
    ['rejected'],
  );
  assert.throws(
    () => parseLinkParserOutput('The dog runs.\n', ['The dog runs.']),
    /no result for sentence 1/,
  );
  assert.equal(parserLine('!verbosity=5 the\ndog'), 'verbosity=5 the dog');
});

test('link-grammar accepts good sentences and rejects bad ones', async () => {
  const status = linkParserStatus();
  assert.ok(status.available, `link-parser must be installed for this test (${status.reason})`);
  const r = await checkGrammar([
    'The dog runs in the park.',
    'A red ball is on the green grass.',
    'The little cat sleeps under the big tree.',
    'Dog the park runs in the.',
    'The dogs is happy.',
    'Ball red the on.',
    // a leading "!" would be a parser command (batch mode would hide the results): it is dropped,
    // leaving the imperative "batch", and the sentences after it are still read
    '!batch',
    'The the dog.',
  ]);
  assert.ok(r.available);
  if (!r.available) return;
  assert.deepEqual(r.verdicts, [
    'accepted',
    'accepted',
    'accepted',
    'rejected',
    'rejected',
    'rejected',
    'accepted',
    'rejected',
  ]);
  assert.equal(r.sentences, 8);
  assert.equal(r.accepted, 4);
  assert.equal(r.acceptedShare, 0.5);
});

test('a missing parser is reported, not thrown', async () => {
  const r = await checkGrammar(['The dog runs.'], { bin: '/nonexistent/link-parser' });
  assert.equal(r.available, false);
  if (!r.available) assert.match(r.reason, /not installed/);
});

test('a parser that hangs is stopped with a clear error; unreadable output is reported', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nanovlm-lg-'));
  try {
    const hang = path.join(dir, 'hang.sh');
    writeFileSync(
      hang,
      '#!/bin/sh\nif [ "$1" = --version ]; then echo link-grammar-0.0.0; exit 0; fi\nexec sleep 30\n',
    );
    const garbage = path.join(dir, 'garbage.sh');
    writeFileSync(
      garbage,
      '#!/bin/sh\nif [ "$1" = --version ]; then echo link-grammar-0.0.0; exit 0; fi\ncat >/dev/null; echo nonsense\n',
    );
    chmodSync(hang, 0o755);
    chmodSync(garbage, 0o755);
    const t0 = performance.now();
    await assert.rejects(
      checkGrammar(['The dog runs.'], { bin: hang, totalTimeoutMs: 300 }),
      /link-parser did not finish 1 sentences within 0\.3 s \(it was stopped\)/,
    );
    assert.ok(performance.now() - t0 < 5000);
    await assert.rejects(checkGrammar(['The dog runs.'], { bin: garbage }), /no result for sentence 1 of 1/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
