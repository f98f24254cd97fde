// `npm run bench -- model-step [--presets mini,base,large] [--only train|generate] [--steps 3] [--rounds 2]
//   [--precision fp32|bf16|both] [--profile] [--json]`
// (--profile adds our time per kernel per step: where a step goes.)
//
// 1. One training step (forward + backward + AdamW, dropout 0.1 on) of mini, base and large at 224×224,
//    batch 32, 32 text tokens per sample; best of `--steps` steps after one warm-up step.
// 2. Generation with mini (greedy, KV cache, 4-token prefix, 32 new tokens, EOS never chosen so both
//    sides do the same work): ms to the first token (image encoding + prefill + first token) and
//    tokens/s after it, for 1 image and for a batch of 8; best of `--steps` runs after a warm-up.
// Each case runs `--rounds` times, ours and the peer's alternating, and the best figure of each side is
// kept: other processes on the 2 cores only ever add time, so the best run is the least disturbed.
// Beside the PyTorch twin (tools/reference/nanovlm.py, eager mode, same architecture and work) in the
// same run. Every case runs in its own process (ours and the peer's), so each peak RSS is that case's.
// The peer runs at its best: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are removed from its environment only,
// and it runs with 1 and 2 threads; its faster figure is the one compared. Ours likewise runs with 1 and
// 2 threads (NANOVLM_THREADS) and keeps its faster figure. Targets: training step <= 0.8x PyTorch's time (speedup >= 1.25); generation
// >= 2x PyTorch's tokens/s.
// bf16 cases (--precision bf16 or both, the default): ours with --precision bf16 (src/tensor/precision.ts:
// bf16 products, fp32 weights and optimizer) against the bf16-cast twin (weights, activations and AdamW
// state all bf16: torch 1.13's CPU autocast fails on LayerNorm); same targets, and a bf16 training step
// must also take at most half our own fp32 step's time ("vs_our_fp32" >= 2).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { presetConfig, type ModelConfig } from '../src/model/config.ts';
import { createModel } from '../src/model/nanovlm.ts';
import { generate } from '../src/model/generate.ts';
import { AdamW, seedDropout } from '../src/nn/index.ts';
import type { Backend } from '../src/tensor/backend.ts';
import { backend, setBackend } from '../src/tensor/backends/index.ts';
import { Tensor, withStepScope } from '../src/tensor/tensor.ts';
import { Rng } from '../src/util/rng.ts';
import { setPrecision, precisionInfo } from '../src/tensor/precision.ts';
import { pythonWithTorch, peerEnv, INSTALL_TORCH_HINT } from '../tools/reference/python.ts';

const BATCH = 32;
const TEXT_LEN = 32;
const PREFIX_LEN = 4;
const NEW_TOKENS = 32;
const GEN_BATCHES = [1, 8];
const TARGET_TRAIN = 1 / 0.8;
const TARGET_GEN = 2;
const TARGET_BF16_OVER_FP32 = 2;

interface Case {
  mode: 'train' | 'generate';
  preset: string;
  batch: number;
  precision: 'fp32' | 'bf16';
}
interface Figures {
  ms?: number;
  ms_first_token?: number;
  tokens_per_s?: number;
  peak_rss_mb: number;
  threads?: number;
}

const best = (xs: number[]) => Math.min(...xs);

/** Decay matrices except embeddings and position tables (the trainer's grouping). */
const decays = (name: string, p: Tensor) => p.ndim >= 2 && !/wte|wpe|vision\.(pos|cls)/.test(name);

