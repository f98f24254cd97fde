// `npm run bench -- scenes [--count 30000] [--workers N] [--seed S] [--out DIR]`: time to write the built-in
// scenes data set (target: 30K scenes in under 5 minutes on 2 cores) and the text statistics of what was
// written. No peer exists, so there is no speedup figure. The machine is shared: the load average is
// reported so a slow run can be read in context.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from '../src/cli/args.ts';
import { generateScenes, measureTexts } from '../src/data/scenes/index.ts';

const { options } = parseArgs(process.argv.slice(2), {
  name: 'bench scenes',
  summary: 'time the built-in scenes generator',
  options: {
    count: { type: 'integer', help: 'scenes to make', default: 30000 },
    workers: { type: 'integer', help: 'worker threads (default: one per core)' },
    seed: { type: 'integer', help: 'data set seed', default: 0 },
    out: { type: 'string', help: 'keep the data set in this folder (default: a temp folder, removed)' },
  },
});

const temp = options.out ? null : mkdtempSync(path.join(os.tmpdir(), 'nanovlm-bench-scenes-'));
const out = options.out ?? path.join(temp!, 'scenes');
const loadBefore = os.loadavg()[0]!;
let lastReport = 0;
try {
  const { count, seconds, workers } = await generateScenes({
    out,
    count: options.count,
    seed: options.seed,
    workers: options.workers,
    overwrite: Boolean(options.out),
    onProgress: (done, total) => {
      const now = performance.now();
      if (now - lastReport > 10_000 || done === total) {
        lastReport = now;
        console.log(`  ${done}/${total} scenes`);
      }
    },
  });
  const records = readFileSync(path.join(out, 'manifest.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const t = performance.now();
  const stats = measureTexts(records);
  const measureSeconds = (performance.now() - t) / 1000;
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  console.log(
    `${count} scenes in ${seconds.toFixed(1)} s (${(count / seconds).toFixed(1)} scenes/s), load average ${loadBefore.toFixed(1)} -> ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores`,
  );
  console.log(
    `ShortDesc: ${pct(stats.short.distinctShare)} distinct, top opening "${stats.short.topOpening.words}" ${pct(stats.short.topOpening.share)}, length rule ${pct(stats.short.lengthPass)}, ${stats.short.meanWords.toFixed(1)} words`,
  );
  console.log(
    `LongDesc: ${pct(stats.long.distinctShare)} distinct, top opening "${stats.long.topOpening.words}" ${pct(stats.long.topOpening.share)}, length rule ${pct(stats.long.lengthPass)}, ${stats.long.meanWords.toFixed(1)} words`,
  );
  console.log(
    `captions: ${pct(stats.captions.distinctShare)} distinct, length rule ${pct(stats.captions.lengthPass)}`,
  );
  console.log(
    `Dale-Chall simple words in descriptions: ${pct(stats.simpleWordShare)} (${pct(stats.simpleWordShareWithoutNames)} without object names); most common others: ${stats.unfamiliarWords
      .slice(0, 8)
      .map(([w, n]) => `${w} ${n}`)
      .join(', ')}`,
  );
  console.log(`(measuring the texts took ${measureSeconds.toFixed(1)} s)`);
  const round = (x: number, d = 4) => Number(x.toFixed(d));
  console.log(
    JSON.stringify({
      bench: 'scenes',
      target_seconds: 300,
      seconds: round(seconds, 2),
      count,
      scenes_per_second: round(count / seconds, 1),
      workers,
      load_average: round(loadBefore, 2),
      short_distinct: round(stats.short.distinctShare),
      short_top_opening: round(stats.short.topOpening.share),
      long_top_opening: round(stats.long.topOpening.share),
      length_pass: {
        short: round(stats.short.lengthPass),
        long: round(stats.long.lengthPass),
        captions: round(stats.captions.lengthPass),
      },
      simple_word_share: round(stats.simpleWordShare),
      simple_word_share_without_names: round(stats.simpleWordShareWithoutNames),
    }),
  );
} finally {
  if (temp) rmSync(temp, { recursive: true, force: true });
}
