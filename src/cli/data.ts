/** `nanovlm data <scenes|coco|describe|check>`: build, import, describe and check dataset folders. */
import os from 'node:os';
import { parseCommand, runSubcommand, type CommandSpec, type Schema, type Subcommands } from './args.ts';
import { UserError } from '../util/errors.ts';
import type { LayoutId } from '../data/scenes/types.ts';
import { Progress } from '../util/progress.ts';

const SUBCOMMANDS: Subcommands = {
  scenes: { summary: 'generate the built-in picture scenes with captions and descriptions', run: scenes },
  coco: { summary: 'import COCO captions and images into a dataset folder', run: coco },
  describe: {
    summary: 'write ShortDesc/LongDesc from captions with an OpenAI-compatible LLM',
    run: describe,
  },
  check: { summary: 'validate a dataset folder and decode every image', run: check },
  pack: {
    summary: 'decode, resize and tokenise a dataset once into shards (docs/packed-format.md)',
    run: pack,
  },
};

export async function run(argv: string[]): Promise<number> {
  return runSubcommand('nanovlm data', SUBCOMMANDS, argv);
}

/** Parses options; prints help and returns null for --help. */
function parse<S extends Schema>(argv: string[], spec: CommandSpec<S>) {
  return parseCommand(argv, spec)?.options ?? null;
}

function printJson(value: unknown): void {
  console.log(JSON.stringify(value));
}

// ---------------------------------------------------------------------------------------------------------
const scenesSpec = {
  name: 'nanovlm data scenes',
  summary:
    'Generate the built-in picture scenes (224×224 PNGs, captions, ShortDesc, LongDesc) as a dataset folder.',
  options: {
    out: { type: 'string', help: 'output dataset folder', required: true },
    count: { type: 'integer', help: 'number of scenes', default: 30000, min: 1 },
    seed: { type: 'integer', help: 'random seed (same seed → same dataset)', default: 1 },
    layout: {
      type: 'string',
      help: 'habitat: things where they belong (training data); free: anything on any background, also plain and two-tone (out-of-distribution test); loose: habitat with a third of the train split placed freely on habitat backgrounds (weaker habits)',
      choices: ['habitat', 'free', 'loose'],
      default: 'habitat',
    },
    workers: { type: 'integer', help: 'parallel workers', defaultHelp: 'the number of cores', min: 1 },
    source: {
      type: 'string',
      help: 'clipart (drawn), photos (photographs from Debian packages, see src/data/photos) or mixed',
      choices: ['clipart', 'photos', 'mixed'],
      default: 'clipart',
    },
    'hold-out': {
      type: 'string',
      help: 'photo backgrounds shown only in the test split, comma-separated (e.g. picosdeeuropa,hills)',
    },
    overwrite: {
      type: 'boolean',
      help: "write into a non-empty folder: replaces the scenes' own files from an earlier build, keeps all others",
      default: false,
    },
    json: { type: 'boolean', help: 'print the result as one JSON line', default: false },
  },
  examples: [
    'nanovlm data scenes --out data/scenes --count 30000',
    'nanovlm data scenes --out data/scenes --count 1000 --seed 2 --overwrite',
  ],
} satisfies CommandSpec<Schema>;

async function scenes(argv: string[]): Promise<number> {
  const o = parse(argv, scenesSpec);
  if (!o) return 0;
  let scenesModule: typeof import('../data/scenes/index.ts');
  try {
    scenesModule = await import('../data/scenes/index.ts');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND' || !String(e).includes('scenes/index'))
      throw e;
    throw new UserError('the built-in scene generator (src/data/scenes) is not available in this build');
  }
  const { generateScenes, MAX_SCENES } = scenesModule;
  if (o.count > MAX_SCENES) throw new UserError(`--count must be from 1 to ${MAX_SCENES}, got ${o.count}`, 2);
  const bar = new Progress({ total: o.count, label: 'scenes', unit: 'scenes', quiet: o.json });
  const res = await generateScenes({
    out: o.out,
    count: o.count,
    seed: o.seed,
    layout: o.layout as LayoutId,
    workers: o.workers ?? Math.max(1, os.availableParallelism()),
    source: o.source as 'clipart' | 'photos' | 'mixed',
    holdOut: o.holdOut
      ? o.holdOut
          .split(',')
          .map((x: string) => x.trim())
          .filter(Boolean)
      : [],
    overwrite: o.overwrite,
    onProgress: (done: number) => bar.update(done),
  });
  bar.finish();
  if (o.json) printJson({ out: o.out, ...res });
  else console.log(`wrote ${res.count} scenes to ${o.out} in ${res.seconds.toFixed(1)} s`);
  return 0;
}

