import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIN_RATE_SECONDS, Progress, type ProgressOptions } from '../../src/util/progress.ts';

/** A Progress writing to a string, on a clock the test moves. */
function bar(opts: Partial<ProgressOptions> & { total: number }, isTTY = false) {
  const written: string[] = [];
  let now = 1000;
  const stream = { isTTY, columns: 200, write: (s: string) => written.push(s) };
  const progress = new Progress({
    ...opts,
    stream: stream as unknown as NodeJS.WriteStream,
    clock: () => now,
  });
  return {
    progress,
    advance: (seconds: number) => (now += seconds * 1000),
    lines: () =>
      written
        .join('')
        .split(/[\r\n]/)
        .filter(Boolean),
  };
}

test('no rate over a near-zero interval: 8 texts done at once are "8/8", not "84202 texts/s"', () => {
  const b = bar({ total: 8, label: 'describe', unit: 'texts' });
  b.advance(0.0001);
  b.progress.update(8);
  b.progress.finish();
  assert.deepEqual(b.lines(), ['describe 8/8']);
});

test('once a meaningful interval has passed: the rate since the start and the ETA from it', () => {
  const b = bar({ total: 10, label: 'scenes', unit: 'img', plainEvery: 0 });
  b.advance(MIN_RATE_SECONDS / 2);
  b.progress.update(1);
  b.advance(2 - MIN_RATE_SECONDS / 2);
  b.progress.update(4);
  b.advance(3);
  b.progress.update(10);
  assert.deepEqual(b.lines(), ['scenes 1/10', 'scenes 4/10 2.00 img/s ETA 0:03', 'scenes 10/10 2.00 img/s']);
});

test('finish keeps the last fields, is not repeated when the last line said it, and is the run average', () => {
  const b = bar({ total: 3, label: 'train', unit: 'step' });
  b.advance(1.5);
  b.progress.update(3, { loss: '1.234', 'samples/s': '42.0' });
  b.progress.finish();
  assert.deepEqual(b.lines(), ['train 3/3 2.00 step/s | loss 1.234 | samples/s 42.0']);

  // Stopped early, between plain lines (every 10 s): finish writes the state it ended in.
  const early = bar({ total: 100, label: 'train', unit: 'step' });
  early.advance(4);
  early.progress.update(20, { loss: '2.000' });
  early.progress.finish({ stopped: 'signal' });
  assert.deepEqual(early.lines(), ['train 20/100 5.00 step/s ETA 0:16 | loss 2.000 | stopped signal']);

  // On a terminal the last line is redrawn with its fields (not cleared to a bare count).
  const tty = bar({ total: 2, label: 'train', unit: 'step' }, true);
  tty.advance(2);
  tty.progress.update(2, { loss: '0.500' });
  tty.progress.finish();
  const last = tty.lines().at(-1)!;
  assert.match(last, /2\/2 1\.00 step\/s \| loss 0\.500$/);
});

test('nothing to do, nothing written ("train 0/0 0.00 step/s ETA --:--" before)', () => {
  const b = bar({ total: 0, label: 'train', unit: 'step' });
  b.advance(3);
  b.progress.finish();
  assert.deepEqual(b.lines(), []);
  const quiet = bar({ total: 5, quiet: true });
  quiet.advance(2);
  quiet.progress.update(5);
  quiet.progress.finish();
  assert.deepEqual(quiet.lines(), []);
});