async function runCase(c: Case, steps: number): Promise<Figures> {
  const cfg: ModelConfig = presetConfig(c.preset);
  const model = createModel(cfg, { seed: 0 });
  const rng = new Rng(1);
  const S = cfg.image_size;
  const images = Tensor.uniform([c.batch, 3, S, S], rng, -1, 1);
  if (c.mode === 'train') {
    seedDropout(1);
    model.train();
    const opt = new AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.1, decay: decays });
    const ids = Tensor.ids(
      Array.from({ length: c.batch * TEXT_LEN }, () => 4 + rng.int(cfg.vocab_size - 4)),
      [c.batch, TEXT_LEN],
    );
    const times: number[] = [];
    for (let i = 0; i < 1 + steps; i++) {
      const t0 = performance.now();
      model.zeroGrad();
      // A step scope, as the trainer uses: activations and gradients come from the buffer pool.
      withStepScope(() => {
        const { loss } = model.forward(images, ids);
        loss.backward();
        opt.step();
      });
      if (i > 0) times.push(performance.now() - t0);
    }
    return { ms: best(times), peak_rss_mb: process.resourceUsage().maxRSS / 1024 };
  }
  model.eval();
  const n = 3 * S * S;
  const requests = Array.from({ length: c.batch }, (_, b) => ({
    image: Float32Array.from(images.f.subarray(b * n, (b + 1) * n)),
    prefix: Array.from({ length: PREFIX_LEN }, () => 4 + rng.int(cfg.vocab_size - 4)),
    temperature: 0,
    maxNewTokens: NEW_TOKENS,
  }));
  const first: number[] = [];
  const rate: number[] = [];
  for (let i = 0; i < 1 + steps; i++) {
    let tFirst = 0;
    let tLast = 0;
    const t0 = performance.now();
    const rows = requests.map((r) => ({
      ...r,
      onToken: (_id: number, index: number) => {
        const now = performance.now();
        if (index === 0 && !tFirst) tFirst = now;
        tLast = now;
      },
    }));
    // EOS and the other special ids are never chosen, so every run writes exactly NEW_TOKENS tokens.
    await generate(model, rows, { suppressTokens: [0, 1, 2, 3], yieldEvery: 0 });
    if (i === 0) continue;
    first.push(tFirst - t0);
    rate.push((c.batch * (NEW_TOKENS - 1)) / ((tLast - tFirst) / 1000));
  }
  return {
    ms_first_token: best(first),
    tokens_per_s: Math.max(...rate),
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
  };
}

/** Wraps the backend so every kernel call is timed (`--profile`): where a step's time goes. */
function profiledBackend(): Map<string, { ms: number; calls: number }> {
  const real = backend();
  const table = new Map<string, { ms: number; calls: number }>();
  const wrapped: Record<string, unknown> = { name: real.name, threads: real.threads };
  const proto = Object.getPrototypeOf(real) as object;
  for (const key of new Set([...Object.keys(real), ...Object.getOwnPropertyNames(proto)])) {
    const fn = (real as unknown as Record<string, unknown>)[key];
    if (typeof fn !== 'function' || key === 'constructor') continue;
    wrapped[key] = (...args: unknown[]) => {
      const t0 = performance.now();
      const out = (fn as (...a: unknown[]) => unknown).apply(real, args);
      const row = table.get(key) ?? { ms: 0, calls: 0 };
      row.ms += performance.now() - t0;
      row.calls++;
      table.set(key, row);
      return out;
    };
  }
  setBackend(wrapped as unknown as Backend);
  return table;
}

// ---------------------------------------------------------------- worker mode (one case per process)
const argv = process.argv.slice(2);
const workerAt = argv.indexOf('--worker');
if (workerAt >= 0) {
  const { c, steps, profile } = JSON.parse(argv[workerAt + 1]!) as {
    c: Case;
    steps: number;
    profile?: boolean;
  };
  const table = profile ? profiledBackend() : null;
  setPrecision(c.precision);
  const figures = await runCase(c, steps);
  const kernels =
    table &&
    Object.fromEntries(
      [...table]
        .sort((a, b) => b[1].ms - a[1].ms)
        .map(([k, v]) => [k, { ms: round(v.ms / (steps + 1)), calls: Math.round(v.calls / (steps + 1)) }]),
    );
  console.log(
    JSON.stringify({
      ...figures,
      threads: backend().threads,
      backend: backend().name,
      precision: precisionInfo().note,
      ...(kernels && { kernels_per_step: kernels }),
    }),
  );
  process.exit(0);
}

// ---------------------------------------------------------------- driver
const jsonOnly = argv.includes('--json');
const option = (name: string, fallback: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1]! : fallback;
};
const presets = option('--presets', 'mini,base,large').split(',');
const steps = Number(option('--steps', '3'));
const profile = argv.includes('--profile');
const log = (s: string) => !jsonOnly && console.log(s);
const self = fileURLToPath(import.meta.url);