// ---------------------------------------------------------------------------------------------------------
const cocoSpec = {
  name: 'nanovlm data coco',
  summary: 'Import COCO captions (e.g. captions_train2017.json) and their images into a dataset folder.',
  options: {
    captions: { type: 'string', help: 'COCO captions JSON file', required: true },
    instances: {
      type: 'string',
      help: "COCO instances JSON of the same images: each picture's things and boxes go to meta.objects",
    },
    images: {
      type: 'string',
      help: 'folder with the images named in the file (e.g. train2017/)',
      required: true,
    },
    out: { type: 'string', help: 'output dataset folder', required: true },
    'val-fraction': {
      type: 'number',
      help: 'share of the non-test images used for validation',
      default: 0.1,
    },
    'test-count': { type: 'integer', help: 'images held out as the test split', default: 0 },
    limit: { type: 'integer', help: 'import only this many images (seeded random choice)' },
    seed: { type: 'integer', help: 'seed for the choice and the splits', default: 1 },
    mode: {
      type: 'string',
      help: 'copy the images, or hard-link them',
      choices: ['copy', 'hardlink'],
      default: 'copy',
    },
    'skip-bad': { type: 'boolean', help: 'skip and count missing or unreadable images', default: false },
    force: { type: 'boolean', help: 'replace an existing output folder', default: false },
    json: { type: 'boolean', help: 'print the result as one JSON line', default: false },
  },
  examples: [
    'nanovlm data coco --captions annotations/captions_train2017.json --images train2017 --out data/coco --test-count 500',
    'nanovlm data coco --captions annotations/captions_train2017.json --instances annotations/instances_train2017.json --images train2017 --out data/coco-boxes',
  ],
} satisfies CommandSpec<Schema>;

