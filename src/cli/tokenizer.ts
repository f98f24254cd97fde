import path from 'node:path';
import {
  parseArgs,
  formatHelp,
  runSubcommand,
  type CommandSpec,
  type Schema,
  type Subcommands,
} from './args.ts';
import { openDataset, type DatasetRecord } from '../data/dataset.ts';
import { trainTokenizer, Tokenizer, MIN_VOCAB_SIZE, MAX_VOCAB_SIZE } from '../tokenizer/index.ts';
import { UserError } from '../util/errors.ts';

const trainSpec = {
  name: 'nanovlm tokenizer train',
  summary:
    "Train a byte-level BPE tokenizer on a dataset's texts and write it as a Hugging Face tokenizer.json.",
  usage:
    'usage: nanovlm tokenizer train --data DIR [--vocab 4096] [--text short|long|both|all] [--out FILE] [--json]',
  options: {
    data: { type: 'string', help: 'dataset folder (with manifest.jsonl)', required: true },
    vocab: {
      type: 'integer',
      help: 'vocabulary size',
      default: 4096,
      min: MIN_VOCAB_SIZE,
      max: MAX_VOCAB_SIZE,
    },
    text: {
      type: 'string',
      help: 'texts to train on: ShortDesc, LongDesc, both, or all (both + captions)',
      choices: ['short', 'long', 'both', 'all'],
      default: 'all',
    },
    split: {
      type: 'string',
      help: 'records to train on (train keeps the val and test texts unseen)',
      choices: ['train', 'val', 'test', 'all'],
      default: 'train',
    },
    'min-frequency': {
      type: 'integer',
      help: 'merge only pairs seen at least this often',
      default: 2,
      min: 1,
    },
    out: { type: 'string', help: 'output file', defaultHelp: '<data>/tokenizer.json' },
    'skip-bad': { type: 'boolean', help: 'skip bad manifest records instead of failing' },
    json: { type: 'boolean', help: 'print one JSON object' },
  },
  examples: [
    'nanovlm tokenizer train --data data/scenes --vocab 4096',
    'nanovlm tokenizer train --data data/scenes --text short --vocab 2048 --out short-tokenizer.json',
  ],
} satisfies CommandSpec<Schema>;

const encodeSpec = {
  name: 'nanovlm tokenizer encode',
  summary: 'Show how a tokenizer splits a text: ids and the tokens they stand for.',
  usage: 'usage: nanovlm tokenizer encode --tokenizer FILE|DIR TEXT... [--json]',
  options: {
    tokenizer: { type: 'string', help: 'tokenizer.json, or a folder holding one', required: true },
    json: { type: 'boolean', help: 'print one JSON object' },
  },
  examples: ['nanovlm tokenizer encode --tokenizer data/scenes "A red ball is on the grass."'],
} satisfies CommandSpec<Schema>;

const SUBCOMMANDS: Subcommands = {
  train: { summary: 'train a byte-level BPE tokenizer on a dataset (writes tokenizer.json)', run: train },
  encode: { summary: 'show the tokens of a text', run: encode },
};

export async function run(argv: string[]): Promise<number> {
  return runSubcommand('nanovlm tokenizer', SUBCOMMANDS, argv);
}

type TextChoice = 'short' | 'long' | 'both' | 'all';

function* textsOf(records: readonly DatasetRecord[], which: TextChoice): Generator<string> {
  for (const r of records) {
    if (which !== 'long' && r.short) yield r.short;
    if (which !== 'short' && r.long) yield r.long;
    if (which === 'all') yield* r.captions;
  }
}