type Ours = Figures & {
  backend: string;
  precision: string;
  kernels_per_step?: Record<string, { ms: number; calls: number }>;
};
/** Our figures with 1 and 2 threads (NANOVLM_THREADS), the better kept: the same rule as the peer's. */
function ours(c: Case): Ours {
  let best: Ours | null = null;
  for (const threads of [1, 2]) {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', self, '--worker', JSON.stringify({ c, steps, profile })],
      {
        encoding: 'utf8',
        maxBuffer: 1 << 24,
        env: { ...process.env, NANOVLM_THREADS: String(threads) },
      },
    );
    if (r.status !== 0) throw new Error(`our ${c.mode} ${c.preset} run failed:\n${r.stderr}`);
    best = better(c, best, JSON.parse(r.stdout.trim().split('\n').pop()!) as Ours);
  }
  return best!;
}

function better<T extends Figures>(c: Case, a: T | null, b: T): T {
  if (!a) return b;
  return c.mode === 'train' ? (b.ms! < a.ms! ? b : a) : b.tokens_per_s! > a.tokens_per_s! ? b : a;
}

const python = pythonWithTorch();
let torchVersion = '';
function peer(c: Case): Figures | null {
  if (!python) return null;
  let best: Figures | null = null;
  for (const threads of [1, 2]) {
    const args = ['tools/reference/nanovlm.py', 'bench', '--config', JSON.stringify(presetConfig(c.preset))];
    args.push(
      '--mode',
      c.mode,
      '--threads',
      String(threads),
      '--batch',
      String(c.batch),
      '--steps',
      String(steps),
    );
    args.push(
      '--text-len',
      String(TEXT_LEN),
      '--prefix-len',
      String(PREFIX_LEN),
      '--new-tokens',
      String(NEW_TOKENS),
      '--dtype',
      c.precision === 'bf16' ? 'bfloat16' : 'float32',
    );
    const r = spawnSync(python, args, { encoding: 'utf8', env: peerEnv(threads), maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`the PyTorch peer failed (${c.mode} ${c.preset}):\n${r.stderr}`);
    const f = JSON.parse(r.stdout.trim().split('\n').pop()!) as Figures & { torch: string };
    torchVersion = f.torch;
    best = better(c, best, f);
  }
  return best;
}

const only = option('--only', 'all');
const precisionArg = option('--precision', 'both');
if (!['fp32', 'bf16', 'both'].includes(precisionArg))
  throw new Error('--precision must be fp32, bf16 or both');
const precisions = (precisionArg === 'both' ? ['fp32', 'bf16'] : [precisionArg]) as Case['precision'][];
const cases: Case[] = precisions.flatMap((precision) => [
  ...(only === 'generate'
    ? []
    : presets.map((preset) => ({ mode: 'train' as const, preset, batch: BATCH, precision }))),
  ...(only === 'train'
    ? []
    : GEN_BATCHES.map((batch) => ({ mode: 'generate' as const, preset: 'mini', batch, precision }))),
]);
const fp32TrainMs = new Map<string, number>(); // preset -> our fp32 step, for the bf16 cases' vs_our_fp32
log(
  `model-step: ${steps} timed steps per case after a warm-up; ${python ? 'peer: PyTorch eager' : `no PyTorch (${INSTALL_TORCH_HINT})`}`,
);
const results: Record<string, unknown>[] = [];
let worst = Infinity; // lowest ratio / target
let worstRaw = Infinity; // lowest ratio
const rounds = Number(option('--rounds', '2'));
for (const c of cases) {
  let o = ours(c);
  let p = peer(c);
  for (let r = 1; r < rounds; r++) {
    o = better(c, o, ours(c));
    p = p && better(c, p, peer(c)!);
  }
  const name = `${c.mode} ${c.preset} b${c.batch}${c.precision === 'bf16' ? ' bf16' : ''}`;
  if (o.kernels_per_step)
    log(
      `  our kernels per step (ms, calls): ${Object.entries(o.kernels_per_step)
        .slice(0, 10)
        .map(([k, v]) => `${k} ${v.ms}/${v.calls}`)
        .join(', ')}`,
    );
  if (c.mode === 'train') {
    const ratio = p ? p.ms! / o.ms! : undefined;
    if (ratio) worst = Math.min(worst, ratio / TARGET_TRAIN);
    if (ratio) worstRaw = Math.min(worstRaw, ratio);
    if (c.precision === 'fp32') fp32TrainMs.set(c.preset, o.ms!);
    const ownFp32 = fp32TrainMs.get(c.preset);
    const vsFp32 = c.precision === 'bf16' && ownFp32 ? ownFp32 / o.ms! : undefined;
    if (vsFp32) worst = Math.min(worst, vsFp32 / TARGET_BF16_OVER_FP32);
    log(
      `${name.padEnd(22)} ours ${o.ms!.toFixed(0).padStart(6)} ms @${o.threads}t (RSS ${o.peak_rss_mb.toFixed(0)} MB)` +
        (p
          ? `   torch ${p.ms!.toFixed(0).padStart(6)} ms @${p.threads}t (RSS ${p.peak_rss_mb.toFixed(0)} MB)   torch/ours ${ratio!.toFixed(2)}`
          : '') +
        (vsFp32 ? `   our fp32/bf16 ${vsFp32.toFixed(2)}` : ''),
    );
    results.push({
      case: name,
      ours_ms: round(o.ms!),
      ours_threads: o.threads,
      ours_rss_mb: round(o.peak_rss_mb),
      ours_precision: o.precision,
      ...(vsFp32 && { vs_our_fp32: round(vsFp32, 3), vs_our_fp32_target: TARGET_BF16_OVER_FP32 }),
      ...(p && {
        torch_ms: round(p.ms!),
        torch_threads: p.threads,
        torch_rss_mb: round(p.peak_rss_mb),
        speedup: round(ratio!, 3),
        target: round(TARGET_TRAIN, 3),
      }),
    });
  } else {
    const ratio = p ? o.tokens_per_s! / p.tokens_per_s! : undefined;
    if (ratio) worst = Math.min(worst, ratio / TARGET_GEN);
    if (ratio) worstRaw = Math.min(worstRaw, ratio);
    log(
      `${name.padEnd(22)} ours ${o.tokens_per_s!.toFixed(0).padStart(6)} tok/s, first ${o.ms_first_token!.toFixed(1)} ms @${o.threads}t (RSS ${o.peak_rss_mb.toFixed(0)} MB)` +
        (p
          ? `   torch ${p.tokens_per_s!.toFixed(0).padStart(6)} tok/s, first ${p.ms_first_token!.toFixed(1)} ms @${p.threads}t (RSS ${p.peak_rss_mb.toFixed(0)} MB)   ours/torch ${ratio!.toFixed(2)}`
          : ''),
    );
    results.push({
      case: name,
      ours_tokens_per_s: round(o.tokens_per_s!),
      ours_threads: o.threads,
      ours_ms_first_token: round(o.ms_first_token!, 1),
      ours_rss_mb: round(o.peak_rss_mb),
      ours_precision: o.precision,
      ...(p && {
        torch_tokens_per_s: round(p.tokens_per_s!),
        torch_ms_first_token: round(p.ms_first_token!, 1),
        torch_threads: p.threads,
        torch_rss_mb: round(p.peak_rss_mb),
        speedup: round(ratio!, 3),
        target: TARGET_GEN,
      }),
    });
  }
}
log('(2 cores shared with other work while this runs: the figures are noisy)');

function round(x: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

// speedup: the worst ratio over the cases (train: torch ms / our ms; generate: our tokens/s / torch's).
// The cases have different targets, so `meets_targets` says whether each reached its own.
console.log(
  JSON.stringify({
    bench: 'model-step',
    ...(Number.isFinite(worstRaw) ? { speedup: round(worstRaw, 3), meets_targets: worst >= 1 } : {}),
    target: { train: TARGET_TRAIN, generate: TARGET_GEN, bf16_train_vs_our_fp32: TARGET_BF16_OVER_FP32 },
    convention:
      'speedup = min over cases of the ratio; train ratio = torch_ms / ours_ms (target 1.25 = 0.8x time), generate ratio = ours_tokens_per_s / torch_tokens_per_s (target 2)',
    peer: python
      ? `torch ${torchVersion} eager, best of 1 and 2 threads, OpenBLAS left to detect the CPU`
      : null,
    batch: BATCH,
    text_len: TEXT_LEN,
    new_tokens: NEW_TOKENS,
    cases: results,
  }),
);
