/** `nanovlm eval <complete|judge|report|auto>`: the paper's LLM-judge evaluation and offline measures. */
import path from 'node:path';
import { parseCommand, runSubcommand, type CommandSpec, type Schema, type Subcommands } from './args.ts';
import { UserError } from '../util/errors.ts';
import { Progress } from '../util/progress.ts';
import { writeFileAtomic } from '../util/fs.ts';
import { DEFAULT_MAX_TOTAL_WAIT_MS, LlmClient } from '../llm/client.ts';
import { runComplete } from '../eval/complete.ts';
import { runJudge, type JsonMode } from '../eval/judge.ts';
import { PROTOCOLS, type Protocol } from '../eval/judge-prompts.ts';
import { buildReport, reportMarkdown, writeReport } from '../eval/report.ts';
import { autoMarkdown, runAuto, trainingTexts } from '../eval/auto.ts';
import { TrainingTextIndex } from '../eval/memorization.ts';
import { openDataset, SPLITS, type Split } from '../data/dataset.ts';
import type { Kind } from '../eval/prefix.ts';

const SUBCOMMANDS: Subcommands = {
  complete: { summary: 'complete the beginnings of test descriptions with a model (JSONL)', run: complete },
  judge: { summary: 'grade completions with an OpenAI-compatible LLM judge (any system)', run: judge },
  report: { summary: 'tables (Markdown, JSON) and a bar chart from graded files', run: report },
  auto: {
    summary: 'offline measures of a model: objects, consistency, ROUGE, memorisation, perplexity, grammar',
    run: auto,
  },
  scaling: {
    summary:
      'train mini/base/large on ShortDesc and LongDesc at equal samples and minutes; one table and chart',
    run: async (argv) => (await import('./scaling.ts')).scaling(argv),
  },
};

const EPILOG = [
  "The paper's table in three commands:",
  '  nanovlm eval complete --model runs/main/checkpoints/best --data data/scenes --out completions.jsonl',
  '  nanovlm eval judge --in completions.jsonl --endpoint https://api.openai.com/v1 --model gpt-4o --out graded.jsonl',
  '  nanovlm eval report --in graded.jsonl --out report/',
];

export async function run(argv: string[]): Promise<number> {
  return runSubcommand('nanovlm eval', SUBCOMMANDS, argv, EPILOG);
}

const parse = parseCommand;

const KINDS = ['short', 'long'] as const;

// ---------------------------------------------------------------------------------------------------------
const completeSpec = {
  name: 'nanovlm eval complete',
  summary:
    'Build the prefix set (the first 6-7 words of a ShortDesc, or 18-20 of a LongDesc, for `count` pictures chosen ' +
    'reproducibly from the seed) and let the model write the rest, `samples` times each. Writes completions JSONL.',
  usage:
    'usage: nanovlm eval complete --model DIR --data DIR [--split test] [--kind short|long] [--samples N] [options]',
  options: {
    model: { type: 'string', help: 'model folder', required: true },
    data: { type: 'string', help: 'dataset folder', required: true },
    split: { type: 'string', help: 'split to take pictures from', default: 'test', choices: SPLITS },
    kind: { type: 'string', help: 'ShortDesc or LongDesc', default: 'short', choices: KINDS },
    samples: { type: 'integer', help: 'completions per prefix', default: 1, min: 1 },
    count: { type: 'integer', help: 'pictures in the prefix set', default: 25, min: 1 },
    seed: { type: 'integer', help: 'seed of the prefix set and of sampling', default: 0 },
    out: { type: 'string', help: 'output file', defaultHelp: 'completions-<kind>.jsonl' },
    system: { type: 'string', help: 'system name in reports', defaultHelp: 'nanovlm-<preset>' },
    temperature: { type: 'number', help: 'sampling temperature (0 = greedy)', default: 0.8, min: 0 },
    'top-k': { type: 'integer', help: 'sample from the k most likely tokens (0 = all)', default: 0, min: 0 },
    'top-p': { type: 'number', help: 'nucleus sampling threshold (1 = all)', default: 0.95 },
    'repetition-penalty': { type: 'number', help: 'penalise tokens already written (1 = off)', default: 1 },
    'max-new-tokens': {
      type: 'integer',
      help: 'most tokens to write',
      defaultHelp: '48 for short, 128 for long',
      min: 1,
    },
    'batch-size': { type: 'integer', help: 'completions generated together', default: 8, min: 1 },
    json: { type: 'boolean', help: 'print the summary as JSON' },
  },
  examples: [
    'nanovlm eval complete --model runs/main/checkpoints/best --data data/scenes --kind short --samples 5 --out completions.jsonl',
  ],
} as const satisfies CommandSpec<Schema>;