async function coco(argv: string[]): Promise<number> {
  const o = parse(argv, cocoSpec);
  if (!o) return 0;
  const { importCoco } = await import('../data/coco.ts');
  let bar: Progress | null = null;
  let phase = '';
  const res = await importCoco({
    captions: o.captions,
    instances: o.instances,
    images: o.images,
    out: o.out,
    valFraction: o.valFraction,
    testCount: o.testCount,
    limit: o.limit,
    seed: o.seed,
    mode: o.mode as 'copy' | 'hardlink',
    skipBad: o.skipBad,
    force: o.force,
    onProgress: (p, done, total) => {
      if (p !== phase) {
        bar?.finish();
        phase = p;
        bar = new Progress({
          total,
          label: p === 'check' ? 'checking' : 'copying',
          unit: 'images',
          quiet: o.json,
        });
      }
      bar!.update(done);
    },
  });
  (bar as Progress | null)?.finish();
  if (o.json) printJson({ out: o.out, ...res });
  else {
    console.log(
      `wrote ${res.records} records to ${o.out} (train ${res.splits.train}, val ${res.splits.val}, test ${res.splits.test}) ` +
        `in ${res.seconds.toFixed(1)} s`,
    );
    if (res.uncaptioned) console.log(`${res.uncaptioned} images without captions were left out`);
    const i = res.instances;
    if (i) {
      console.log(
        `${i.withObjects} records have boxed things, ${i.withoutObjects} none; ` +
          `${i.crowd} crowd annotations left out, ${i.clipped} boxes clipped to their picture, ${i.dropped} wholly outside dropped`,
      );
    }
    if (res.skipped) {
      console.log(`skipped ${res.skipped} bad images:`);
      for (const p of res.problems.slice(0, 10)) console.log(`  ${p}`);
      if (res.problems.length > 10) console.log(`  ... and ${res.problems.length - 10} more`);
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------------------
const describeSpec = {
  name: 'nanovlm data describe',
  summary:
    "Write ShortDesc (--kind short, the paper's Prompt 1) or LongDesc (--kind long, Prompt 2) for each record from its " +
    'captions with any OpenAI-compatible /v1/chat/completions endpoint (key from OPENAI_API_KEY). Answers are appended ' +
    'to <in>/describe-<kind>.jsonl as they arrive; a rerun continues where a run stopped; at the end they are merged ' +
    'into manifest.jsonl.',
  options: {
    in: { type: 'string', help: 'dataset folder', required: true },
    kind: { type: 'string', help: 'which text to write', choices: ['short', 'long'], required: true },
    endpoint: { type: 'string', help: 'base URL, e.g. https://api.openai.com/v1', required: true },
    model: { type: 'string', help: 'model name', default: 'gpt-4o' },
    concurrency: { type: 'integer', help: 'requests in flight', default: 4, min: 1 },
    'with-image': { type: 'boolean', help: 'send the picture too (as a data URL)', default: false },
    'image-detail': { type: 'string', help: 'image detail for the model', choices: ['low', 'high', 'auto'] },
    limit: { type: 'integer', help: 'describe at most this many records in this run' },
    split: { type: 'string', help: 'only this split', choices: ['train', 'val', 'test'] },
    'max-attempts': {
      type: 'integer',
      help: 'asks per record when answers break the length rule',
      default: 3,
      min: 1,
    },
    temperature: { type: 'number', help: 'sampling temperature', defaultHelp: "the server's" },
    timeout: { type: 'number', help: 'seconds allowed per request', default: 120 },
    'max-retries': {
      type: 'integer',
      help: 'retries per request on 429/5xx/time-outs; its waits (Retry-After included, at most 60 s each) add up to at most 5 min',
      default: 6,
    },
    overwrite: { type: 'boolean', help: 'also describe records that already have this text', default: false },
    merge: {
      type: 'boolean',
      help: 'merge the answers into manifest.jsonl at the end',
      default: true,
    },
    'skip-bad': { type: 'boolean', help: 'skip bad manifest records', default: false },
    'price-in': { type: 'number', help: 'USD per 1M prompt tokens (overrides the built-in table)' },
    'price-out': { type: 'number', help: 'USD per 1M completion tokens (overrides the built-in table)' },
    json: { type: 'boolean', help: 'print the summary as one JSON line', default: false },
  },
  examples: [
    'OPENAI_API_KEY=sk-... nanovlm data describe --in data/coco --kind short --endpoint https://api.openai.com/v1 --model gpt-4o --limit 100',
  ],
} satisfies CommandSpec<Schema>;

async function describe(argv: string[]): Promise<number> {
  const o = parse(argv, describeSpec);
  if (!o) return 0;
  if (!(o.timeout > 0)) throw new UserError(`--timeout must be positive, got ${o.timeout}`, 2);
  if ((o.priceIn === undefined) !== (o.priceOut === undefined)) {
    throw new UserError('give both --price-in and --price-out, or neither', 2);
  }
  const { LlmClient } = await import('../llm/client.ts');
  const { describeDataset } = await import('../data/describe.ts');
  const client = new LlmClient({
    endpoint: o.endpoint,
    model: o.model,
    concurrency: o.concurrency,
    timeoutMs: o.timeout * 1000,
    maxRetries: o.maxRetries,
    prices: o.priceIn !== undefined ? { [o.model]: { input: o.priceIn, output: o.priceOut! } } : undefined,
    onRetry: o.json
      ? undefined
      : (i) =>
          process.stderr.write(`\nretry ${i.attempt} in ${(i.delayMs / 1000).toFixed(1)} s: ${i.reason}\n`),
  });
  const ac = new AbortController();
  const onSigint = () => {
    if (ac.signal.aborted) process.exit(130);
    process.stderr.write(
      '\nstopping: requests in flight are dropped; run the same command again to continue\n',
    );
    ac.abort();
  };
  process.on('SIGINT', onSigint);
  let bar: Progress | null = null;
  try {
    const summary = await describeDataset({
      dir: o.in,
      kind: o.kind as 'short' | 'long',
      client,
      model: o.model,
      concurrency: o.concurrency,
      withImage: o.withImage,
      imageDetail: o.imageDetail as 'low' | 'high' | 'auto' | undefined,
      limit: o.limit,
      split: o.split as 'train' | 'val' | 'test' | undefined,
      maxAttempts: o.maxAttempts,
      temperature: o.temperature,
      overwrite: o.overwrite,
      merge: o.merge,
      skipBad: o.skipBad,
      signal: ac.signal,
      onProgress: (p) => {
        bar ??= new Progress({ total: p.total, label: `describe ${o.kind}`, unit: 'records', quiet: o.json });
        bar.update(p.done, { cost: `$${p.costUsd.toFixed(4)}`, failed: p.failed, reasks: p.reasks });
      },
    });
    (bar as Progress | null)?.finish();
    const unpriced = client.usage.unpricedModels;
    if (o.json) printJson({ ...summary, retries: client.usage.retries, unpricedModels: unpriced });
    else {
      const s = summary;
      console.log(
        `${s.described} described, ${s.alreadyDone} already done, ${s.lengthFailures} broke the length rule ` +
          `${o.maxAttempts} times, ${s.requestFailures} requests failed; ${s.reasks} re-asks, ${client.usage.retries} retries`,
      );
      console.log(
        `tokens: ${s.promptTokens} prompt + ${s.completionTokens} completion; estimated cost $${s.costUsd.toFixed(4)}` +
          (unpriced.length ? ` (no price known for ${unpriced.join(', ')}; use --price-in/--price-out)` : ''),
      );
      if (s.noInput)
        console.log(
          `${s.noInput} records have no captions (use --with-image to describe them from the picture)`,
        );
      console.log(
        s.aborted
          ? `stopped; answers so far are in ${s.resultsFile}`
          : `${s.merged} texts merged into ${o.in}/manifest.jsonl (answers: ${s.resultsFile})`,
      );
    }
    if (summary.aborted) return 130;
    return summary.lengthFailures || summary.requestFailures ? 1 : 0;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

// ---------------------------------------------------------------------------------------------------------
const checkSpec = {
  name: 'nanovlm data check',
  usage: 'usage: nanovlm data check DIR [--size 224] [--skip-bad] [--json]',
  summary: 'Validate a dataset folder: every manifest record and every image (decoded at --size).',
  options: {
    in: { type: 'string', help: 'dataset folder (or give it as DIR)' },
    size: { type: 'integer', help: 'decode size', default: 224, min: 1 },
    'skip-bad': {
      type: 'boolean',
      help: 'report every problem instead of stopping at the first',
      default: false,
    },
    json: { type: 'boolean', help: 'print the result as one JSON line', default: false },
  },
  examples: ['nanovlm data check data/scenes', 'nanovlm data check data/coco --skip-bad --json'],
} satisfies CommandSpec<Schema>;

async function check(argv: string[]): Promise<number> {
  const p = parseCommand(argv, checkSpec, true);
  if (!p) return 0;
  const { options: o, positionals } = p;
  if (positionals.length > 1 || (positionals.length && o.in !== undefined)) {
    throw new UserError(
      `give one dataset folder, got ${[o.in, ...positionals].filter(Boolean).join(', ')}`,
      2,
    );
  }
  const dir = positionals[0] ?? o.in;
  if (dir === undefined) throw new UserError('give the dataset folder: nanovlm data check DIR', 2);
  const { openDataset, imagePath, splitCounts } = await import('../data/dataset.ts');
  const { decodeImage } = await import('../data/image.ts');
  const ds = openDataset(dir, { skipBad: o.skipBad });
  const problems = [...ds.problems];
  const bar = new Progress({ total: ds.records.length, label: 'decoding', unit: 'images', quiet: o.json });
  let done = 0;
  let next = 0;
  const worker = async () => {
    while (next < ds.records.length) {
      const r = ds.records[next++]!;
      try {
        await decodeImage(imagePath(ds, r), o.size);
      } catch (e) {
        if (!o.skipBad || !(e instanceof UserError)) throw e;
        problems.push(`record "${r.id}": ${e.message}`);
      }
      bar.update(++done);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  bar.finish();
  const counts = splitCounts(ds.records);
  const texts = { captions: 0, short: 0, long: 0 };
  for (const r of ds.records) {
    if (r.captions.length) texts.captions++;
    if (r.short) texts.short++;
    if (r.long) texts.long++;
  }
  if (o.json) printJson({ records: ds.records.length, splits: counts, texts, problems });
  else {
    console.log(
      `${ds.records.length} records (train ${counts.train}, val ${counts.val}, test ${counts.test})`,
    );
    console.log(`with captions ${texts.captions}, with short ${texts.short}, with long ${texts.long}`);
    if (problems.length) {
      console.log(`${problems.length} problems:`);
      for (const p of problems.slice(0, 20)) console.log(`  ${p}`);
      if (problems.length > 20) console.log(`  ... and ${problems.length - 20} more`);
    } else console.log('no problems found');
  }
  return problems.length ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------------------
const packSpec = {
  name: 'nanovlm data pack',
  summary:
    'Pack a dataset folder for training: pictures decoded and resized once (uint8 RGB, NHWC shards), the\n' +
    'chosen texts as token ids, the split, and an index readable from TypeScript and from Python with numpy\n' +
    '(docs/packed-format.md). `nanovlm train --data OUT` then reads it; so does `--engine torch`.',
  options: {
    in: { type: 'string', help: 'dataset folder', required: true },
    out: { type: 'string', help: 'packed folder to create (must not exist)', required: true },
    'image-size': { type: 'integer', help: "the model's image size in pixels", required: true, min: 1 },
    text: { type: 'string', help: 'texts to pack', choices: ['short', 'long', 'both'], default: 'both' },
    tokenizer: { type: 'string', help: 'tokenizer.json', defaultHelp: '<in>/tokenizer.json' },
    'shard-mb': { type: 'integer', help: 'largest shard in MB', default: 256, min: 1 },
    json: { type: 'boolean', help: 'print the result as one JSON line', default: false },
  },
  examples: ['nanovlm data pack --in data/scenes --out data/scenes-packed --image-size 112 --text short'],
} satisfies CommandSpec<Schema>;

async function pack(argv: string[]): Promise<number> {
  const o = parse(argv, packSpec);
  if (!o) return 0;
  const { existsSync } = await import('node:fs');
  const path = await import('node:path');
  const { packDataset } = await import('../data/packed.ts');
  const { Tokenizer } = await import('../tokenizer/index.ts');
  if (!existsSync(path.join(o.in, 'manifest.jsonl')))
    throw new UserError(`${o.in}: not a dataset folder (manifest.jsonl not found)`);
  if (existsSync(o.out)) throw new UserError(`${o.out}: already exists (pack into a new folder)`, 2);
  const tokenizerFile = o.tokenizer ?? path.join(o.in, 'tokenizer.json');
  if (!existsSync(tokenizerFile))
    throw new UserError(
      `${tokenizerFile}: tokenizer not found (train one with "nanovlm tokenizer train --data ${o.in}")`,
    );
  const tokenizer = Tokenizer.load(tokenizerFile);
  const t0 = performance.now();
  let bar: Progress | null = null;
  const index = await packDataset({
    inDir: o.in,
    outDir: o.out,
    imageSize: o.imageSize,
    text: o.text as 'short' | 'long' | 'both',
    tokenizer,
    tokenizerFile,
    shardMB: o.shardMb,
    onProgress: (done, total) => {
      bar ??= new Progress({ total, label: 'packing', unit: 'images', quiet: o.json });
      bar.update(done);
    },
  });
  (bar as Progress | null)?.finish();
  const splits = Object.fromEntries(
    Object.entries(index.splits).map(([k, v]) => [
      k,
      { records: v.records, samples: v.samples, shards: v.shards.length },
    ]),
  );
  const bytes = Object.values(index.files).reduce((a, f) => a + f.bytes, 0);
  const seconds = (performance.now() - t0) / 1000;
  if (o.json)
    printJson({ out: o.out, imageSize: index.image_size, text: index.text, splits, bytes, seconds });
  else {
    const parts = Object.entries(splits).map(([k, v]) => `${k} ${v.records} pictures / ${v.samples} texts`);
    console.log(
      `packed ${parts.join(', ')} into ${o.out} (${(bytes / 1048576).toFixed(1)} MB) in ${seconds.toFixed(1)} s`,
    );
  }
  return 0;
}
