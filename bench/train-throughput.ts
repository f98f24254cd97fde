// `npm run bench -- train-throughput [--models mini,base,large] [--steps 50] [--batch 32] [--micro-batch 8] [--data DIR]`
//
// Training samples/s of each preset at 224×224 with the data loader in the loop (PNG decoding, resizing,
// tokenising, batching, prefetch), beside the pure model step on the same model (one batch repeated,
// no loader), and with the loader reading a packed folder of the same data (`nanovlm data pack`: no
// decoding, no tokenising). The loader should cost under 10%: `speedup` = loader-in-loop rate (PNGs) /
// pure-step rate (worst model), target 0.9; `loaderShare` per model gives the share of the step the
// loader costs from PNGs and from packed shards in wall time (noisy on a shared machine), and
// `loaderCpuShare` the same from CPU time (this process's, all threads): the loader alone making the
// batches, against the pure step's CPU time. All modes time the same step (forward, backward,
// clipping, AdamW) after two warm-up steps. Data: data/scenes when it has enough train pictures, else
// 2,000 scenes built into data/bench-scenes (kept for the next run); its packed copy is kept beside it.
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDataset, type Dataset } from '../src/data/dataset.ts';
import { openTrainingData, packDataset } from '../src/data/packed.ts';
import { DataLoader, type Batch } from '../src/data/loader.ts';
import { generateScenes } from '../src/data/scenes/index.ts';
import { Tokenizer, trainTokenizer } from '../src/tokenizer/index.ts';
import { configFor, createModel, type PresetName } from '../src/model/index.ts';
import { AdamW, clipGradNorm } from '../src/nn/index.ts';
import { backend } from '../src/tensor/backends/index.ts';
import { batchLoss } from '../src/train/model-bridge.ts';
import { peakRssMB, splitBatch } from '../src/train/trainer.ts';
import { DEFAULT_TRAIN } from '../src/train/config.ts';
import { backward } from '../src/tensor/tensor.ts';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
}
const models = arg('models', 'mini,base,large').split(',') as PresetName[];
const steps = Number(arg('steps', '50'));
const batchSize = Number(arg('batch', '32'));
const warmup = 2;
const microBatch = Number(arg('micro-batch', String(DEFAULT_TRAIN.microBatch)));

async function dataFolder(): Promise<string> {
  const need = (steps + warmup + 2) * batchSize;
  const given = arg('data', '');
  if (given) return given;
  for (const dir of ['data/scenes', 'data/bench-scenes']) {
    if (!existsSync(path.join(dir, 'manifest.jsonl'))) continue;
    const n = openDataset(dir, { checkImages: false }).records.filter((r) => r.split === 'train').length;
    if (n >= need) return dir;
  }
  const count = Math.max(2000, Math.ceil(need / 0.85));
  console.log(`building ${count} scenes in data/bench-scenes ...`);
  await generateScenes({
    out: 'data/bench-scenes',
    count,
    seed: 1,
    workers: os.availableParallelism(),
    overwrite: true,
  });
  return 'data/bench-scenes';
}

const dir = await dataFolder();
const dataset = openDataset(dir);
const tokFile = path.join(dir, 'tokenizer.json');
let tokenizer: Tokenizer;
if (existsSync(tokFile)) tokenizer = Tokenizer.load(tokFile);
else {
  const texts = dataset.records
    .filter((r) => r.split === 'train')
    .flatMap((r) => [r.short ?? '', r.long ?? '']);
  tokenizer = trainTokenizer(texts, { vocabSize: 4096 });
  await tokenizer.save(tokFile);
}
console.log(
  `data ${dir} (${dataset.records.length} records), batch ${batchSize}, ${steps} timed steps, ` +
    `${backend().name} backend, ${backend().threads} threads; machine shared with other work: figures are noisy`,
);

/** The data's packed copy at `size` px (short texts), made once and kept. */
async function packedCopy(size: number): Promise<Dataset> {
  const out = `${dir.replace(/\/+$/, '')}-packed-${size}`;
  if (!existsSync(out)) {
    console.log(`packing ${dir} at ${size} px into ${out} ...`);
    await packDataset({
      inDir: dir,
      outDir: out,
      imageSize: size,
      text: 'short',
      tokenizer,
      tokenizerFile: tokFile,
    });
  }
  return openTrainingData(out);
}

/** CPU time of this process so far (user + system, every thread), ms. */
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const results: Record<
  string,
  {
    pure: number;
    loader: number;
    packed: number;
    ratio: number;
    loaderShare: { png: number; packed: number };
    loaderCpuShare: { png: number; packed: number };
    loaderCpuMsPerBatch: { png: number; packed: number };
    waitMs: number;
    packedWaitMs: number;
    stepMs: number;
  }