async function complete(argv: string[]): Promise<number> {
  const p = parse(argv, completeSpec);
  if (!p) return 0;
  const o = p.options;
  if (!(o.topP > 0 && o.topP <= 1)) throw new UserError('--top-p must be in (0, 1]', 2);
  const kind = o.kind as Kind;
  const out = o.out ?? `completions-${kind}.jsonl`;
  const bar = new Progress({ total: o.count * o.samples, label: 'complete', unit: 'texts', quiet: o.json });
  const s = await runComplete({
    modelDir: o.model,
    dataDir: o.data,
    out,
    split: o.split as Split,
    kind,
    samples: o.samples,
    count: o.count,
    seed: o.seed,
    system: o.system,
    temperature: o.temperature,
    topK: o.topK,
    topP: o.topP,
    repetitionPenalty: o.repetitionPenalty,
    maxNewTokens: o.maxNewTokens ?? (kind === 'short' ? 48 : 128),
    batchSize: o.batchSize,
    onProgress: (d) => bar.update(d),
  });
  bar.finish();
  if (o.json) console.log(JSON.stringify(s));
  else
    console.log(
      `${s.completions} completions of ${s.prefixes} prefixes (from ${s.eligible} eligible pictures) by ${s.system} → ${s.out} (${s.seconds.toFixed(1)} s)`,
    );
  return 0;
}

// ---------------------------------------------------------------------------------------------------------
const judgeSpec = {
  name: 'nanovlm eval judge',
  summary:
    "Grade every completion (ours or a baseline's, same JSONL format) on grammar, creativity, consistency, " +
    "meaningfulness and plot (1-10) plus the writer's age group, with any OpenAI-compatible chat endpoint. " +
    'Resumable (rerun to continue) and cached by request hash (a rerun of done work makes no request). ' +
    'The API key comes from OPENAI_API_KEY.',
  usage:
    'usage: nanovlm eval judge --in completions.jsonl --endpoint URL [--model gpt-4o] [--protocol nanovlms|tinystories] [options]',
  options: {
    in: { type: 'string', help: 'completions JSONL', required: true },
    endpoint: {
      type: 'string',
      help: 'OpenAI-compatible base URL, e.g. https://api.openai.com/v1',
      required: true,
    },
    model: { type: 'string', help: 'judge model', default: 'gpt-4o' },
    protocol: {
      type: 'string',
      help: "the paper's Prompt 3, or TinyStories' *** style",
      default: 'nanovlms',
      choices: PROTOCOLS,
    },
    out: { type: 'string', help: 'graded JSONL', defaultHelp: '<in>.graded-<protocol>.jsonl' },
    cache: { type: 'string', help: 'answer cache file', defaultHelp: '<out>.cache.jsonl' },
    'no-cache': { type: 'boolean', help: 'do not read or write the answer cache' },
    concurrency: { type: 'integer', help: 'requests in flight', default: 4, min: 1 },
    temperature: { type: 'number', help: 'judge temperature', default: 0, min: 0 },
    'max-tokens': { type: 'integer', help: 'longest answer', default: 500, min: 1 },
    timeout: { type: 'number', help: 'seconds per request', default: 120 },
    retries: {
      type: 'integer',
      help: `retries of a failed request (429, 5xx, time-out); its waits (Retry-After included, at most 60 s each) add up to at most ${DEFAULT_MAX_TOTAL_WAIT_MS / 60_000} min; the run stops after 10 failed requests in a row`,
      default: 6,
      min: 0,
    },
    reasks: { type: 'integer', help: 'extra tries when an answer cannot be read', default: 2, min: 0 },
    'json-mode': {
      type: 'string',
      help: 'ask for response_format json_object',
      default: 'auto',
      choices: ['auto', 'on', 'off'],
    },
    json: { type: 'boolean', help: 'print the summary as JSON' },
  },
  examples: [
    'OPENAI_API_KEY=sk-... nanovlm eval judge --in completions.jsonl --endpoint https://api.openai.com/v1 --model gpt-4o --out graded.jsonl',
  ],
} as const satisfies CommandSpec<Schema>;

