// `npm run bench -- gpt-step [--json] [--rounds 2] [--steps 10] [--threads 1,2] [--no-scope]`: one training
// step (forward + backward + AdamW) of a small GPT — 4 pre-LN causal blocks, d_model 256, 4 heads, seq 128,
// batch 16, vocab 4096 — on the native backend, beside the same model in PyTorch eager mode
// (tools/reference/gpt_step.py) run in the same session. Median step time per run, best run kept.
// Our step runs in a step scope (buffers from the pool, as the trainer does); `--no-scope` measures it
// with fresh arrays instead. The JSON also has our garbage collections per timed step and our peak RSS.
// The peer runs at its best: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are removed from its environment only,
// and it is tried with 1 and 2 threads (for 2: torch and OpenBLAS both at 2, or either alone, since
// their two thread pools can fight). Ours likewise runs at each thread count, and our fastest is compared
// with its fastest (as in bench/model-step): on 2 shared cores either side's 2-thread run may lose.
// Target: our step <= 0.8x PyTorch's, i.e. speedup (peer time / our time) >= 1.25.
import { spawnSync } from 'node:child_process';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { setBackend } from '../src/tensor/backends/index.ts';
import { loadNativeAddon } from '../src/tensor/backends/native.ts';
import { crossEntropy } from '../src/tensor/ops/index.ts';
import { Tensor, withStepScope } from '../src/tensor/tensor.ts';
import { AdamW, initWeights } from '../src/nn/index.ts';
import { Rng } from '../src/util/rng.ts';
import { pythonWithTorch, peerEnv, INSTALL_TORCH_HINT } from '../tools/reference/python.ts';
import { TinyGpt } from '../tools/fixtures/tiny-gpt.ts';

const CONFIG = { layers: 4, dim: 256, heads: 4, seq: 128, batch: 16, vocab: 4096 };
const TARGET_SPEEDUP = 1 / 0.8;

const argv = process.argv.slice(2);
const jsonOnly = argv.includes('--json');
function option(name: string): string | undefined {
  const i = argv.indexOf(name);
  return i < 0 ? undefined : argv[i + 1];
}
function positive(name: string, fallback: number): number {
  const s = option(name);
  if (s === undefined) return fallback;
  const v = Number(s);
  if (!(Number.isInteger(v) && v > 0)) throw new Error(`${name} needs a positive integer, got ${s}`);
  return v;
}
const rounds = positive('--rounds', 2);
const steps = positive('--steps', 10);
const warmup = 3;
const scoped = !argv.includes('--no-scope');
const threadList = (option('--threads') ?? '1,2').split(',').map(Number);
if (threadList.some((t) => !(Number.isInteger(t) && t > 0)))
  throw new Error('--threads takes a list like 1,2');
const log = (line: string) => {
  if (!jsonOnly) console.log(line);
};

const addon = loadNativeAddon();
setBackend('native');
const defaultThreads = addon.threads();

const rng = new Rng(0);
const model = new TinyGpt({
  vocab: CONFIG.vocab,
  dim: CONFIG.dim,
  heads: CONFIG.heads,
  layers: CONFIG.layers,
  maxLen: CONFIG.seq,
  tied: false,
});
initWeights(model, rng, { std: 0.02, residualLayers: CONFIG.layers });
const opt = new AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.01 });
const tokens = CONFIG.batch * CONFIG.seq;
const ids = Tensor.ids(
  Int32Array.from({ length: tokens }, () => rng.int(CONFIG.vocab)),
  [CONFIG.batch, CONFIG.seq],
);
const targets = Tensor.ids(
  Int32Array.from({ length: tokens }, () => rng.int(CONFIG.vocab)),
  [CONFIG.batch, CONFIG.seq],
);

function plainStep(): number {
  const loss = crossEntropy(model.forward(ids), targets);
  opt.zeroGrad();
  loss.backward();
  opt.step();
  return loss.item();
}
function step(): number {
  return scoped ? withStepScope(plainStep) : plainStep();
}
// Garbage collections that start inside our timed steps (entries arrive asynchronously, with start times
// on the performance.now() clock).
const stepSpans: [number, number][] = [];
const gcs: { start: number; kind: number | undefined }[] = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcs.push({ start: e.startTime, kind: (e as unknown as { detail?: { kind?: number } }).detail?.kind });
  }
});
gcObserver.observe({ entryTypes: ['gc'] });

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function ours(threads: number): { median: number; loss: number } {
  addon.setThreads(threads);
  try {
    for (let i = 0; i < warmup; i++) step();
    const times: number[] = [];
    let loss = 0;
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      loss = step();
      const t1 = performance.now();
      times.push(t1 - t0);
      stepSpans.push([t0, t1]);
    }
    return { median: median(times), loss };
  } finally {
    addon.setThreads(defaultThreads);
  }
}

