/**
 * The native backend: the C kernels in native/ (built by node-gyp into build/Release/nanovlm.node at
 * `npm install`). The addon's functions take the Backend arguments positionally and use the typed arrays
 * in place, so each kernel call is one N-API call with no wrapper in between. Float32 only: a Float64Array
 * argument throws (gradient checks in float64 use the ts backend).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../backend.ts';

type Kernels = Omit<Backend, 'name' | 'threads'>;

/** What the addon exports: the kernels plus controls for the thread pool and the GEMM micro-kernel. */
export interface NativeAddon extends Kernels {
  /** Threads of the pool (NANOVLM_THREADS, else the CPUs this process may use). */
  threads(): number;
  setThreads(n: number): number;
  /** GEMM micro-kernel in use: 'avx512' | 'avx2' | 'generic'. */
  isa(): string;
  /** The best micro-kernel this CPU supports. */
  supportedIsa(): string;
  /** Forces a micro-kernel (clamped to what the CPU supports); returns the one in use. */
  setIsa(name: string): string;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const NATIVE_ADDON_PATH = path.join(root, 'build', 'Release', 'nanovlm.node');

let addon: NativeAddon | null = null;
let backend: Backend | null = null;

/** Loads the addon (once). Throws a clear Error when it is not built. */
export function loadNativeAddon(): NativeAddon {
  if (addon) return addon;
  if (!existsSync(NATIVE_ADDON_PATH)) {
    throw new Error(
      `the native addon is not built (${path.relative(process.cwd(), NATIVE_ADDON_PATH) || NATIVE_ADDON_PATH} ` +
        'is missing); build it with `npm install` or `node tools/build-native.mjs` (needs a C compiler)',
    );
  }
  const require = createRequire(import.meta.url);
  addon = require(NATIVE_ADDON_PATH) as NativeAddon;
  return addon;
}

export function loadNativeBackend(): Backend {
  if (backend) return backend;
  const a = loadNativeAddon();
  backend = {
    name: 'native',
    get threads() {
      return a.threads();
    },
    gemm: a.gemm,
    addBias: a.addBias,
    sumRows: a.sumRows,
    add: a.add,
    mul: a.mul,
    scale: a.scale,
    axpy: a.axpy,
    layerNorm: a.layerNorm,
    layerNormBackward: a.layerNormBackward,
    gelu: a.gelu,
    geluBackward: a.geluBackward,
    relu: a.relu,
    reluBackward: a.reluBackward,
    softmax: a.softmax,
    softmaxBackward: a.softmaxBackward,
    crossEntropy: a.crossEntropy,
    crossEntropyBackward: a.crossEntropyBackward,
    attention: a.attention,
    attentionBackward: a.attentionBackward,
    embedding: a.embedding,
    embeddingBackward: a.embeddingBackward,
    conv2d: a.conv2d,
    conv2dBackward: a.conv2dBackward,
    dropout: a.dropout,
    sum: a.sum,
    sumSquares: a.sumSquares,
    adamw: a.adamw,
  };
  return backend;
}

/** Sets the native pool's thread count (benchmarks and tests); returns the count in use. */
export function setNativeThreads(n: number): number {
  return loadNativeAddon().setThreads(n);
}
