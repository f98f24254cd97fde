// `npm run bench -- torch-ranks [--model mini] [--image-size 112] [--batch 16] [--steps 8] [--data DIR]`
//
// Training samples/s of the torch engine (`nanovlm train --engine torch`) on 1 rank (all cores) and on 2
// ranks (the cores shared out, half the batch each, DDP over gloo), and on 1 rank × 1 thread, beside
// our own trainer on the same run. Timed from the step events after two warm-up steps, so neither the PyTorch import nor the
// checkpoint at the end counts. `speedup` = 2 ranks / 1 rank, target 1.0: on a 2-core machine the
// two ranks have no more cores than one, so the figure shows DDP's overhead, not scaling.
// Data: the PNG folder's packed copy at the image size (made once, kept beside it).
import { existsSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDataset } from '../src/data/dataset.ts';
import { packDataset } from '../src/data/packed.ts';
import { generateScenes } from '../src/data/scenes/index.ts';
import { Tokenizer } from '../src/tokenizer/index.ts';
import { resolveConfig } from '../src/train/config.ts';
import { train } from '../src/train/trainer.ts';
import { pythonWithTorch, trainWithTorch } from '../src/train/torch-engine.ts';
import { backend } from '../src/tensor/backends/index.ts';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
}
const model = arg('model', 'mini');
const size = Number(arg('image-size', '112'));
const batch = Number(arg('batch', '16'));
const steps = Number(arg('steps', '8'));
const warmup = 2;

async function dataFolder(): Promise<string> {
  const given = arg('data', '');
  if (given) return given;
  const need = (steps + warmup + 1) * batch;
  for (const dir of ['data/scenes', 'data/bench-scenes']) {
    if (!existsSync(path.join(dir, 'manifest.jsonl'))) continue;
    if (openDataset(dir, { checkImages: false }).records.filter((r) => r.split === 'train').length >= need)
      return dir;
  }
  const count = Math.max(2000, Math.ceil(need / 0.85));
  console.log(`building ${count} scenes in data/bench-scenes ...`);
  await generateScenes({ out: 'data/bench-scenes', count, seed: 1, workers: os.availableParallelism() });
  return 'data/bench-scenes';
}

const dir = await dataFolder();
const tokFile = path.join(dir, 'tokenizer.json');
if (!existsSync(tokFile)) throw new Error(`${tokFile}: no tokenizer (nanovlm tokenizer train --data ${dir})`);
const packed = `${dir.replace(/\/+$/, '')}-packed-${size}`;
if (!existsSync(packed)) {
  console.log(`packing ${dir} at ${size} px into ${packed} ...`);
  await packDataset({
    inDir: dir,
    outDir: packed,
    imageSize: size,
    text: 'short',
    tokenizer: Tokenizer.load(tokFile),
    tokenizerFile: tokFile,
  });
}
const runs = path.join('runs', 'bench-torch-ranks');
const config = resolveConfig({
  model,
  overrides: [
    ['data', packed],
    ['model.image_size', String(size)],
    ['batchSize', String(batch)],
    ['steps', String(warmup + steps)],
    ['warmupSteps', '2'],
    ['evalEvery', '0'],
    ['evalSamples', '0'],
    ['saveEvery', '0'],
    ['samples', '0'],
  ],
});

/** Samples per second between the end of the warm-up steps and the last step. */
function timer() {
  const at: number[] = [];
  return {
    onStep: () => at.push(performance.now()),
    rate: () => (steps * batch * 1000) / (at[warmup + steps - 1]! - at[warmup - 1]!),
  };
}
const cores = os.availableParallelism();
console.log(
  `${model} at ${size} px, batch ${batch}, ${steps} timed steps, ${cores} cores, load ${os.loadavg()[0]!.toFixed(1)}; ` +
    'machine shared with other work: figures are noisy',
);

const created: string[] = [];
const scratch = (name: string): string => {
  const d = path.join(runs, `${name}-${process.pid}`);
  created.push(d);
  return d;
};
const ours = timer();
await train({
  config,
  runDir: scratch('ts'),
  quiet: true,
  handleSignals: false,
  hooks: { onStep: ours.onStep },
});
const ts = ours.rate();
console.log(`ours (${backend().name}, ${backend().threads} threads): ${ts.toFixed(1)} samples/s`);

const rates: Record<string, number> = {};
const cores2 = Math.max(1, Math.floor(cores / 2));
if (pythonWithTorch()) {
  // 1 rank × 1 thread as well: on a loaded machine OpenMP's threads wait on each other, which shows here.
  for (const [nproc, threads] of [
    [1, cores],
    [1, 1],
    [2, cores2],
  ] as const) {
    const key = `${nproc}x${threads}`;
    const t = timer();
    await trainWithTorch({
      config,
      runDir: scratch(`torch${key}`),
      nproc,
      threadsPerRank: threads,
      quiet: true,
      handleSignals: false,
      onStep: t.onStep,
    });
    rates[key] = t.rate();
    console.log(`torch, ${nproc} rank(s) × ${threads} thread(s): ${rates[key]!.toFixed(1)} samples/s`);
  }
} else console.log('no PyTorch: the torch engine was not measured');

// The run folders are this benchmark's own scratch.
for (const d of created) rmSync(d, { recursive: true, force: true });

// 2 ranks sharing the cores against 1 rank using them all
const one = rates[`1x${cores}`];
const two = rates[`2x${cores2}`];
const r = (x: number | undefined) => (x === undefined ? null : Number(x.toFixed(2)));
console.log(
  JSON.stringify({
    bench: 'torch-ranks',
    ...(one && two ? { speedup: Number((two / one).toFixed(3)) } : {}),
    target: 1.0,
    model,
    imageSize: size,
    batch,
    steps,
    cores,
    samplesPerSecond: {
      ours: r(ts),
      ...Object.fromEntries(Object.entries(rates).map(([k, v]) => [`torch${k}`, r(v)])),
    },
  }),
);