const python = pythonWithTorch();
let torchVersion = '';
/**
 * The peer's step at `threads` intra-op threads with `blas` OpenBLAS threads. Debian's torch runs its
 * own ops on OpenMP and matrix products on OpenBLAS' pthreads, and the two pools can fight over the
 * cores, so a few combinations are tried and the fastest kept.
 */
function peer(threads: number, blas: number): number | null {
  if (!python) return null;
  const env = { ...peerEnv(threads), OPENBLAS_NUM_THREADS: String(blas) };
  const args = [
    'tools/reference/gpt_step.py',
    String(threads),
    '--steps',
    String(steps),
    '--warmup',
    String(warmup),
  ];
  for (const [k, v] of Object.entries(CONFIG)) args.push(`--${k}`, String(v));
  const r = spawnSync(python, args, { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the PyTorch peer failed:\n${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { torch: string; median_ms: number };
  torchVersion = out.torch;
  return out.median_ms;
}
/** Peer settings per thread count: [torch threads, OpenBLAS threads]. */
const peerSettings = (t: number): [number, number][] =>
  t === 1
    ? [[1, 1]]
    : [
        [t, t],
        [t, 1],
        [1, t],
      ];

log(
  `gpt-step: ${CONFIG.layers} blocks, d ${CONFIG.dim}, ${CONFIG.heads} heads, seq ${CONFIG.seq}, batch ${CONFIG.batch}, ` +
    `vocab ${CONFIG.vocab}; ${model.parameterCount()} parameters; median of ${steps} steps, best of ${rounds} rounds`,
);
if (!python) log(`PyTorch not found, so only our figures are shown (${INSTALL_TORCH_HINT})`);
const oursBest = new Map<number, number>();
const peerBest = new Map<number, number>();
let lastLoss = 0;
for (let r = 0; r < rounds; r++) {
  for (const t of threadList) {
    const o = ours(t);
    lastLoss = o.loss;
    oursBest.set(t, Math.min(oursBest.get(t) ?? Infinity, o.median));
    for (const [torchThreads, blas] of peerSettings(t)) {
      const p = peer(torchThreads, blas);
      if (p !== null) peerBest.set(t, Math.min(peerBest.get(t) ?? Infinity, p));
    }
  }
  log(`  round ${r + 1}/${rounds} done`);
}

const peerFastest = peerBest.size ? Math.min(...peerBest.values()) : undefined;
log(`${'threads'.padEnd(10)}${'ours ms'.padStart(10)}${'torch ms'.padStart(10)}`);
for (const t of threadList) {
  const p = peerBest.get(t);
  log(
    `${String(t).padEnd(10)}${oursBest.get(t)!.toFixed(1).padStart(10)}${(p === undefined ? '-' : p.toFixed(1)).padStart(10)}`,
  );
}
const oursMain = Math.min(...oursBest.values());
const oursThreads = [...oursBest].find(([, v]) => v === oursMain)![0];
if (peerFastest !== undefined)
  log(
    `ours' fastest (${oursThreads} threads) / torch's fastest: ${(oursMain / peerFastest).toFixed(2)} (target <= 0.8)`,
  );
await new Promise<void>((resolve) => setTimeout(resolve, 50));
const inSteps = (kind: number) =>
  gcs.filter((g) => g.kind === kind && stepSpans.some(([a, b]) => g.start >= a && g.start < b)).length;
const gcPerStep = {
  major: Number((inSteps(constants.NODE_PERFORMANCE_GC_MAJOR) / stepSpans.length).toFixed(2)),
  minor: Number((inSteps(constants.NODE_PERFORMANCE_GC_MINOR) / stepSpans.length).toFixed(2)),
};
const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
gcObserver.disconnect();
log(
  `ours ${scoped ? 'in a step scope' : 'without a step scope'}: ${gcPerStep.major} full and ${gcPerStep.minor} ` +
    `minor garbage collections per step, peak RSS ${peakRssMb} MB`,
);
log('(2 cores shared with other work: figures are noisy)');
console.log(
  JSON.stringify({
    bench: 'gpt-step',
    ...(peerFastest !== undefined ? { speedup: Number((peerFastest / oursMain).toFixed(3)) } : {}),
    target: Number(TARGET_SPEEDUP.toFixed(3)),
    ours_ms: Object.fromEntries([...oursBest].map(([t, v]) => [`${t}t`, Number(v.toFixed(1))])),
    ...(peerBest.size
      ? { torch_ms: Object.fromEntries([...peerBest].map(([t, v]) => [`${t}t`, Number(v.toFixed(1))])) }
      : {}),
    ...(torchVersion ? { peer: `torch ${torchVersion} eager` } : { peer: null }),
    loss: Number(lastLoss.toFixed(4)),
    scope: scoped,
    gc_per_step: gcPerStep,
    peak_rss_mb: peakRssMb,
    config: CONFIG,
  }),
);