async function judge(argv: string[]): Promise<number> {
  const p = parse(argv, judgeSpec);
  if (!p) return 0;
  const o = p.options;
  if (!(o.timeout > 0)) throw new UserError(`--timeout must be positive, got ${o.timeout}`, 2);
  const protocol = o.protocol as Protocol;
  const out = o.out ?? `${o.in.replace(/\.jsonl$/, '')}.graded-${protocol}.jsonl`;
  if (path.resolve(out) === path.resolve(o.in)) throw new UserError('--out must differ from --in', 2);
  const client = new LlmClient({
    endpoint: o.endpoint,
    model: o.model,
    concurrency: o.concurrency,
    timeoutMs: o.timeout * 1000,
    maxRetries: o.retries,
    onRetry: o.json
      ? undefined
      : ({ attempt, delayMs, reason }) => {
          process.stderr.write(`\nretry ${attempt} in ${(delayMs / 1000).toFixed(1)} s: ${reason}\n`);
        },
  });
  let bar: Progress | null = null;
  const s = await runJudge({
    input: o.in,
    out,
    cacheFile: o.noCache ? null : o.cache,
    protocol,
    model: o.model,
    client,
    concurrency: o.concurrency,
    temperature: o.temperature,
    maxTokens: o.maxTokens,
    reasks: o.reasks,
    jsonMode: o.jsonMode as JsonMode,
    onLine: (done, total, line) => {
      bar ??= new Progress({ total, label: 'judge', unit: 'lines', quiet: o.json });
      bar.update(done, { failed: line.error ? 'yes' : 'no' });
    },
  });
  (bar as Progress | null)?.finish();
  if (o.json) console.log(JSON.stringify(s));
  else {
    console.log(
      `${s.graded} graded, ${s.failed} failed, ${s.alreadyDone} already done of ${s.total} → ${s.out}\n` +
        `${s.requests} requests (${s.retries} retries), ${s.cached} answers from the cache, ` +
        `${s.promptTokens + s.completionTokens} tokens, about $${s.costUsd.toFixed(4)}` +
        (s.failed ? `\nrerun the same command to retry the ${s.failed} failed lines` : ''),
    );
  }
  return s.failed ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------------------
const reportSpec = {
  name: 'nanovlm eval report',
  summary:
    'One row per system: mean ± std of each grade, count, age groups, and the measures that need no LLM ' +
    '(ROUGE, distinct-n, simple words, link-grammar, object scores when known, memorisation with --train). ' +
    'Reads graded files or plain completion files; list several files after --in.',
  usage: 'usage: nanovlm eval report --in graded.jsonl [more.jsonl ...] [--out DIR] [--json]',
  options: {
    in: { type: 'string', help: 'graded (or completions) JSONL; repeatable', multiple: true },
    out: { type: 'string', help: 'write report.md, report.json and grades.png here' },
    train: { type: 'string', help: 'dataset folder whose train texts the memorisation check compares with' },
    grammar: {
      type: 'boolean',
      help: 'check grammar with link-grammar',
      default: true,
    },
    measures: { type: 'boolean', help: 'compute the no-LLM measures', default: true },
    json: { type: 'boolean', help: 'print the report as JSON instead of Markdown' },
  },
  examples: ['nanovlm eval report --in graded.jsonl --out report/'],
} as const satisfies CommandSpec<Schema>;

async function report(argv: string[]): Promise<number> {
  const p = parse(argv, reportSpec, true);
  if (!p) return 0;
  const o = p.options;
  // `--in graded*.jsonl` arrives from the shell as --in a.jsonl b.jsonl: the rest are positionals.
  const files = [...o.in, ...p.positionals];
  if (!files.length) throw new UserError('give at least one --in FILE', 2);
  const trainIndex = o.train
    ? new TrainingTextIndex(trainingTexts(openDataset(o.train, { checkImages: false })))
    : undefined;
  const r = await buildReport(files, { grammar: o.grammar, measures: o.measures, trainIndex });
  if (o.out) {
    const written = await writeReport(r, o.out);
    if (!o.json) console.error(`wrote ${written.join(', ')}`);
  }
  if (o.json) console.log(JSON.stringify(r));
  else console.log(reportMarkdown(r));
  return 0;
}

// ---------------------------------------------------------------------------------------------------------
const autoSpec = {
  name: 'nanovlm eval auto',
  summary:
    'Offline measures of one of our models: greedy descriptions of `count` pictures of a split, scored for ' +
    'object recall / precision / count accuracy (scene meta), ROUGE against the reference, distinct-n, simple ' +
    'words, link-grammar, memorisation against every training text; and perplexity on the val split.',
  usage: 'usage: nanovlm eval auto --model DIR --data DIR [--split test] [--kind short|long] [options]',
  options: {
    model: { type: 'string', help: 'model folder', required: true },
    data: { type: 'string', help: 'dataset folder', required: true },
    split: { type: 'string', help: 'split to describe', default: 'test', choices: SPLITS },
    kind: { type: 'string', help: 'reference text and perplexity text', default: 'short', choices: KINDS },
    count: { type: 'integer', help: 'pictures to describe (0 = the whole split)', default: 200, min: 0 },
    seed: { type: 'integer', help: 'seed of the picture choice', default: 0 },
    'ppl-samples': {
      type: 'integer',
      help: 'val texts for perplexity (0 = all, -1 = skip)',
      default: 0,
      min: -1,
    },
    'max-new-tokens': {
      type: 'integer',
      help: 'most tokens per description',
      defaultHelp: 'generation_config.json',
      min: 1,
    },
    'batch-size': { type: 'integer', help: 'descriptions generated together', default: 16, min: 1 },
    grammar: {
      type: 'boolean',
      help: 'check grammar with link-grammar',
      default: true,
    },
    memorization: {
      type: 'boolean',
      help: 'compare with every training text',
      default: true,
    },
    out: { type: 'string', help: 'write auto.md and auto.json here' },
    json: { type: 'boolean', help: 'print the result as JSON' },
  },
  examples: ['nanovlm eval auto --model runs/main/checkpoints/best --data data/scenes --json'],
} as const satisfies CommandSpec<Schema>;

async function auto(argv: string[]): Promise<number> {
  const p = parse(argv, autoSpec);
  if (!p) return 0;
  const o = p.options;
  let bar: Progress | null = null;
  let stage = '';
  const r = await runAuto({
    modelDir: o.model,
    dataDir: o.data,
    split: o.split as Split,
    kind: o.kind as Kind,
    count: o.count,
    seed: o.seed,
    pplSamples: o.pplSamples,
    maxNewTokens: o.maxNewTokens,
    batchSize: o.batchSize,
    grammar: o.grammar,
    memorization: o.memorization,
    onProgress: (st, done, total) => {
      if (st !== stage) {
        bar?.finish();
        stage = st;
        bar = new Progress({ total, label: st, unit: 'texts', quiet: o.json });
      }
      bar!.update(done);
    },
  });
  (bar as Progress | null)?.finish();
  const md = autoMarkdown(r);
  if (o.out) {
    await writeFileAtomic(path.join(o.out, 'auto.md'), md);
    await writeFileAtomic(path.join(o.out, 'auto.json'), JSON.stringify(r, null, 2) + '\n');
  }
  console.log(o.json ? JSON.stringify(r) : md);
  return 0;
}
