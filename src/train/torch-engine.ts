/**
 * `nanovlm train --engine torch`: starts the torch engine's ranks (python/nanovlm_torch) on this
 * machine and shows their run as the TypeScript trainer shows its own: the same progress bar,
 * metrics.jsonl (rank 0 writes it), loss.png, samples.jsonl and summary.
 *
 * Ranks are started here with RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT set, as
 * torchrun would (Debian's torchrun fails at launch on torch 1.13 / Python 3.11); the script itself
 * stays torchrun-compatible for several machines. Rank 0 prints one JSON event per line on stdout.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isPackedFolder, openTrainingData } from '../data/packed.ts';
import { configFor } from '../model/config.ts';
import { Tokenizer } from '../tokenizer/index.ts';
import { UserError } from '../util/errors.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { Progress } from '../util/progress.ts';
import { resolveCheckpoint, readTrainerState, runDirOf } from './checkpoint.ts';
import type { ResolvedConfig, TrainConfig } from './config.ts';
import { writeLossCurve } from './curve.ts';
import { readMetrics } from './metrics.ts';
import { createModel, loadModelFolder } from './model-bridge.ts';
import { describeValSamples } from './samples.ts';
import { writeSafetensors } from '../nn/index.ts';
import type { TrainSummary } from './trainer.ts';
import type { TrainerState } from './state.ts';

/** A fresh torch run's starting weights, as the TypeScript trainer would initialise them. */
export const INIT_WEIGHTS = 'init.safetensors';

/** The folder holding the nanovlm_torch package. */
export const PYTHON_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'python');

let pythonFound: string | null | undefined;
/** A Python that can import torch: Debian's python3-torch is in /usr/bin/python3 (a pyenv one may hide it). */
export function pythonWithTorch(): string | null {
  if (pythonFound !== undefined) return pythonFound;
  for (const exe of [process.env.NANOVLM_PYTHON, '/usr/bin/python3', 'python3']) {
    if (!exe) continue;
    const r = spawnSync(exe, ['-c', 'import torch, numpy'], { stdio: 'ignore' });
    if (r.status === 0) return (pythonFound = exe);
  }
  return (pythonFound = null);
}

export interface TorchTrainOptions {
  /** Fresh run: the resolved config (data must be a packed folder). */
  config?: ResolvedConfig;
  runDir?: string;
  /** A run or checkpoint folder of either engine. */
  resume?: string;
  resumeOverrides?: Partial<TrainConfig>;
  /** Ranks on this machine. */
  nproc: number;
  device?: 'cpu' | 'cuda';
  /** Threads per rank (default: the cores shared out, at least 1). */
  threadsPerRank?: number;
  /** Stop with a checkpoint after this step (as Ctrl-C would). */
  stopAt?: number;
  quiet?: boolean;
  stream?: NodeJS.WriteStream;
  onStep?: (info: { step: number; loss: number; lr: number; gradNorm: number }) => void;
  handleSignals?: boolean;
  /** Called with the rank processes once started (supervisors, tests). */
  onRanks?: (ranks: ChildProcess[]) => void;
}

interface Prepared {
  runDir: string;
  args: string[];
  config: ResolvedConfig;
}

