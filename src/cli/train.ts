import { existsSync } from 'node:fs';
import path from 'node:path';
import { formatHelp, parseArgs, type CommandSpec, type Schema } from './args.ts';
import { UserError } from '../util/errors.ts';
import { formatDuration } from '../util/progress.ts';
import {
  resolveConfig,
  applyConfigOverrides,
  DEFAULT_TRAIN,
  DEFAULT_EPOCHS,
  type TrainConfig,
} from '../train/config.ts';
import { listCheckpoints } from '../train/checkpoint.ts';
import { loadTrainerState } from '../train/state.ts';
import { train, type TrainSummary } from '../train/trainer.ts';
import { prepareTorchRun, torchrunCommand, trainWithTorch } from '../train/torch-engine.ts';
import { precisionInfo } from '../tensor/precision.ts';
import { applyPrecision, precisionOption } from './precision.ts';

const options = {
  model: { type: 'string', help: 'model preset', choices: ['tiny', 'mini', 'base', 'large'] },
  config: {
    type: 'string',
    help: 'JSON config file (a model config.json, or {"model": ..., training keys})',
  },
  data: { type: 'string', help: 'dataset folder', defaultHelp: DEFAULT_TRAIN.data },
  tokenizer: { type: 'string', help: 'tokenizer.json', defaultHelp: '<data>/tokenizer.json' },
  text: {
    type: 'string',
    help: 'which descriptions to learn',
    choices: ['short', 'long', 'both'],
    defaultHelp: DEFAULT_TRAIN.text,
  },
  name: { type: 'string', help: 'run name: the run folder is runs/<name>', defaultHelp: '<preset>-<text>' },
  out: { type: 'string', help: 'run folder (instead of runs/<name>)' },
  resume: { type: 'string', help: 'continue a run exactly: a run folder or a checkpoint folder' },
  steps: {
    type: 'integer',
    help: 'optimizer steps',
    defaultHelp: 'from --epochs, or fitted to --minutes',
  },
  epochs: {
    type: 'integer',
    help: 'passes over the train split',
    defaultHelp: `${DEFAULT_EPOCHS} when neither --steps nor --minutes is given`,
  },
  minutes: { type: 'number', help: 'time budget: stop and checkpoint when reached' },
  'batch-size': {
    type: 'integer',
    help: 'samples per micro-batch',
    defaultHelp: String(DEFAULT_TRAIN.batchSize),
  },
  lr: { type: 'number', help: 'peak learning rate', defaultHelp: String(DEFAULT_TRAIN.lr) },
  precision: precisionOption,
  json: { type: 'boolean', help: 'print the summary as one JSON object (no progress output)' },
  engine: {
    type: 'string',
    help: 'ts (our kernels) or torch (PyTorch DDP; --data must be a packed folder)',
    choices: ['ts', 'torch'],
    defaultHelp: 'ts',
  },
  nproc: {
    type: 'integer',
    help: 'torch engine: ranks on this machine; the batch is split over them',
    defaultHelp: '1',
  },
  device: {
    type: 'string',
    help: 'torch engine: cpu (gloo) or cuda (nccl; untested here)',
    choices: ['cpu', 'cuda'],
  },
  'print-command': {
    type: 'boolean',
    help: 'torch engine: write the run folder and print the torchrun command for several machines; train nothing',
  },
} as const satisfies Schema;

const spec: CommandSpec<typeof options> = {
  name: 'nanovlm train',
  usage:
    'usage: nanovlm train [--model mini|base|large|tiny | --config FILE] [--data DIR] [options] [--key=value ...]',
  summary:
    'Train a NanoVLM from scratch on a dataset folder (cross-entropy on the descriptions). Writes\n' +
    'runs/<name>/: checkpoints/{last,best}, metrics.jsonl, loss.png, samples.jsonl, train_config.json.\n' +
    'Any training or model setting can be changed with --key=value (e.g. --warmup-steps=200, --model.dropout=0).\n' +
    'Ctrl-C stops after the current step and writes a checkpoint; --resume continues exactly.',
  allowExtra: true,
  options,
  examples: [
    'nanovlm train --data data/scenes --model mini --text short',
    'nanovlm train --data data/scenes --model mini --minutes 30 --name mini-30m --warmup-steps=200',
  ],
};

/** The explicitly given options that are training keys, as overrides (so a config file's values survive defaults). */
function optionOverrides(o: Record<string, unknown>): [string, string][] {
  const keys: [string, keyof TrainConfig][] = [
    ['data', 'data'],
    ['tokenizer', 'tokenizer'],
    ['text', 'text'],
    ['steps', 'steps'],
    ['epochs', 'epochs'],
    ['minutes', 'minutes'],
    ['batchSize', 'batchSize'],
    ['lr', 'lr'],
  ];
  return keys.filter(([opt]) => o[opt] !== undefined).map(([opt, key]) => [key, String(o[opt])]);
}

/**
 * The run's average speed: all samples over all training seconds, as the last checkpoint counts them (a
 * resumed run that trained little or nothing this session still shows what the run ran at). The
 * session's own figures when the checkpoint cannot be read.
 */