async function train(argv: string[]): Promise<number> {
  const args = parseArgs(argv, trainSpec);
  if (args.help) {
    console.log(formatHelp(trainSpec));
    return 0;
  }
  const o = args.options;
  if (args.positionals.length) throw new UserError(`unexpected argument "${args.positionals[0]}"`, 2);
  // The tokenizer needs only the texts, so the images are not checked here.
  const dataset = openDataset(o.data, { skipBad: o.skipBad, checkImages: false });
  const records = o.split === 'all' ? dataset.records : dataset.records.filter((r) => r.split === o.split);
  const texts = [...textsOf(records, o.text as TextChoice)];
  if (!texts.length) {
    const hint = o.split === 'all' ? '' : ' (try --split all)';
    const kinds = {
      short: 'ShortDesc',
      long: 'LongDesc',
      both: 'ShortDesc or LongDesc',
      all: 'description or caption',
    };
    throw new UserError(
      `${o.data}: the ${o.split} records have no ${kinds[o.text as TextChoice]} texts${hint}`,
    );
  }
  const started = performance.now();
  const tokenizer = trainTokenizer(texts, { vocabSize: o.vocab, minFrequency: o.minFrequency });
  const seconds = (performance.now() - started) / 1000;
  const out = o.out ?? path.join(o.data, 'tokenizer.json');
  await tokenizer.save(out);

  const average = (list: string[]) =>
    list.length ? list.reduce((s, t) => s + tokenizer.encode(t).length, 0) / list.length : null;
  const avgShort = average(records.flatMap((r) => (r.short ? [r.short] : [])));
  const avgLong = average(records.flatMap((r) => (r.long ? [r.long] : [])));
  const chars = texts.reduce((s, t) => s + t.length, 0);
  const tokens = texts.reduce((s, t) => s + tokenizer.encode(t).length, 0);
  const round = (x: number | null, d = 2) => (x === null ? null : Number(x.toFixed(d)));
  const report = {
    out,
    vocab_size: tokenizer.vocabSize,
    requested_vocab_size: o.vocab,
    merges: tokenizer.mergeCount,
    records: records.length,
    skipped_records: dataset.skipped,
    texts: texts.length,
    train_seconds: round(seconds, 3),
    avg_tokens_short: round(avgShort),
    avg_tokens_long: round(avgLong),
    chars_per_token: round(chars / Math.max(1, tokens)),
    special_ids: {
      bos: tokenizer.bosId,
      eos: tokenizer.eosId,
      pad: tokenizer.padId,
      image: tokenizer.imageId,
    },
  };
  if (o.json) {
    console.log(JSON.stringify(report));
    return 0;
  }
  const lines = [
    `wrote ${out}`,
    `vocabulary: ${report.vocab_size} tokens (${report.merges} merges)` +
      (report.vocab_size < o.vocab ? `; stopped early: no more pairs seen ${o.minFrequency}+ times` : ''),
    `trained on ${texts.length} texts from ${records.length} ${o.split} records in ${seconds.toFixed(2)} s` +
      (dataset.skipped ? ` (${dataset.skipped} bad records skipped)` : ''),
    `average tokens: ShortDesc ${report.avg_tokens_short ?? '-'}, LongDesc ${report.avg_tokens_long ?? '-'}` +
      `; ${report.chars_per_token} characters per token`,
  ];
  console.log(lines.join('\n'));
  return 0;
}

async function encode(argv: string[]): Promise<number> {
  const args = parseArgs(argv, encodeSpec);
  if (args.help) {
    console.log(formatHelp(encodeSpec));
    return 0;
  }
  let file = args.options.tokenizer;
  if (!file.endsWith('.json')) file = path.join(file, 'tokenizer.json');
  const tokenizer = Tokenizer.load(file);
  const text = args.positionals.join(' ');
  if (!text) throw new UserError('give the text to encode after the options', 2);
  const ids = tokenizer.encode(text);
  const tokens = ids.map((id) => tokenizer.decode([id]));
  if (args.options.json) {
    console.log(JSON.stringify({ ids, tokens, count: ids.length }));
    return 0;
  }
  console.log(`${ids.length} tokens`);
  console.log(ids.map((id, i) => `${id}:${JSON.stringify(tokens[i])}`).join(' '));
  return 0;
}