/** Checks the data, writes a fresh run's train_config.json, and builds the engine's arguments. */
export async function prepareTorchRun(o: TorchTrainOptions): Promise<Prepared> {
  const args = ['-m', 'nanovlm_torch', '--device', o.device ?? 'cpu'];
  let config: ResolvedConfig;
  let runDir: string;
  const check = (c: ResolvedConfig) => {
    if (!isPackedFolder(c.train.data)) {
      throw new UserError(
        `${c.train.data}: the torch engine reads packed folders; make one with ` +
          `"nanovlm data pack --in ${c.train.data} --out ${c.train.data}-packed --image-size ${c.model.image_size}"`,
        2,
      );
    }
    if (c.model.word_head)
      throw new UserError(
        'the torch engine has no word head (--model.word_head); use the ts engine for it',
        2,
      );
    if (c.train.patchLossWeight > 0)
      throw new UserError(
        'the torch engine has no patch loss (--patch-loss-weight); use the ts engine for it',
        2,
      );
    if (c.train.batchSize % o.nproc)
      throw new UserError(`--batch-size ${c.train.batchSize} does not split over ${o.nproc} ranks`, 2);
  };
  if (o.resume) {
    const ck = resolveCheckpoint(o.resume);
    config = readTrainerState<TrainerState>(ck).config;
    check(config);
    runDir = o.runDir ?? runDirOf(ck) ?? path.dirname(ck);
    args.push('--resume', ck, '--run', runDir);
    for (const [k, v] of Object.entries(o.resumeOverrides ?? {}))
      if (v !== undefined) args.push('--set', `${k}=${JSON.stringify(v)}`);
  } else {
    if (!o.config || !o.runDir) throw new Error('trainWithTorch: config and runDir, or resume, are required');
    runDir = o.runDir;
    const tc = o.config.train;
    check(o.config);
    const tokFile = tc.tokenizer || path.join(tc.data, 'tokenizer.json');
    if (!existsSync(tokFile)) throw new UserError(`${tokFile}: tokenizer not found`);
    config = { train: tc, model: configFor(o.config.model, Tokenizer.load(tokFile)) };
    await writeJsonAtomic(path.join(runDir, 'train_config.json'), config);
    // Our initialisation of the seed, so a fresh run is the same run in either engine.
    const init = path.join(runDir, INIT_WEIGHTS);
    await writeSafetensors(init, createModel(config.model, tc.seed).stateDict(), { format: 'pt' });
    args.push('--run', runDir, '--init', init);
  }
  if (o.stopAt) args.push('--stop-at', String(o.stopAt));
  return { runDir, args, config };
}