export function runSpeed(s: TrainSummary): { samplesPerSecond: number | null; seconds: number } {
  let samples = s.samplesSeen;
  let seconds = s.seconds;
  try {
    const state = loadTrainerState(s.checkpoint);
    samples = state.samplesSeen;
    seconds = state.trainSeconds;
  } catch {
    // the session's figures
  }
  return { samplesPerSecond: samples > 0 && seconds > 0 ? samples / seconds : null, seconds };
}

export function printSummary(
  s: TrainSummary,
  write: (line: string) => void = console.log,
  resumeHint = `nanovlm train --resume ${s.runDir}`,
): void {
  const f = (x: number | null, d = 4) => (x === null ? '-' : x.toFixed(d));
  write('');
  write(`run            ${s.runDir}`);
  write(`stopped        ${s.stoppedBy} at step ${s.step}/${s.totalSteps} (epoch ${s.epoch + 1})`);
  write(`train loss     ${f(s.trainLoss)}`);
  write(`val loss       ${f(s.valLoss)}   perplexity ${f(s.valPerplexity, 2)}`);
  // How much worse the texts are predicted from the wrong pictures: near 0 means the image is ignored.
  write(`image gain     ${f(s.valImageGain)} nats per token`);
  write(`best val loss  ${f(s.bestValLoss)} at step ${s.bestStep ?? '-'}`);
  const speed = runSpeed(s);
  const rate = speed.samplesPerSecond === null ? '-' : `${speed.samplesPerSecond.toFixed(1)} samples/s`;
  write(
    `speed          ${rate} over the run's ${formatDuration(speed.seconds)} of training (${s.backend}, ${s.threads} thread(s), ${precisionInfo().note}); this session ${formatDuration(s.seconds)}`,
  );
  write(`peak RSS       ${s.peakRssMB.toFixed(0)} MB`);
  write(`checkpoint     ${s.checkpoint}`);
  if (s.best) write(`best           ${s.best}`);
  if (s.samples.length) {
    write('');
    write('sample descriptions of val pictures (greedy):');
    for (const x of s.samples) {
      write(`  [${x.id}] ${x.generated}`);
      write(`  ${' '.repeat(x.id.length + 2)} reference: ${x.reference}`);
    }
  }
  if (s.stoppedBy === 'signal' || s.stoppedBy === 'time') {
    write('');
    write(`resume with: ${resumeHint}`);
  }
}

export async function run(argv: string[]): Promise<number> {
  const { options: o, extra, help } = parseArgs(argv, spec);
  if (help) {
    console.log(formatHelp(spec as unknown as CommandSpec<Schema>));
    return 0;
  }
  const given = optionOverrides(o as Record<string, unknown>);
  const torch = o.engine === 'torch';
  if (!torch && (o.nproc !== undefined || o.device !== undefined || o.printCommand))
    throw new UserError('--nproc, --device and --print-command go with --engine torch', 2);
  const engine = {
    nproc: o.nproc ?? 1,
    device: (o.device ?? 'cpu') as 'cpu' | 'cuda',
  };
  applyPrecision(o.precision, o.json);
  let summary: TrainSummary;
  if (o.resume) {
    if (o.model || o.config)
      throw new UserError(
        '--resume takes the model and config from the checkpoint; drop --model/--config',
        2,
      );
    // Overrides are checked against the checkpoint's config inside train(); here only their types.
    const probe = applyConfigOverrides(resolveConfig({ model: 'tiny' }), [...given, ...extra]);
    const changed: Partial<TrainConfig> = {};
    for (const [k] of [...given, ...extra]) {
      const key = k.replace(/[-_]([a-z0-9])/g, (_, ch: string) => ch.toUpperCase()) as keyof TrainConfig;
      if (!(key in DEFAULT_TRAIN)) throw new UserError(`--${k} cannot change when resuming`, 2);
      (changed as Record<string, unknown>)[key] = probe.train[key];
    }
    summary = torch
      ? await trainWithTorch({
          resume: o.resume,
          runDir: o.out,
          resumeOverrides: changed,
          quiet: o.json,
          ...engine,
        })
      : await train({ resume: o.resume, runDir: o.out, resumeOverrides: changed, quiet: o.json });
  } else {
    const cfg = resolveConfig({ model: o.model, config: o.config, overrides: [...given, ...extra] });
    const runDir = o.out ?? path.join('runs', o.name ?? `${cfg.model.preset}-${cfg.train.text}`);
    if (listCheckpoints(runDir).length || existsSync(path.join(runDir, 'checkpoints', 'last'))) {
      throw new UserError(
        `${runDir} already holds a training run: continue it with --resume ${runDir}, or pick another --name`,
        2,
      );
    }
    if (torch && o.printCommand) {
      await prepareTorchRun({ config: cfg, runDir, ...engine });
      console.log(torchrunCommand(runDir, engine.device));
      return 0;
    }
    summary = torch
      ? await trainWithTorch({ config: cfg, runDir, quiet: o.json, ...engine })
      : await train({ config: cfg, runDir, quiet: o.json });
  }
  if (o.json) console.log(JSON.stringify({ ...summary, precision: precisionInfo().note }));
  else if (torch)
    printSummary(
      summary,
      console.log,
      `nanovlm train --engine torch --nproc ${engine.nproc} --resume ${summary.runDir}`,
    );
  else printSummary(summary);
  return summary.stoppedBy === 'signal' ? 130 : 0;
}