> = {};
for (const name of models) {
  const cfg = configFor(name, tokenizer);
  const model = createModel(cfg, { seed: 1 });
  const params = model.parameters();
  const optimizer = new AdamW(params, { lr: 1e-4, weightDecay: 0.1, decay: (_n, p) => p.ndim >= 2 });
  // The trainer's step: the batch in micro-batches (default size), gradients weighted by tokens.
  const step = (batch: Batch) => {
    optimizer.zeroGrad();
    const pieces = splitBatch(batch, microBatch);
    const tokens = pieces.reduce((n, p) => n + p.lengths.reduce((a, l) => a + l - 1, 0), 0);
    for (const piece of pieces) {
      const w = piece.lengths.reduce((a, l) => a + l - 1, 0) / tokens;
      backward(batchLoss(model, piece), new Float32Array([w]));
    }
    clipGradNorm(params, 1);
    optimizer.step();
  };
  const packed = await packedCopy(cfg.image_size);
  const loaderFor = (seed: number, source: Dataset = dataset) =>
    new DataLoader(source, {
      split: 'train',
      text: 'short',
      imageSize: cfg.image_size,
      batchSize,
      maxLen: cfg.max_text_len,
      tokenizer,
      seed,
      dropLast: true,
      prefetch: 3,
    });

  // Pure step: one batch, repeated.
  const fixed = await loaderFor(99).next();
  for (let i = 0; i < warmup; i++) step(fixed);
  const t = performance.now();
  const cpu0 = cpuMs();
  for (let i = 0; i < steps; i++) step(fixed);
  const pureMs = (performance.now() - t) / steps;
  const pureCpuMs = (cpuMs() - cpu0) / steps;

  // Loader in the loop: a fresh loader, every batch new pictures (from disk, then from the packed copy).
  const inTheLoop = async (source: Dataset) => {
    const l = loaderFor(1, source);
    for (let i = 0; i < warmup; i++) step(await l.next());
    const wait0 = l.stats().waitMs;
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) step(await l.next());
    const ms = (performance.now() - t0) / steps;
    l.close();
    return { ms, waitMs: (l.stats().waitMs - wait0) / steps };
  };
  const { ms: loaderMs, waitMs } = await inTheLoop(dataset);
  const { ms: packedMs, waitMs: packedWaitMs } = await inTheLoop(packed);

  // The loader alone (no training step), in CPU time: fresh loaders, so every picture is new to them.
  const loaderCpu = async (source: Dataset) => {
    const l = loaderFor(2, source);
    const c0 = cpuMs();
    for (let i = 0; i < steps; i++) await l.next();
    l.close();
    return (cpuMs() - c0) / steps;
  };
  const pngCpu = await loaderCpu(dataset);
  const packedCpu = await loaderCpu(packed);

  const pure = (batchSize * 1000) / pureMs;
  const withLoader = (batchSize * 1000) / loaderMs;
  results[name] = {
    pure: Number(pure.toFixed(2)),
    loader: Number(withLoader.toFixed(2)),
    packed: Number(((batchSize * 1000) / packedMs).toFixed(2)),
    ratio: Number((withLoader / pure).toFixed(3)),
    // The share of a step the loader adds: (step with loader - pure step) / step with loader.
    loaderShare: {
      png: Number(Math.max(0, 1 - pureMs / loaderMs).toFixed(3)),
      packed: Number(Math.max(0, 1 - pureMs / packedMs).toFixed(3)),
    },
    loaderCpuShare: {
      png: Number((pngCpu / (pngCpu + pureCpuMs)).toFixed(4)),
      packed: Number((packedCpu / (packedCpu + pureCpuMs)).toFixed(4)),
    },
    loaderCpuMsPerBatch: { png: Number(pngCpu.toFixed(1)), packed: Number(packedCpu.toFixed(1)) },
    waitMs: Number(waitMs.toFixed(1)),
    packedWaitMs: Number(packedWaitMs.toFixed(1)),
    stepMs: Number(pureMs.toFixed(0)),
  };
  console.log(
    `${name.padEnd(6)} pure step ${pure.toFixed(1)} samples/s (${pureMs.toFixed(0)} ms/step), ` +
      `with loader ${withLoader.toFixed(1)} samples/s, ratio ${(withLoader / pure).toFixed(3)}, ` +
      `waiting for batches ${results[name]!.waitMs} ms/step; from packed shards ` +
      `${results[name]!.packed.toFixed(1)} samples/s, waiting ${results[name]!.packedWaitMs} ms/step; ` +
      `loader CPU per batch ${pngCpu.toFixed(1)} ms (PNG) vs ${packedCpu.toFixed(1)} ms (packed), ` +
      `step CPU ${pureCpuMs.toFixed(0)} ms`,
  );
}
const worst = Math.min(...Object.values(results).map((r) => r.ratio));
console.log(
  JSON.stringify({
    bench: 'train-throughput',
    speedup: worst,
    target: 0.9,
    batch: batchSize,
    microBatch,
    steps,
    backend: backend().name,
    threads: backend().threads,
    peakRssMB: Math.round(peakRssMB()),
    models: results,
  }),
);