/** A free TCP port on the loopback for the ranks' rendezvous. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

interface EngineEvent {
  event: 'start' | 'step' | 'metrics' | 'note' | 'done';
  [k: string]: unknown;
}

export async function trainWithTorch(o: TorchTrainOptions): Promise<TrainSummary> {
  if (!Number.isInteger(o.nproc) || o.nproc < 1)
    throw new UserError(`--nproc must be ≥ 1, got ${o.nproc}`, 2);
  const python = pythonWithTorch();
  if (!python)
    throw new UserError(
      'the torch engine needs PyTorch and numpy: apt-get install -y python3-torch python3-numpy',
    );
  const say = (msg: string): void => {
    if (!o.quiet) (o.stream ?? process.stderr).write(msg + '\n');
  };
  const { runDir, args, config } = await prepareTorchRun(o);
  const port = await freePort();
  const threads = o.threadsPerRank ?? Math.max(1, Math.floor(os.availableParallelism() / o.nproc));
  const ranks: ChildProcess[] = [];
  const stderr: string[][] = [];
  const exits: Promise<number>[] = [];
  for (let rank = 0; rank < o.nproc; rank++) {
    const env = {
      ...process.env,
      PYTHONPATH: [PYTHON_DIR, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
      RANK: String(rank),
      LOCAL_RANK: String(rank),
      WORLD_SIZE: String(o.nproc),
      LOCAL_WORLD_SIZE: String(o.nproc),
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: String(port),
      OMP_NUM_THREADS: String(threads),
      PYTHONUNBUFFERED: '1',
      NANOVLM_LAUNCHER_PID: String(process.pid),
    };
    const child = spawn(python, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    ranks.push(child);
    stderr.push([]);
    child.stderr!.setEncoding('utf8');
    let tail = '';
    child.stderr!.on('data', (chunk: string) => {
      tail += chunk;
      const lines = tail.split('\n');
      tail = lines.pop()!;
      stderr[rank]!.push(...lines);
      if (stderr[rank]!.length > 200) stderr[rank]!.splice(0, stderr[rank]!.length - 200);
    });
    if (rank > 0) child.stdout!.resume();
    exits.push(
      new Promise((resolve) =>
        child.on('close', (code, signal) => {
          if (tail) stderr[rank]!.push(tail);
          resolve(code ?? (signal ? 128 : 1));
        }),
      ),
    );
  }
  o.onRanks?.(ranks);
  // One rank failing leaves the others waiting in a collective: stop them.
  const stopAll = (sig: NodeJS.Signals) => ranks.forEach((c) => c.exitCode === null && c.kill(sig));
  exits.forEach((p) => p.then((code) => code !== 0 && code !== 130 && stopAll('SIGTERM')));
  const onSignal = () => {
    say('stopping: the ranks finish their step and write a checkpoint');
    stopAll('SIGTERM');
  };
  if (o.handleSignals ?? true) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }

  // ---------------------------------------------------------------- rank 0's events
  const metricsFile = path.join(runDir, 'metrics.jsonl');
  const curveFile = path.join(runDir, 'loss.png');
  const title = `${config.model.preset} · ${config.train.text} descriptions · torch ×${o.nproc}`;
  const refreshCurve = () => writeLossCurve(curveFile, readMetrics(metricsFile), title);
  let curveTime = performance.now();
  let progress: Progress | null = null;
  let progressOpts: {
    total: number;
    label: string;
    unit: string;
    stream?: NodeJS.WriteStream;
    quiet?: boolean;
  };
  let startStep = 0;
  let summary: TrainSummary | null = null;
  let pending = Promise.resolve();
  const handle = async (e: EngineEvent) => {
    if (e.event === 'start') {
      startStep = e.step as number;
      const total = (e.total as number | null) ?? (e.calibrate as number);
      progressOpts = {
        total: total - startStep,
        label: 'train',
        unit: 'step',
        stream: o.stream,
        quiet: o.quiet,
      };
      progress = new Progress(progressOpts);
    } else if (e.event === 'step') {
      const step = e.step as number;
      const total = e.total as number | null;
      if (total !== null && progressOpts && progressOpts.total !== total - startStep)
        progressOpts.total = total - startStep;
      o.onStep?.({ step, loss: e.loss as number, lr: e.lr as number, gradNorm: e.grad_norm as number });
      progress?.update(step - startStep, {
        step: `${step}/${total ?? '?'}`,
        epoch: (e.epoch as number) + 1,
        loss: (e.loss as number).toFixed(3),
        lr: (e.lr as number).toExponential(2),
        'samples/s': (e.samples_per_s as number).toFixed(1),
      });
    } else if (e.event === 'metrics') {
      const row = e.row as { val_loss?: number };
      if (row.val_loss !== undefined || performance.now() - curveTime > 60_000) {
        curveTime = performance.now();
        await refreshCurve();
      }
    } else if (e.event === 'note') {
      say(e.message as string);
    } else if (e.event === 'done') {
      summary = e.summary as TrainSummary;
    }
  };
  let buf = '';
  ranks[0]!.stdout!.setEncoding('utf8');
  ranks[0]!.stdout!.on('data', (chunk: string) => {
    buf += chunk;
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const line of lines) {
      if (!line.trim()) continue;
      let e: EngineEvent;
      try {
        e = JSON.parse(line) as EngineEvent;
      } catch {
        say(line); // anything else the rank printed
        continue;
      }
      pending = pending.then(() => handle(e));
    }
  });
  const codes = await Promise.all(exits);
  await pending;
  if (o.handleSignals ?? true) {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  (progress as Progress | null)?.finish();
  const failed = codes.findIndex((c) => c !== 0 && c !== 130);
  if (failed >= 0 || !summary) {
    const rank = failed >= 0 ? failed : 0;
    const lines = stderr[rank]!.filter((l) => l.trim());
    const ours = lines.find((l) => l.startsWith('nanovlm_torch: '));
    const msg = ours
      ? ours.slice('nanovlm_torch: '.length)
      : (lines[lines.length - 1] ?? `exit code ${codes[rank]}`);
    throw new UserError(`torch engine, rank ${rank}: ${msg}`, codes[rank] === 2 ? 2 : 1);
  }
  const s = summary as TrainSummary;
  say(`checkpoint: ${s.checkpoint}`);
  await refreshCurve();
  if (s.stoppedBy === 'done' || s.stoppedBy === 'time')
    // described by our own model, loaded from the torch-trained checkpoint
    s.samples = await describeValSamples(openTrainingData(config.train.data), config.train, runDir, () =>
      loadModelFolder(s.checkpoint),
    );
  return s;
}

/** The command lines that start the same run under torchrun on several machines. */
export function torchrunCommand(runDir: string, device: string): string {
  return (
    `PYTHONPATH=${PYTHON_DIR} torchrun --nnodes=N --node_rank=I --nproc_per_node=G ` +
    `--master_addr=HOST --master_port=29500 -m nanovlm_torch --run ${runDir} --device ${device} ` +
    `--init ${path.join(runDir, INIT_WEIGHTS)}`
  );
}
